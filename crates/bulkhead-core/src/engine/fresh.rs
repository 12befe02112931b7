//! [`Fresh`]: what the scoped-token flow read about an organization (its settings, its
//! signer), kept exactly as long as a [`crate::TokenMinter`] keeps the same things.
//!
//! The flow used to read the organization and its signing keys on every call, besides the
//! write of the workspace and the issuance event. A minter already keeps both for at most
//! [`crate::engine::shared::KEY_CACHE_TTL`], never past its key's retirement, and never past a change
//! made through the same engine (the engine's generation, [`crate::engine::shared::Inner::changed`]);
//! an entry here follows the same three rules, so the flow is as current as a minter made
//! for the request would be. Nothing here is tenant data: one entry per organization, keyed
//! by its id, holding only what that organization's own scope read.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::RwLock;

use crate::model::time::Timestamp;

/// The most entries kept; past it the cache starts over.
const MAX_ENTRIES: usize = 10_000;

/// A value read at engine generation `generation`, usable before `fresh_until`.
#[derive(Debug)]
struct Entry<V> {
    generation: u64,
    fresh_until: Timestamp,
    value: V,
}

/// Values read from the store, each valid while the engine's generation has not moved and
/// until its own deadline.
#[derive(Debug)]
pub(crate) struct Fresh<K, V> {
    entries: RwLock<HashMap<K, Entry<V>>>,
}

impl<K, V> Default for Fresh<K, V> {
    fn default() -> Self {
        Self {
            entries: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash, V: Clone> Fresh<K, V> {
    /// The value of `key` if it was read at generation `generation` (the engine's current
    /// one) and `now` is before its deadline.
    pub(crate) fn get(&self, key: &K, generation: u64, now: Timestamp) -> Option<V> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(key)
            .filter(|e| e.generation == generation && now < e.fresh_until)
            .map(|e| e.value.clone())
    }

    /// Keeps `value` of `key`, read after the engine's generation was `generation`, until
    /// `fresh_until`.
    pub(crate) fn put(&self, key: K, generation: u64, fresh_until: Timestamp, value: V) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(
            key,
            Entry {
                generation,
                fresh_until,
                value,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_used_only_at_its_generation_and_before_its_deadline() {
        let fresh = Fresh::<u8, u8>::default();
        let t = Timestamp::from_unix_millis;
        fresh.put(1, 7, t(1_000), 42);
        assert_eq!(fresh.get(&1, 7, t(999)), Some(42));
        assert_eq!(fresh.get(&1, 7, t(1_000)), None, "past its deadline");
        assert_eq!(fresh.get(&1, 8, t(0)), None, "after a change");
        assert_eq!(fresh.get(&2, 7, t(0)), None, "another key");
    }
}
