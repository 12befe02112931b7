//! `bulkhead demo`: the seed's example organization, built in a fresh database the way a host
//! builds it, read back through the API, and a look at isolation at work.
//!
//! "Acme Corp" is created and from then on acts with its own org key. It makes the tags
//! `production` and `premium`, three source templates (Stripe: `production`; Salesforce:
//! `premium`; PostgreSQL: both), each with a spec marking its credential
//! `"airbyte_secret": true`, and one connection template, "S3 bucket" (an `s3` destination
//! whose `secret_access_key` is secret, hourly, tagged with both). Each customer's scoped token
//! selects different tags (customer-a: `production`; customer-b: `premium`; customer-c: both,
//! mode `all`), so each sees different templates. Through its own token, each customer creates
//! its source from a template it sees, with a secret; the connection template makes the
//! destination and the connection in the same step. The organization then queues a first sync
//! of every connection, and two workers of the organization (as `bulkhead worker` runs them)
//! claim the jobs and run this binary's `fake-connector` for each, so the tree shows the rows
//! those syncs report.
//!
//! The tree printed is what the engine returns when asked again, not what the demo remembers
//! writing: secrets read as `**********`. Then customer A's token asks for customer B's source
//! by id, which must be not found, and its scope must be A's workspace alone; and customer C's
//! token asks to use the Stripe template, which its tags do not select and which must be
//! refused. The demo fails (exit status 1) otherwise.
//!
//! The org key, the tokens and the secrets are never printed (a token's first characters at
//! most). With `--db`, the org key goes to `<db>.org-key` and the master key to `<db>.key`,
//! both readable by their owner only.

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use bulkhead::{
    Algorithm, Config, ConfigSpec, ConnectionTemplate, ConnectorConfig, Engine, IssuedToken,
    MasterKey, NewConnectionTemplate, NewSourceFromTemplate, NewSourceTemplate, OperationSet,
    OrgKeySecret, OrgScope, Organization, Schedule, ScopedTokenRequest, SourceId, SourceTemplate,
    Tag, TagInfo, TagMode, TagSelection, Timestamp, WorkspaceId,
};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::CliError;
use crate::inspect::{self, WorkspaceDetail};
use crate::output::{self, shell_quote};
use crate::templates::joined;
use crate::worker::local::Local;
use crate::worker::{Options, Tally, work};
use crate::{db, tree};

const ORGANIZATION: &str = "Acme Corp";
/// Characters of a token shown: enough to tell it is one, far too few to use it.
const TOKEN_PREFIX_CHARS: usize = 12;

/// The demo's secrets. They are sealed before they reach the database and masked in every
/// output; the tests look for them in the database file's bytes and must not find them.
pub(crate) const STRIPE_API_KEY: &str = "sk_live_demo_a_4eC39HqLyjWDarjtT1zdp7dc";
/// customer-b's Salesforce API key.
pub(crate) const SALESFORCE_API_KEY: &str = "sk_live_demo_b_9Qm2Xw7LrK4pVn8Hs3Zt6Yc";
/// customer-c's PostgreSQL password.
pub(crate) const POSTGRES_PASSWORD: &str = "pg_demo_c_Zt7Qm2Wx9Lr4Kp8Vn3Hs5Jd";
/// The organization's S3 secret, in the connection template.
pub(crate) const S3_SECRET_ACCESS_KEY: &str = "s3_demo_wJalrXUtnFEMI_K7MDENG_bPxRfiCYzz";

/// The organization's tags.
const TAGS: [&str; 2] = ["production", "premium"];

/// A source template of the catalog.
struct SourceTemplateDef {
    name: &'static str,
    connector: &'static str,
    tags: &'static [&'static str],
    default_config: &'static str,
    spec: &'static str,
}

const SOURCE_TEMPLATES: [SourceTemplateDef; 3] = [
    SourceTemplateDef {
        name: "Stripe",
        connector: "stripe",
        tags: &["production"],
        default_config: r#"{"start_date": "2024-01-01"}"#,
        spec: r#"{"type": "object", "required": ["account_id", "api_key"],
                  "properties": {"account_id": {"type": "string"},
                                 "api_key": {"type": "string", "airbyte_secret": true},
                                 "start_date": {"type": "string"}}}"#,
    },
    SourceTemplateDef {
        name: "Salesforce",
        connector: "salesforce",
        tags: &["premium"],
        default_config: r#"{"is_sandbox": false}"#,
        spec: r#"{"type": "object", "required": ["instance_url", "client_id", "api_key"],
                  "properties": {"instance_url": {"type": "string"},
                                 "client_id": {"type": "string"},
                                 "api_key": {"type": "string", "airbyte_secret": true},
                                 "is_sandbox": {"type": "boolean"}}}"#,
    },
    SourceTemplateDef {
        name: "PostgreSQL",
        connector: "postgres",
        tags: &["production", "premium"],
        default_config: r#"{"port": 5432}"#,
        spec: r#"{"type": "object", "required": ["host", "port", "database", "username", "password"],
                  "properties": {"host": {"type": "string"},
                                 "port": {"type": "integer"},
                                 "database": {"type": "string"},
                                 "username": {"type": "string"},
                                 "password": {"type": "string", "airbyte_secret": true}}}"#,
    },
];

/// The connection template: where every customer's data goes.
const CONNECTION_TEMPLATE: &str = "S3 bucket";
const DESTINATION: &str = "S3 bucket";
const DESTINATION_SPEC: &str = r#"{"type": "object",
    "required": ["bucket", "access_key_id", "secret_access_key"],
    "properties": {"bucket": {"type": "string"},
                   "region": {"type": "string"},
                   "access_key_id": {"type": "string"},
                   "secret_access_key": {"type": "string", "airbyte_secret": true}}}"#;
/// The demo's connections sync every 6 hours: an interval first fires one interval after it
/// is set, so no scheduled job joins the demo's own syncs while it runs (a cron schedule could
/// fire when the demo crosses the hour) and the output stays the same every run.
const SCHEDULE: &str = "every 6 hours";

/// One customer of the seed's diagram.
struct Customer {
    external_id: &'static str,
    /// The tags its token selects, for source and connection templates alike.
    tags: &'static [&'static str],
    mode: TagMode,
    /// The template it creates its source from, by name.
    template: &'static str,
    /// Its configuration: text fields, one of them its secret.
    config: &'static [(&'static str, &'static str)],
}

const CUSTOMERS: [Customer; 3] = [
    Customer {
        external_id: "customer-a",
        tags: &["production"],
        mode: TagMode::Any,
        template: "Stripe",
        config: &[("account_id", "acct_demo_a"), ("api_key", STRIPE_API_KEY)],
    },
    Customer {
        external_id: "customer-b",
        tags: &["premium"],
        mode: TagMode::Any,
        template: "Salesforce",
        config: &[
            ("instance_url", "https://customer-b.my.salesforce.com"),
            ("client_id", "demo-client-b"),
            ("api_key", SALESFORCE_API_KEY),
        ],
    },
    Customer {
        external_id: "customer-c",
        tags: &["production", "premium"],
        mode: TagMode::All,
        template: "PostgreSQL",
        config: &[
            ("host", "db.customer-c.example"),
            ("database", "analytics"),
            ("username", "bulkhead_reader"),
            ("password", POSTGRES_PASSWORD),
        ],
    },
];

/// Whose token asks for whose source in the isolation check.
const ASKER: &str = "customer-a";
const OWNER: &str = "customer-b";
/// Whose token asks to use a template its tags do not select, and which.
const TEMPLATE_ASKER: &str = "customer-c";
const UNSEEN_TEMPLATE: &str = "Stripe";

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
    /// The selections the token request stored on the workspace.
    source_tags: TagSelection,
    connection_tags: TagSelection,
    expires_at: Timestamp,
    /// The first characters and `…`.
    token_prefix: String,
}

/// The organization's catalog, read back with its org key.
#[derive(Serialize)]
struct Catalog {
    tags: Vec<TagInfo>,
    source_templates: Vec<SourceTemplate>,
    connection_templates: Vec<ConnectionTemplate>,
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

/// A customer's token asks to create a source from a template its tags do not select.
#[derive(Serialize)]
struct UnseenTemplateCheck {
    asker: String,
    template: String,
    /// The template's tags.
    template_tags: BTreeSet<Tag>,
    /// The asker's source tag selection.
    selection: TagSelection,
    /// `refused` (the only passing outcome), `created`, or `error`.
    outcome: &'static str,
    message: Option<String>,
    passed: bool,
}

#[derive(Serialize)]
struct Isolation {
    asker: String,
    owner: String,
    foreign_source: ForeignSourceCheck,
    token_scope: TokenScopeCheck,
    unseen_template: UnseenTemplateCheck,
    passed: bool,
}

/// `demo --json`: the catalog, the whole tree, the tokens' facts and the checks, in one
/// document.
#[derive(Serialize)]
struct DemoReport {
    database: Database,
    organization: Organization,
    catalog: Catalog,
    tokens: Vec<TokenFacts>,
    pipelines: Pipelines,
    workspaces: Vec<WorkspaceDetail>,
    isolation: Isolation,
}

/// The first syncs: queued by the organization, run by a worker with the fake connector.
#[derive(Serialize)]
struct Pipelines {
    /// Jobs queued, one per connection.
    queued: u64,
    /// The connector command the worker ran (`bulkhead fake-connector`).
    command: &'static str,
    /// What the worker did.
    #[serde(flatten)]
    tally: Tally,
}

/// How many jobs the demo's worker runs at once.
const DEMO_WORKERS: usize = 2;

/// Runs the queued syncs with [`DEMO_WORKERS`] workers of the organization, each running this
/// binary's `fake-connector` per job, until the queue is empty.
fn run_syncs(admin: &OrgScope, queued: u64) -> Result<Pipelines, CliError> {
    let exe = std::env::current_exe().map_err(|e| {
        CliError::io(
            "could not find the bulkhead binary for its fake connector",
            e,
        )
    })?;
    let options = Options {
        command: format!(
            "{} fake-connector --delay-ms 150",
            shell_quote(&exe.to_string_lossy())
        ),
        heartbeat_every: Duration::from_secs(5),
        idle_wait: Duration::from_millis(20),
        drain: true,
        max_jobs: None,
    };
    let shutdown = AtomicBool::new(false);
    let tallies = std::thread::scope(|s| {
        let handles: Vec<_> = (0..DEMO_WORKERS)
            .map(|n| {
                let (options, shutdown) = (&options, &shutdown);
                s.spawn(move || -> Result<Tally, CliError> {
                    let mut queue = Local::new(admin.worker(&format!("demo-worker-{n}"))?);
                    work(&mut queue, options, shutdown, &mut std::io::sink())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(demo_bug("a worker panicked".into())))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    let tally = tallies.into_iter().fold(Tally::default(), Tally::plus);
    if tally.succeeded != queued {
        return Err(demo_bug(format!(
            "{queued} syncs were queued but {} succeeded ({tally:?})",
            tally.succeeded
        )));
    }
    Ok(Pipelines {
        queued,
        command: "bulkhead fake-connector",
        tally,
    })
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
        queued,
    } = build(&engine)?;
    let pipelines = run_syncs(&admin, queued)?;
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
    let catalog = Catalog {
        tags: admin.list_tags()?,
        source_templates: admin.list_source_templates(None)?,
        connection_templates: admin.list_connection_templates(None)?,
    };
    let workspaces = inspect::workspaces(&admin)?
        .iter()
        .map(|w| inspect::workspace_detail(&admin.workspace(w.id)?))
        .collect::<bulkhead::Result<Vec<_>>>()?;
    let organization = admin.reload()?;
    let tokens = issued
        .iter()
        .map(|(customer, token)| token_facts(&engine, &organization, &workspaces, customer, token))
        .collect::<Result<Vec<_>, CliError>>()?;
    let isolation = check_isolation(&engine, &issued, &workspaces, &catalog)?;
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
        catalog,
        tokens,
        pipelines,
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
        Err(CliError::IsolationCheckFailed(
            "a customer's scoped token reached beyond what its workspace may see (see the \
             isolation lines)"
                .to_owned(),
        ))
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
    /// Syncs queued, one per connection.
    queued: u64,
}

fn tag_set(names: &[&str]) -> Result<BTreeSet<Tag>, CliError> {
    Ok(names
        .iter()
        .map(|n| n.parse())
        .collect::<bulkhead::Result<_>>()?)
}

/// A failure of the demo's own script (a template it made is missing, say).
fn demo_bug(what: String) -> CliError {
    CliError::usage(format!("the demo could not build its example: {what}"))
}

/// Writes the example the way a host does.
fn build(engine: &Engine) -> Result<Built, CliError> {
    let mut queued = 0;
    let (_, org_key) = engine.create_organization(ORGANIZATION)?;
    let admin = engine.authenticate_org(org_key.expose())?;

    // The organization's catalog: tags, then templates carrying them.
    for tag in TAGS {
        admin.create_tag(&tag.parse()?)?;
    }
    for t in &SOURCE_TEMPLATES {
        admin.create_source_template(NewSourceTemplate {
            name: t.name.parse()?,
            connector: t.connector.parse()?,
            default_config: ConnectorConfig::from_json(t.default_config)?,
            spec: ConfigSpec::from_json(t.spec)?,
            tags: tag_set(t.tags)?,
        })?;
    }
    admin.create_connection_template(NewConnectionTemplate {
        name: CONNECTION_TEMPLATE.parse()?,
        destination_name: DESTINATION.parse()?,
        destination_connector: "s3".parse()?,
        destination_config: ConnectorConfig::new(serde_json::json!({
            "bucket": "acme-exports",
            "region": "eu-west-1",
            "access_key_id": "AKIADEMOEXAMPLE",
            "secret_access_key": S3_SECRET_ACCESS_KEY,
        }))?,
        destination_spec: ConfigSpec::from_json(DESTINATION_SPEC)?,
        schedule: Schedule::parse(SCHEDULE)?,
        tags: tag_set(&TAGS)?,
    })?;

    let mut issued = Vec::new();
    for customer in &CUSTOMERS {
        let selection = TagSelection::parse(customer.tags.iter().copied(), customer.mode)?;
        let token = admin.scoped_token(
            &ScopedTokenRequest::new(customer.external_id.parse()?)
                .source_tags(selection.clone())
                .connection_tags(selection),
        )?;
        // The customer's side: the scope its token authenticates to, confined to its
        // workspace, with the default operations. It picks its template among those it sees
        // and creates its source; the connection templates it sees make the destination and
        // the connection in the same transaction.
        let ws = engine.authenticate(token.token.expose())?;
        let template = ws
            .source_templates()?
            .into_iter()
            .find(|t| t.name.as_str() == customer.template)
            .ok_or_else(|| {
                demo_bug(format!(
                    "`{}` does not see the template `{}`",
                    customer.external_id, customer.template
                ))
            })?;
        let config: Map<String, Value> = customer
            .config
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String((*v).to_owned())))
            .collect();
        let made = ws.create_source_from_template(NewSourceFromTemplate {
            template_id: template.id,
            name: customer.template.parse()?,
            config: ConnectorConfig::new(Value::Object(config))?,
        })?;
        // A first sync of every new connection, queued for the worker; the organization's
        // own (all-operations) scope of the workspace queues it.
        let org_ws = admin.workspace(token.workspace_id)?;
        for connection in &made.connections {
            org_ws.queue_sync(connection.id)?;
            queued += 1;
        }
        issued.push((customer.external_id, token));
    }
    Ok(Built {
        admin,
        org_key,
        issued,
        queued,
    })
}

fn token_facts(
    engine: &Engine,
    org: &Organization,
    workspaces: &[WorkspaceDetail],
    external_id: &str,
    issued: &IssuedToken,
) -> Result<TokenFacts, CliError> {
    let token = issued.token.expose();
    let claims = engine.verify_token(token)?;
    let workspace = workspaces
        .iter()
        .find(|w| w.workspace.id == issued.workspace_id)
        .map(|w| &w.workspace)
        .ok_or_else(|| demo_bug(format!("the workspace of `{external_id}` is missing")))?;
    Ok(TokenFacts {
        external_id: external_id.to_owned(),
        workspace_id: issued.workspace_id,
        algorithm: org.settings.token_algorithm,
        operations: claims.operations,
        source_tags: workspace.source_tags.clone(),
        connection_tags: workspace.connection_tags.clone(),
        expires_at: issued.expires_at,
        token_prefix: format!("{}…", token.get(..TOKEN_PREFIX_CHARS).unwrap_or("")),
    })
}

/// Customer A's token asks for customer B's source by id, and lists what its scope holds;
/// customer C's token asks to use a template its tags do not select.
fn check_isolation(
    engine: &Engine,
    issued: &[(&str, IssuedToken)],
    workspaces: &[WorkspaceDetail],
    catalog: &Catalog,
) -> Result<Isolation, CliError> {
    let missing = |what: String| CliError::IsolationCheckFailed(format!("{what} is missing"));
    let find = |external_id: &str| {
        workspaces
            .iter()
            .find(|w| w.workspace.external_id.as_str() == external_id)
            .ok_or_else(|| missing(format!("the workspace `{external_id}`")))
    };
    let token_of = |external_id: &str| {
        issued
            .iter()
            .find(|(customer, _)| *customer == external_id)
            .map(|(_, t)| t.token.expose())
            .ok_or_else(|| missing(format!("the token of `{external_id}`")))
    };
    let asker = find(ASKER)?;
    let source_id = find(OWNER)?
        .sources
        .first()
        .map(|s| s.id)
        .ok_or_else(|| missing(format!("the source of `{OWNER}`")))?;

    let scope = engine.authenticate(token_of(ASKER)?)?;
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

    let unseen_template = check_unseen_template(engine, token_of(TEMPLATE_ASKER)?, find, catalog)?;
    Ok(Isolation {
        asker: ASKER.to_owned(),
        owner: OWNER.to_owned(),
        passed: foreign_source.passed && token_scope.passed && unseen_template.passed,
        foreign_source,
        token_scope,
        unseen_template,
    })
}

/// Customer C's token (tags `production` and `premium`, mode `all`) asks to create a source
/// from the Stripe template (tag `production` only), which it does not see.
fn check_unseen_template<'a>(
    engine: &Engine,
    token: &str,
    find: impl Fn(&str) -> Result<&'a WorkspaceDetail, CliError>,
    catalog: &Catalog,
) -> Result<UnseenTemplateCheck, CliError> {
    let template = catalog
        .source_templates
        .iter()
        .find(|t| t.name.as_str() == UNSEEN_TEMPLATE)
        .ok_or_else(|| demo_bug(format!("the template `{UNSEEN_TEMPLATE}` is missing")))?;
    let selection = find(TEMPLATE_ASKER)?.workspace.source_tags.clone();
    let scope = engine.authenticate(token)?;
    let attempt = scope.create_source_from_template(NewSourceFromTemplate {
        template_id: template.id,
        name: UNSEEN_TEMPLATE.parse()?,
        config: ConnectorConfig::new(serde_json::json!({
            "account_id": "acct_demo_c",
            "api_key": "not-a-real-key",
        }))?,
    });
    let (outcome, message, passed) = match attempt {
        Err(e)
            if e.to_string()
                .contains("template not available to this workspace") =>
        {
            ("refused", Some(e.to_string()), true)
        }
        Err(e) => ("error", Some(e.to_string()), false),
        Ok(_) => ("created", None, false),
    };
    Ok(UnseenTemplateCheck {
        asker: TEMPLATE_ASKER.to_owned(),
        template: UNSEEN_TEMPLATE.to_owned(),
        template_tags: template.tags.clone(),
        selection,
        outcome,
        message,
        passed,
    })
}

fn catalog_text(catalog: &Catalog) -> Vec<String> {
    let mut lines = vec![format!(
        "  Tags: {}",
        joined(catalog.tags.iter().map(|t| &t.name))
    )];
    for t in &catalog.source_templates {
        lines.push(format!(
            "  Source template: {} ({}, tags {}, secret fields {})",
            t.name,
            t.connector,
            joined(&t.tags),
            joined(t.spec.secret_pointers())
        ));
    }
    for t in &catalog.connection_templates {
        lines.push(format!(
            "  Connection template: {} (destination {} ({}) {}, {}, tags {}, secret fields {})",
            t.name,
            t.destination_name,
            t.destination_connector,
            tree::config_text(&t.destination_config),
            t.schedule,
            joined(&t.tags),
            joined(t.destination_spec.secret_pointers())
        ));
    }
    lines
}

fn text(report: &DemoReport) -> Vec<String> {
    let mut lines = vec![
        if report.database.temporary {
            "The seed's example, built in a temporary database:".to_owned()
        } else {
            format!("The seed's example, built in `{}`:", report.database.path)
        },
        String::new(),
        format!(
            "Catalog of {} (made with its org key):",
            report.organization.name
        ),
    ];
    lines.extend(catalog_text(&report.catalog));
    lines.push(String::new());
    lines.extend(tree::organization(&report.organization, &report.workspaces));
    lines.push(String::new());
    lines.push(
        "Secrets (api_key, password, secret_access_key) are sealed at rest with each \
         workspace's own data key (the templates' under the master key) and read as \
         `**********`; only the organization can reveal them (`bulkhead sources reveal`)."
            .to_owned(),
    );
    lines.push(String::new());
    lines.push(format!(
        "Scoped tokens ({}, default operations; never printed whole):",
        report.organization.settings.token_algorithm
    ));
    for t in &report.tokens {
        lines.push(format!(
            "  {}: {} for workspace {}, {}, expires at {}",
            t.external_id,
            t.token_prefix,
            t.workspace_id,
            tree::selection_text(&t.source_tags),
            t.expires_at
        ));
    }
    lines.push(String::new());
    let p = &report.pipelines;
    lines.push(format!(
        "Syncs: {} queued (one per connection), claimed fairly across the workspaces by \
         {DEMO_WORKERS} workers running `{}` per job: {} succeeded, {} failed (the rows \
         in the tree above are theirs).",
        p.queued, p.command, p.tally.succeeded, p.tally.failed
    ));
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
        lines.push(format!("  bulkhead --db {db} templates sources list"));
        lines.push(format!(
            "  bulkhead --db {db} sources list --external-id {ASKER}"
        ));
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
    let unseen = &check.unseen_template;
    let template_result = match (unseen.outcome, &unseen.message) {
        ("refused", Some(message)) => format!("refused ({message})"),
        ("created", _) => "CREATED A SOURCE: the tag selection is not enforced".to_owned(),
        (_, Some(message)) => format!("failed unexpectedly ({message})"),
        (outcome, None) => outcome.to_owned(),
    };
    vec![
        format!(
            "Isolation: {}'s token asked for {}'s source {}: {result}",
            check.asker, check.owner, foreign.source_id
        ),
        format!("Isolation: {}'s token {scope_result}", check.asker),
        format!(
            "Templates: {}'s token ({}) asked to use the {} template (tags {}): {template_result}",
            unseen.asker,
            tree::selection_text(&unseen.selection),
            unseen.template,
            joined(&unseen.template_tags)
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cli_tests_look_for_the_demo_s_own_secrets() {
        // tests/cli.rs duplicates these to search the database file's bytes for them.
        let tests = include_str!("../tests/cli.rs");
        for secret in [
            STRIPE_API_KEY,
            SALESFORCE_API_KEY,
            POSTGRES_PASSWORD,
            S3_SECRET_ACCESS_KEY,
        ] {
            assert!(
                tests.contains(secret),
                "tests/cli.rs does not list {secret}"
            );
        }
    }

    #[test]
    fn every_customer_s_template_is_in_the_catalog_and_selected_by_its_tags() {
        for customer in &CUSTOMERS {
            let template = SOURCE_TEMPLATES
                .iter()
                .find(|t| t.name == customer.template)
                .unwrap();
            let selection =
                TagSelection::parse(customer.tags.iter().copied(), customer.mode).unwrap();
            assert!(selection.matches(&tag_set(template.tags).unwrap()));
            assert!(selection.matches(&tag_set(&TAGS).unwrap()), "S3 template");
        }
    }

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
        let err = claim_files(&path).unwrap_err().to_string();
        assert!(
            err.contains("master key file") && err.contains("could not be created"),
            "{err}"
        );
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
