//! `bulkhead`: the command line of [Bulkhead](https://example.invalid/bulkhead), for operators
//! of a host application and for anyone who wants to see the engine at work.
//!
//! It works on one SQLite database file (`--db PATH`, default `./bulkhead.db`) sealed under a
//! master key: `--master-key-file PATH`, else `BULKHEAD_MASTER_KEY` (base64) or
//! `BULKHEAD_MASTER_KEY_FILE`, else the key file `<db>.key` that `bulkhead init` writes. An
//! organization's commands authenticate with its access key (`bh_org_…`), given as
//! `BULKHEAD_ORG_KEY` (or `--org-key KEY`, which other users of the machine can see).
//!
//! ```sh
//! bulkhead init [--master-key-file PATH]         # create or migrate the database; writes <db>.key if no key is given
//! bulkhead org create "Acme" [--alg hs256|eddsa] # prints BULKHEAD_ORG_ID=… and BULKHEAD_ORG_KEY=… (shown once)
//! bulkhead org list                              # operator listing, no org key needed
//! bulkhead org keys create [--expires-in 30d]    # another org key (rotation), shown once
//! bulkhead org keys create --org ORG_ID          # operator recovery for an organization that lost every key
//! bulkhead org keys list
//! bulkhead org keys revoke KEY_ID
//! bulkhead workspaces list [--prefix P] [--status active|inactive] [--limit N] [--after CURSOR]
//! bulkhead workspaces show EXTERNAL_ID
//! bulkhead token --external-id ID [--source-tags a,b] [--source-tags-mode any|all]
//!                [--connection-tags a,b] [--connection-tags-mode any|all] [--ttl 20m] [--ops sources:read,...]
//! bulkhead token verify TOKEN                    # full check, prints the claims; needs no org key
//! bulkhead token revoke TOKEN
//! bulkhead keys list                             # signing keys
//! bulkhead keys rotate
//! bulkhead keys jwks                             # public keys of an EdDSA organization (JSON)
//! bulkhead demo [--db PATH]                      # the seed's example, in a temporary file unless --db
//! ```
//!
//! Every command but `init`, `org create`, `org list`, `org keys create --org`, `token verify`
//! and `demo` needs the org key. `TOKEN` may be `-` to read it from stdin. Durations are a
//! whole number and a unit, `s`, `m`, `h` or `d` (`90s`, `20m`, `1h30m`, `30d`).
//!
//! **Operator recovery.** `org list` and `org keys create --org ORG_ID` work without an org
//! key: whoever runs them can read the database file (and its master key) anyway. The second
//! exists only for an organization that lost all of its keys; everything else goes through
//! the organization's own key.
//!
//! Every command takes `--json` for machine-readable output. A failure prints
//! `error: <message>` on stderr and exits with status 1; a malformed command line (an unknown
//! option, a bad duration) is clap's usage error (status 2).

mod args;
mod db;
mod demo;
mod duration;
mod error;
mod init;
mod inspect;
mod keys;
mod org;
mod output;
mod token;
mod tree;
mod workspaces;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::db::Ctx;
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
    let ctx = Ctx {
        db: db::path_or_default(cli.db.clone()),
        master_key_file: cli.master_key_file,
        org_key: cli.org_key,
        json: cli.json,
    };
    match cli.command {
        Command::Init => init::run(&ctx),
        Command::Org(command) => org::run(&ctx, command),
        Command::Workspaces(command) => workspaces::run(&ctx, command),
        Command::Token(args) => token::run(&ctx, args),
        Command::Keys(command) => keys::run(&ctx, command),
        Command::Demo => {
            if ctx.master_key_file.is_some() {
                return Err(CliError::usage(
                    "the demo makes its own master key (kept in `<db>.key` with --db): leave \
                     out --master-key-file",
                ));
            }
            demo::run(cli.db.as_deref(), ctx.json)
        }
    }
}
