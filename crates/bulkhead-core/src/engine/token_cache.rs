//! [`TokenCache`]: the seed's "implement token caching", as a helper for hosts.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::engine::org::OrgScope;
use crate::error::Result;
use crate::model::ids::{ExternalId, OrgId};
use crate::token::request::{IssuedToken, ScopedTokenRequest};

/// Hands out a cached scoped token for the same organization and request (external id, tags,
/// TTL, operations) while it has more than a margin of life left; mints a new one otherwise.
/// Bounded in size and safe to share between threads.
///
/// A cached token outlives a revocation made elsewhere: after revoking, call
/// [`TokenCache::invalidate`] (or [`TokenCache::clear`]).
#[derive(Debug)]
pub struct TokenCache {
    entries: Mutex<HashMap<(OrgId, ScopedTokenRequest), IssuedToken>>,
    capacity: usize,
    margin: Duration,
}

impl TokenCache {
    /// A cache of at most `capacity` tokens (at least 1) that mints a new token once a cached
    /// one has `margin` or less to live.
    pub fn new(capacity: usize, margin: Duration) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
            margin,
        }
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(OrgId, ScopedTokenRequest), IssuedToken>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A token for `request` from `org`: cached if one has more than the margin left, else
    /// freshly minted (and cached).
    pub fn get_or_mint(&self, org: &OrgScope, request: &ScopedTokenRequest) -> Result<IssuedToken> {
        let fresh_after = org.now().plus(self.margin);
        let key = (org.org_id(), request.clone());
        if let Some(token) = self.entries().get(&key)
            && token.expires_at > fresh_after
        {
            return Ok(token.clone());
        }
        // Minted without holding the lock: two threads missing at once both mint, which is
        // harmless, and nobody waits on another's database call.
        let token = org.scoped_token(request)?;
        let mut entries = self.entries();
        if entries.len() >= self.capacity && !entries.contains_key(&key) {
            entries.retain(|_, t| t.expires_at > fresh_after);
            if entries.len() >= self.capacity {
                let oldest = entries
                    .iter()
                    .min_by_key(|(_, t)| t.expires_at)
                    .map(|(k, _)| k.clone());
                if let Some(oldest) = oldest {
                    entries.remove(&oldest);
                }
            }
        }
        entries.insert(key, token.clone());
        Ok(token)
    }

    /// Forgets every cached token of the customer `external_id` of organization `org_id`.
    pub fn invalidate(&self, org_id: OrgId, external_id: &ExternalId) {
        self.entries()
            .retain(|(org, request), _| !(*org == org_id && request.external_id == *external_id));
    }

    /// Forgets every cached token.
    pub fn clear(&self) {
        self.entries().clear();
    }

    /// How many tokens are cached.
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    /// Whether no token is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
