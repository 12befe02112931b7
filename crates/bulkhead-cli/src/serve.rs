//! `bulkhead serve`: the HTTP API of `bulkhead-server` over the SQLite file (`--db`) or a
//! PostgreSQL database (`--postgres URL`), until SIGINT or SIGTERM.

use bulkhead::{Config, Engine};
use bulkhead_server::ServerConfig;
use serde::Serialize;

use crate::args::ServeArgs;
use crate::db::{self, Ctx};
use crate::error::CliError;
use crate::output;

/// `serve --json`: where it listens.
#[derive(Serialize)]
struct Listening<'a> {
    listening: String,
    db: &'a str,
}

/// The database `serve` answers from.
pub(crate) enum Store<'a> {
    Sqlite,
    Postgres(&'a str),
}

/// `--db` and `--postgres` name two different databases: one of them, never both.
pub(crate) fn store<'a>(db_given: bool, postgres: Option<&'a str>) -> Result<Store<'a>, CliError> {
    match (db_given, postgres) {
        (true, Some(_)) => Err(CliError::usage(
            "--db and --postgres (or BULKHEAD_POSTGRES_URL) are exclusive: use either the \
             SQLite file or the PostgreSQL database",
        )),
        (_, Some(url)) => Ok(Store::Postgres(url)),
        (_, None) => Ok(Store::Sqlite),
    }
}

/// Opens the engine `serve` runs over, with `config` (the environment's and the command
/// line's); what to call the database in messages (never the URL, which may hold a password).
pub(crate) fn open(
    ctx: &Ctx,
    store: &Store<'_>,
    config: Config,
) -> Result<(Engine, String), CliError> {
    match store {
        Store::Sqlite => Ok((Engine::open(&ctx.db, config)?, db::display_path(&ctx.db))),
        Store::Postgres(url) => {
            let what = format!("PostgreSQL (schema `{}`)", config.postgres.schema);
            Ok((Engine::connect_postgres(url, config)?, what))
        }
    }
}

pub(crate) fn run(ctx: &Ctx, db_given: bool, args: &ServeArgs) -> Result<(), CliError> {
    let store = store(db_given, args.database.postgres.as_deref())?;
    let (engine, what) = open(ctx, &store, ctx.config()?)?;
    let mut config = ServerConfig::default();
    if let Some(url) = &args.public_url {
        config = config.public_url(url.as_str());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::io("could not start the async runtime", e))?;
    runtime.block_on(async {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| CliError::io(format_args!("could not listen on {}", args.listen), e))?;
        let addr = listener
            .local_addr()
            .map_err(|e| CliError::io("could not read the listening address", e))?;
        let url = format!("http://{addr}");
        if ctx.json {
            output::json(&Listening {
                listening: url,
                db: &what,
            })?;
        } else {
            output::text(&format!("listening on {url}\n"))?;
            output::note(&format!("serving {what}; stop with Ctrl-C or SIGTERM"));
        }
        let app = bulkhead_server::router(engine, config);
        bulkhead_server::serve(listener, app, bulkhead_server::shutdown_signal())
            .await
            .map_err(|e| CliError::io("the server failed", e))?;
        output::note("stopped: every request in flight was answered");
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

    use super::*;
    use bulkhead::MasterKey;
    use bulkhead::postgres::{Roles, provision};
    use bulkhead_testkit::pg::PgServer;
    use postgres::{Client, NoTls};

    fn ctx(dir: &std::path::Path, key_file: Option<std::path::PathBuf>) -> Ctx {
        Ctx {
            db: dir.join("serve.db"),
            master_key_file: key_file,
            org_key: None,
            json: false,
        }
    }

    #[test]
    fn db_and_postgres_are_exclusive() {
        let Err(CliError::Usage(message)) = store(true, Some("postgresql://x@localhost/db")) else {
            panic!("--db with --postgres must be a usage error");
        };
        assert!(message.contains("--db and --postgres"), "{message}");
        assert!(
            !message.contains("localhost"),
            "the URL is never echoed: {message}"
        );
        assert!(matches!(
            store(false, Some("postgresql://h/d")),
            Ok(Store::Postgres(_))
        ));
        assert!(matches!(store(true, None), Ok(Store::Sqlite)));
        assert!(matches!(store(false, None), Ok(Store::Sqlite)));
    }

    #[test]
    fn serve_postgres_opens_the_postgres_database_not_the_file() {
        const OWNER: &str = "bulkhead_owner";
        const APP: &str = "bulkhead_app";
        let server = PgServer::shared();
        provision(
            server.admin_url(),
            &Roles {
                schema: "bulkhead".to_owned(),
                owner: OWNER.to_owned(),
                app: APP.to_owned(),
            },
        )
        .unwrap();
        let schema = format!("bhcli_{}", std::process::id());
        let mut admin = Client::connect(server.admin_url(), NoTls).unwrap();
        admin
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema} AUTHORIZATION {OWNER}"
            ))
            .unwrap();

        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("pg.key");
        MasterKey::create_file(&key_file).unwrap();
        let ctx = ctx(dir.path(), Some(key_file));
        // What the environment would give: BULKHEAD_PG_OWNER_URL and BULKHEAD_PG_SCHEMA.
        let mut config = ctx.config().unwrap();
        config.postgres.owner_url = Some(server.url_for(OWNER));
        config.postgres.schema = schema.clone();
        let app_url = server.url_for(APP);
        let store = store(false, Some(&app_url)).unwrap();
        let (engine, what) = open(&ctx, &store, config).unwrap();
        assert_eq!(what, format!("PostgreSQL (schema `{schema}`)"));
        assert!(!what.contains(&app_url));

        engine.create_organization("Served").unwrap();
        let orgs: i64 = admin
            .query_one(&format!("SELECT count(*) FROM {schema}.organizations"), &[])
            .unwrap()
            .get(0);
        assert_eq!(orgs, 1, "the organization lives in PostgreSQL");
        assert!(!ctx.db.exists(), "no SQLite file was made");
        drop(engine);
        let _ = admin.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
    }
}
