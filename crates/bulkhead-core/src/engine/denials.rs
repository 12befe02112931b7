//! Refusals, coalesced before they reach the audit chain.
//!
//! A refused call (an expired or revoked token replayed, an operation a token does not grant,
//! a revoked org key, the creation rate limit) has no change to audit; it is appended to the
//! organization's chain alone. Appends are serialized (SQLite's one writer, PostgreSQL's
//! per-organization lock) and the chain is never trimmed, so a client replaying one refused
//! token in a loop would grow the database without bound and queue every tenant's writes
//! behind its own. Hence: **at most one event per (organization, actor, action, reason) per
//! minute** of the engine's clock. The first refusal of a minute is written; the ones after
//! it in that minute are only counted, in memory, and the next event of the same kind says
//! how many it stands for (`denied: revoked; 14 more not logged since the last such event`).
//! Each one not logged is also counted in the organization's
//! [`OrgStats::denials_not_logged`](crate::OrgStats::denials_not_logged).
//!
//! Like the meter, this is **per process**: each engine writes its own first event of a
//! minute. At most [`MAX_KEYS`] kinds are remembered; past that, kinds whose minute is over
//! are forgotten first (their pending count then stays in the meter only), and if none is,
//! all are.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use crate::model::ids::OrgId;
use crate::model::time::Timestamp;

/// How long after a written refusal the same kind is only counted.
pub(crate) const WINDOW: Duration = Duration::from_secs(60);
/// The most kinds of refusal remembered at once.
pub(crate) const MAX_KEYS: usize = 10_000;

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Kind {
    org: OrgId,
    actor: String,
    action: String,
    reason: String,
}

#[derive(Clone, Copy, Debug)]
struct Window {
    opened_at: Timestamp,
    not_logged: u64,
}

/// Whether to write a refusal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Decision {
    /// Write it, saying how many refusals of its kind since the last event were not logged.
    Write { not_logged: u64 },
    /// Count it only.
    Coalesce,
}

/// The refusals written in the last minute, by kind. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Denials {
    windows: Mutex<HashMap<Kind, Window>>,
}

impl Denials {
    /// Decides for one refusal of `org` by `actor` of `action` for `reason` at `now`.
    pub(crate) fn admit(
        &self,
        org: OrgId,
        actor: &str,
        action: &str,
        reason: &str,
        now: Timestamp,
    ) -> Decision {
        let kind = Kind {
            org,
            actor: actor.to_owned(),
            action: action.to_owned(),
            reason: reason.to_owned(),
        };
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(window) = windows.get_mut(&kind)
            && now < window.opened_at.plus(WINDOW)
        {
            window.not_logged = window.not_logged.saturating_add(1);
            return Decision::Coalesce;
        }
        let not_logged = windows.get(&kind).map_or(0, |w| w.not_logged);
        if windows.len() >= MAX_KEYS && !windows.contains_key(&kind) {
            windows.retain(|_, w| now < w.opened_at.plus(WINDOW));
            if windows.len() >= MAX_KEYS {
                windows.clear();
            }
        }
        windows.insert(
            kind,
            Window {
                opened_at: now,
                not_logged: 0,
            },
        );
        Decision::Write { not_logged }
    }

    /// Forgets that a refusal was written (its append failed), so the next one is written.
    pub(crate) fn forget(&self, org: OrgId, actor: &str, action: &str, reason: &str) {
        let kind = Kind {
            org,
            actor: actor.to_owned(),
            action: action.to_owned(),
            reason: reason.to_owned(),
        };
        self.windows
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&kind);
    }
}

/// The outcome of a written refusal that stands for `not_logged` more.
pub(crate) fn outcome_reason(reason: &str, not_logged: u64) -> String {
    match not_logged {
        0 => reason.to_owned(),
        n => format!("{reason}; {n} more not logged since the last such event"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: Timestamp = Timestamp::from_unix_millis(1_000_000);

    #[test]
    fn one_event_a_minute_per_kind_and_the_next_counts_the_rest() {
        let d = Denials::default();
        let org = OrgId::random();
        let admit =
            |actor: &str, reason: &str, at: Timestamp| d.admit(org, actor, "token.use", reason, at);
        assert_eq!(
            admit("token:a", "revoked", T0),
            Decision::Write { not_logged: 0 }
        );
        for _ in 0..10_000 {
            assert_eq!(admit("token:a", "revoked", T0), Decision::Coalesce);
        }
        // Another kind (actor, reason, organization) is its own.
        assert_eq!(
            admit("token:b", "revoked", T0),
            Decision::Write { not_logged: 0 }
        );
        assert_eq!(
            admit("token:a", "expired", T0),
            Decision::Write { not_logged: 0 }
        );
        assert_eq!(
            d.admit(OrgId::random(), "token:a", "token.use", "revoked", T0),
            Decision::Write { not_logged: 0 }
        );
        let later = T0.plus(WINDOW);
        assert_eq!(
            admit("token:a", "revoked", later),
            Decision::Write { not_logged: 10_000 }
        );
        assert_eq!(admit("token:a", "revoked", later), Decision::Coalesce);
        // A failed append is forgotten: the next refusal is written.
        d.forget(org, "token:a", "token.use", "revoked");
        assert_eq!(
            admit("token:a", "revoked", later),
            Decision::Write { not_logged: 0 }
        );
    }

    #[test]
    fn remembered_kinds_are_bounded() {
        let d = Denials::default();
        let org = OrgId::random();
        for i in 0..MAX_KEYS + 5 {
            let _ = d.admit(org, &format!("token:{i}"), "token.use", "revoked", T0);
        }
        assert!(d.windows.lock().unwrap().len() <= MAX_KEYS);
    }

    #[test]
    fn outcome_says_how_many_were_not_logged() {
        assert_eq!(outcome_reason("revoked", 0), "revoked");
        assert_eq!(
            outcome_reason("revoked", 3),
            "revoked; 3 more not logged since the last such event"
        );
    }
}
