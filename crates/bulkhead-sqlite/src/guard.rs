//! L3, the database-layer isolation guard (DESIGN section 4): what keeps a statement on a
//! pool connection inside the current workspace even when the SQL above it is wrong.
//!
//! Every connection of the pool (the writer after the migrations ran on it, and each reader)
//! gets, once, when it is opened:
//!
//! - `bulkhead_workspace()`, a SQL function returning the connection's current workspace id as
//!   the 16-byte BLOB the tenant tables store, or NULL when no workspace is set. The value lives
//!   in a cell shared with [`Guard`]; entering a workspace ([`Db::tenant`]) writes the cell and
//!   nothing else, so prepared statements stay cached across tenants.
//! - TEMP views `t_sources`, `t_destinations`, `t_connections`, `t_sync_runs` and
//!   `t_revoked_tokens`, each `SELECT * FROM main.<table> WHERE workspace_id =
//!   bulkhead_workspace()`. Tenant reads go through them.
//! - TEMP triggers `BEFORE INSERT`, `BEFORE UPDATE` and `BEFORE DELETE` on each tenant table,
//!   aborting with `bulkhead isolation: …` when the row's `workspace_id` (NEW, OLD, or both for
//!   an update, so a row cannot be moved to another workspace) `IS NOT bulkhead_workspace()`.
//!   With no workspace set the function is NULL and every tenant write aborts: it fails closed.
//! - The same at organization granularity: `bulkhead_org()` returns the connection's current
//!   organization, and TEMP views `o_organizations`, `o_workspaces`, `o_org_keys`,
//!   `o_signing_keys`, `o_tags`, `o_source_templates`, `o_connection_templates` and
//!   `o_audit_log` show only its rows. Organization-level reads go through them
//!   ([`Db::org`]); a tenant call sets its organization too. TEMP triggers on those tables
//!   abort a write whose organization (NEW, OLD, or both) is not the current one, unless the
//!   connection is in system mode (`bulkhead_system()`, see [`Db::system`]).
//! - An authorizer, installed last and once: installing one expires every prepared statement.
//!
//! # The authorizer
//!
//! SQLite calls it while it compiles a statement, once per action; a denial fails the compile
//! with an authorization error. Denied whatever the statement: all DDL, temporary or not
//! (create, drop or alter a table, index, view, trigger or virtual table, `REINDEX`,
//! `ANALYZE`), `ATTACH` and `DETACH` (which also stops `VACUUM INTO`), every `PRAGMA`
//! (including the ones behind table-valued `pragma_*` functions), reading or writing SQLite's
//! own tables (`sqlite_*`, such as `sqlite_master`) and `dbstat`, `load_extension()`, and any
//! action this code does not know. Transactions, savepoints, recursive queries and other
//! functions are allowed.
//!
//! Reads of the tenant tables depend on the kind of statement, and SQLite does not say where a
//! statement begins, so the authorizer tracks a [`Phase`]:
//!
//! - [`Db::prepare_cached`], the only way the adapter prepares SQL, marks the next callback as
//!   the start of a statement (`Fresh`).
//! - SQLite reports a SELECT statement's `SELECT` before it resolves any name in it, and an
//!   INSERT's `INSERT` or a DELETE's `DELETE` likewise. An UPDATE resolves each SET expression
//!   before it reports the `UPDATE` of that column, so reads seen first are the start of an
//!   UPDATE (`UpdatePrefix`), and only an `UPDATE` may follow them.
//! - In a SELECT, a tenant table may be read only through its own guard view: SQLite names the
//!   view being expanded as the accessor of those reads. A read with no accessor (a direct
//!   read, `count(*)` included) or any other one (triggers do not run in a SELECT) is denied.
//!   An organization-level table likewise, through its `o_` view, except in system mode
//!   ([`Db::system`]), which the store enters only for the calls that have no organization
//!   yet or span all of them: finding an org key by its hash or a signing key by its `kid`,
//!   the operator's list of organizations, the master key's check value and re-sealing
//!   everything under a new master key. The store's own tables (`bulkhead_meta`,
//!   `bulkhead_migrations`) are read only in system mode.
//! - In an INSERT, UPDATE or DELETE, reads are allowed: they are the written row's own
//!   columns (SET, WHERE, RETURNING, an upsert's conflict target) and the lookups SQLite makes
//!   for foreign keys, and the triggers check every row written. What could carry another
//!   tenant's data into a write is a subquery (in SET, VALUES, WHERE or RETURNING, or an
//!   `UPDATE … FROM`); SQLite compiles it after resolving the names and reports it as a
//!   `SELECT` with no accessor, which in a write is denied, failing the whole statement.
//!   Trigger bodies (the guard triggers, or triggers the database file carries, which no pool
//!   connection can create) report their trigger as accessor and are allowed.
//! - A statement compiled without the mark (SQLite recompiling a statement by itself after a
//!   schema change, the second statement of a batch) is judged in the previous statement's
//!   phase. The rules are arranged so that a missing mark can refuse a good statement, never
//!   expose a tenant table: a SELECT after a write is taken for a subquery and denied, the
//!   reads that begin an UPDATE after a SELECT are judged as reads of a SELECT, and a write
//!   is judged as from the start.
//!
//! # Known limits
//!
//! - SQLite reports as accessor the name the query used in its FROM clause, so a common table
//!   expression named like a guard view (`WITH t_sources AS (SELECT * FROM main.sources) …`)
//!   would read the base table as if it were the view. [`Db::prepare_cached`] therefore
//!   refuses any statement with the keyword `WITH` (outside strings, quoted names and
//!   comments) before SQLite compiles it; the adapter's SQL uses none.
//! - A write's WHERE clause is evaluated on base rows: whether a trigger aborted tells hostile
//!   SQL whether a foreign row matched it. The triggers make a wrong write fail loudly; they do
//!   not hide that the row exists.
//! - DESIGN describes a separate unrestricted system connection; here system mode is a flag
//!   on the pool's connections, set by the store around its system calls and cleared when
//!   they return, so those calls share the readers instead of queueing on one connection.

use std::sync::Arc;
#[cfg(test)]
use std::sync::atomic::AtomicU64;
use std::sync::atomic::{AtomicBool, Ordering};

use bulkhead_core::{OrgId, Result, WorkspaceId};
use parking_lot::Mutex;
use rusqlite::functions::FunctionFlags;
use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::{CachedStatement, Connection};

use crate::Ctx;

/// One guarded tenant table: its guard view and the SQL that makes the view and the triggers.
struct Guarded {
    table: &'static str,
    view: &'static str,
    setup: &'static str,
}

macro_rules! guarded {
    ($table:literal) => {
        Guarded {
            table: $table,
            view: concat!("t_", $table),
            setup: concat!(
                "CREATE TEMP VIEW t_",
                $table,
                " AS SELECT * FROM main.",
                $table,
                " WHERE workspace_id = bulkhead_workspace();\n",
                "CREATE TEMP TRIGGER bulkhead_guard_",
                $table,
                "_insert BEFORE INSERT ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into ",
                $table,
                " outside the current workspace')",
                " WHERE NEW.workspace_id IS NOT bulkhead_workspace(); END;\n",
                "CREATE TEMP TRIGGER bulkhead_guard_",
                $table,
                "_update BEFORE UPDATE ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of ",
                $table,
                " outside the current workspace')",
                " WHERE OLD.workspace_id IS NOT bulkhead_workspace()",
                " OR NEW.workspace_id IS NOT bulkhead_workspace(); END;\n",
                "CREATE TEMP TRIGGER bulkhead_guard_",
                $table,
                "_delete BEFORE DELETE ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from ",
                $table,
                " outside the current workspace')",
                " WHERE OLD.workspace_id IS NOT bulkhead_workspace(); END;\n",
            ),
        }
    };
}

/// The tenant tables (DESIGN section 8): every one carries `workspace_id`.
const GUARDED: [Guarded; 5] = [
    guarded!("sources"),
    guarded!("destinations"),
    guarded!("connections"),
    guarded!("sync_runs"),
    guarded!("revoked_tokens"),
];

/// One organization-level table: its guard view, filtered by `bulkhead_org()` on `column`
/// (the organization's own id for `organizations`, its `org_id` for the others).
struct OrgGuarded {
    table: &'static str,
    view: &'static str,
    setup: &'static str,
}

macro_rules! org_guarded {
    ($table:literal, $column:literal) => {
        OrgGuarded {
            table: $table,
            view: concat!("o_", $table),
            setup: concat!(
                "CREATE TEMP VIEW o_",
                $table,
                " AS SELECT * FROM main.",
                $table,
                " WHERE ",
                $column,
                " = bulkhead_org();\n",
                "CREATE TEMP TRIGGER bulkhead_org_guard_",
                $table,
                "_insert BEFORE INSERT ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into ",
                $table,
                " outside the current organization')",
                " WHERE NOT bulkhead_system() AND NEW.",
                $column,
                " IS NOT bulkhead_org(); END;\n",
                "CREATE TEMP TRIGGER bulkhead_org_guard_",
                $table,
                "_update BEFORE UPDATE ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of ",
                $table,
                " outside the current organization')",
                " WHERE NOT bulkhead_system() AND (OLD.",
                $column,
                " IS NOT bulkhead_org() OR NEW.",
                $column,
                " IS NOT bulkhead_org()); END;\n",
                "CREATE TEMP TRIGGER bulkhead_org_guard_",
                $table,
                "_delete BEFORE DELETE ON main.",
                $table,
                " BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from ",
                $table,
                " outside the current organization')",
                " WHERE NOT bulkhead_system() AND OLD.",
                $column,
                " IS NOT bulkhead_org(); END;\n",
            ),
        }
    };
}

/// The organization-level tables (DESIGN section 4: `OrgScope` reads at organization
/// granularity). A SELECT reads them only through their `o_` view, unless the connection is
/// in system mode ([`Db::system`]: credential lookups by hash or `kid`, the operator's list
/// of organizations, master-key re-sealing).
const ORG_GUARDED: [OrgGuarded; 8] = [
    org_guarded!("organizations", "id"),
    org_guarded!("workspaces", "org_id"),
    org_guarded!("org_keys", "org_id"),
    org_guarded!("signing_keys", "org_id"),
    org_guarded!("tags", "org_id"),
    org_guarded!("source_templates", "org_id"),
    org_guarded!("connection_templates", "org_id"),
    org_guarded!("audit_log", "org_id"),
];

/// Tables a SELECT reads only in system mode: the store's own bookkeeping, and the job
/// queue's and the scheduler's cross-tenant tables (ids, counters and due times only), which
/// the claim and the tick read across tenants and a tenant call reads by its own ids in
/// system mode.
const SYSTEM_TABLES: [&str; 7] = [
    "bulkhead_meta",
    "bulkhead_migrations",
    "sync_queue",
    "sched_org",
    "sched_workspace",
    "sched_global",
    "sched_connection",
];

/// TEMP triggers on the job queue's and the scheduler's tables: outside system mode, a write
/// (a tenant's, or the tables' own triggers firing from it) may touch only the current
/// workspace's queue rows and due times and the current organization's counters; the global
/// row only in system mode.
const QUEUE_GUARD: &str = "
    CREATE TEMP TRIGGER bulkhead_guard_sync_queue_insert BEFORE INSERT ON main.sync_queue
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into sync_queue outside the current workspace')
        WHERE NOT bulkhead_system() AND NEW.workspace_id IS NOT bulkhead_workspace(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sync_queue_update BEFORE UPDATE ON main.sync_queue
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of sync_queue outside the current workspace')
        WHERE NOT bulkhead_system() AND (OLD.workspace_id IS NOT bulkhead_workspace()
            OR NEW.workspace_id IS NOT bulkhead_workspace()); END;
    CREATE TEMP TRIGGER bulkhead_guard_sync_queue_delete BEFORE DELETE ON main.sync_queue
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from sync_queue outside the current workspace')
        WHERE NOT bulkhead_system() AND OLD.workspace_id IS NOT bulkhead_workspace(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_workspace_insert BEFORE INSERT ON main.sched_workspace
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into sched_workspace outside the current organization')
        WHERE NOT bulkhead_system() AND NEW.org_id IS NOT bulkhead_org(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_workspace_update BEFORE UPDATE ON main.sched_workspace
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of sched_workspace outside the current organization')
        WHERE NOT bulkhead_system() AND (OLD.org_id IS NOT bulkhead_org()
            OR NEW.org_id IS NOT bulkhead_org()); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_workspace_delete BEFORE DELETE ON main.sched_workspace
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from sched_workspace outside the current organization')
        WHERE NOT bulkhead_system() AND OLD.org_id IS NOT bulkhead_org(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_org_insert BEFORE INSERT ON main.sched_org
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into sched_org outside the current organization')
        WHERE NOT bulkhead_system() AND NEW.id IS NOT bulkhead_org(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_org_update BEFORE UPDATE ON main.sched_org
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of sched_org outside the current organization')
        WHERE NOT bulkhead_system() AND (OLD.id IS NOT bulkhead_org()
            OR NEW.id IS NOT bulkhead_org()); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_org_delete BEFORE DELETE ON main.sched_org
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from sched_org outside the current organization')
        WHERE NOT bulkhead_system() AND OLD.id IS NOT bulkhead_org(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_connection_insert BEFORE INSERT ON main.sched_connection
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: insert into sched_connection outside the current workspace')
        WHERE NOT bulkhead_system() AND NEW.workspace_id IS NOT bulkhead_workspace(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_connection_update BEFORE UPDATE ON main.sched_connection
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: update of sched_connection outside the current workspace')
        WHERE NOT bulkhead_system() AND (OLD.workspace_id IS NOT bulkhead_workspace()
            OR NEW.workspace_id IS NOT bulkhead_workspace()); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_connection_delete BEFORE DELETE ON main.sched_connection
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: delete from sched_connection outside the current workspace')
        WHERE NOT bulkhead_system() AND OLD.workspace_id IS NOT bulkhead_workspace(); END;
    CREATE TEMP TRIGGER bulkhead_guard_sched_global_write BEFORE UPDATE ON main.sched_global
    BEGIN SELECT RAISE(ABORT, 'bulkhead isolation: the scheduler row is written in system mode only')
        WHERE NOT bulkhead_system(); END;
";

fn org_guarded_table(table: &str) -> Option<&'static OrgGuarded> {
    ORG_GUARDED
        .iter()
        .find(|g| g.table.eq_ignore_ascii_case(table))
}

fn is_system_table(table: &str) -> bool {
    SYSTEM_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table))
}

/// SQL functions no statement may call.
const DENIED_FUNCTIONS: [&str; 2] = ["load_extension", "fts3_tokenizer"];

fn guarded_table(table: &str) -> Option<&'static Guarded> {
    GUARDED.iter().find(|g| g.table.eq_ignore_ascii_case(table))
}

/// SQLite's own tables (the schema, statistics) and the page-level `dbstat` table.
fn is_internal(table: &str) -> bool {
    table
        .get(..7)
        .is_some_and(|prefix| prefix.eq_ignore_ascii_case("sqlite_"))
        || table.eq_ignore_ascii_case("dbstat")
}

type TenantCell = Arc<Mutex<Option<[u8; 16]>>>;

/// The guard of one connection: the cells `bulkhead_workspace()` and `bulkhead_org()` read,
/// the system-mode flag, and the mark that tells the authorizer a statement starts.
pub(crate) struct Guard {
    tenant: TenantCell,
    org: TenantCell,
    system: Arc<AtomicBool>,
    statement_start: Arc<AtomicBool>,
    /// How many times the authorizer ran: tests use it to see that a statement was not
    /// compiled again.
    #[cfg(test)]
    calls: Arc<AtomicU64>,
}

/// Sets up the guard on `conn`: the function, the views and triggers, `query_only` for a
/// reader, then the authorizer, after which no PRAGMA or DDL runs on this connection again.
pub(crate) fn install(conn: &mut Connection, read_only: bool) -> Result<Guard> {
    let tenant = TenantCell::default();
    let cell = Arc::clone(&tenant);
    // SQLITE_UTF8: the encoding SQLite calls it with. SQLITE_DIRECTONLY: callable from
    // top-level SQL and from TEMP views and triggers (which live only in this connection),
    // never from a view, trigger, CHECK, DEFAULT, index or generated column stored in the
    // database file, which may have been written by someone else: nothing persistent can
    // depend on the connection's tenant. Not SQLITE_DETERMINISTIC: the value changes between
    // statements, and SQLite may fold a deterministic call into a constant or store its
    // result in an index. Not SQLITE_INNOCUOUS: that would declare it safe for untrusted
    // schemas, the opposite of DIRECTONLY.
    conn.create_scalar_function(
        "bulkhead_workspace",
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(*cell.lock()),
    )
    .ctx("could not register bulkhead_workspace()")?;
    // The same for the organization: `bulkhead_org()`, NULL when no organization is set.
    let org = TenantCell::default();
    let org_cell = Arc::clone(&org);
    conn.create_scalar_function(
        "bulkhead_org",
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(*org_cell.lock()),
    )
    .ctx("could not register bulkhead_org()")?;
    // Whether the connection is in system mode (1) or not (0), for the organization tables'
    // triggers.
    let system = Arc::new(AtomicBool::new(false));
    let system_flag = Arc::clone(&system);
    conn.create_scalar_function(
        "bulkhead_system",
        0,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DIRECTONLY,
        move |_| Ok(i64::from(system_flag.load(Ordering::Relaxed))),
    )
    .ctx("could not register bulkhead_system()")?;
    for guarded in &GUARDED {
        conn.execute_batch(guarded.setup).ctx(format_args!(
            "could not set up the isolation guard of `{}`",
            guarded.table
        ))?;
    }
    for guarded in &ORG_GUARDED {
        conn.execute_batch(guarded.setup).ctx(format_args!(
            "could not set up the organization guard of `{}`",
            guarded.table
        ))?;
    }
    conn.execute_batch(QUEUE_GUARD)
        .ctx("could not set up the isolation guard of the job queue")?;
    // The audit log is append-only for the store: no statement of this connection changes
    // or removes an event.
    conn.execute_batch(
        "CREATE TEMP TRIGGER bulkhead_audit_no_update BEFORE UPDATE ON main.audit_log
             BEGIN SELECT RAISE(ABORT, 'bulkhead audit log is append-only'); END;
         CREATE TEMP TRIGGER bulkhead_audit_no_delete BEFORE DELETE ON main.audit_log
             BEGIN SELECT RAISE(ABORT, 'bulkhead audit log is append-only'); END;",
    )
    .ctx("could not make the audit log append-only")?;
    if read_only {
        // Before the authorizer, which denies every PRAGMA; and after the TEMP objects,
        // which a query-only connection could not create.
        conn.pragma_update(None, "query_only", "ON")
            .ctx("could not make a reader read-only")?;
    }
    let statement_start = Arc::new(AtomicBool::new(true));
    #[cfg(test)]
    let calls = Arc::new(AtomicU64::new(0));
    let mut authorizer = Authorizer {
        phase: Phase::Fresh,
        statement_start: Arc::clone(&statement_start),
        system: Arc::clone(&system),
        #[cfg(test)]
        calls: Arc::clone(&calls),
    };
    conn.authorizer(Some(move |ctx: AuthContext<'_>| authorizer.judge(&ctx)))
        .ctx("could not install the isolation guard's authorizer")?;
    Ok(Guard {
        tenant,
        org,
        system,
        statement_start,
        #[cfg(test)]
        calls,
    })
}

impl Guard {
    #[cfg(test)]
    pub(crate) fn authorizer_calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }
}

/// A guarded connection as the adapter's code sees it: statements are prepared through it,
/// and it enters a workspace for as long as a [`TenantScope`] lives.
#[derive(Clone, Copy)]
pub(crate) struct Db<'c> {
    conn: &'c Connection,
    guard: &'c Guard,
}

impl<'c> Db<'c> {
    pub(crate) fn new(conn: &'c Connection, guard: &'c Guard) -> Self {
        Self { conn, guard }
    }

    /// Prepares `sql` (or takes it from the connection's statement cache), telling the
    /// authorizer that a new statement starts. A statement with a common table expression
    /// (`WITH`) is refused: SQLite reports a CTE's reads under the CTE's name, so one named
    /// like a guard view would pass for it (the adapter's SQL uses none). The text is checked
    /// only when SQLite compiled it just now (the authorizer ran), so a statement taken from
    /// the cache, which passed this check when it was compiled, costs nothing more; a refused
    /// one is dropped from the cache before it can run.
    pub(crate) fn prepare_cached(&self, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
        // Relaxed: the authorizer runs on this thread, inside the call below; moving the
        // connection to another thread goes through the pool's mutex.
        self.guard.statement_start.store(true, Ordering::Relaxed);
        let statement = self.conn.prepare_cached(sql)?;
        let compiled = !self.guard.statement_start.load(Ordering::Relaxed);
        if compiled && has_with_keyword(sql) {
            statement.discard();
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_AUTH),
                Some(
                    "bulkhead isolation: common table expressions (WITH) are not allowed"
                        .to_owned(),
                ),
            ));
        }
        Ok(statement)
    }

    /// Makes `workspace` the connection's current workspace until the scope is dropped, on
    /// success and on error alike.
    pub(crate) fn tenant(&self, workspace: WorkspaceId) -> TenantScope<'c> {
        let cell: &'c Mutex<Option<[u8; 16]>> = &self.guard.tenant;
        let previous = cell.lock().replace(*workspace.as_uuid().as_bytes());
        TenantScope { cell, previous }
    }

    /// Makes `org` the connection's current organization (what the `o_` views show) until
    /// the scope is dropped, on success and on error alike.
    pub(crate) fn org(&self, org: OrgId) -> TenantScope<'c> {
        let cell: &'c Mutex<Option<[u8; 16]>> = &self.guard.org;
        let previous = cell.lock().replace(*org.as_uuid().as_bytes());
        TenantScope { cell, previous }
    }

    /// Lets a SELECT read organization-level tables directly until the scope is dropped: for
    /// the store's system calls only (credential lookups by hash or `kid`, the operator's
    /// list of organizations, the master key's check value and re-sealing), never a scope's.
    pub(crate) fn system(&self) -> SystemScope<'c> {
        let previous = self.guard.system.swap(true, Ordering::Relaxed);
        SystemScope {
            flag: &self.guard.system,
            previous,
        }
    }
}

/// Whether `sql` holds the keyword `WITH` (in any case) outside string literals, quoted
/// identifiers and comments.
fn has_with_keyword(sql: &str) -> bool {
    let bytes = sql.as_bytes();
    let mut i = 0;
    let at = |i: usize| bytes.get(i).copied();
    // Skips to just past the next `end` byte (or the end of the text).
    let skip_past = |from: usize, end: u8| {
        bytes
            .get(from..)
            .and_then(|rest| rest.iter().position(|&b| b == end))
            .map_or(bytes.len(), |p| from + p + 1)
    };
    while let Some(b) = at(i) {
        match b {
            b'\'' | b'"' | b'`' => i = skip_past(i + 1, b),
            b'[' => i = skip_past(i + 1, b']'),
            b'-' if at(i + 1) == Some(b'-') => i = skip_past(i + 2, b'\n'),
            b'/' if at(i + 1) == Some(b'*') => {
                i = sql
                    .get(i + 2..)
                    .and_then(|rest| rest.find("*/"))
                    .map_or(bytes.len(), |p| i + 2 + p + 2);
            }
            b if b.is_ascii_alphanumeric() || b == b'_' => {
                let start = i;
                while at(i).is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$') {
                    i += 1;
                }
                if sql
                    .get(start..i)
                    .is_some_and(|word| word.eq_ignore_ascii_case("with"))
                {
                    return true;
                }
            }
            _ => i += 1,
        }
    }
    false
}

/// The time a connection spends in system mode; see [`Db::system`].
#[must_use = "system mode ends as soon as the scope is dropped"]
pub(crate) struct SystemScope<'c> {
    flag: &'c AtomicBool,
    previous: bool,
}

impl Drop for SystemScope<'_> {
    fn drop(&mut self) {
        self.flag.store(self.previous, Ordering::Relaxed);
    }
}

/// The time a connection spends in one workspace; dropping it puts back what was there
/// before (no workspace, outside nested use).
#[must_use = "the workspace is left as soon as the scope is dropped"]
pub(crate) struct TenantScope<'c> {
    cell: &'c Mutex<Option<[u8; 16]>>,
    previous: Option<[u8; 16]>,
}

impl Drop for TenantScope<'_> {
    fn drop(&mut self) {
        *self.cell.lock() = self.previous;
    }
}

/// What the authorizer knows about the statement being compiled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Nothing of the statement seen yet.
    Fresh,
    /// Only reads (and function calls) seen: the SET list of an UPDATE, which SQLite resolves
    /// before it reports the UPDATE.
    UpdatePrefix,
    /// A SELECT statement.
    Select,
    /// An INSERT, UPDATE or DELETE statement.
    Write,
}

struct Authorizer {
    phase: Phase,
    statement_start: Arc<AtomicBool>,
    system: Arc<AtomicBool>,
    #[cfg(test)]
    calls: Arc<AtomicU64>,
}

impl Authorizer {
    fn judge(&mut self, ctx: &AuthContext<'_>) -> Authorization {
        #[cfg(test)]
        self.calls.fetch_add(1, Ordering::Relaxed);
        if self.statement_start.swap(false, Ordering::Relaxed) {
            self.phase = Phase::Fresh;
        }
        let allowed = self.allows(ctx);
        if !allowed {
            // Names of actions and tables only: never a value, a file name or a pragma's
            // argument.
            let (action, table) = describe(&ctx.action);
            tracing::debug!(
                target: "bulkhead::sqlite",
                action,
                table,
                phase = ?self.phase,
                "the isolation guard refused a statement"
            );
        }
        if allowed {
            Authorization::Allow
        } else {
            Authorization::Deny
        }
    }

    fn allows(&mut self, ctx: &AuthContext<'_>) -> bool {
        match ctx.action {
            AuthAction::Transaction { .. }
            | AuthAction::Savepoint { .. }
            | AuthAction::Recursive => true,
            AuthAction::Function { function_name } => !DENIED_FUNCTIONS
                .iter()
                .any(|f| f.eq_ignore_ascii_case(function_name)),
            AuthAction::Select => self.select(ctx.accessor),
            AuthAction::Read { table_name, .. } => self.read(table_name, ctx.accessor),
            AuthAction::Update { table_name, .. } => self.write(table_name, ctx.accessor, true),
            AuthAction::Insert { table_name } | AuthAction::Delete { table_name } => {
                self.write(table_name, ctx.accessor, false)
            }
            // DDL of every kind (temporary or not), REINDEX, ANALYZE, ATTACH, DETACH, PRAGMA,
            // and whatever this code does not know.
            _ => false,
        }
    }

    fn select(&mut self, accessor: Option<&str>) -> bool {
        match (self.phase, accessor) {
            (Phase::Fresh, None) => {
                self.phase = Phase::Select;
                true
            }
            // Subqueries, views and compound parts of a SELECT.
            (Phase::Select, _) => true,
            // The body of a trigger: a guard trigger, or one the database file carries (no
            // connection of the pool can create one). A subquery of the write itself has no
            // accessor, and one inside it comes after it, which already failed the statement.
            (Phase::Write, Some(_)) => true,
            // A subquery in a write, or a SELECT after the reads that begin an UPDATE.
            _ => false,
        }
    }

    fn read(&mut self, table: &str, accessor: Option<&str>) -> bool {
        if is_internal(table) {
            return false;
        }
        match self.phase {
            Phase::Fresh | Phase::UpdatePrefix => {
                self.phase = Phase::UpdatePrefix;
                true
            }
            Phase::Write => true,
            Phase::Select => {
                let through =
                    |view: &str| accessor.is_some_and(|name| name.eq_ignore_ascii_case(view));
                if let Some(guarded) = guarded_table(table) {
                    through(guarded.view)
                } else if let Some(guarded) = org_guarded_table(table) {
                    through(guarded.view) || self.system.load(Ordering::Relaxed)
                } else if is_system_table(table) {
                    self.system.load(Ordering::Relaxed)
                } else {
                    true
                }
            }
        }
    }

    fn write(&mut self, table: &str, accessor: Option<&str>, update: bool) -> bool {
        if is_internal(table) {
            return false;
        }
        if accessor.is_some() {
            // A trigger's own write (the guard triggers check its rows too); triggers run
            // only in a write.
            return self.phase == Phase::Write;
        }
        if self.phase == Phase::UpdatePrefix && !update {
            return false;
        }
        // From Select: a statement prepared without the start mark; the reads before it were
        // judged as a SELECT's.
        self.phase = Phase::Write;
        true
    }
}

/// The kind of an action and the table it names, for a log line.
fn describe<'a>(action: &AuthAction<'a>) -> (&'static str, Option<&'a str>) {
    match *action {
        AuthAction::Select => ("select", None),
        AuthAction::Read { table_name, .. } => ("read", Some(table_name)),
        AuthAction::Insert { table_name } => ("insert", Some(table_name)),
        AuthAction::Update { table_name, .. } => ("update", Some(table_name)),
        AuthAction::Delete { table_name } => ("delete", Some(table_name)),
        AuthAction::Function { .. } => ("function", None),
        AuthAction::Pragma { .. } => ("pragma", None),
        AuthAction::Attach { .. } => ("attach", None),
        AuthAction::Detach { .. } => ("detach", None),
        _ => ("schema change or unknown action", None),
    }
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )]

    use rusqlite::{ErrorCode, params};
    use uuid::Uuid;

    use super::*;
    use crate::{SqliteOptions, SqliteStore};

    const ORG: [u8; 16] = [0x01; 16];
    const A: [u8; 16] = [0x0a; 16];
    const B: [u8; 16] = [0x0b; 16];
    const ROW: [u8; 16] = [0x42; 16];

    /// One row in every tenant table, all with the id `?2` (`jti` `?4`), for workspace `?1`.
    const INSERTS: [(&str, &str); 5] = [
        (
            "sources",
            "INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 'stripe', '{}', 0, 0)",
        ),
        (
            "destinations",
            "INSERT INTO destinations (workspace_id, id, org_id, name, connector, config, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, 's3', '{}', 0, 0)",
        ),
        (
            "connections",
            "INSERT INTO connections (workspace_id, id, org_id, name, source_id, destination_id, status, schedule, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?2, ?2, 'active', 'manual', 0, 0)",
        ),
        (
            "sync_runs",
            "INSERT INTO sync_runs (workspace_id, id, org_id, connection_id, status, started_at, rows_synced, bytes_synced, error)
             VALUES (?1, ?2, ?3, ?2, 'running', 0, 0, 0, ?4)",
        ),
        (
            "revoked_tokens",
            "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) VALUES (?1, ?4, ?3, 0)",
        ),
    ];

    fn ws(id: [u8; 16]) -> WorkspaceId {
        WorkspaceId::from_uuid(Uuid::from_bytes(id)).unwrap()
    }

    fn run(db: &Db<'_>, sql: &str, params: impl rusqlite::Params) -> rusqlite::Result<usize> {
        db.prepare_cached(sql)?.execute(params)
    }

    fn names(db: &Db<'_>, sql: &str) -> rusqlite::Result<Vec<String>> {
        db.prepare_cached(sql)?
            .query_map([], |r| r.get(0))?
            .collect()
    }

    #[track_caller]
    fn assert_denied<T: std::fmt::Debug>(result: rusqlite::Result<T>, what: &str) {
        match result {
            Err(rusqlite::Error::SqliteFailure(e, _))
                if e.code == ErrorCode::AuthorizationForStatementDenied => {}
            other => panic!("`{what}` should be denied by the authorizer, got {other:?}"),
        }
    }

    #[track_caller]
    fn assert_isolation_abort<T: std::fmt::Debug>(result: rusqlite::Result<T>, what: &str) {
        match result {
            Err(rusqlite::Error::SqliteFailure(e, Some(message)))
                if e.code == ErrorCode::ConstraintViolation
                    && message.starts_with("bulkhead isolation: ") => {}
            other => panic!("`{what}` should be aborted by a guard trigger, got {other:?}"),
        }
    }

    /// An in-memory store with one organization, workspaces A and B, and in each a row of
    /// every tenant table named after its workspace (`a`, `b`).
    fn two_workspaces() -> SqliteStore {
        let store = SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap();
        store.pool.with_writer(|slot| {
            let (db, _) = slot.guarded();
            let _org = db.org(org_id(ORG));
            run(
                &db,
                "INSERT INTO organizations (id, name, created_at) VALUES (?1, 'Acme', 0)",
                params![ORG],
            )
            .unwrap();
            for (id, name) in [(A, "a"), (B, "b")] {
                run(
                    &db,
                    "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                     VALUES (?1, ?2, ?3, ?3, 'active', 0, 0)",
                    params![id, ORG, name],
                )
                .unwrap();
                let _scope = db.tenant(ws(id));
                for (_, sql) in INSERTS {
                    run(&db, sql, params![id, ROW, ORG, name]).unwrap();
                }
            }
        });
        store
    }

    /// Runs `f` on the store's connection, inside `tenant` if there is one.
    fn as_tenant<T>(
        store: &SqliteStore,
        tenant: Option<[u8; 16]>,
        f: impl FnOnce(&Db<'_>) -> T,
    ) -> T {
        store.pool.with_writer(|slot| {
            let (db, _) = slot.guarded();
            let _scope = tenant.map(|id| db.tenant(ws(id)));
            f(&db)
        })
    }

    #[test]
    fn direct_reads_of_tenant_tables_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for guarded in &GUARDED {
                let sql = format!("SELECT * FROM {}", guarded.table);
                assert_denied(db.prepare_cached(&sql).map(drop), &sql);
                let sql = format!("SELECT count(*) FROM main.{}", guarded.table);
                assert_denied(db.prepare_cached(&sql).map(drop), &sql);
            }
            let sql = "SELECT name FROM workspaces WHERE EXISTS (SELECT 1 FROM sources)";
            assert_denied(db.prepare_cached(sql).map(drop), sql);
        });
    }

    const OTHER_ORG: [u8; 16] = [0x02; 16];

    fn org_id(id: [u8; 16]) -> OrgId {
        OrgId::from_uuid(Uuid::from_bytes(id)).unwrap()
    }

    /// Two organizations, each with a row in every organization-level table, named after it
    /// (`acme`, `other`).
    fn two_organizations() -> SqliteStore {
        let store = SqliteStore::open_in_memory(&SqliteOptions::default()).unwrap();
        store.pool.with_writer(|slot| {
            let (db, _) = slot.guarded();
            for (org, name, ws_id, seq_hash) in
                [(ORG, "acme", A, [0x11u8; 32]), (OTHER_ORG, "other", B, [0x22u8; 32])]
            {
                let _org = db.org(org_id(org));
                for sql in [
                    "INSERT INTO organizations (id, name, created_at) VALUES (?1, ?2, 0)",
                    "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at)
                     VALUES (?3, ?1, ?2, ?2, 'active', 0, 0)",
                    "INSERT INTO org_keys (id, org_id, prefix, hash, created_at)
                     VALUES (?3, ?1, ?2, ?4, 0)",
                    "INSERT INTO signing_keys (kid, org_id, algorithm, sealed_secret, created_at)
                     VALUES (?2, ?1, 'HS256', x'00', 0)",
                    "INSERT INTO tags (org_id, name, created_at) VALUES (?1, ?2, 0)",
                    "INSERT INTO source_templates (id, org_id, name, tags, body, secrets, created_at, updated_at)
                     VALUES (?3, ?1, ?2, '[]', '{}', '{}', 0, 0)",
                    "INSERT INTO connection_templates (id, org_id, name, tags, body, secrets, created_at, updated_at)
                     VALUES (?3, ?1, ?2, '[]', '{}', '{}', 0, 0)",
                    "INSERT INTO audit_log (org_id, seq, at, actor, action, target, outcome, prev_hash, hash)
                     VALUES (?1, 1, 0, 'operator', ?2, ?2, 'ok', ?4, ?4)",
                ] {
                    let hash = seq_hash.to_vec();
                    let all: [&dyn rusqlite::ToSql; 4] = [&org, &name, &ws_id, &hash];
                    let mut stmt = db.prepare_cached(sql).unwrap();
                    let used = stmt.parameter_count();
                    stmt.execute(&all[..used]).unwrap();
                }
            }
        });
        store
    }

    /// A column of each organization-level table that holds the organization's name in
    /// [`two_organizations`].
    fn name_column(table: &str) -> &'static str {
        match table {
            "workspaces" => "external_id",
            "org_keys" => "prefix",
            "signing_keys" => "kid",
            "audit_log" => "action",
            _ => "name",
        }
    }

    /// Runs `f` on the store's connection inside organization `org`, if there is one.
    fn as_org<T>(store: &SqliteStore, org: Option<[u8; 16]>, f: impl FnOnce(&Db<'_>) -> T) -> T {
        store.pool.with_writer(|slot| {
            let (db, _) = slot.guarded();
            let _scope = org.map(|id| db.org(org_id(id)));
            f(&db)
        })
    }

    #[test]
    fn organization_views_show_only_the_current_organization() {
        let store = two_organizations();
        for guarded in &ORG_GUARDED {
            let sql = format!(
                "SELECT {} FROM {}",
                name_column(guarded.table),
                guarded.view
            );
            let rows = |org| as_org(&store, org, |db| names(db, &sql).unwrap());
            assert_eq!(rows(Some(ORG)), ["acme"], "{}", guarded.view);
            assert_eq!(rows(Some(OTHER_ORG)), ["other"], "{}", guarded.view);
            assert!(rows(None).is_empty(), "{}", guarded.view);
        }
    }

    /// Inside an organization, its tables are read only through their views: a direct read
    /// (in a join, a subquery or `count(*)`) fails to compile. System mode, which only the
    /// store's credential lookups and re-sealing use, may read them directly.
    #[test]
    fn direct_reads_of_organization_tables_are_denied_outside_system_mode() {
        let store = two_organizations();
        as_org(&store, Some(ORG), |db| {
            for guarded in &ORG_GUARDED {
                let column = name_column(guarded.table);
                for sql in [
                    format!("SELECT {column} FROM {}", guarded.table),
                    format!("SELECT {column} FROM main.{}", guarded.table),
                    format!("SELECT count(*) FROM {}", guarded.table),
                    format!(
                        "SELECT v.{column} FROM {} AS v JOIN main.{} AS t ON 1",
                        guarded.view, guarded.table
                    ),
                    format!(
                        "SELECT {column} FROM {} WHERE EXISTS (SELECT 1 FROM main.{})",
                        guarded.view, guarded.table
                    ),
                ] {
                    assert_denied(names(db, &sql), &sql);
                }
            }
            for table in SYSTEM_TABLES {
                let sql = format!("SELECT count(*) FROM {table}");
                assert_denied(db.prepare_cached(&sql).map(drop), &sql);
            }
            let _system = db.system();
            for guarded in &ORG_GUARDED {
                let sql = format!(
                    "SELECT {} FROM {} ORDER BY 1",
                    name_column(guarded.table),
                    guarded.table
                );
                assert_eq!(names(db, &sql).unwrap(), ["acme", "other"], "{sql}");
            }
        });
        // System mode ends with its scope.
        as_org(&store, Some(ORG), |db| {
            assert_denied(
                names(db, "SELECT name FROM organizations"),
                "after system mode",
            );
        });
    }

    /// Outside system mode a write to an organization table stays in the current
    /// organization: inserting, changing, moving or deleting another organization's row, or
    /// any row with no organization set, aborts; the organization's own writes pass, and so
    /// does system mode.
    #[test]
    fn writes_to_organization_tables_outside_the_current_organization_abort() {
        let store = two_organizations();
        let foreign_writes = [
            "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'planted', 0)",
            "UPDATE tags SET name = 'renamed' WHERE org_id = ?1",
            "DELETE FROM tags WHERE org_id = ?1",
            "UPDATE workspaces SET name = 'renamed' WHERE org_id = ?1",
            "UPDATE organizations SET name = 'renamed' WHERE id = ?1",
            "UPDATE org_keys SET revoked_at = 1 WHERE org_id = ?1",
            "UPDATE signing_keys SET retire_at = 1 WHERE org_id = ?1",
            "UPDATE source_templates SET name = 'renamed' WHERE org_id = ?1",
            "UPDATE connection_templates SET name = 'renamed' WHERE org_id = ?1",
            "INSERT INTO audit_log (org_id, seq, at, actor, action, target, outcome, prev_hash, hash)
             VALUES (?1, 2, 0, 'operator', 'planted', 'x', 'ok', x'00', x'00')",
        ];
        as_org(&store, Some(ORG), |db| {
            for sql in foreign_writes {
                assert_isolation_abort(run(db, sql, params![OTHER_ORG]), sql);
            }
            // Moving its own row to the other organization.
            assert_isolation_abort(
                run(
                    db,
                    "UPDATE tags SET org_id = ?1 WHERE org_id = ?2",
                    params![OTHER_ORG, ORG],
                ),
                "move",
            );
            // Its own writes pass.
            run(
                db,
                "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'own', 0)",
                params![ORG],
            )
            .unwrap();
            assert_eq!(
                run(
                    db,
                    "UPDATE workspaces SET name = 'renamed' WHERE org_id = ?1",
                    params![ORG]
                )
                .unwrap(),
                1
            );
        });
        as_org(&store, None, |db| {
            assert_isolation_abort(
                run(
                    db,
                    "INSERT INTO tags (org_id, name, created_at) VALUES (?1, 'none', 0)",
                    params![ORG],
                ),
                "no organization",
            );
        });
        as_org(&store, Some(ORG), |db| {
            let _system = db.system();
            assert_eq!(
                run(
                    db,
                    "UPDATE org_keys SET last_used_at = 5 WHERE org_id = ?1",
                    params![OTHER_ORG]
                )
                .unwrap(),
                1
            );
        });
        // Nothing of the refused writes was kept.
        as_org(&store, Some(OTHER_ORG), |db| {
            assert_eq!(names(db, "SELECT name FROM o_tags").unwrap(), ["other"]);
            assert_eq!(
                names(db, "SELECT name FROM o_workspaces").unwrap(),
                ["other"]
            );
        });
    }

    #[test]
    fn views_show_only_the_current_workspace() {
        let store = two_workspaces();
        for guarded in &GUARDED {
            let sql = format!("SELECT org_id, workspace_id FROM {}", guarded.view);
            let rows = |tenant| {
                as_tenant(&store, tenant, |db| {
                    db.prepare_cached(&sql)
                        .unwrap()
                        .query_map([], |r| r.get::<_, [u8; 16]>(1))
                        .unwrap()
                        .collect::<rusqlite::Result<Vec<_>>>()
                        .unwrap()
                })
            };
            assert_eq!(rows(Some(A)), vec![A], "{}", guarded.view);
            assert_eq!(rows(Some(B)), vec![B], "{}", guarded.view);
            assert!(rows(None).is_empty(), "{}", guarded.view);
        }
    }

    /// A call that fails inside workspace A.
    fn failing_call_in_a(db: &Db<'_>) -> Result<()> {
        let _scope = db.tenant(ws(A));
        assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["a"]);
        Err(bulkhead_core::Error::conflict("the call failed"))
    }

    #[test]
    fn leaving_a_workspace_clears_it_even_on_error() {
        let store = two_workspaces();
        as_tenant(&store, None, |db| {
            assert!(failing_call_in_a(db).is_err());
            assert!(names(db, "SELECT name FROM t_sources").unwrap().is_empty());
        });
    }

    #[test]
    fn cached_statements_are_not_prepared_again_when_the_tenant_changes() {
        let store = two_workspaces();
        store.pool.with_writer(|slot| {
            let (db, guard) = slot.guarded();
            let sql = "SELECT name FROM t_sources ORDER BY name";
            // Warm the cache: the first preparation runs the authorizer.
            assert!(names(&db, sql).unwrap().is_empty());
            let warmed = guard.authorizer_calls();
            assert!(warmed > 0);

            let in_a = {
                let _scope = db.tenant(ws(A));
                names(&db, sql).unwrap()
            };
            let in_b = {
                let _scope = db.tenant(ws(B));
                names(&db, sql).unwrap()
            };

            assert_eq!((in_a, in_b), (vec!["a".to_owned()], vec!["b".to_owned()]));
            assert_eq!(
                guard.authorizer_calls(),
                warmed,
                "the statement was prepared again"
            );
        });
    }

    #[test]
    fn schema_changes_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "DROP VIEW temp.t_sources",
                "DROP VIEW t_connections",
                "CREATE TEMP VIEW x AS SELECT * FROM sources",
                "CREATE VIEW x AS SELECT * FROM sources",
                "DROP TRIGGER temp.bulkhead_guard_sources_insert",
                "DROP TRIGGER bulkhead_guard_sync_runs_delete",
                "CREATE TEMP TRIGGER x BEFORE INSERT ON main.sources BEGIN SELECT 1; END",
                "CREATE TABLE x (a)",
                "CREATE TEMP TABLE x (a)",
                "CREATE INDEX x ON sources (name)",
                "ALTER TABLE sources ADD COLUMN x",
                "DROP TABLE revoked_tokens",
                "CREATE VIRTUAL TABLE x USING fts5 (a)",
                "REINDEX sources",
                "ANALYZE",
            ] {
                assert_denied(db.prepare_cached(sql).map(drop), sql);
            }
        });
    }

    #[test]
    fn attach_and_detach_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "ATTACH DATABASE ':memory:' AS x",
                "ATTACH DATABASE 'file:other.db?mode=ro' AS x",
                "DETACH DATABASE temp",
            ] {
                assert_denied(db.prepare_cached(sql).map(drop), sql);
            }
        });
    }

    #[test]
    fn vacuum_into_another_file_is_denied() {
        let dir = tempfile::tempdir().unwrap();
        let copy = dir.path().join("copy.db");
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            let sql = "VACUUM INTO ?1";
            assert_denied(run(db, sql, params![copy.to_str().unwrap()]), sql);
        });
        assert!(!copy.exists());
    }

    #[test]
    fn pragmas_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "PRAGMA foreign_keys = OFF",
                "PRAGMA query_only = 0",
                "PRAGMA writable_schema = ON",
                "PRAGMA trusted_schema = ON",
                "PRAGMA foreign_keys",
            ] {
                assert_denied(db.prepare_cached(sql).map(drop), sql);
            }
            // A table-valued pragma compiles its PRAGMA when it runs.
            let sql = "SELECT name FROM pragma_table_info('sources')";
            assert_denied(names(db, sql), sql);
        });
    }

    #[test]
    fn sqlite_internal_tables_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "SELECT sql FROM sqlite_master",
                "SELECT sql FROM sqlite_temp_master",
                "SELECT name FROM temp.sqlite_schema",
                "SELECT name, payload FROM dbstat",
            ] {
                assert_denied(db.prepare_cached(sql).map(drop), sql);
            }
        });
    }

    #[test]
    fn load_extension_is_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            let err = db.prepare_cached("SELECT load_extension('x')").map(drop);
            let message = format!("{:?}", err.unwrap_err());
            assert!(
                message.contains("not authorized to use function: load_extension"),
                "{message}"
            );
        });
    }

    #[test]
    fn insert_into_another_workspace_aborts() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for (table, sql) in INSERTS {
                assert_isolation_abort(run(db, sql, params![B, [0x43u8; 16], ORG, "x"]), table);
            }
        });
    }

    #[test]
    fn moving_a_row_to_another_workspace_aborts() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for guarded in &GUARDED {
                let sql = format!(
                    "UPDATE {} SET workspace_id = ?2 WHERE workspace_id = ?1",
                    guarded.table
                );
                assert_isolation_abort(run(db, &sql, params![A, B]), &sql);
            }
            assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["a"]);
        });
    }

    #[test]
    fn update_of_a_foreign_row_aborts() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            let sql = "UPDATE sources SET name = 'taken' WHERE workspace_id = ?1";
            assert_isolation_abort(run(db, sql, params![B]), sql);
            // Without a workspace predicate the update meets B's row too.
            let sql = "UPDATE sources SET name = 'taken'";
            assert_isolation_abort(run(db, sql, []), sql);
        });
        as_tenant(&store, Some(B), |db| {
            assert_eq!(names(db, "SELECT name FROM t_sources").unwrap(), ["b"]);
        });
    }

    #[test]
    fn delete_of_a_foreign_row_aborts() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for guarded in GUARDED.iter().rev() {
                let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
                assert_isolation_abort(run(db, &sql, params![B]), &sql);
            }
        });
        as_tenant(&store, Some(B), |db| {
            for guarded in &GUARDED {
                let sql = format!("SELECT count(*) FROM {}", guarded.view);
                let count: i64 = db
                    .prepare_cached(&sql)
                    .unwrap()
                    .query_row([], |r| r.get(0))
                    .unwrap();
                assert_eq!(count, 1, "{sql}");
            }
        });
    }

    #[test]
    fn every_tenant_write_without_a_workspace_aborts() {
        let store = two_workspaces();
        as_tenant(&store, None, |db| {
            for (table, sql) in INSERTS {
                assert_isolation_abort(run(db, sql, params![A, [0x43u8; 16], ORG, "x"]), table);
            }
            for guarded in &GUARDED {
                let sql = format!(
                    "UPDATE {} SET org_id = org_id WHERE workspace_id = ?1",
                    guarded.table
                );
                assert_isolation_abort(run(db, &sql, params![A]), &sql);
            }
            for guarded in GUARDED.iter().rev() {
                let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
                assert_isolation_abort(run(db, &sql, params![A]), &sql);
            }
        });
    }

    #[test]
    fn writes_inside_the_workspace_pass() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            let sql = "UPDATE sources SET name = COALESCE(?2, name) WHERE workspace_id = ?1 RETURNING name";
            let renamed: String = db
                .prepare_cached(sql)
                .unwrap()
                .query_row(params![A, "renamed"], |r| r.get(0))
                .unwrap();
            assert_eq!(renamed, "renamed");
            for guarded in GUARDED.iter().rev() {
                let sql = format!("DELETE FROM {} WHERE workspace_id = ?1", guarded.table);
                assert_eq!(run(db, &sql, params![A]).unwrap(), 1, "{sql}");
            }
        });
    }

    #[test]
    fn subqueries_in_a_write_are_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "UPDATE sources SET name = (SELECT config FROM sources WHERE workspace_id = ?2) WHERE workspace_id = ?1",
                "UPDATE sources SET name = (SELECT name FROM t_sources) WHERE workspace_id = ?1 AND ?2",
                "UPDATE sources SET name = name WHERE workspace_id = ?1 AND ?2 RETURNING (SELECT config FROM sources LIMIT 1)",
                "UPDATE sources SET name = s.name FROM sources AS s WHERE s.workspace_id = ?2 AND sources.workspace_id = ?1",
                "DELETE FROM sources WHERE workspace_id = ?1 AND EXISTS (SELECT 1 FROM sources WHERE workspace_id = ?2)",
                "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) SELECT ?1, name, org_id, 0 FROM sources WHERE workspace_id = ?2",
                "INSERT INTO revoked_tokens (workspace_id, jti, org_id, expires_at) VALUES (?1, (SELECT name FROM sources WHERE workspace_id = ?2), x'01', 0)",
            ] {
                assert_denied(run(db, sql, params![A, B]), sql);
            }
        });
    }

    #[test]
    fn a_select_compiled_after_a_write_without_the_statement_mark_is_denied() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            // `execute_batch` compiles its statements one after the other, and only the
            // adapter's `prepare_cached` marks a statement's start.
            db.prepare_cached("SELECT 1").unwrap();
            let batch = "DELETE FROM revoked_tokens WHERE 0; SELECT name FROM t_sources;";
            assert_denied(db.conn.execute_batch(batch), batch);
        });
    }

    #[test]
    fn readers_of_a_database_file_are_guarded() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            SqliteStore::open(dir.path().join("guarded.db"), &SqliteOptions::default()).unwrap();
        for sql in [
            "SELECT * FROM sources",
            "PRAGMA query_only = 0",
            "DROP VIEW t_sources",
        ] {
            let result = store.pool.read(|db| Ok(db.prepare_cached(sql).map(drop)));
            assert_denied(result.unwrap(), sql);
        }
        let read = store
            .pool
            .read(|db| Ok(names(db, "SELECT name FROM t_sources")));
        assert!(read.unwrap().unwrap().is_empty());
    }

    /// DIRECTONLY: a view stored in the database file (written by anyone with access to it)
    /// cannot call `bulkhead_workspace()`; only the connection's own TEMP objects can.
    #[test]
    fn a_view_in_the_database_file_cannot_call_bulkhead_workspace() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("guarded.db");
        let store = SqliteStore::open(&path, &SqliteOptions::default()).unwrap();
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE VIEW planted AS SELECT bulkhead_workspace() AS ws")
            .unwrap();

        let result = store
            .pool
            .read(|db| Ok(names(db, "SELECT ws FROM planted")));

        match result.unwrap() {
            Err(rusqlite::Error::SqliteFailure(_, Some(message))) => {
                assert!(
                    message.contains("unsafe use of bulkhead_workspace()"),
                    "{message}"
                );
            }
            other => panic!("expected the call to be refused, got {other:?}"),
        }
    }

    /// SQLite names a common table expression the same way as a view, so one named like a
    /// guard view would pass for it and read every workspace's rows: a statement with `WITH`
    /// is refused before SQLite compiles it, in any case and however it is spaced, while the
    /// word inside a string, a quoted name or a comment, or as part of a longer word, is not
    /// the keyword.
    #[test]
    fn common_table_expressions_are_refused_so_none_can_pass_for_a_guard_view() {
        let store = two_workspaces();
        as_tenant(&store, Some(A), |db| {
            for sql in [
                "WITH t_sources AS (SELECT * FROM main.sources) SELECT name FROM t_sources ORDER BY name",
                "with o_workspaces as (select * from main.workspaces) select name from o_workspaces",
                "SELECT name FROM t_sources WHERE id IN (WiTh x AS (SELECT 1) SELECT * FROM x)",
                "/* c */ WITH\nt_sources AS (SELECT * FROM main.sources) SELECT name FROM t_sources",
            ] {
                // Twice: a refused statement is not left in the cache to be taken from there.
                assert_denied(names(db, sql), sql);
                assert_denied(names(db, sql), sql);
            }
            for sql in [
                "SELECT name FROM t_sources WHERE name <> 'with'",
                "SELECT name AS \"with\" FROM t_sources -- with\n",
                "SELECT name AS without_cte /* with */ FROM t_sources",
            ] {
                assert_eq!(names(db, sql).unwrap(), ["a"], "{sql}");
            }
        });
    }

    fn context<'a>(action: AuthAction<'a>, accessor: Option<&'a str>) -> AuthContext<'a> {
        AuthContext {
            action,
            database_name: Some("main"),
            accessor,
        }
    }

    #[test]
    fn reads_that_begin_a_statement_may_only_be_followed_by_an_update() {
        let start = Arc::new(AtomicBool::new(true));
        let mut authorizer = Authorizer {
            phase: Phase::Fresh,
            statement_start: Arc::clone(&start),
            system: Arc::default(),
            calls: Arc::default(),
        };
        let read = AuthAction::Read {
            table_name: "sources",
            column_name: "name",
        };
        for (next, allowed) in [
            (AuthAction::Select, false),
            (
                AuthAction::Insert {
                    table_name: "sources",
                },
                false,
            ),
            (
                AuthAction::Delete {
                    table_name: "sources",
                },
                false,
            ),
            (
                AuthAction::Update {
                    table_name: "sources",
                    column_name: "name",
                },
                true,
            ),
        ] {
            start.store(true, Ordering::Relaxed);
            assert_eq!(authorizer.judge(&context(read, None)), Authorization::Allow);
            let expected = if allowed {
                Authorization::Allow
            } else {
                Authorization::Deny
            };
            assert_eq!(authorizer.judge(&context(next, None)), expected, "{next:?}");
        }
    }
}
