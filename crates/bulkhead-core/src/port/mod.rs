//! The storage port: what a storage adapter implements ([`store`]) and the tenant handles every
//! call takes ([`tenant`]); how rows are read from SQL lives in `bulkhead-sql`, not here (core
//! knows no database). Above the values, crypto, the token profile and the audit chain's
//! types; below the engine, which it knows nothing of (see `tests/layers.rs`).

pub mod jobs;
mod methods;
pub mod schedules;
pub mod store;
pub(crate) mod tenant;
