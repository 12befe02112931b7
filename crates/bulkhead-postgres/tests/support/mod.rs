//! Harnesses of the testkit over the PostgreSQL store. Each harness gets a schema of its own
//! on the test process's server (`bulkhead_testkit::pg`), owned by `bulkhead_owner` and
//! queried as `bulkhead_app`, and drops it afterwards. The dump reads the base tables as the
//! server's superuser, whom Row Level Security does not restrict.
#![allow(
    dead_code,
    reason = "each test binary compiles this module and uses a different part of it"
)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use bulkhead_core::{OrgId, Store, WorkspaceId};
use bulkhead_postgres::{PgOptions, PostgresStore, Roles};
use bulkhead_testkit::conformance::{Harness, RowKind, StoredRow};
use bulkhead_testkit::pg::PgServer;
use bulkhead_testkit::wrappers::{FaultyStore, LeakyStore};
use postgres::{Client, NoTls};
use uuid::Uuid;

pub(crate) const OWNER: &str = "bulkhead_owner";
pub(crate) const APP: &str = "bulkhead_app";

/// The server, with the two roles made once per process.
pub(crate) fn server() -> &'static PgServer {
    static ROLES: OnceLock<()> = OnceLock::new();
    let server = PgServer::shared();
    ROLES.get_or_init(|| {
        bulkhead_postgres::provision(
            server.admin_url(),
            &Roles {
                schema: "bulkhead".to_owned(),
                owner: OWNER.to_owned(),
                app: APP.to_owned(),
            },
        )
        .unwrap();
    });
    server
}

/// A superuser connection whose search path is `schema`.
pub(crate) fn admin(schema: &str) -> Client {
    let mut client = Client::connect(server().admin_url(), NoTls).unwrap();
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .unwrap();
    client
}

/// A connection as `role` whose search path is `schema`.
pub(crate) fn connect_as(role: &str, schema: &str) -> Client {
    let mut client = Client::connect(&server().url_for(role), NoTls).unwrap();
    client
        .batch_execute(&format!("SET search_path = {schema}"))
        .unwrap();
    client
}

/// An empty, migrated schema owned by the owner role. Schemas are reused within a test
/// process (emptied when taken again): migrating a new schema costs most of a harness's
/// set-up, and the property model makes hundreds. Schemas of test processes that are gone are
/// dropped when the next process starts, so a long-lived server (`BULKHEAD_PG_URL`) does not
/// collect them.
pub(crate) struct Schema {
    pub(crate) name: String,
}

/// Schemas of this process that are free to take again.
static FREE: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Deleting in this order respects every foreign key.
const EMPTY: &str = "DELETE FROM audit_log; DELETE FROM sync_queue; DELETE FROM sync_runs;
    DELETE FROM sched_workspace; DELETE FROM sched_org; UPDATE sched_global SET org_floor = 0;
    DELETE FROM connections; DELETE FROM sources;
    DELETE FROM destinations; DELETE FROM revoked_tokens; DELETE FROM workspaces;
    DELETE FROM org_keys; DELETE FROM signing_keys; DELETE FROM tags;
    DELETE FROM source_templates; DELETE FROM connection_templates;
    DELETE FROM organizations; DELETE FROM bulkhead_meta;";

const PREFIX: &str = "bht_";

/// Drops the test schemas of processes that no longer run.
fn drop_stale_schemas(admin: &mut Client) {
    let names: Vec<String> = admin
        .query(
            "SELECT nspname::text FROM pg_namespace WHERE starts_with(nspname, $1)",
            &[&PREFIX],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    for name in names {
        let pid = name
            .trim_start_matches(PREFIX)
            .split('_')
            .next()
            .unwrap_or_default();
        if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
            let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE"));
        }
    }
}

impl Schema {
    pub(crate) fn new() -> Self {
        static STALE: OnceLock<()> = OnceLock::new();
        let mut admin = Client::connect(server().admin_url(), NoTls).unwrap();
        STALE.get_or_init(|| drop_stale_schemas(&mut admin));
        let reused = FREE.lock().unwrap().pop();
        if let Some(name) = reused {
            admin
                .batch_execute(&format!("SET search_path = {name}; BEGIN; {EMPTY} COMMIT;"))
                .unwrap();
            return Self { name };
        }
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let name = format!(
            "{PREFIX}{}_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            &Uuid::new_v4().simple().to_string()[..8]
        );
        admin
            .batch_execute(&format!("CREATE SCHEMA {name} AUTHORIZATION {OWNER}"))
            .unwrap();
        Self { name }
    }

    pub(crate) fn options(&self) -> PgOptions {
        PgOptions {
            schema: self.name.clone(),
            owner_url: Some(server().url_for(OWNER)),
            pool_size: 4,
            ..PgOptions::default()
        }
    }

    /// The store on this schema, migrating it first when it is new.
    pub(crate) fn open(&self) -> PostgresStore {
        PostgresStore::connect(&server().url_for(APP), &self.options()).unwrap()
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        FREE.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(std::mem::take(&mut self.name));
    }
}

/// Every tenant row in the schema, read by the superuser straight from the base tables.
pub(crate) fn dump(client: &mut Client) -> Vec<StoredRow> {
    const TABLES: [(RowKind, &str); 5] = [
        (RowKind::Workspace, "SELECT id, org_id, id FROM workspaces"),
        (
            RowKind::Source,
            "SELECT id, org_id, workspace_id FROM sources",
        ),
        (
            RowKind::Destination,
            "SELECT id, org_id, workspace_id FROM destinations",
        ),
        (
            RowKind::Connection,
            "SELECT id, org_id, workspace_id FROM connections",
        ),
        (
            RowKind::SyncRun,
            "SELECT id, org_id, workspace_id FROM sync_runs",
        ),
    ];
    let mut rows = Vec::new();
    for (kind, sql) in TABLES {
        for row in client.query(sql, &[]).unwrap() {
            rows.push(StoredRow {
                kind,
                id: row.get(0),
                org_id: OrgId::from_uuid(row.get(1)).unwrap(),
                workspace_id: WorkspaceId::from_uuid(row.get(2)).unwrap(),
            });
        }
    }
    rows
}

/// Every row of every table of `schema` as text, read by the superuser. (Not the server's
/// files: PostgreSQL may compress a long value there, which a search of the bytes would miss.)
pub(crate) fn every_row(client: &mut Client, schema: &str) -> Vec<u8> {
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut bytes = Vec::new();
    for table in tables {
        for row in client
            .query(&format!("SELECT t::text FROM {schema}.{table} AS t"), &[])
            .unwrap()
        {
            bytes.extend(row.get::<_, String>(0).into_bytes());
            bytes.push(b'\n');
        }
    }
    bytes
}

/// A harness over `store` on `schema`, with the dump, reopen, and the schema kept alive.
fn on_schema(store: Arc<dyn Store>, schema: Schema) -> Harness {
    let reader = Mutex::new(admin(&schema.name));
    let raw = Mutex::new(admin(&schema.name));
    let name = schema.name.clone();
    let options = schema.options();
    Harness::new(store)
        .with_dump(move || dump(&mut reader.lock().unwrap()))
        .with_raw_bytes(move || every_row(&mut raw.lock().unwrap(), &name))
        .with_reopen(move || {
            Arc::new(PostgresStore::connect(&server().url_for(APP), &options).unwrap())
                as Arc<dyn Store>
        })
        .keep_alive(schema)
}

/// The PostgreSQL store on a new schema.
pub(crate) fn plain() -> Harness {
    let schema = Schema::new();
    on_schema(Arc::new(schema.open()), schema)
}

/// The PostgreSQL store on a new schema, behind [`LeakyStore`].
pub(crate) fn leaky() -> Harness {
    let schema = Schema::new();
    let store = Arc::new(LeakyStore::new(schema.open()));
    let switch = Arc::clone(&store);
    on_schema(store, schema)
        .leaky()
        .with_org_leaks(move |on| switch.leak_org_rows(on))
}

/// The PostgreSQL store on a new schema, behind [`FaultyStore`].
pub(crate) fn faulty() -> Harness {
    let schema = Schema::new();
    let store = FaultyStore::new(schema.open());
    let faults = store.faults();
    on_schema(Arc::new(store), schema).with_faults(faults)
}
