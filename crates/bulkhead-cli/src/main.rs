//! `bulkhead`: the command line of [Bulkhead](https://example.invalid/bulkhead), for operators
//! of a host application and for anyone who wants to see the engine at work.
//!
//! It works on one SQLite database file (`--db PATH`, default `./bulkhead.db`) and reaches an
//! organization through the engine's operator access (`--org ORG_ID`, or `BULKHEAD_ORG`): the
//! process that owns the file can read it anyway.
//!
//! ```sh
//! bulkhead init                                  # create or migrate the database
//! bulkhead org create "Acme"                     # prints the organization id
//! bulkhead org list
//! bulkhead --org ORG_ID workspaces list [--prefix P] [--status active|inactive] [--limit N] [--after CURSOR]
//! bulkhead --org ORG_ID workspaces show EXTERNAL_ID
//! bulkhead demo [--db PATH]                      # the seed's example, in a temporary file unless --db
//! ```
//!
//! Every command takes `--json` for machine-readable output. A failure prints
//! `error: <message>` on stderr and exits with status 1; a malformed command line is clap's
//! usage error (status 2).

mod args;
mod db;
mod demo;
mod error;
mod inspect;
mod org;
mod output;
mod tree;
mod workspaces;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            error::report(&err);
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> Result<(), CliError> {
    let json = cli.json;
    match cli.command {
        Command::Init => db::init(&db::path_or_default(cli.db), json),
        Command::Org(command) => org::run(&db::path_or_default(cli.db), command, json),
        Command::Workspaces(command) => {
            let org = args::org_id(cli.org.as_deref())?;
            workspaces::run(&db::path_or_default(cli.db), org, command, json)
        }
        Command::Demo => demo::run(cli.db.as_deref(), json),
    }
}
