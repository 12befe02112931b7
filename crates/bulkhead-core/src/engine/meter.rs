//! The workspace-creation rate limit and the per-organization counters.
//!
//! Both live in the engine's memory, keyed by organization, and are **per process**: two
//! processes on one database each admit an organization's full burst and rate, and each
//! counts only its own calls. Counters start at zero when the engine starts. Time comes from
//! the engine's injected clock, so tests drive refills with a manual clock.
//!
//! Every counted event is also emitted as a `tracing` event (target `bulkhead::meter`, with the
//! organization, the counter's name and its new value). Denials are also audited, coalesced
//! (see the `denials` module).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use serde::Serialize;

use crate::model::ids::OrgId;
use crate::model::objects::OrgSettings;
use crate::model::time::Timestamp;

/// What an organization's scopes did since this engine started (this process only).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OrgStats {
    /// Workspaces this process created for the organization.
    pub workspaces_created: u64,
    /// Scoped tokens issued.
    pub tokens_issued: u64,
    /// New workspaces refused by the creation rate limit.
    pub rate_limited: u64,
    /// Calls refused because the scope lacked the operation or organization access.
    pub permission_denied: u64,
    /// Scoped tokens of the organization (signed by one of its keys) that were refused:
    /// expired, revoked, wrong issuer or audience, inactive or missing workspace.
    pub invalid_tokens: u64,
    /// Rows of another tenant that storage returned to the organization's scopes and the
    /// guard refused (the guard counts them and logs each at `error` level, target
    /// `bulkhead::guard`). Anything but zero is a bug in a storage adapter.
    pub isolation_breaches: u64,
    /// Refusals (of any kind above) not written to the audit chain because one of the same
    /// actor, action and reason was written less than a minute before; the next event of
    /// that kind says how many it stands for (see the `denials` module).
    pub denials_not_logged: u64,
}

/// One counted event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Event {
    WorkspaceCreated,
    TokenIssued,
    RateLimited,
    PermissionDenied,
    InvalidToken,
    DenialNotLogged,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::WorkspaceCreated => "workspaces_created",
            Self::TokenIssued => "tokens_issued",
            Self::RateLimited => "rate_limited",
            Self::PermissionDenied => "permission_denied",
            Self::InvalidToken => "invalid_tokens",
            Self::DenialNotLogged => "denials_not_logged",
        }
    }

    fn counter(self, stats: &mut OrgStats) -> &mut u64 {
        match self {
            Self::WorkspaceCreated => &mut stats.workspaces_created,
            Self::TokenIssued => &mut stats.tokens_issued,
            Self::RateLimited => &mut stats.rate_limited,
            Self::PermissionDenied => &mut stats.permission_denied,
            Self::InvalidToken => &mut stats.invalid_tokens,
            Self::DenialNotLogged => &mut stats.denials_not_logged,
        }
    }
}

/// Milli-tokens in one token: the bucket counts in thousandths so refills are exact integers
/// (a rate of `r` per second adds `r` milli-tokens per millisecond).
const MILLI: i64 = 1000;

/// A token bucket of workspace creations. `level` may go below zero: a creation that could
/// not be refused (see [`Meter::charge`]) is owed, and repaid by the refill.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    level: i64,
    at: i64,
}

impl Bucket {
    fn full(settings: &OrgSettings, now: i64) -> Self {
        Self {
            level: capacity(settings),
            at: now,
        }
    }

    /// Adds what the rate earned since the last refill, up to the burst.
    fn refill(&mut self, settings: &OrgSettings, now: i64) {
        let elapsed = now.saturating_sub(self.at).max(0);
        let earned = elapsed.saturating_mul(i64::from(settings.workspace_creation_rate));
        self.level = self.level.saturating_add(earned).min(capacity(settings));
        self.at = self.at.max(now);
    }
}

fn capacity(settings: &OrgSettings) -> i64 {
    i64::from(settings.workspace_creation_burst).saturating_mul(MILLI)
}

#[derive(Debug, Default)]
struct OrgState {
    bucket: Option<Bucket>,
    stats: OrgStats,
}

/// The rate limit and the counters of every organization this engine has served.
#[derive(Debug, Default)]
pub(crate) struct Meter {
    orgs: Mutex<HashMap<OrgId, OrgState>>,
}

impl Meter {
    fn with<T>(&self, org: OrgId, f: impl FnOnce(&mut OrgState) -> T) -> T {
        let mut orgs = self.orgs.lock().unwrap_or_else(|e| e.into_inner());
        f(orgs.entry(org).or_default())
    }

    /// Counts `event` for `org` and emits it.
    pub(crate) fn record(&self, org: OrgId, event: Event) {
        let value = self.with(org, |state| {
            let counter = event.counter(&mut state.stats);
            *counter = counter.saturating_add(1);
            *counter
        });
        tracing::info!(target: "bulkhead::meter", org = %org, counter = event.name(), value, "counter incremented");
    }

    /// The organization's counters.
    pub(crate) fn stats(&self, org: OrgId) -> OrgStats {
        self.with(org, |state| state.stats)
    }

    /// Takes one creation from the organization's bucket; if it is empty, returns how long
    /// until one is available (and takes nothing).
    pub(crate) fn take(
        &self,
        org: OrgId,
        settings: &OrgSettings,
        now: Timestamp,
    ) -> Result<(), Duration> {
        let now = now.unix_millis();
        self.with(org, |state| {
            let bucket = state
                .bucket
                .get_or_insert_with(|| Bucket::full(settings, now));
            bucket.refill(settings, now);
            if bucket.level >= MILLI {
                bucket.level = bucket.level.saturating_sub(MILLI);
                return Ok(());
            }
            let missing = MILLI.saturating_sub(bucket.level);
            let rate = i64::from(settings.workspace_creation_rate.max(1));
            // Round up: a caller that waits this long is admitted.
            let wait_ms = missing.saturating_add(rate - 1) / rate;
            Err(Duration::from_millis(u64::try_from(wait_ms).unwrap_or(0)))
        })
    }

    /// Gives back a creation taken by [`Meter::take`] that created nothing (the workspace
    /// existed after all).
    pub(crate) fn give_back(&self, org: OrgId, settings: &OrgSettings) {
        self.with(org, |state| {
            if let Some(bucket) = &mut state.bucket {
                bucket.level = bucket.level.saturating_add(MILLI).min(capacity(settings));
            }
        });
    }

    /// Charges a creation that happened without [`Meter::take`] (a workspace seen existing,
    /// then gone, then created in one call): the bucket may go below zero.
    pub(crate) fn charge(&self, org: OrgId, settings: &OrgSettings, now: Timestamp) {
        let now = now.unix_millis();
        self.with(org, |state| {
            let bucket = state
                .bucket
                .get_or_insert_with(|| Bucket::full(settings, now));
            bucket.refill(settings, now);
            bucket.level = bucket.level.saturating_sub(MILLI);
        });
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings(burst: u32, rate: u32) -> OrgSettings {
        OrgSettings {
            workspace_creation_burst: burst,
            workspace_creation_rate: rate,
            ..OrgSettings::default()
        }
    }

    #[test]
    fn bucket_admits_the_burst_then_refills_at_the_rate() {
        let meter = Meter::default();
        let org = OrgId::random();
        let s = settings(3, 4);
        let t0 = Timestamp::from_unix_millis(1_000_000);
        for _ in 0..3 {
            meter.take(org, &s, t0).unwrap();
        }
        // One token takes 250 ms at 4 per second.
        assert_eq!(meter.take(org, &s, t0), Err(Duration::from_millis(250)));
        let t1 = Timestamp::from_unix_millis(1_000_100);
        assert_eq!(meter.take(org, &s, t1), Err(Duration::from_millis(150)));
        let t2 = Timestamp::from_unix_millis(1_000_250);
        meter.take(org, &s, t2).unwrap();
        // Never more than the burst, however long it waits.
        let later = Timestamp::from_unix_millis(9_000_000);
        for _ in 0..3 {
            meter.take(org, &s, later).unwrap();
        }
        assert!(matches!(meter.take(org, &s, later), Err(wait) if !wait.is_zero()));
        // A refund makes the next one pass at once.
        meter.give_back(org, &s);
        meter.take(org, &s, later).unwrap();
        // Another organization has its own bucket.
        meter.take(OrgId::random(), &s, later).unwrap();
    }

    #[test]
    fn a_charge_is_owed_and_repaid_by_the_refill() {
        let meter = Meter::default();
        let org = OrgId::random();
        let s = settings(1, 1);
        let t0 = Timestamp::from_unix_millis(0);
        meter.take(org, &s, t0).unwrap();
        meter.charge(org, &s, t0);
        assert_eq!(meter.take(org, &s, t0), Err(Duration::from_secs(2)));
    }

    #[test]
    fn counters_count_per_org() {
        let meter = Meter::default();
        let (a, b) = (OrgId::random(), OrgId::random());
        meter.record(a, Event::TokenIssued);
        meter.record(a, Event::TokenIssued);
        meter.record(b, Event::RateLimited);
        assert_eq!(meter.stats(a).tokens_issued, 2);
        assert_eq!(meter.stats(a).rate_limited, 0);
        assert_eq!(meter.stats(b).rate_limited, 1);
    }
}
