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
//! - TEMP triggers on the job queue's and the scheduler's tables, the same rule at the
//!   granularity of each (workspace or organization), also lifted in system mode; the
//!   scheduler's global row is written in system mode only, and the audit log is append-only.
//! - An authorizer, installed last and once: installing one expires every prepared statement.
//!
//! The views and triggers are written once, as SQL templates: `guard/view.sql` and
//! `guard/triggers.sql`, filled for each table of [`GUARDED`] by [`Guarded::setup`] (the
//! table, its key column, workspace or organization, and whether system mode lifts the
//! guard). The few triggers that are not a table's share of that rule (the scheduler's global
//! row, the audit log's) are `guard/fixed.sql`. The guard test `setup_ddl_is_the_pinned_text`
//! pins the resulting statements (`tests/fixtures/guard_ddl.sql`).
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

/// Whose rows a guarded table holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// A workspace's: the current one is `bulkhead_workspace()`.
    Workspace,
    /// An organization's: the current one is `bulkhead_org()`.
    Organization,
}

/// One table under the guard, and what fills the guard's templates for it
/// ([`Guarded::setup`]).
#[derive(Debug)]
struct Guarded {
    table: &'static str,
    /// The column naming a row's workspace or organization.
    key: &'static str,
    scope: Scope,
    /// The TEMP view a SELECT reads the table through, showing the current scope's rows;
    /// `None` for the job queue's and the scheduler's tables, which a SELECT reads only in
    /// system mode ([`SYSTEM_TABLES`]).
    view: Option<&'static str>,
    /// Whether system mode ([`Db::system`]) lifts the guard: a SELECT may read the table
    /// directly and a write may touch any row. Never for a tenant table.
    system: bool,
}

/// A tenant table (DESIGN section 8): every one carries `workspace_id`.
const fn tenant(table: &'static str, view: &'static str) -> Guarded {
    Guarded {
        table,
        key: "workspace_id",
        scope: Scope::Workspace,
        view: Some(view),
        system: false,
    }
}

/// An organization-level table (DESIGN section 4: `OrgScope` reads at organization
/// granularity), filtered on `key` (the organization's own id for `organizations`, its
/// `org_id` for the others).
const fn org(table: &'static str, key: &'static str, view: &'static str) -> Guarded {
    Guarded {
        table,
        key,
        scope: Scope::Organization,
        view: Some(view),
        system: true,
    }
}

/// A table of the job queue or the scheduler: cross-tenant (ids, counters and due times
/// only), read by the claim and the tick in system mode; outside it, a write (a tenant's, or
/// the tables' own triggers firing from it) may touch only the current scope's rows.
const fn queue(table: &'static str, key: &'static str, scope: Scope) -> Guarded {
    Guarded {
        table,
        key,
        scope,
        view: None,
        system: true,
    }
}

/// Every table under the guard, in the order [`install`] sets them up. The global scheduler
/// row and the audit log's append-only rule are not a table's share of the rule; they are in
/// `guard/fixed.sql`.
const GUARDED: [Guarded; 17] = [
    tenant("sources", "t_sources"),
    tenant("destinations", "t_destinations"),
    tenant("connections", "t_connections"),
    tenant("sync_runs", "t_sync_runs"),
    tenant("revoked_tokens", "t_revoked_tokens"),
    org("organizations", "id", "o_organizations"),
    org("workspaces", "org_id", "o_workspaces"),
    org("org_keys", "org_id", "o_org_keys"),
    org("signing_keys", "org_id", "o_signing_keys"),
    org("tags", "org_id", "o_tags"),
    org("source_templates", "org_id", "o_source_templates"),
    org("connection_templates", "org_id", "o_connection_templates"),
    org("audit_log", "org_id", "o_audit_log"),
    queue("sync_queue", "workspace_id", Scope::Workspace),
    queue("sched_workspace", "org_id", Scope::Organization),
    queue("sched_org", "id", Scope::Organization),
    queue("sched_connection", "workspace_id", Scope::Workspace),
];

/// The guard view of one table, a template (see [`Guarded::setup`]).
const VIEW_TEMPLATE: &str = crate::schema::statements(include_str!("guard/view.sql"));
/// The guard triggers of one table, a template (see [`Guarded::setup`]).
const TRIGGERS_TEMPLATE: &str = crate::schema::statements(include_str!("guard/triggers.sql"));
/// The guard's triggers that take no placeholder.
const FIXED: &str = crate::schema::statements(include_str!("guard/fixed.sql"));

impl Guarded {
    /// The DDL of this table's guard: its view, if it has one, and its triggers, from the
    /// templates `guard/view.sql` and `guard/triggers.sql`.
    ///
    /// The text is built at run time, once per connection (a template from a file cannot go
    /// through `concat!`), but it is as fixed as a literal: every placeholder is filled from
    /// this entry of the compile-time list [`GUARDED`], never from data, and the result runs
    /// through `execute_batch` before the authorizer is installed.
    fn setup(&self) -> String {
        let (scope, current) = match self.scope {
            Scope::Workspace => ("workspace", "bulkhead_workspace"),
            Scope::Organization => ("organization", "bulkhead_org"),
        };
        let unless_system = if self.system {
            "NOT bulkhead_system() AND "
        } else {
            ""
        };
        let fill = |template: &str| {
            template
                .replace("{table}", self.table)
                .replace("{key}", self.key)
                .replace("{current}", current)
                .replace("{scope}", scope)
                .replace("{unless_system}", unless_system)
        };
        let mut ddl = self.view.map_or_else(String::new, |view| {
            fill(VIEW_TEMPLATE).replace("{view}", view)
        });
        ddl.push_str(&fill(TRIGGERS_TEMPLATE));
        ddl
    }
}

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

fn guarded_table(table: &str) -> Option<&'static Guarded> {
    GUARDED.iter().find(|g| g.table.eq_ignore_ascii_case(table))
}

fn is_system_table(table: &str) -> bool {
    SYSTEM_TABLES.iter().any(|t| t.eq_ignore_ascii_case(table))
}

/// SQL functions no statement may call.
const DENIED_FUNCTIONS: [&str; 2] = ["load_extension", "fts3_tokenizer"];

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
        conn.execute_batch(&guarded.setup()).ctx(format_args!(
            "could not set up the isolation guard of `{}`",
            guarded.table
        ))?;
    }
    conn.execute_batch(FIXED)
        .ctx("could not set up the scheduler's and the audit log's guard")?;
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
    ///
    /// `sql` is `&'static str`: statement text is fixed in the binary and values are bound
    /// as parameters, so "SQL text never contains data" is a compile error here as in the
    /// PostgreSQL adapter. The two exceptions are visible by name: the guard's tests build
    /// probes at run time through `Db::prepare_dynamic` (test builds only), and the setup
    /// DDL (the migrations, the guard's views and triggers from `guard.sql`) runs with
    /// `execute_batch` on the bare connection before the authorizer is installed.
    pub(crate) fn prepare_cached(
        &self,
        sql: &'static str,
    ) -> rusqlite::Result<CachedStatement<'c>> {
        self.prepare(sql)
    }

    /// [`Db::prepare_cached`] for text built at run time: the guard's tests' probes (`SELECT
    /// * FROM <each guarded table>`), never the adapter's code.
    #[cfg(test)]
    pub(crate) fn prepare_dynamic(&self, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
        self.prepare(sql)
    }

    fn prepare(&self, sql: &str) -> rusqlite::Result<CachedStatement<'c>> {
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
                match guarded_table(table) {
                    Some(&Guarded {
                        view: Some(view),
                        system,
                        ..
                    }) => through(view) || (system && self.system.load(Ordering::Relaxed)),
                    // The job queue's and the scheduler's tables, and the store's own.
                    _ if is_system_table(table) => self.system.load(Ordering::Relaxed),
                    _ => true,
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
mod tests;
