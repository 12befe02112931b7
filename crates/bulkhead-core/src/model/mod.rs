//! Values and objects a host sees: ids, time, names, tags, operations, pages, specs, the
//! stored objects and the requests that make them. The lowest layer: it knows no crypto, no
//! token, no storage and no engine (see `tests/layers.rs`).

pub(crate) mod algorithm;
pub(crate) mod ids;
pub(crate) mod names;
pub(crate) mod objects;
pub(crate) mod operations;
pub(crate) mod origin;
pub(crate) mod page;
pub(crate) mod schedule;
pub(crate) mod spec;
pub(crate) mod tags;
pub(crate) mod templates;
pub(crate) mod time;
