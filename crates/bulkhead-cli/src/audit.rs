//! `bulkhead audit …`: the organization's tamper-evident audit log.

use bulkhead::{AuditEvent, AuditFilter, AuditVerification, Cursor, Page};
use serde::Serialize;

use crate::args::{AuditCommand, AuditListArgs};
use crate::db::Ctx;
use crate::error::CliError;
use crate::output;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// One event as `audit list --json` prints it.
#[derive(Serialize)]
struct EventView {
    seq: u64,
    at: bulkhead::Timestamp,
    actor: String,
    action: String,
    workspace_id: Option<bulkhead::WorkspaceId>,
    target: String,
    outcome: String,
    prev_hash: String,
    hash: String,
}

impl From<AuditEvent> for EventView {
    fn from(e: AuditEvent) -> Self {
        Self {
            seq: e.seq,
            at: e.draft.at,
            actor: e.draft.actor,
            action: e.draft.action,
            workspace_id: e.draft.workspace_id,
            target: e.draft.target,
            outcome: e.draft.outcome,
            prev_hash: hex(&e.prev_hash),
            hash: hex(&e.hash),
        }
    }
}

#[derive(Serialize)]
struct EventPage {
    events: Vec<EventView>,
    next: Option<Cursor>,
}

/// `audit verify --json`.
#[derive(Serialize)]
struct Verification {
    intact: bool,
    verified: u64,
    broken_at: Option<u64>,
    reason: Option<String>,
}

impl From<&AuditVerification> for Verification {
    fn from(v: &AuditVerification) -> Self {
        Self {
            intact: v.is_intact(),
            verified: v.verified,
            broken_at: v.broken.as_ref().map(|b| b.seq),
            reason: v.broken.as_ref().map(|b| b.reason.clone()),
        }
    }
}

pub(crate) fn run(ctx: &Ctx, command: AuditCommand) -> Result<(), CliError> {
    let engine = ctx.open()?;
    let org = ctx.org(&engine)?;
    match command {
        AuditCommand::List(args) => list(ctx, &org, args),
        AuditCommand::Verify => {
            let verification = org.verify_audit()?;
            if ctx.json {
                output::json(&Verification::from(&verification))?;
            } else if verification.is_intact() {
                output::lines([format!(
                    "audit chain intact: {} event(s) verified",
                    verification.verified
                )])?;
            }
            match verification.broken {
                None => Ok(()),
                Some(broken) => Err(CliError::AuditBroken(format!(
                    "{broken} ({} event(s) before it verified)",
                    verification.verified
                ))),
            }
        }
    }
}

fn list(ctx: &Ctx, org: &bulkhead::OrgScope, args: AuditListArgs) -> Result<(), CliError> {
    let workspace_id = match &args.workspace {
        Some(external_id) => Some(org.workspace_by_external_id(&external_id.parse()?)?.id),
        None => None,
    };
    let filter = AuditFilter {
        workspace_id,
        action: args.action,
        from: args.from.as_deref().map(str::parse).transpose()?,
        until: args.until.as_deref().map(str::parse).transpose()?,
    };
    let page = match args.after {
        Some(cursor) => Page::after(cursor.parse()?, args.limit),
        None => Page::first(args.limit),
    };
    let got = org.audit_events(&filter, &page)?;
    if ctx.json {
        return output::json(&EventPage {
            events: got.items.into_iter().map(EventView::from).collect(),
            next: got.next,
        });
    }
    if got.items.is_empty() {
        return output::lines(["no audit events match".to_owned()]);
    }
    let rows: Vec<Vec<String>> = got
        .items
        .iter()
        .map(|e| {
            vec![
                e.seq.to_string(),
                e.draft.at.to_string(),
                e.draft.actor.clone(),
                e.draft.action.clone(),
                e.draft.target.clone(),
                e.draft.outcome.clone(),
            ]
        })
        .collect();
    let mut lines = output::table(
        &["SEQ", "AT", "ACTOR", "ACTION", "TARGET", "OUTCOME"],
        &rows,
    );
    if let Some(next) = got.next {
        lines.push(format!("more: --after {next}"));
    }
    output::lines(lines)
}
