//! `bulkhead`: the command line of [Bulkhead](https://example.invalid/bulkhead), for operators
//! of a host application and for anyone who wants to see the engine at work.
//!
//! It works on one SQLite database file (`--db PATH`, default `./bulkhead.db`) sealed under a
//! master key: `--master-key-file PATH`, else `BULKHEAD_MASTER_KEY` (base64) or
//! `BULKHEAD_MASTER_KEY_FILE`, else the key file `<db>.key` that `bulkhead init` writes. An
//! organization's commands authenticate with its access key (`bh_org_…`), given as
//! `BULKHEAD_ORG_KEY` (or `--org-key KEY`, which other users of the machine can see).
//! `bulkhead worker` takes a worker key (`bh_wkr_…`, from `org keys create --worker`) there
//! instead: a key that may run jobs and nothing else, which every other command refuses.
//!
//! ```sh
//! bulkhead init [--master-key-file PATH]         # create or migrate the database; writes <db>.key if no key is given
//! bulkhead org create "Acme" [--alg hs256|eddsa] # prints BULKHEAD_ORG_ID=… and BULKHEAD_ORG_KEY=… (shown once)
//! bulkhead org list                              # operator listing, no org key needed
//! bulkhead org keys create [--expires-in 30d]    # another org key (rotation), shown once
//! bulkhead org keys create --worker              # a worker key: `bulkhead worker` only, shown once
//! bulkhead org keys create --org ORG_ID          # operator recovery for an organization that lost every key
//! bulkhead org keys list
//! bulkhead org keys revoke KEY_ID
//! bulkhead workspaces list [--prefix P] [--status active|inactive] [--limit N] [--after CURSOR]
//! bulkhead workspaces show EXTERNAL_ID
//! bulkhead workspaces delete EXTERNAL_ID --yes   # destroys its data key and all its data, irreversibly
//! bulkhead tags create|delete NAME
//! bulkhead tags list
//! bulkhead tags rename FROM TO                   # on every template and workspace selection
//! bulkhead templates sources create --name N --connector C [--tags a,b] [--spec FILE] [--config FILE]
//! bulkhead templates sources list [--tags a,b] [--tags-mode any|all]
//! bulkhead templates sources delete TEMPLATE_ID
//! bulkhead templates connections create --name N --destination-name D --destination-connector C
//!          [--destination-config FILE] [--destination-spec FILE] [--schedule manual|CRON] [--tags a,b]
//! bulkhead templates connections list [--tags a,b] [--tags-mode any|all]
//! bulkhead templates connections delete TEMPLATE_ID
//! bulkhead sources create --external-id ID --template TEMPLATE_ID --name NAME --config FILE
//! bulkhead sources list --external-id ID         # through the customer's token: secrets masked
//! bulkhead sources reveal --external-id ID SOURCE_ID   # SENSITIVE: prints the secrets in clear
//! bulkhead token --external-id ID [--source-tags a,b] [--source-tags-mode any|all]
//!                [--connection-tags a,b] [--connection-tags-mode any|all] [--ttl 20m] [--ops sources:read,...]
//! bulkhead token verify TOKEN                    # full check, prints the claims; needs no org key
//! bulkhead token revoke TOKEN
//! bulkhead keys list                             # signing keys
//! bulkhead keys rotate
//! bulkhead keys retire KID                       # at once, for a key that may have leaked
//! bulkhead keys jwks                             # public keys of an EdDSA organization (JSON)
//! bulkhead keys rotate-master [--new-key-file PATH]   # re-seal under a new master key; no org key
//! bulkhead jobs start --external-id ID [--connection CONNECTION_ID]   # queue syncs for a worker
//! bulkhead jobs list --external-id ID [--limit N]
//! bulkhead jobs cancel --external-id ID JOB_ID
//! bulkhead worker --exec CMD [--workers N] [--drain] [--max-jobs N] [--lease 60s] [--backoff 15s] [--heartbeat 20s] [--poll 2s] [--postgres URL]
//! bulkhead fake-connector                        # a stand-in connector: job on stdin, {"rows","bytes"} on stdout
//! bulkhead demo [--db PATH]                      # the seed's example, in a temporary file unless --db
//! ```
//!
//! Every command but `init`, `org create`, `org list`, `org keys create --org`, `token verify`,
//! `keys rotate-master` and `demo` needs the org key. `TOKEN` may be `-` to read it from
//! stdin, and so may one `FILE` of a command. Durations are a whole number and a unit, `s`,
//! `m`, `h` or `d` (`90s`, `20m`, `1h30m`, `30d`).
//!
//! **Templates and tags.** Customers create sources from the source templates their
//! workspace's tag selection matches (stored by `bulkhead token --source-tags`); every
//! connection template its connection selection matches then makes a destination and a
//! connection for the new source. A spec is a JSON-Schema style document (default
//! `{"type":"object"}`); fields it marks `"airbyte_secret": true` are sealed at rest and read
//! as `**********` everywhere but `sources reveal`.
//!
//! **Acting as the customer.** `sources create` and `sources list` mint a short-lived scoped
//! token for the customer's workspace (never printed; without tags, so the workspace keeps
//! its stored selection) and act through it, so they can do exactly what the customer can.
//! The workspace must exist: `bulkhead token --external-id ID --source-tags …` creates it
//! with its selection. `sources reveal` is the organization's own read, with the secrets in
//! clear: its output is sensitive.
//!
//! **Master key rotation.** `keys rotate-master` writes a new key to a new file first
//! (`<db>.key.new`, mode 0600, or `--new-key-file`), re-seals every data key, signing key and
//! template secret under it in one transaction, then, if the key was the default `<db>.key`,
//! renames that to `<db>.key.old` and the new file to `<db>.key`. A key from
//! `BULKHEAD_MASTER_KEY` or another file is left alone: the command says where the new key is
//! and what to update. It prints the count of re-sealed values and fingerprints, never a key.
//! Stop other processes using the database first.
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
mod audit;
mod db;
mod demo;
mod duration;
mod error;
mod exec;
mod fake;
mod init;
mod input;
mod inspect;
mod jobs;
mod keys;
mod org;
mod output;
mod serve;
mod sources;
mod tags;
mod templates;
mod token;
mod tree;
mod worker;
mod workspaces;

use std::process::ExitCode;

use clap::Parser;

use crate::args::{Cli, Command};
use crate::db::Ctx;
use crate::error::CliError;

/// mimalloc, not glibc malloc: under `bulkhead serve` an engine thread allocates a page's
/// rows and an async worker frees them, and glibc's per-thread arenas spend about a fifth of
/// the server's time on that (`benches/README.md`, Session 7).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
        Command::Audit(command) => audit::run(&ctx, command),
        Command::Tags(command) => tags::run(&ctx, command),
        Command::Templates(command) => templates::run(&ctx, command),
        Command::Sources(command) => sources::run(&ctx, command),
        Command::Token(args) => token::run(&ctx, args),
        Command::Keys(command) => keys::run(&ctx, command),
        Command::Serve(args) => serve::run(&ctx, cli.db.is_some(), &args),
        Command::Jobs(command) => jobs::run(&ctx, command),
        Command::Worker(args) => worker::local::run(&ctx, cli.db.is_some(), &args),
        Command::FakeConnector(args) => fake::run(std::time::Duration::from_millis(args.delay_ms)),
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
