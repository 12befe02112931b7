//! A small pool of connections of the restricted role, and the transaction every call runs in.
//!
//! Each call takes a connection, opens a transaction, sets the call's scope with
//! `set_config(..., true)` (transaction-local: it ends with the transaction, on commit and on
//! rollback, so a connection returned to the pool never carries a tenant over), runs, and
//! commits. A connection that broke is dropped instead of returned. Statements are prepared
//! once per connection and cached by their text.
//!
//! # Reads and writes
//!
//! The store says, for each call, whether it reads or writes ([`Pool::read`],
//! [`Pool::write`]); nothing guesses it from the SQL. A read runs in `BEGIN READ ONLY`, so
//! PostgreSQL itself refuses anything in it that would write (`INSERT`, `UPDATE`, `DELETE`,
//! a data-modifying `WITH`, `nextval`, `SELECT ... FOR UPDATE`, a function that writes): a
//! call wrongly stated as a read fails with an error, it never writes with its `COMMIT`
//! unawaited.
//!
//! # One round trip for a call of one read
//!
//! The pool drives `tokio-postgres` itself (a current-thread runtime per connection, polled
//! only while a call waits, as the synchronous `postgres` client does) so that it can pipeline:
//!
//! - `BEGIN`, the `set_config` statement and the call's first statement are sent together and
//!   answered together: one round trip. The transaction is opened lazily, when the first
//!   statement is run, and every statement of the call runs inside it, after the settings.
//!   A call that changes its scope midway ([`Tx::set_scope`]) sends the new settings with
//!   its next statement, in that statement's round trip.
//! - When a read returns `Ok`, its `COMMIT` is written out at once but its answer is read at
//!   the start of the connection's next call, pipelined with that call's own `BEGIN`. A
//!   read-only transaction has nothing a `COMMIT` could lose (only temporary tables can be
//!   written in it, and the crate makes none); the caller's rows were final when they came
//!   back. A write waits for its `COMMIT`.
//! - When the deferred `COMMIT` of the previous read failed, the failure is logged and the
//!   connection is closed after the call that found it, not pooled; that call's own result
//!   stands, since whatever answer a `COMMIT` gets, it ends the transaction before the call's
//!   `BEGIN` (and a transaction left open would still be read only, with all seven settings
//!   replaced before the call's first statement).
//! - When the call returns `Err`, its transaction is rolled back and the answer awaited; a
//!   connection whose `ROLLBACK` or socket failed is dropped, not pooled.
//!
//! The settings stay transaction-local and bound as parameters; SQL text never carries them.
//! On the wire, a connection's messages are strictly ordered, so the next call's `BEGIN` and
//! settings always come after the previous call's `COMMIT` or `ROLLBACK` (and `SET_SCOPE`
//! writes all seven settings on every call, the empty ones included).

use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bulkhead_core::{Error, OrgId, Result, StorageError, Tenant, WorkspaceId};
use parking_lot::{Condvar, Mutex};
use postgres::types::ToSql;
use postgres::{Row, Statement};
use tokio::runtime::Runtime;
use tokio_postgres::tls::{NoTls, NoTlsStream};
use tokio_postgres::{Client, Socket};
use uuid::Uuid;

use crate::Ctx;

type PgResult<T> = std::result::Result<T, postgres::Error>;

/// The COMMIT of a read-only call: sent, its answer not read yet.
type PendingCommit = Pin<Box<dyn Future<Output = PgResult<()>> + Send>>;

/// One pooled connection, its prepared statements, and what it still owes an answer for.
pub(crate) struct Conn {
    runtime: Runtime,
    /// `None` only while the connection is dropped.
    client: Option<Arc<Client>>,
    connection: tokio_postgres::Connection<Socket, NoTlsStream>,
    /// The connection's socket ended or failed: it is never polled again.
    ended: bool,
    /// A `ROLLBACK` or deferred `COMMIT` failed: the connection is dropped, not pooled.
    broken: bool,
    statements: HashMap<&'static str, Statement>,
    pending_commit: Option<PendingCommit>,
}

impl Conn {
    /// Opens a connection with `config` (plain TCP or a Unix socket, no TLS).
    pub(crate) fn connect(config: &tokio_postgres::Config, what: &'static str) -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Storage(StorageError::with_source(what, e)))?;
        let (client, connection) = runtime.block_on(config.connect(NoTls)).ctx(what)?;
        Ok(Self {
            runtime,
            client: Some(Arc::new(client)),
            connection,
            ended: false,
            broken: false,
            statements: HashMap::new(),
            pending_commit: None,
        })
    }

    fn is_closed(&self) -> bool {
        self.ended || self.broken || self.client.as_ref().is_none_or(|c| c.is_closed())
    }

    fn client(&self) -> Result<Arc<Client>> {
        self.client
            .clone()
            .ok_or_else(|| Error::Storage(StorageError::new("the connection is closed")))
    }

    /// Runs `future` to completion on this connection's runtime, driving the connection (its
    /// socket reads and writes) meanwhile.
    fn block_on<T>(&mut self, future: impl Future<Output = PgResult<T>>) -> PgResult<T> {
        let mut future = pin!(future);
        let connection = &mut self.connection;
        let ended = &mut self.ended;
        self.runtime.block_on(poll_fn(|cx| {
            if let Err(e) = drive(connection, ended, cx) {
                return Poll::Ready(Err(e));
            }
            future.as_mut().poll(cx)
        }))
    }

    /// Sends `COMMIT` and writes it out without waiting for its answer, which the next call
    /// reads first.
    fn commit_later(&mut self) {
        let Ok(client) = self.client() else {
            self.broken = true;
            return;
        };
        let mut commit: PendingCommit =
            Box::pin(async move { client.batch_execute("COMMIT").await });
        let connection = &mut self.connection;
        let ended = &mut self.ended;
        // One turn: the commit's first poll queues its message, driving the connection then
        // writes and flushes it. Its answer cannot be in yet.
        let first = self.runtime.block_on(poll_fn(|cx| {
            let polled = commit.as_mut().poll(cx);
            let driven = drive(connection, ended, cx);
            Poll::Ready((polled, driven))
        }));
        match first {
            (Poll::Ready(Err(_)), _) | (_, Err(_)) => self.broken = true,
            (Poll::Ready(Ok(())), Ok(())) => {}
            (Poll::Pending, Ok(())) => self.pending_commit = Some(commit),
        }
    }

    fn statement(&mut self, sql: &'static str) -> Result<Statement> {
        if let Some(stmt) = self.statements.get(sql) {
            return Ok(stmt.clone());
        }
        let client = self.client()?;
        let stmt = self
            .block_on(async move { client.prepare(sql).await })
            .ctx("could not prepare a statement")?;
        self.statements.insert(sql, stmt.clone());
        Ok(stmt)
    }
}

/// Says goodbye to the server (`Terminate`) instead of just closing the socket, unless the
/// connection already ended or this runs inside async code, where blocking is refused.
impl Drop for Conn {
    fn drop(&mut self) {
        self.pending_commit = None;
        self.statements.clear();
        // With its last client gone, the connection sends `Terminate` when driven, and ends
        // when the server closes the socket.
        self.client = None;
        if self.ended || tokio::runtime::Handle::try_current().is_ok() {
            return;
        }
        let connection = &mut self.connection;
        let ended = &mut self.ended;
        let closing = poll_fn(|cx| match drive(connection, ended, cx) {
            Ok(()) if !*ended => Poll::Pending,
            _ => Poll::Ready(()),
        });
        let _ = self
            .runtime
            .block_on(async { tokio::time::timeout(Duration::from_secs(1), closing).await });
    }
}

/// Reads and writes what the socket has ready, until it would block. `Err` when the
/// connection failed; a connection that ended is left alone from then on.
fn drive(
    connection: &mut tokio_postgres::Connection<Socket, NoTlsStream>,
    ended: &mut bool,
    cx: &mut Context<'_>,
) -> PgResult<()> {
    while !*ended {
        match connection.poll_message(cx) {
            // Notices and notifications: none is asked for, none is needed.
            Poll::Ready(Some(Ok(_))) => {}
            Poll::Ready(Some(Err(e))) => {
                *ended = true;
                return Err(e);
            }
            Poll::Ready(None) => *ended = true,
            Poll::Pending => break,
        }
    }
    Ok(())
}

/// Polls `a`, `b`, `c` then `d` (so that the messages they send go out in that order, in one
/// write) and waits for all four.
async fn in_order<A, B, C, D>(
    a: impl Future<Output = A>,
    b: impl Future<Output = B>,
    c: impl Future<Output = C>,
    d: impl Future<Output = D>,
) -> (A, B, C, D) {
    let (mut a, mut b, mut c, mut d) = (pin!(a), pin!(b), pin!(c), pin!(d));
    let (mut ra, mut rb, mut rc, mut rd) = (None, None, None, None);
    poll_fn(move |cx| {
        poll_once(a.as_mut(), &mut ra, cx);
        poll_once(b.as_mut(), &mut rb, cx);
        poll_once(c.as_mut(), &mut rc, cx);
        poll_once(d.as_mut(), &mut rd, cx);
        if ra.is_some()
            && rb.is_some()
            && rc.is_some()
            && rd.is_some()
            && let (Some(a), Some(b), Some(c), Some(d)) =
                (ra.take(), rb.take(), rc.take(), rd.take())
        {
            return Poll::Ready((a, b, c, d));
        }
        Poll::Pending
    })
    .await
}

/// Polls `future` unless it already gave its output to `out`.
fn poll_once<T>(
    future: Pin<&mut impl Future<Output = T>>,
    out: &mut Option<T>,
    cx: &mut Context<'_>,
) {
    if out.is_none()
        && let Poll::Ready(value) = future.poll(cx)
    {
        *out = Some(value);
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
    /// `bulkhead.operator = 'scheduler'`: every row of `sched_connection` (ids and due
    /// times), to read, move or remove; nothing else.
    Scheduler,
    /// `bulkhead.key_hash`: the one org key with this SHA-256 (hex).
    KeyHash(&'a str),
    /// `bulkhead.key_id`: the one org key with this id, to record its use.
    KeyId(Uuid),
    /// `bulkhead.kid`: the one signing key with this `kid`.
    Kid(&'a str),
    /// `bulkhead.queue = 'claim'` (and `bulkhead.org_id` when given): every queue row and
    /// scheduler counter to read (ids and counters only), and the organization's rows.
    Queue(Option<OrgId>),
}

impl Scope<'_> {
    /// The scope of a tenant: its workspace, in its organization.
    pub(crate) fn tenant(tenant: &Tenant) -> Self {
        Self::Workspace(tenant.org_id(), tenant.workspace_id())
    }

    /// The seven values of [`SET_SCOPE`], `''` for each one the scope leaves unset.
    fn settings(self) -> [String; 7] {
        let mut values: [String; 7] = Default::default();
        let [org, ws, operator, hash, key_id, kid, queue] = &mut values;
        match self {
            Self::None => {}
            Self::Org(id) => *org = id.to_string(),
            Self::Workspace(org_id, ws_id) => {
                *org = org_id.to_string();
                *ws = ws_id.to_string();
            }
            Self::OperatorList => "list".clone_into(operator),
            Self::Scheduler => "scheduler".clone_into(operator),
            Self::KeyHash(h) => h.clone_into(hash),
            Self::KeyId(id) => *key_id = id.to_string(),
            Self::Kid(k) => k.clone_into(kid),
            Self::Queue(org_id) => {
                "claim".clone_into(queue);
                if let Some(id) = org_id {
                    *org = id.to_string();
                }
            }
        }
        values
    }
}

/// Every setting, every time: a call's settings replace all of the previous ones.
const SET_SCOPE: &str = "SELECT set_config('bulkhead.org_id', $1, true), \
     set_config('bulkhead.workspace_id', $2, true), \
     set_config('bulkhead.operator', $3, true), \
     set_config('bulkhead.key_hash', $4, true), \
     set_config('bulkhead.key_id', $5, true), \
     set_config('bulkhead.kid', $6, true), \
     set_config('bulkhead.queue', $7, true)";

/// Whether a call only reads or may write, as its caller states it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Access {
    /// `BEGIN READ ONLY`: PostgreSQL refuses every write in it; its `COMMIT` is not awaited.
    Read,
    /// `BEGIN`: its `COMMIT` is awaited.
    Write,
}

impl Access {
    fn begin(self) -> &'static str {
        match self {
            Self::Read => "BEGIN READ ONLY",
            Self::Write => "BEGIN",
        }
    }
}

/// The transaction of one call, opened with its first statement.
pub(crate) struct Tx<'a> {
    conn: &'a mut Conn,
    settings: [String; 7],
    /// `BEGIN` was sent: the call ends with `COMMIT` or `ROLLBACK`.
    begun: bool,
    /// The scope was changed after `BEGIN` and not sent yet: it goes out with the next
    /// statement, in the same round trip.
    scope_changed: bool,
    access: Access,
}

/// Parameters of a statement.
pub(crate) type Params<'p> = [&'p (dyn ToSql + Sync)];

impl Tx<'_> {
    /// Sets the scope of what follows in this transaction, replacing the previous one.
    pub(crate) fn set_scope(&mut self, scope: Scope<'_>) -> Result<()> {
        self.settings = scope.settings();
        // Sent with `BEGIN` before the first statement, or before the next statement once
        // begun: either way in that statement's round trip.
        self.scope_changed = self.begun;
        Ok(())
    }

    /// Runs the statement `sql` with `send`; the first one of the call goes out together
    /// with `BEGIN` and the settings, in one round trip.
    fn run<T, F>(
        &mut self,
        sql: &'static str,
        what: &'static str,
        send: impl FnOnce(Arc<Client>, Statement) -> F,
    ) -> Result<T>
    where
        F: Future<Output = PgResult<T>>,
    {
        let stmt = self.conn.statement(sql)?;
        let client = self.conn.client()?;
        if self.begun && !self.scope_changed {
            return self.conn.block_on(send(client, stmt)).ctx(what);
        }
        if self.begun {
            // The new scope, then the statement, in one round trip.
            let set = self.conn.statement(SET_SCOPE)?;
            self.scope_changed = false;
            let [a, b, c, d, e, f, g] = &self.settings;
            let params: [&(dyn ToSql + Sync); 7] = [a, b, c, d, e, f, g];
            let first = send(Arc::clone(&client), stmt);
            let (_, _, set, first) = self
                .conn
                .block_on(async {
                    Ok(in_order(async {}, async {}, client.execute(&set, &params), first).await)
                })
                .ctx(what)?;
            set.ctx("could not set the scope of the call")?;
            return first.ctx(what);
        }
        let set = self.conn.statement(SET_SCOPE)?;
        // The previous call's `COMMIT`, if it is still unanswered, is awaited alongside.
        let previous = self.conn.pending_commit.take();
        // From here on the call ends with `COMMIT` or `ROLLBACK`, whatever comes back.
        self.begun = true;
        let [a, b, c, d, e, f, g] = &self.settings;
        let params: [&(dyn ToSql + Sync); 7] = [a, b, c, d, e, f, g];
        let first = send(Arc::clone(&client), stmt);
        let (previous, begin, set, first) = self
            .conn
            .block_on(async {
                Ok(in_order(
                    async {
                        match previous {
                            Some(commit) => commit.await,
                            None => Ok(()),
                        }
                    },
                    client.batch_execute(self.access.begin()),
                    client.execute(&set, &params),
                    first,
                )
                .await)
            })
            .ctx(what)?;
        if let Err(e) = previous {
            // It ended its own transaction, whatever it answered: this call's result stands,
            // and the connection is closed after it.
            // The SQLSTATE only: a server message can quote values.
            tracing::warn!(
                sqlstate = e.code().map_or("none", |c| c.code()),
                closed = e.is_closed(),
                "the deferred COMMIT of a read failed; closing its connection"
            );
            self.conn.broken = true;
        }
        begin.ctx("could not start a transaction")?;
        set.ctx("could not set the scope of the call")?;
        first.ctx(what)
    }

    /// Runs a statement, returning the number of rows it changed.
    pub(crate) fn execute(&mut self, sql: &'static str, params: &Params<'_>) -> Result<u64> {
        self.run(sql, "statement failed", |client, stmt| async move {
            client.execute(&stmt, params).await
        })
    }

    /// Runs a query and decodes every row.
    pub(crate) fn query_all<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<Vec<T>> {
        let rows = self.run(sql, "query failed", |client, stmt| async move {
            client.query(&stmt, params).await
        })?;
        rows.iter().map(decode).collect()
    }

    /// Runs a query that returns at most one row, and decodes it.
    pub(crate) fn query_first<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<Option<T>> {
        let row = self.run(sql, "query failed", |client, stmt| async move {
            client.query_opt(&stmt, params).await
        })?;
        row.as_ref().map(decode).transpose()
    }

    /// Runs a query that returns exactly one row, and decodes it.
    pub(crate) fn query_one<T>(
        &mut self,
        sql: &'static str,
        params: &Params<'_>,
        decode: impl Fn(&Row) -> Result<T>,
    ) -> Result<T> {
        let row = self.run(sql, "query failed", |client, stmt| async move {
            client.query_one(&stmt, params).await
        })?;
        decode(&row)
    }
}

/// Makes a new connection of the restricted role.
pub(crate) type Connect = Box<dyn Fn() -> Result<Conn> + Send + Sync>;

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
                    Ok(conn) => Ok(conn),
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
        if conn.is_closed() {
            state.open -= 1;
        } else {
            state.idle.push(conn);
        }
        drop(state);
        self.returned.notify_one();
    }

    /// Runs `f`, which only reads, in one read-only transaction with `scope` set (see
    /// [`Access::Read`]).
    pub(crate) fn read<T>(
        &self,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.run(Access::Read, scope, f)
    }

    /// Runs `f` in one transaction with `scope` set (see [`Access::Write`]).
    pub(crate) fn write<T>(
        &self,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        self.run(Access::Write, scope, f)
    }

    /// Runs `f` in one transaction with `scope` set, committing when it returns `Ok` and
    /// rolling back otherwise.
    ///
    /// If `f` panics, its connection is dropped while unwinding (which rolls its transaction
    /// back or closes it) and its slot in the pool is freed, so panics never use the pool up.
    fn run<T>(
        &self,
        access: Access,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut conn = self.take()?;
        let slot = SlotGuard { pool: self };
        let result = Self::in_transaction(&mut conn, access, scope, f);
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
        access: Access,
        scope: Scope<'_>,
        f: impl FnOnce(&mut Tx<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut tx = Tx {
            conn,
            settings: scope.settings(),
            begun: false,
            scope_changed: false,
            access,
        };
        let result = f(&mut tx);
        let Tx {
            conn,
            begun,
            access,
            ..
        } = tx;
        if !begun {
            // No statement ran: nothing was sent.
            return result;
        }
        let client = match conn.client() {
            Ok(client) => client,
            Err(e) => return result.and(Err(e)),
        };
        match result {
            Ok(value) if access == Access::Read => {
                conn.commit_later();
                Ok(value)
            }
            Ok(value) => {
                conn.block_on(async move { client.batch_execute("COMMIT").await })
                    .ctx("could not commit")?;
                Ok(value)
            }
            Err(e) => {
                // A connection that cannot say its transaction ended is not pooled again.
                if conn
                    .block_on(async move { client.batch_execute("ROLLBACK").await })
                    .is_err()
                {
                    conn.broken = true;
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests;
