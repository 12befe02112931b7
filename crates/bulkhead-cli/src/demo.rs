//! `bulkhead demo`: the seed's example organization, built in a fresh database the way a host
//! builds it, read back through the API, and a look at isolation at work.
//!
//! "Acme Corp" is created and from then on acts with its own org key. Each of its three
//! customers gets a scoped token (tags `production`), and the customer's side of the work
//! (a source: Stripe, Salesforce, PostgreSQL; a connection to the destination "S3 bucket")
//! goes through the scope that token authenticates to. The tree printed is what the engine
//! returns when asked again, not what the demo remembers writing. Then customer A's token
//! asks for customer B's source by id, which must be not found, and its scope must be A's
//! workspace alone; the demo fails (exit status 1) otherwise.
//!
//! The org key and the tokens are credentials: the demo never prints them (a token's first
//! characters at most). With `--db`, the org key goes to `<db>.org-key` and the master key to
//! `<db>.key`, both readable by their owner only.

use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

use bulkhead::{
    Algorithm, Config, ConnectorConfig, Engine, IssuedToken, MasterKey, NewConnection,
    NewDestination, NewSource, OperationSet, OrgKeySecret, OrgScope, Organization, Schedule,
    ScopedTokenRequest, SourceId, SyncOutcome, TagMode, TagSelection, Timestamp, WorkspaceId,
};
use serde::Serialize;
use serde_json::json;

use crate::error::CliError;
use crate::inspect::{self, WorkspaceDetail};
use crate::output::{self, shell_quote};
use crate::{db, tree};

const ORGANIZATION: &str = "Acme Corp";
const DESTINATION: &str = "S3 bucket";
/// The template tag every customer's token selects.
const TAG: &str = "production";
/// Characters of a token shown: enough to tell it is one, far too few to use it.
const TOKEN_PREFIX_CHARS: usize = 12;

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

/// Whose token asks for whose source in the isolation check.
const ASKER: &str = "customer-a";
const OWNER: &str = "customer-b";

/// Where the demo's database and keys live.
#[derive(Serialize)]
struct Database {
    path: String,
    /// A temporary file, removed when the demo ends (its master key only ever in memory).
    temporary: bool,
    /// The master key file written beside a kept database.
    master_key_file: Option<String>,
    /// The file holding the org key of a kept database (the key itself is never printed).
    org_key_file: Option<String>,
}

/// What the demo shows of a scoped token: never the token itself.
#[derive(Serialize)]
struct TokenFacts {
    external_id: String,
    workspace_id: WorkspaceId,
    algorithm: Algorithm,
    operations: OperationSet,
    expires_at: Timestamp,
    /// The first characters and `…`.
    token_prefix: String,
}

/// The asker's token asks for the owner's source by id.
#[derive(Serialize)]
struct ForeignSourceCheck {
    source_id: SourceId,
    /// `not_found` (the only passing outcome), `returned`, or `error`.
    outcome: &'static str,
    /// The error the asker got, if any.
    message: Option<String>,
    passed: bool,
}

/// What the asker's token authenticates to.
#[derive(Serialize)]
struct TokenScopeCheck {
    /// The workspace of the scope `Engine::authenticate` returned.
    workspace_id: WorkspaceId,
    /// The asker's workspace.
    expected_workspace_id: WorkspaceId,
    /// The sources that scope lists, by name.
    sources: Vec<String>,
    passed: bool,
}

#[derive(Serialize)]
struct Isolation {
    asker: String,
    owner: String,
    foreign_source: ForeignSourceCheck,
    token_scope: TokenScopeCheck,
    passed: bool,
}

/// `demo --json`: the whole tree, the tokens' facts and the isolation check, in one document.
#[derive(Serialize)]
struct DemoReport {
    database: Database,
    organization: Organization,
    tokens: Vec<TokenFacts>,
    workspaces: Vec<WorkspaceDetail>,
    isolation: Isolation,
}

pub(crate) fn run(db: Option<&Path>, json: bool) -> Result<(), CliError> {
    // Declared before the engine, so the engine closes the file before the directory goes.
    let temp_dir;
    let (path, master_key, mut org_key_file) = match db {
        Some(path) => {
            let (master_key, org_key_file) = claim_files(path)?;
            (path.to_path_buf(), master_key, Some(org_key_file))
        }
        None => {
            temp_dir = tempfile::Builder::new()
                .prefix("bulkhead-demo-")
                .tempdir()
                .map_err(|e| CliError::io("could not create a temporary directory", e))?;
            (
                temp_dir.path().join("bulkhead.db"),
                MasterKey::generate()?,
                None,
            )
        }
    };
    let engine = Engine::open(&path, Config::from_env()?.with_master_key(master_key))?;
    let Built {
        admin,
        org_key,
        issued,
    } = build(&engine)?;
    if let Some(file) = &mut org_key_file {
        writeln!(file, "{}", org_key.expose())
            .and_then(|()| file.sync_all())
            .map_err(|e| {
                CliError::io(
                    format!("could not write `{}`", org_key_path(&path).display()),
                    e,
                )
            })?;
    }

    // Everything shown from here on is read back through the engine.
    let workspaces = inspect::workspaces(&admin)?
        .iter()
        .map(|w| inspect::workspace_detail(&admin.workspace(w.id)?))
        .collect::<bulkhead::Result<Vec<_>>>()?;
    let organization = admin.reload()?;
    let tokens = issued
        .iter()
        .map(|(customer, token)| token_facts(&engine, &organization, customer, token))
        .collect::<Result<Vec<_>, CliError>>()?;
    let isolation = check_isolation(&engine, &issued, &workspaces)?;
    let temporary = db.is_none();
    let report = DemoReport {
        database: Database {
            path: db::display_path(&path),
            temporary,
            master_key_file: (!temporary)
                .then(|| db::display_path(&bulkhead::default_key_file(&path))),
            org_key_file: (!temporary).then(|| db::display_path(&org_key_path(&path))),
        },
        organization,
        tokens,
        workspaces,
        isolation,
    };
    if json {
        output::json(&report)?;
    } else {
        output::lines(text(&report))?;
    }
    if report.isolation.passed {
        Ok(())
    } else {
        Err(CliError::IsolationCheckFailed(format!(
            "{ASKER}'s scoped token reached beyond {ASKER}'s workspace (see the isolation lines)"
        )))
    }
}

/// The file that keeps the org key of a demo database: `<db>.org-key`.
fn org_key_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".org-key");
    PathBuf::from(name)
}

/// Claims the database file, the org key file and the master key file of a kept demo, all
/// new: the demo never mixes its example into existing data or keys. If one is in the way,
/// the ones already made are removed again.
fn claim_files(db: &Path) -> Result<(MasterKey, File), CliError> {
    drop(create_new(db, false).map_err(|e| match e {
        CliError::Io { source, .. } if source.kind() == io::ErrorKind::AlreadyExists => {
            CliError::usage(format!(
                "`{}` already exists; the demo builds its example in a fresh database and \
                 does not mix it into existing data: pass a path that does not exist yet, or \
                 leave out --db to use a temporary file",
                db.display()
            ))
        }
        other => other,
    })?);
    let org_key_file = match create_new(&org_key_path(db), true) {
        Ok(file) => file,
        Err(e) => {
            let _ = std::fs::remove_file(db);
            return Err(e);
        }
    };
    match MasterKey::create_file(&bulkhead::default_key_file(db)) {
        Ok(key) => Ok((key, org_key_file)),
        Err(e) => {
            let _ = std::fs::remove_file(db);
            let _ = std::fs::remove_file(org_key_path(db));
            Err(e.into())
        }
    }
}

/// Creates `path` as a new, empty file, refusing one that exists. Creating it (rather than
/// checking for it) leaves no window for another process to put a file there in between.
/// A `private` file is readable by its owner only.
fn create_new(path: &Path, private: bool) -> Result<File, CliError> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    #[cfg(not(unix))]
    let _ = private;
    options.open(path).map_err(|e| {
        let what = if e.kind() == io::ErrorKind::AlreadyExists {
            format!("`{}` already exists", path.display())
        } else {
            format!("could not create `{}`", path.display())
        };
        CliError::io(what, e)
    })
}

/// What [`build`] made.
struct Built {
    /// The organization's scope, made from its org key.
    admin: OrgScope,
    org_key: OrgKeySecret,
    /// Each customer's external id and token.
    issued: Vec<(&'static str, IssuedToken)>,
}

/// Writes the example the way a host does.
fn build(engine: &Engine) -> Result<Built, CliError> {
    let (_, org_key) = engine.create_organization(ORGANIZATION)?;
    let admin = engine.authenticate_org(org_key.expose())?;
    let production = TagSelection::parse([TAG], TagMode::Any)?;
    let mut issued = Vec::new();
    for customer in &CUSTOMERS {
        let token = admin.scoped_token(
            &ScopedTokenRequest::new(customer.external_id.parse()?)
                .source_tags(production.clone())
                .connection_tags(production.clone()),
        )?;
        // The customer's side: the scope its token authenticates to, confined to its
        // workspace, with the default operations.
        let ws = engine.authenticate(token.token.expose())?;
        // The default operations include `sources:create` and `connections:create` but not
        // `destinations:create` or `syncs:trigger`: the destination and the sync run are the
        // organization's to make, through its own (all-operations) scope of that workspace.
        let org_ws = admin.workspace(token.workspace_id)?;
        let source = ws.create_source(NewSource {
            name: customer.source.parse()?,
            connector: customer.connector.parse()?,
            config: ConnectorConfig::new(json!({
                "account": format!("{}-account", customer.external_id),
            }))?,
        })?;
        let destination = org_ws.create_destination(NewDestination {
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
        let run = org_ws.start_sync(connection.id)?;
        org_ws.finish_sync(
            run.id,
            SyncOutcome::Succeeded {
                rows: customer.rows,
                bytes: customer.bytes,
            },
        )?;
        issued.push((customer.external_id, token));
    }
    Ok(Built {
        admin,
        org_key,
        issued,
    })
}

fn token_facts(
    engine: &Engine,
    org: &Organization,
    external_id: &str,
    issued: &IssuedToken,
) -> Result<TokenFacts, CliError> {
    let token = issued.token.expose();
    let claims = engine.verify_token(token)?;
    Ok(TokenFacts {
        external_id: external_id.to_owned(),
        workspace_id: issued.workspace_id,
        algorithm: org.settings.token_algorithm,
        operations: claims.operations,
        expires_at: issued.expires_at,
        token_prefix: format!("{}…", token.get(..TOKEN_PREFIX_CHARS).unwrap_or("")),
    })
}

/// Customer A's token asks for customer B's source by id, and lists what its scope holds.
fn check_isolation(
    engine: &Engine,
    issued: &[(&str, IssuedToken)],
    workspaces: &[WorkspaceDetail],
) -> Result<Isolation, CliError> {
    let missing = |what: String| CliError::IsolationCheckFailed(format!("{what} is missing"));
    let find = |external_id: &str| {
        workspaces
            .iter()
            .find(|w| w.workspace.external_id.as_str() == external_id)
            .ok_or_else(|| missing(format!("the workspace `{external_id}`")))
    };
    let asker = find(ASKER)?;
    let source_id = find(OWNER)?
        .sources
        .first()
        .map(|s| s.id)
        .ok_or_else(|| missing(format!("the source of `{OWNER}`")))?;
    let token = issued
        .iter()
        .find(|(customer, _)| *customer == ASKER)
        .map(|(_, t)| t.token.expose())
        .ok_or_else(|| missing(format!("the token of `{ASKER}`")))?;

    let scope = engine.authenticate(token)?;
    let (outcome, message, passed) = match scope.get_source(source_id) {
        Err(e) if e.is_not_found() => ("not_found", Some(e.to_string()), true),
        Err(e) => ("error", Some(e.to_string()), false),
        Ok(_) => ("returned", None, false),
    };
    let foreign_source = ForeignSourceCheck {
        source_id,
        outcome,
        message,
        passed,
    };

    let expected = asker.workspace.id;
    let listed = inspect::all(|page| scope.list_sources(page))?;
    let mut listed_ids: Vec<SourceId> = listed.iter().map(|s| s.id).collect();
    let mut own_ids: Vec<SourceId> = asker.sources.iter().map(|s| s.id).collect();
    listed_ids.sort();
    own_ids.sort();
    let token_scope = TokenScopeCheck {
        workspace_id: scope.workspace_id(),
        expected_workspace_id: expected,
        sources: listed.iter().map(|s| s.name.to_string()).collect(),
        passed: scope.workspace_id() == expected
            && listed.iter().all(|s| s.workspace_id == expected)
            && listed_ids == own_ids,
    };
    Ok(Isolation {
        asker: ASKER.to_owned(),
        owner: OWNER.to_owned(),
        passed: foreign_source.passed && token_scope.passed,
        foreign_source,
        token_scope,
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
    lines.push(format!(
        "Scoped tokens ({}, tags `{TAG}`, default operations; never printed whole):",
        report.organization.settings.token_algorithm
    ));
    for t in &report.tokens {
        lines.push(format!(
            "  {}: {} for workspace {}, expires at {}",
            t.external_id, t.token_prefix, t.workspace_id, t.expires_at
        ));
    }
    lines.push(String::new());
    lines.extend(isolation_text(&report.isolation));
    lines.push(String::new());
    if report.database.temporary {
        lines.push(
            "The database was temporary and is removed now; to keep one and inspect it, run \
             `bulkhead demo --db bulkhead-demo.db`."
                .to_owned(),
        );
    } else {
        let db = shell_quote(&report.database.path);
        let org_key_file = shell_quote(report.database.org_key_file.as_deref().unwrap_or(""));
        lines.push(
            "The master key is in `<db>.key` and the org key in `<db>.org-key`, both readable \
             by you only. Inspect the database with:"
                .to_owned(),
        );
        lines.push(format!(
            "  export BULKHEAD_ORG_KEY=\"$(cat {org_key_file})\""
        ));
        lines.push(format!("  bulkhead --db {db} workspaces list"));
        lines.push(format!("  bulkhead --db {db} workspaces show {ASKER}"));
        lines.push(format!("  bulkhead --db {db} token --external-id {ASKER}"));
    }
    lines
}

fn isolation_text(check: &Isolation) -> Vec<String> {
    let foreign = &check.foreign_source;
    let result = match (foreign.outcome, &foreign.message) {
        ("not_found", Some(message)) => format!("not found ({message})"),
        ("returned", _) => "RETURNED IT: isolation is broken".to_owned(),
        (_, Some(message)) => format!("failed unexpectedly ({message})"),
        (outcome, None) => outcome.to_owned(),
    };
    let scope = &check.token_scope;
    let sources = if scope.sources.is_empty() {
        "none".to_owned()
    } else {
        scope.sources.join(", ")
    };
    let scope_result = if scope.passed {
        format!(
            "authenticates to workspace {} ({}'s) and lists only its sources: {sources}",
            scope.workspace_id, check.asker
        )
    } else {
        format!(
            "authenticates to workspace {} ({}'s is {}) and lists sources: {sources}; \
             ISOLATION IS BROKEN",
            scope.workspace_id, check.asker, scope.expected_workspace_id
        )
    };
    vec![
        format!(
            "Isolation: {}'s token asked for {}'s source {}: {result}",
            check.asker, check.owner, foreign.source_id
        ),
        format!("Isolation: {}'s token {scope_result}", check.asker),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_files_refuses_an_existing_database_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("taken.db");
        std::fs::write(&path, b"keep").unwrap();
        let err = claim_files(&path).unwrap_err();
        assert!(err.to_string().contains("already exists"), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), b"keep");
        assert!(!org_key_path(&path).exists());
    }

    #[test]
    fn claim_files_takes_back_what_it_made_when_a_key_file_is_in_the_way() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.db");
        std::fs::write(bulkhead::default_key_file(&path), b"old key").unwrap();
        assert!(claim_files(&path).is_err());
        assert!(!path.exists());
        assert!(!org_key_path(&path).exists());
        assert_eq!(
            std::fs::read(bulkhead::default_key_file(&path)).unwrap(),
            b"old key"
        );
    }

    #[cfg(unix)]
    #[test]
    fn claimed_key_files_are_private() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("demo.db");
        drop(claim_files(&path).unwrap());
        for file in [org_key_path(&path), bulkhead::default_key_file(&path)] {
            let mode = std::fs::metadata(&file).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", file.display());
        }
    }
}
