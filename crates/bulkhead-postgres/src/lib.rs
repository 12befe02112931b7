//! Bulkhead's storage adapter on PostgreSQL, with the database's own Row Level Security as
//! the isolation layer below the engine.
//!
//! [`PostgresStore`] implements the storage port of `bulkhead-core` on a PostgreSQL schema
//! (PostgreSQL 13 or newer), with a small pool of `tokio-postgres` connections driven
//! synchronously (each call blocks its thread, as with the `postgres` client, which the crate
//! still uses to migrate and to check the role). The statements and method bodies it shares
//! with `bulkhead-sqlite` are written once in `bulkhead-sql`, run on this crate's pool through
//! the `sql` module; this crate keeps its pool, its roles and policies, its schema and the
//! methods whose SQL is PostgreSQL's own.
//!
//! # Two roles
//!
//! - The **owner** owns the schema and its tables; it runs the migrations (pass its URL as
//!   [`PgOptions::owner_url`]) and grants the restricted role its rights.
//! - The **restricted** role (the URL given to [`PostgresStore::connect`]) runs every query.
//!   It owns nothing, is no superuser and has no `BYPASSRLS`: `connect` checks this and
//!   refuses a role that could step around the policies.
//!
//! [`provision`] creates both roles and the schema when the host lets Bulkhead manage roles;
//! a host that manages roles itself creates them (the restricted one with `NOSUPERUSER
//! NOBYPASSRLS`, not a member of the owner) and gives the two URLs.
//!
//! # Isolation (DESIGN section 4, L3)
//!
//! Every table with tenant or organization rows has Row Level Security enabled and forced.
//! Every call is one transaction that first sets, with `set_config(..., true)`, the
//! transaction-local `bulkhead.workspace_id` (tenant calls) and `bulkhead.org_id`; the
//! policies compare each row against them, so a query of this crate that forgot its
//! `workspace_id = $1` still sees only the tenant's rows, and a write of another tenant's
//! `workspace_id` is refused by the database. Tenant ids are always bound parameters; SQL
//! text never contains data. The policies:
//!
//! - tenant tables ([`TENANT_TABLES`]): `workspace_id = bulkhead.workspace_id`, for select,
//!   insert, update and delete, as `USING` and `WITH CHECK`;
//! - `workspaces`: the rows of `bulkhead.org_id`, and only the one of `bulkhead.workspace_id`
//!   when that is set;
//! - `organizations`: the row of `bulkhead.org_id`; an operator listing may read every row
//!   and write none;
//! - `org_keys`, `signing_keys`, `tags`, templates: the rows of `bulkhead.org_id`; a
//!   credential lookup reads the one key it names by hash or `kid`, and records the use of
//!   the one org key it names.
//!
//! An unset setting is `''`, which `NULLIF` turns into `NULL`, which matches no row.
//!
//! # The job queue
//!
//! The store has a job queue (`SystemStore::jobs`, migration 6), for many worker processes on one
//! database. The queue (`sync_queue`) is a tenant table under the policies above; the
//! scheduler's counters are rows of their organization; a claim reads the candidates of every
//! organization in a scope that may read the queue tables (ids and counters only) and write
//! none, then takes the organization's, the workspace's and the job's rows with
//! `FOR UPDATE SKIP LOCKED` and writes the job in its own workspace's scope. Claims pass the
//! rows other claims hold instead of waiting for them (when every candidate was held, the
//! next try waits for the first one, holding no lock), no job is claimed twice, and the claims
//! of one organization take turns on its row, which keeps the fairness of the SQLite queue.
//! Fencing tokens come from a sequence: they only grow, across processes.
//!
//! # One round trip a call of one read
//!
//! Each store method states whether its call reads or writes; a read runs in
//! `BEGIN READ ONLY`, so PostgreSQL refuses any write in it (a data-modifying `WITH`, a
//! function that writes, `nextval`, `FOR UPDATE` included) instead of the crate guessing
//! from the SQL. A call's transaction is opened by its first statement: `BEGIN`, the
//! `set_config` statement (the settings bound as parameters, as ever) and that statement are
//! pipelined, sent in one write and answered in one read. When a read returns, its `COMMIT`
//! is written out at once and its answer read at the start of the connection's next call; a
//! write waits for its `COMMIT`, and a call that failed waits for its `ROLLBACK`. So a
//! guarded list or get costs one round trip, where it cost four (`BEGIN`, `set_config`, the
//! query, `COMMIT`), and the tenant setting is still transaction-local: a connection's
//! messages are ordered, so the next call's settings always follow the end of the previous
//! transaction, and a connection whose `ROLLBACK` or deferred `COMMIT` failed, or whose call
//! panicked, is closed rather than pooled. The details are in the `pool` module.
//!
//! Connections are plain TCP (no TLS): run the database on the same host or a private
//! network, or put a TLS tunnel in between. Secret fields reach the database sealed; org keys
//! only as their SHA-256.

mod audit;
mod jobs;
mod pool;
mod rows;
mod schedules;
mod schema;
mod sql;
mod store;

#[cfg(test)]
mod test_server {
    //! The test process's server, with the two roles made once (concurrent `CREATE ROLE`s
    //! would race).
    use std::sync::OnceLock;

    use bulkhead_testkit::pg::PgServer;

    pub(crate) const OWNER: &str = "bulkhead_owner";
    pub(crate) const APP: &str = "bulkhead_app";

    pub(crate) fn server() -> &'static PgServer {
        static ROLES: OnceLock<()> = OnceLock::new();
        let server = PgServer::shared();
        ROLES.get_or_init(|| {
            crate::provision(
                server.admin_url(),
                &crate::Roles {
                    schema: "bulkhead".to_owned(),
                    owner: OWNER.to_owned(),
                    app: APP.to_owned(),
                },
            )
            .unwrap();
        });
        server
    }
}

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bulkhead_core::{Error, Result, StorageError};
use postgres::{Client, NoTls};

pub use schema::{REFERENCE_TABLES, SCHEMA_VERSION, TENANT_TABLES};

use pool::{Conn, Pool};

/// Settings of a PostgreSQL store.
#[derive(Clone)]
pub struct PgOptions {
    /// The schema holding Bulkhead's tables (default `bulkhead`): a plain lower-case
    /// identifier.
    pub schema: String,
    /// The owner's URL. When set, [`PostgresStore::connect`] first migrates the schema as the
    /// owner and grants the restricted role its rights; when not, the schema must already be
    /// at this build's version.
    pub owner_url: Option<String>,
    /// Connections of the restricted role kept open at most (default 8).
    pub pool_size: usize,
    /// How long a connection attempt may take (default 10 s).
    pub connect_timeout: Duration,
    /// How long a call waits for a free connection when all are in use (default 30 s).
    pub pool_wait: Duration,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            schema: "bulkhead".to_owned(),
            owner_url: None,
            pool_size: 8,
            connect_timeout: Duration::from_secs(10),
            pool_wait: Duration::from_secs(30),
        }
    }
}

impl fmt::Debug for PgOptions {
    /// Never prints the owner's URL, which may hold a password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgOptions")
            .field("schema", &self.schema)
            .field("owner_url", &self.owner_url.as_ref().map(|_| "<set>"))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("pool_wait", &self.pool_wait)
            .finish()
    }
}

/// The roles and schema [`provision`] makes.
#[derive(Clone, Debug)]
pub struct Roles {
    /// The schema (default `bulkhead`).
    pub schema: String,
    /// The owner role (default `bulkhead_owner`).
    pub owner: String,
    /// The restricted role (default `bulkhead_app`).
    pub app: String,
}

impl Default for Roles {
    fn default() -> Self {
        Self {
            schema: "bulkhead".to_owned(),
            owner: "bulkhead_owner".to_owned(),
            app: "bulkhead_app".to_owned(),
        }
    }
}

/// Creates the owner and restricted roles of `roles` (when missing) and the schema owned by
/// the owner, connected as an administrator (a role with `CREATEROLE` and `CREATEDB` rights,
/// or a superuser) at `admin_url`. Both roles may log in and get no password here: set one
/// (`ALTER ROLE ... PASSWORD`) or allow them in `pg_hba.conf` as the host's policy says. The
/// restricted role is made `NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE`.
pub fn provision(admin_url: &str, roles: &Roles) -> Result<()> {
    schema::check_identifier("schema", &roles.schema)?;
    schema::check_identifier("owner role", &roles.owner)?;
    schema::check_identifier("restricted role", &roles.app)?;
    if roles.owner == roles.app {
        return Err(Error::invalid_input(
            "restricted role",
            "must differ from the owner role",
        ));
    }
    let mut admin = postgres::Config::from(config(admin_url, None, Duration::from_secs(10))?)
        .connect(NoTls)
        .ctx("could not connect as the administrator")?;
    let (schema, owner, app) = (&roles.schema, &roles.owner, &roles.app);
    admin
        .batch_execute(&format!(
            "DO $$ BEGIN
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{owner}') THEN
                     CREATE ROLE {owner} LOGIN NOSUPERUSER NOBYPASSRLS;
                 END IF;
                 IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{app}') THEN
                     CREATE ROLE {app} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
                 END IF;
             END $$;
             CREATE SCHEMA IF NOT EXISTS {schema} AUTHORIZATION {owner};"
        ))
        .ctx("could not create the roles and the schema")
}

/// A Bulkhead store on a PostgreSQL schema.
pub struct PostgresStore {
    pool: Pool,
    schema: String,
    role: String,
    target: String,
    schema_version: i64,
}

/// Parses `url` (a `postgresql://` URL or `key=value` string) and sets what every
/// connection of Bulkhead's needs.
fn config(url: &str, schema: Option<&str>, timeout: Duration) -> Result<tokio_postgres::Config> {
    let mut config = tokio_postgres::Config::from_str(url)
        .map_err(|e| Error::invalid_input("PostgreSQL URL", e.to_string()))?;
    config.application_name("bulkhead");
    config.connect_timeout(timeout);
    if let Some(schema) = schema {
        let mut options = config.get_options().unwrap_or_default().to_owned();
        if !options.is_empty() {
            options.push(' ');
        }
        options.push_str("-c search_path=");
        options.push_str(schema);
        config.options(&options);
    }
    Ok(config)
}

fn user_of(config: &tokio_postgres::Config, field: &'static str) -> Result<String> {
    let user = config
        .get_user()
        .ok_or_else(|| Error::invalid_input(field, "names no user"))?;
    schema::check_identifier(field, user)?;
    Ok(user.to_owned())
}

impl PostgresStore {
    /// Connects to the schema of `options` as the restricted role at `url`, migrating it first
    /// when [`PgOptions::owner_url`] is set. Refuses a role that is a superuser, has
    /// `BYPASSRLS`, or owns (or is a member of the owner of) any of the schema's tables.
    pub fn connect(url: &str, options: &PgOptions) -> Result<Self> {
        schema::check_identifier("schema", &options.schema)?;
        let app = config(url, Some(&options.schema), options.connect_timeout)?;
        let role = user_of(&app, "PostgreSQL URL")?;
        if let Some(owner_url) = &options.owner_url {
            let owner = config(owner_url, None, options.connect_timeout)?;
            if user_of(&owner, "owner URL")? == role {
                return Err(Error::invalid_input(
                    "owner URL",
                    "names the same role as the restricted URL; queries must run as a role that owns nothing",
                ));
            }
            let mut owner = postgres::Config::from(owner)
                .connect(NoTls)
                .ctx("could not connect as the owner")?;
            schema::migrate(&mut owner, &options.schema, &role)?;
        }
        let mut client = postgres::Config::from(app.clone())
            .connect(NoTls)
            .ctx("could not connect as the restricted role")?;
        check_restricted(&mut client, &options.schema)?;
        let schema_version = schema::check_version(&mut client)?;
        let target = format!(
            "{}@{:?}:{:?}/{}",
            role,
            app.get_hosts(),
            app.get_ports(),
            app.get_dbname().unwrap_or_default()
        );
        drop(client);
        let first = Conn::connect(&app, "could not connect as the restricted role")?;
        let pool = Pool::new(
            first,
            Box::new(move || Conn::connect(&app, "could not connect as the restricted role")),
            options.pool_size,
            options.pool_wait,
        );
        Ok(Self {
            pool,
            schema: options.schema.clone(),
            role,
            target,
            schema_version,
        })
    }

    /// The schema version of the database.
    pub fn schema_version(&self) -> i64 {
        self.schema_version
    }

    /// The schema holding the tables.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The restricted role the queries run as.
    pub fn role(&self) -> &str {
        &self.role
    }
}

/// Refuses a query role that Row Level Security would not hold.
fn check_restricted(client: &mut Client, schema: &str) -> Result<()> {
    let row = client
        .query_one(
            "SELECT r.rolsuper, r.rolbypassrls,
                    (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                      WHERE n.nspname = $1 AND pg_has_role(current_user, c.relowner, 'MEMBER'))
               FROM pg_roles r WHERE r.rolname = current_user",
            &[&schema],
        )
        .ctx("could not read the restricted role's attributes")?;
    let superuser: bool = row.try_get(0).ctx("could not read rolsuper")?;
    let bypass: bool = row.try_get(1).ctx("could not read rolbypassrls")?;
    let owned: i64 = row.try_get(2).ctx("could not count owned tables")?;
    let problem = if superuser {
        Some("is a superuser, which Row Level Security does not hold")
    } else if bypass {
        Some("has BYPASSRLS")
    } else if owned > 0 {
        Some(
            "owns (or is a member of the owner of) tables of the schema, so it could turn their policies off",
        )
    } else {
        None
    };
    match problem {
        Some(problem) => Err(Error::invalid_input(
            "PostgreSQL URL",
            format!(
                "its role {problem}; connect as a restricted role (see bulkhead_postgres::provision)"
            ),
        )),
        None => Ok(()),
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("target", &self.target)
            .field("schema", &self.schema)
            .field("schema_version", &self.schema_version)
            .finish_non_exhaustive()
    }
}

/// Adds what was being done to a driver error, turning it into a storage error.
pub(crate) trait Ctx<T> {
    fn ctx(self, what: impl fmt::Display) -> Result<T>;
}

impl<T> Ctx<T> for std::result::Result<T, postgres::Error> {
    fn ctx(self, what: impl fmt::Display) -> Result<T> {
        self.map_err(|e| storage_error(what, e))
    }
}

/// A storage error saying `what` failed, with the server's message and SQLSTATE when the
/// server answered (the driver's own `Display` says only "db error"). The server's detail
/// line is left out: it may quote row values.
pub(crate) fn storage_error(what: impl fmt::Display, e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => Error::Storage(StorageError::new(format!(
            "{what}: {} (SQLSTATE {})",
            db.message(),
            db.code().code()
        ))),
        None => Error::Storage(StorageError::with_source(what, e)),
    }
}
