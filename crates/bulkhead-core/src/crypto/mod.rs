//! Sealing and credentials at rest: the master key and data keys ([`vault`]), secret fields
//! of configurations ([`secrets`]), org access keys and signing keys ([`keys`]). Above the
//! values, below the token profile (see `tests/layers.rs`).

pub mod keys;
pub mod secrets;
pub(crate) mod vault;
