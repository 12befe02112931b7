//! An organization's audit chain: reading it, and checking it.

use crate::audit::{AuditEvent, AuditFilter, AuditVerification, verify_chain};
use crate::error::{Error, Result};

/// Events read at a time by [`crate::engine::org::OrgScope::verify_audit`].
const VERIFY_BATCH: usize = 500;

impl crate::engine::org::OrgScope {
    /// A page of the organization's audit events matching `filter`, in chain order (oldest
    /// first).
    pub fn audit_events(
        &self,
        filter: &AuditFilter,
        page: &crate::model::page::Page,
    ) -> Result<crate::model::page::Paged<AuditEvent>> {
        use crate::model::page::{Position, paginate};
        filter.validate()?;
        let limit = page.checked_limit()?;
        let after = match page.cursor().map(|c| c.position()) {
            None => None,
            Some(Position::Sequence(seq)) => Some(*seq),
            Some(_) => {
                return Err(Error::invalid_input(
                    "cursor",
                    "belongs to another kind of list",
                ));
            }
        };
        let events = self
            .rows()?
            .audit_events(filter, after, limit.saturating_add(1))?;
        Ok(paginate(events, limit, |e| Position::Sequence(e.seq)))
    }

    /// A page of the organization's audit events matching `filter`, newest first: the page's
    /// cursor is where the previous page ended (its oldest event), and the next one starts
    /// before it.
    pub fn latest_audit_events(
        &self,
        filter: &AuditFilter,
        page: &crate::model::page::Page,
    ) -> Result<crate::model::page::Paged<AuditEvent>> {
        use crate::model::page::{Position, paginate};
        filter.validate()?;
        let limit = page.checked_limit()?;
        let before = match page.cursor().map(|c| c.position()) {
            None => None,
            Some(Position::Sequence(seq)) => Some(*seq),
            Some(_) => {
                return Err(Error::invalid_input(
                    "cursor",
                    "belongs to another kind of list",
                ));
            }
        };
        let events = self
            .rows()?
            .audit_events_newest(filter, before, limit.saturating_add(1))?;
        Ok(paginate(events, limit, |e| Position::Sequence(e.seq)))
    }

    /// Checks the organization's whole audit chain, in order, and reports the first broken
    /// link: an event changed, deleted or moved since it was written.
    pub fn verify_audit(&self) -> Result<AuditVerification> {
        let org_id = self.org.org_id();
        let mut last = None;
        let mut verified = 0u64;
        loop {
            let after = last.map(|(seq, _)| seq);
            // Unchecked on purpose: `verify_chain` reports another organization's event as
            // a broken link.
            let events = self.rows()?.audit_chain_unchecked(after, VERIFY_BATCH)?;
            let count = events.len();
            match verify_chain(org_id, last, &events) {
                Ok(next) => {
                    verified = verified.saturating_add(u64::try_from(count).unwrap_or(u64::MAX));
                    last = next;
                }
                Err(broken) => {
                    verified = verified.saturating_add(
                        broken
                            .seq
                            .saturating_sub(after.unwrap_or(0).saturating_add(1)),
                    );
                    return Ok(AuditVerification {
                        verified,
                        broken: Some(broken),
                    });
                }
            }
            if count < VERIFY_BATCH {
                return Ok(AuditVerification {
                    verified,
                    broken: None,
                });
            }
        }
    }
}
