//! `bulkhead serve`: the HTTP API of `bulkhead-server` over the database, until SIGINT or
//! SIGTERM.

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

pub(crate) fn run(ctx: &Ctx, args: &ServeArgs) -> Result<(), CliError> {
    let engine = ctx.open()?;
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
        let path = db::display_path(&ctx.db);
        if ctx.json {
            output::json(&Listening {
                listening: url,
                db: &path,
            })?;
        } else {
            output::text(&format!("listening on {url}\n"))?;
            output::note(&format!("serving {path}; stop with Ctrl-C or SIGTERM"));
        }
        let app = bulkhead_server::router(engine, config);
        bulkhead_server::serve(listener, app, bulkhead_server::shutdown_signal())
            .await
            .map_err(|e| CliError::io("the server failed", e))?;
        output::note("stopped: every request in flight was answered");
        Ok(())
    })
}
