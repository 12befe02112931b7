//! The storage port: what a storage adapter implements ([`store`]), the tenant handles every
//! call takes ([`tenant`]), and the row decoders adapters share ([`columns`]). Above the values,
//! crypto, the token profile and the audit chain's types; below the engine, which it knows
//! nothing of (see `tests/layers.rs`).

pub mod columns;
pub mod jobs;
mod methods;
pub mod schedules;
pub mod store;
pub(crate) mod tenant;
