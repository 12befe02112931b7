//! `bulkhead demo`: the seed's example organization, built in a fresh database, read back
//! through the API, and a look at isolation at work.
//!
//! Three customers of "Acme Corp", each with a source (Stripe, Salesforce, PostgreSQL), the
//! destination "S3 bucket", a scheduled connection between them and one finished sync run. The
//! tree printed is what the engine returns when asked again, not what the demo remembers
//! writing. Then customer A's scope asks for customer B's source by id: it must be not found,
//! and the demo fails (exit status 1) if it is anything else.

use std::fs::OpenOptions;
use std::io;
use std::path::Path;

use bulkhead::{
    ConnectorConfig, Engine, ExternalId, NewConnection, NewDestination, NewSource, OrgId, OrgScope,
    Organization, Schedule, SourceId, SyncOutcome,
};
use serde::Serialize;
use serde_json::json;

use crate::error::CliError;
use crate::inspect::{self, WorkspaceDetail};
use crate::output::{self, shell_quote};
use crate::{db, tree};

const ORGANIZATION: &str = "Acme Corp";
const DESTINATION: &str = "S3 bucket";

/// One customer of the seed's diagram.
struct Customer {
    external_id: &'static str,
    source: &'static str,
    connector: &'static str,
    schedule: &'static str,
    rows: u64,
    bytes: u64,
}

const CUSTOMERS: [Customer; 3] = [
    Customer {
        external_id: "customer-a",
        source: "Stripe",
        connector: "stripe",
        schedule: "0 * * * *",
        rows: 1200,
        bytes: 96_000,
    },
    Customer {
        external_id: "customer-b",
        source: "Salesforce",
        connector: "salesforce",
        schedule: "30 */6 * * *",
        rows: 5400,
        bytes: 1_350_000,
    },
    Customer {
        external_id: "customer-c",
        source: "PostgreSQL",
        connector: "postgres",
        schedule: "0 2 * * *",
        rows: 87_000,
        bytes: 12_400_000,
    },
];

/// Which customer asks for which customer's source in the isolation check.
const ASKER: &str = "customer-a";
const OWNER: &str = "customer-b";

/// Where the demo's database lives.
#[derive(Serialize)]
struct Database {
    path: String,
    /// A temporary file, removed when the demo ends.
    temporary: bool,
}

/// The result of asking for another customer's source.
#[derive(Serialize)]
struct IsolationCheck {
    asker: String,
    owner: String,
    source_id: SourceId,
    /// `not_found` (the only passing outcome), `returned`, or `error`.
    outcome: &'static str,
    /// The error the asker got, if any.
    message: Option<String>,
    passed: bool,
}

/// `demo --json`: the whole tree and the isolation check, in one document.
#[derive(Serialize)]
struct DemoReport {
    database: Database,
    organization: Organization,
    workspaces: Vec<WorkspaceDetail>,
    isolation: IsolationCheck,
}

pub(crate) fn run(db: Option<&Path>, json: bool) -> Result<(), CliError> {
    // Declared before the engine, so the engine closes the file before the directory goes.
    let temp_dir;
    let (path, temporary) = match db {
        Some(path) => {
            claim_fresh(path)?;
            (path.to_path_buf(), false)
        }
        None => {
            temp_dir = tempfile::Builder::new()
                .prefix("bulkhead-demo-")
                .tempdir()
                .map_err(|e| CliError::io("could not create a temporary directory", e))?;
            (temp_dir.path().join("bulkhead.db"), true)
        }
    };
    let engine = db::open(&path)?;
    let org_id = build(&engine)?;

    // Everything shown from here on is read back through the engine.
    let org = engine.operator_org_scope(org_id)?;
    let workspaces = inspect::workspaces(&org)?
        .iter()
        .map(|w| inspect::workspace_detail(&org.workspace(w.id)?))
        .collect::<bulkhead::Result<Vec<_>>>()?;
    let isolation = check_isolation(&org, &workspaces)?;
    let passed = isolation.passed;
    let report = DemoReport {
        database: Database {
            path: db::display_path(&path),
            temporary,
        },
        organization: org.organization().clone(),
        workspaces,
        isolation,
    };
    if json {
        output::json(&report)?;
    } else {
        output::lines(text(&report))?;
    }
    if passed {
        Ok(())
    } else {
        Err(CliError::IsolationCheckFailed(format!(
            "{ASKER}'s scope did not get not-found for {OWNER}'s source `{}`",
            report.isolation.source_id
        )))
    }
}

/// Creates `path` as a new, empty file, refusing one that exists: the demo never mixes its
/// example into existing data. Creating it (rather than checking for it) leaves no window for
/// another process to put a file there in between.
fn claim_fresh(path: &Path) -> Result<(), CliError> {
    match OpenOptions::new().write(true).create_new(true).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(CliError::usage(format!(
            "`{}` already exists; the demo builds its example in a fresh database and does \
                 not mix it into existing data: pass a path that does not exist yet, or leave \
                 out --db to use a temporary file",
            path.display()
        ))),
        Err(e) => Err(CliError::io(
            format!("could not create `{}`", path.display()),
            e,
        )),
    }
}

/// Writes the example and returns the organization's id.
fn build(engine: &Engine) -> Result<OrgId, CliError> {
    let org = engine.create_organization(ORGANIZATION)?;
    let admin = engine.operator_org_scope(org.id)?;
    for customer in &CUSTOMERS {
        let external_id: ExternalId = customer.external_id.parse()?;
        let workspace = admin.get_or_create_workspace(&external_id)?.workspace;
        let ws = admin.workspace(workspace.id)?;
        let source = ws.create_source(NewSource {
            name: customer.source.parse()?,
            connector: customer.connector.parse()?,
            config: ConnectorConfig::new(json!({
                "account": format!("{}-account", customer.external_id),
            }))?,
        })?;
        let destination = ws.create_destination(NewDestination {
            name: DESTINATION.parse()?,
            connector: "s3".parse()?,
            config: ConnectorConfig::new(json!({
                "bucket": "acme-exports",
                "prefix": format!("{}/", customer.external_id),
            }))?,
        })?;
        let connection = ws.create_connection(NewConnection {
            name: format!("{} → {DESTINATION}", customer.source).parse()?,
            source_id: source.id,
            destination_id: destination.id,
            schedule: Schedule::Cron(customer.schedule.parse()?),
        })?;
        let run = ws.start_sync(connection.id)?;
        ws.finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: customer.rows,
                bytes: customer.bytes,
            },
        )?;
    }
    Ok(org.id)
}

/// Customer A's scope asks for customer B's source by id.
fn check_isolation(
    org: &OrgScope,
    workspaces: &[WorkspaceDetail],
) -> Result<IsolationCheck, CliError> {
    let find = |external_id: &str| {
        workspaces
            .iter()
            .find(|w| w.workspace.external_id.as_str() == external_id)
            .ok_or_else(|| {
                CliError::IsolationCheckFailed(format!("the workspace `{external_id}` is missing"))
            })
    };
    let asker = find(ASKER)?;
    let source_id = find(OWNER)?.sources.first().map(|s| s.id).ok_or_else(|| {
        CliError::IsolationCheckFailed(format!("the workspace `{OWNER}` has no source"))
    })?;
    let scope = org.workspace(asker.workspace.id)?;
    let (outcome, message, passed) = match scope.get_source(source_id) {
        Err(e) if e.is_not_found() => ("not_found", Some(e.to_string()), true),
        Err(e) => ("error", Some(e.to_string()), false),
        Ok(_) => ("returned", None, false),
    };
    Ok(IsolationCheck {
        asker: ASKER.to_owned(),
        owner: OWNER.to_owned(),
        source_id,
        outcome,
        message,
        passed,
    })
}

fn text(report: &DemoReport) -> Vec<String> {
    let mut lines = vec![
        if report.database.temporary {
            "The seed's example, built in a temporary database:".to_owned()
        } else {
            format!("The seed's example, built in `{}`:", report.database.path)
        },
        String::new(),
    ];
    lines.extend(tree::organization(&report.organization, &report.workspaces));
    lines.push(String::new());
    let check = &report.isolation;
    let result = match (check.outcome, &check.message) {
        ("not_found", Some(message)) => format!("not found ({message})"),
        ("returned", _) => "RETURNED IT: isolation is broken".to_owned(),
        (_, Some(message)) => format!("failed unexpectedly ({message})"),
        (outcome, None) => outcome.to_owned(),
    };
    lines.push(format!(
        "Isolation: {} asked for {}'s source {}: {result}",
        check.asker, check.owner, check.source_id
    ));
    lines.push(String::new());
    if report.database.temporary {
        lines.push(
            "The database was temporary and is removed now; to keep one and inspect it, run \
             `bulkhead demo --db bulkhead-demo.db`."
                .to_owned(),
        );
    } else {
        let db = shell_quote(&report.database.path);
        let org = report.organization.id;
        lines.push("Inspect it with:".to_owned());
        lines.push(format!("  bulkhead --db {db} org list"));
        lines.push(format!("  bulkhead --db {db} --org {org} workspaces list"));
        lines.push(format!(
            "  bulkhead --db {db} --org {org} workspaces show {ASKER}"
        ));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_fresh_refuses_an_existing_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken.db");
        std::fs::write(&path, b"").unwrap();
        let err = claim_fresh(&path).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
    }
}
