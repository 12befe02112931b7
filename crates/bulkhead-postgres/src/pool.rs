//! A small pool of connections of the restricted role, and the transaction every call runs in.
//!
//! Each call takes a connection, opens a transaction, sets the call's scope with
//! `set_config(..., true)` (transaction-local: it ends with the transaction, on commit and on
//! rollback, so a connection returned to the pool never carries a tenant over), runs, and
//! commits. A connection that broke is dropped instead of returned. Statements are prepared
//! once per connection and cached by their text.

use std::collections::HashMap;
use std::time::Duration;

use bulkhead_core::{Error, OrgId, Result, StorageError, Tenant, WorkspaceId};
use parking_lot::{Condvar, Mutex};
use postgres::types::ToSql;
use postgres::{Client, Row, Statement, Transaction};
use uuid::Uuid;

use crate::Ctx;

/// One pooled connection and its prepared statements.
pub(crate) struct Conn {
    client: Client,
    statements: HashMap<&'static str, Statement>,
}

impl Conn {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            statements: HashMap::new(),
        }
    }
}

/// What a call may see, set as transaction-local settings before it runs. The policies of
/// the schema read them (see [`crate::schema`]); an unset setting matches no row.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Scope<'a> {
    /// Nothing set: only the tables without tenant rows (`bulkhead_meta`).
    None,
    /// `bulkhead.org_id`: the organization's own rows, all of its workspaces' rows in the
    /// organization-level tables, no tenant table row.
    Org(OrgId),
    /// `bulkhead.org_id` and `bulkhead.workspace_id`: the workspace's rows, its own
    /// workspace row and its organization's row.
    Workspace(OrgId, WorkspaceId),
    /// `bulkhead.operator = 'list'`: every organization row, nothing else.
    OperatorList,
    /// `bulkhead.key_hash`: the one org key with this SHA-256 (hex).
    KeyHash(&'a str),
    /// `bulkhead.key_id`: the one org key with this id, to record its use.
    KeyId(Uuid),
    /// `bulkhead.kid`: the one signing key with this `kid`.
    Kid(&'a str),
}

impl Scope<'_> {
    /// The scope of a tenant: its workspace, in its organization.
    pub(crate) fn tenant(tenant: &Tenant) -> Self {
        Self::Workspace(tenant.org_id(), tenant.workspace_id())
    }
}

const SET_SCOPE: &str = "SELECT set_config('bulkhead.org_id', $1, true), \
     set_config('bulkhead.workspace_id', $2, true), \
     set_config('bulkhead.operator', $3, true), \
     set_config('bulkhead.key_hash', $4, true), \
     set_config('bulkhead.key_id', $5, true), \
     set_config('bulkhead.kid', $6, true)";

/// A transaction of one call, with the connection's statement cache.
pub(crate) struct Tx<'a> {
    tx: Transaction<'a>,
    statements: &'a mut HashMap<&'static str, Statement>,
}

/// Parameters of a statement.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let stmt = self.tx.prepare(sql).ctx("could not prepare a statement")?;
        self.statements.insert(sql, stmt.clone());
        Ok(stmt)
    }

    /// Sets the scope of what follows in this transaction, replacing the previous one.
    pub(crate) fn set_scope(&mut self, scope: Scope<'_>) -> Result<()> {
        let mut values: [String; 6] = Default::default();
        let [org, ws, operator, hash, key_id, kid] = &mut values;
        match scope {
            Scope::None => {}
            Scope::Org(id) => *org = id.to_string(),
            Scope::Workspace(org_id, ws_id) => {
                *org = org_id.to_string();
                *ws = ws_id.to_string();
            }
            Scope::OperatorList => *operator = "list".to_owned(),
            Scope::KeyHash(h) => *hash = h.to_owned(),
            Scope::KeyId(id) => *key_id = id.to_string(),
            Scope::Kid(k) => *kid = k.to_owned(),
        }
        let stmt = self.statement(SET_SCOPE)?;
        self.tx
            .execute(&stmt, &[org, ws, operator, hash, key_id, kid])
            .ctx("could not set the scope of the call")?;
        Ok(())
    }

    /// Runs a statement, returning the number of rows it changed.
    pub(crate) fn execute(&mut self, sql: &'static str, params: &Params<'_>) -> Result<u64> {
        let stmt = self.statement(sql)?;
        self.tx.execute(&stmt, params).ctx("statement failed")
    }

    /// Runs a query and decodes every row.
    pub(crate) fn query_all<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let stmt = self.statement(sql)?;
        let rows = self.tx.query(&stmt, params).ctx("query failed")?;
        rows.iter().map(decode).collect()
    }

    /// Runs a query that returns at most one row, and decodes it.
    pub(crate) fn query_first<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let stmt = self.statement(sql)?;
        let row = self.tx.query_opt(&stmt, params).ctx("query failed")?;
        row.as_ref().map(decode).transpose()
    }

    /// Runs a query that returns exactly one row, and decodes it.
    pub(crate) fn query_one<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<T> {
        let stmt = self.statement(sql)?;
        let row = self.tx.query_one(&stmt, params).ctx("query failed")?;
        decode(&row)
    }
}

/// Makes a new connection of the restricted role.
pub(crate) type Connect = Box<dyn Fn() -> Result<Client> + Send + Sync>;

pub(crate) struct Pool {
    idle: Mutex<PoolState>,
    returned: Condvar,
    connect: Connect,
    size: usize,
    wait: Duration,
}

struct PoolState {
    idle: Vec<Conn>,
    /// Connections open, idle or in use.
    open: usize,
}

/// The slot of a connection taken from the pool, freed if dropped: [`Pool::run`] forgets it
/// once the call has returned (the connection then goes back), so it is dropped only while
/// unwinding from a panic, together with the connection it stands for. A panic does not
/// poison the pool's `parking_lot` mutex, and the call never holds that lock while `f` runs.
struct SlotGuard<'p> {
    pool: &'p Pool,
}

/// The `postgres` client runs a small tokio runtime of its own, and tokio refuses to drop a
/// runtime on a thread that is running async code: a host that drops its last engine handle
/// inside an async task (an axum app's state when its server stops) would panic. So the
/// pool's connections are closed on a plain thread of their own, which the drop waits for.
impl Drop for Pool {
    fn drop(&mut self) {
        let idle = std::mem::take(&mut self.idle.get_mut().idle);
        if idle.is_empty() {
            return;
        }
        let closing = std::thread::Builder::new()
            .name("bulkhead-pg-close".to_owned())
            .spawn(move || drop(idle));
        // Without a thread (the system refused one), the connections are dropped right here.
        if let Ok(closing) = closing {
            let _ = closing.join();
        }
    }
}

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        self.pool.lost();
    }
}

impl Pool {
    /// A pool of at most `size` connections made by `connect`, starting with `first`.
    pub(crate) fn new(first: Conn, connect: Connect, size: usize, wait: Duration) -> Self {
        Self {
            idle: Mutex::new(PoolState {
                idle: vec![first],
                open: 1,
            }),
            returned: Condvar::new(),
            connect,
            size: size.max(1),
            wait,
        }
    }

    fn take(&self) -> Result<Conn> {
        let mut state = self.idle.lock();
        loop {
            if let Some(conn) = state.idle.pop() {
                return Ok(conn);
            }
            if state.open < self.size {
                state.open += 1;
                drop(state);
                return match (self.connect)() {
                    Ok(client) => Ok(Conn::new(client)),
                    Err(e) => {
                        self.idle.lock().open -= 1;
                        self.returned.notify_one();
                        Err(e)
                    }
                };
            }
            if self.returned.wait_for(&mut state, self.wait).timed_out() {
                return Err(Error::Storage(StorageError::new(format!(
                    "no PostgreSQL connection came free within {} s (pool of {})",
                    self.wait.as_secs(),
                    self.size
                ))));
            }
        }
    }

    fn give_back(&self, conn: Conn) {
        let mut state = self.idle.lock();
        if conn.client.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.returned.notify_one();
    }

    /// Runs `f` in one transaction with `scope` set, committing when it returns `Ok` and
    /// rolling back otherwise.
    ///
    /// If `f` panics, its connection is dropped while unwinding (which rolls its transaction
    /// back or closes it) and its slot in the pool is freed, so panics never use the pool up.
    pub(crate) fn run<T>(
        &self,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.take()?;
        let slot = SlotGuard { pool: self };
        let result = Self::in_transaction(&mut conn, scope, f);
        std::mem::forget(slot);
        self.give_back(conn);
        result
    }

    /// Counts one connection in use as closed: it was dropped instead of given back.
    fn lost(&self) {
        let mut state = self.idle.lock();
        state.open = state.open.saturating_sub(1);
        drop(state);
        self.returned.notify_one();
    }

    fn in_transaction<T>(
        conn: &mut Conn,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let tx = conn
            .client
            .transaction()
            .ctx("could not start a transaction")?;
        let mut tx = Tx {
            tx,
            statements: &mut conn.statements,
        };
        tx.set_scope(scope)?;
        let value = f(&mut tx)?;
        tx.tx.commit().ctx("could not commit")?;
        Ok(value)
    }
}
