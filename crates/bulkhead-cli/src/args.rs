//! The command line's grammar (clap), and parsing of the values clap leaves as text.
//!
//! Ids, external ids, statuses, tags, operations and cursors are kept as text here and parsed
//! by Bulkhead's own types where they are used, so a bad value gets the library's message
//! (naming the field, as `invalid org_id: is not a uuid`) and exit status 1, like every other
//! error. Durations, algorithms and tag modes are command-line syntax: clap checks them and a
//! bad one is a usage error naming the option (exit status 2).

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::duration;

/// `bulkhead`: operate a Bulkhead database, or watch the demo.
#[derive(Debug, Parser)]
#[command(name = "bulkhead", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The database file [default: ./bulkhead.db; for `demo`, a temporary file]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,

    /// The master key file (mode 0600), before BULKHEAD_MASTER_KEY and
    /// BULKHEAD_MASTER_KEY_FILE (default: `<db>.key`, as written by `bulkhead init`)
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) master_key_file: Option<PathBuf>,

    /// The organization's access key (`bh_org_…`) for organization commands, or a worker key
    /// (`bh_wkr_…`) for `bulkhead worker`, the one command it may run; prefer the
    /// environment variable, which other users of the machine cannot see
    #[arg(
        long,
        global = true,
        env = "BULKHEAD_ORG_KEY",
        hide_env_values = true,
        value_name = "KEY"
    )]
    pub(crate) org_key: Option<String>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the database or migrate it, and set up its master key
    ///
    /// Unless a master key is given (--master-key-file, BULKHEAD_MASTER_KEY or
    /// BULKHEAD_MASTER_KEY_FILE), writes a new random key to `<db>.key` next to the database,
    /// readable by its owner only (mode 0600), or reuses that file if it exists. Prints the
    /// database path, the schema version, the key file and the key's fingerprint (never the
    /// key). Back the key file up: without it the database's secrets cannot be opened.
    Init,
    /// Create and list organizations, and manage their access keys
    #[command(subcommand)]
    Org(OrgCommand),
    /// Inspect or delete the organization's workspaces (needs the org key)
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// The organization's tamper-evident audit log: list events, verify the chain (needs the
    /// org key)
    #[command(subcommand)]
    Audit(AuditCommand),
    /// The organization's template tags: create, list, rename, delete (needs the org key)
    #[command(subcommand)]
    Tags(TagsCommand),
    /// The organization's source and connection templates (needs the org key)
    ///
    /// Templates decide what customers may set up: a customer creates sources from the
    /// source templates its workspace's tag selection matches, and every matching connection
    /// template then makes a destination and a connection for the new source. Fields a spec
    /// marks `"airbyte_secret": true` are sealed at rest and shown masked.
    #[command(subcommand)]
    Templates(TemplatesCommand),
    /// A customer's sources, created and listed through a scoped token for that workspace
    /// (needs the org key)
    #[command(subcommand)]
    Sources(SourcesCommand),
    /// Issue a scoped token for one customer (needs the org key), or verify or revoke one
    ///
    /// `bulkhead token --external-id ID` gets or creates the customer's workspace, stores the
    /// tag selections on it, and prints a token granting that one workspace. Alone on stdout
    /// in text mode, so `TOKEN=$(bulkhead token --external-id ID)` works; --json prints the
    /// token with its workspace id, expiry and token id.
    Token(TokenArgs),
    /// The organization's token signing keys: list, rotate, publish (needs the org key); and
    /// the database's master key (`rotate-master`, the operator's: needs no org key)
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Serve the HTTP API (the seed's Embedded API) over this database (or a PostgreSQL one
    /// with --postgres) until SIGINT or SIGTERM, then finish the requests in flight
    ///
    /// Prints the address it listens on. Organization routes take an org key as
    /// `Authorization: Bearer`, the customer's routes a scoped token; see the README's
    /// "Serve it over HTTP".
    Serve(ServeArgs),
    /// Start, list and cancel a customer's sync jobs (needs the org key)
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Run the organization's sync jobs: claim them one at a time (per worker thread) and run
    /// a connector command for each (needs the org key)
    ///
    /// The command runs under `sh -c` with the job as JSON on stdin (the job, the connection,
    /// the source and destination with their configurations, secrets included) and answers
    /// one line on stdout: `{"rows": N, "bytes": N}` or `{"error": "why"}`. While it runs the
    /// job is heartbeated; when the job is cancelled (or its lease was lost and it went to
    /// another attempt) the command's whole process group is stopped. Progress goes to stderr
    /// (ids only); at the end stdout gets the count of jobs succeeded, failed, stopped and
    /// refused. `bulkhead fake-connector` is a stand-in command to try it with.
    Worker(WorkerArgs),
    /// A stand-in connector command for `bulkhead worker --exec`: reads a job on stdin,
    /// pretends to sync for a moment and answers `{"rows", "bytes"}` on stdout
    ///
    /// The source's configuration may set `fake_rows`, `fake_delay_ms` (default 300) and
    /// `fake_error` (fail with that message). The demo's syncs run it.
    FakeConnector(FakeConnectorArgs),
    /// Build the seed's example organization in a fresh database and show isolation at work
    ///
    /// The database is a temporary file, removed at the end, unless --db names one; that file
    /// must not exist yet, so the example never mixes with other data. With --db, the demo
    /// also writes its master key to `<db>.key` and the organization's access key to
    /// `<db>.org-key` (both mode 0600), and prints the commands to inspect the result. The org
    /// key and the scoped tokens are never printed.
    Demo,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organization; prints its id and its first access key, shown only now
    ///
    /// Text output is two lines, `BULKHEAD_ORG_ID=<uuid>` then `BULKHEAD_ORG_KEY=bh_org_…`,
    /// so `export $(bulkhead org create Acme)` sets the variables the other commands read.
    /// --json prints `{"organization": …, "org_key": "bh_org_…"}`. Store the key in a secret
    /// manager: it cannot be shown again.
    Create {
        /// Its display name (1 to 255 characters)
        name: String,
        /// How its scoped tokens are signed: hs256 (shared secret, the default) or eddsa
        /// (public keys published with `bulkhead keys jwks`)
        #[arg(long, value_name = "ALG", value_parser = ["hs256", "eddsa"], ignore_case = true)]
        alg: Option<String>,
    },
    /// List every organization, oldest first (operator access: needs no org key)
    List,
    /// The organization's access keys
    #[command(subcommand)]
    Keys(OrgKeysCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgKeysCommand {
    /// Make a new org access key, shown only now (rotation: make one, switch, revoke the old)
    ///
    /// Text output is `BULKHEAD_ORG_KEY_ID=<uuid>` then `BULKHEAD_ORG_KEY=bh_org_…`; --json
    /// prints `{"key": …, "org_key": "bh_org_…"}`.
    ///
    /// With --worker, a worker key (`bh_wkr_…`) instead: it may only claim, heartbeat and
    /// complete the organization's jobs (`bulkhead worker` with it as BULKHEAD_ORG_KEY, or the
    /// HTTP worker routes), and every other command and route refuses it. Give it to workers
    /// rather than an org key. It is printed the same way, once.
    ///
    /// Recovery: an organization that lost every key cannot authenticate. The operator of
    /// the database (who can read the file anyway) then runs `bulkhead org keys create --org
    /// ORG_ID` without an org key; `bulkhead org list` shows the ids. Use it only for that,
    /// then revoke any key that may have leaked.
    Create {
        /// Make the key stop working after this long (`90s`, `20m`, `12h`, `30d`, `1h30m`)
        #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
        expires_in: Option<Duration>,
        /// Operator recovery: the organization that lost all its keys (needs no org key)
        #[arg(long, value_name = "ORG_ID")]
        org: Option<String>,
        /// Make a worker key: the job protocol only
        #[arg(long)]
        worker: bool,
    },
    /// List the organization's access keys: ids, roles and public prefixes, never the keys
    List,
    /// Revoke an access key; it stops working at once
    Revoke {
        /// The key's id (from `bulkhead org keys list`)
        key_id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorkspacesCommand {
    /// List the organization's workspaces with their sources, connections, last sync and
    /// totals synced, ordered by external id
    List(ListArgs),
    /// Show one workspace with its sources, destinations, connections and latest syncs
    Show {
        /// The customer's external id (exact and case-sensitive)
        external_id: String,
    },
    /// Delete a workspace: its tokens stop working at once, it disappears from every listing,
    /// and its external id answers "workspace deleted" until it is purged
    ///
    /// The data stays (a tombstone) until `workspaces purge` removes it, or at once with
    /// --purge, which destroys the workspace's data key in the database first
    /// (crypto-shredding; a backup made before still holds it sealed, readable with the same
    /// master key until that key is rotated and destroyed), then its sources, destinations,
    /// connections and sync history, irreversibly. Refused without --yes.
    Delete {
        /// The customer's external id (exact and case-sensitive)
        external_id: String,
        /// Purge it now as well: destroy its data key and all its data, irreversibly
        #[arg(long)]
        purge: bool,
        /// Confirm the deletion
        #[arg(long)]
        yes: bool,
    },
    /// Merge a duplicate workspace of a customer into its main one
    ///
    /// Moves the duplicate's sources, destinations, connections and sync history into the
    /// main workspace (secrets re-sealed under its key) in one transaction; the duplicate
    /// becomes a tombstone whose external id leads to the main workspace. Refused without
    /// --yes.
    Merge {
        /// The duplicate's external id (merged away)
        from: String,
        /// The main workspace's external id (keeps everything)
        into: String,
        /// Confirm the merge
        #[arg(long)]
        yes: bool,
    },
    /// Purge every workspace deleted at least --older-than ago: destroys their data keys and
    /// all their data, irreversibly, and frees their external ids. Refused without --yes.
    Purge {
        /// The retention period, such as 30d
        #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
        older_than: std::time::Duration,
        /// Confirm: destroy the data of every workspace deleted that long ago
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditCommand {
    /// List audit events, oldest first: who did what to which object, and the outcome
    List(AuditListArgs),
    /// Verify the organization's whole hash chain; exits with status 1 and names the first
    /// broken link when an event was changed, deleted or moved
    Verify,
}

#[derive(Debug, Args)]
pub(crate) struct AuditListArgs {
    /// Only events about the workspace of this external id
    #[arg(long, value_name = "EXTERNAL_ID")]
    pub(crate) workspace: Option<String>,

    /// Only this action, such as source.create or token.use
    #[arg(long, value_name = "ACTION")]
    pub(crate) action: Option<String>,

    /// Only events at or after this UTC time (2026-11-29T05:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub(crate) from: Option<String>,

    /// Only events before this UTC time
    #[arg(long, value_name = "TIME")]
    pub(crate) until: Option<String>,

    /// Page size, 1 to 100
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: u32,

    /// Continue after this cursor (printed by the previous page)
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TagsCommand {
    /// Create a tag (1 to 255 characters)
    Create {
        /// The tag's name
        name: String,
    },
    /// List the organization's tags, by name
    List,
    /// Rename a tag everywhere: on templates and in workspaces' selections
    Rename {
        /// The tag's current name
        from: String,
        /// Its new name
        to: String,
    },
    /// Delete a tag and detach it from every template
    ///
    /// Workspaces that selected it keep the name in their selection, where it matches
    /// nothing: deleting a tag never widens what a workspace sees.
    Delete {
        /// The tag's name
        name: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TemplatesCommand {
    /// Source templates: what customers may create sources from
    #[command(subcommand)]
    Sources(SourceTemplatesCommand),
    /// Connection templates: the destination and connection made with each new source
    #[command(subcommand)]
    Connections(ConnectionTemplatesCommand),
}

/// A tag filter of a template listing.
#[derive(Debug, Args)]
pub(crate) struct TagFilterArgs {
    /// Only templates matching these tags, comma-separated
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub(crate) tags: Option<Vec<String>>,

    /// How the tags match: any (default; one of them is on the template) or all
    #[arg(long, value_name = "MODE", value_parser = ["any", "all"], requires = "tags")]
    pub(crate) tags_mode: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum SourceTemplatesCommand {
    /// Create a source template
    ///
    /// FILE may be `-` to read it from stdin (for one of --spec and --config). Fields the
    /// spec marks `"airbyte_secret": true` are sealed under the master key and shown masked.
    Create {
        /// Its display name
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The connector its sources run (`stripe`)
        #[arg(long, value_name = "CONNECTOR")]
        connector: String,
        /// Its tags, comma-separated; each must exist (`bulkhead tags create`)
        #[arg(long, value_name = "TAGS", value_delimiter = ',')]
        tags: Option<Vec<String>>,
        /// The configuration's spec, a JSON-Schema style document [default: {"type":"object"}]
        #[arg(long, value_name = "FILE")]
        spec: Option<String>,
        /// The default configuration, under each customer's (JSON object) [default: {}]
        #[arg(long, value_name = "FILE")]
        config: Option<String>,
    },
    /// List the source templates, oldest first
    List(TagFilterArgs),
    /// Delete a source template; sources made from it stay
    Delete {
        /// The template's id
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum ConnectionTemplatesCommand {
    /// Create a connection template: a destination and the schedule of the connection to it
    ///
    /// FILE may be `-` to read it from stdin (for one of --destination-config and
    /// --destination-spec). Fields the spec marks `"airbyte_secret": true` are sealed under
    /// the master key and shown masked.
    Create {
        /// Its display name, also the name of the connections it makes
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The name of the destination it makes in each workspace
        #[arg(long, value_name = "NAME")]
        destination_name: String,
        /// The destination's connector (`s3`)
        #[arg(long, value_name = "CONNECTOR")]
        destination_connector: String,
        /// The destination's configuration (JSON object), checked against its spec [default: {}]
        #[arg(long, value_name = "FILE")]
        destination_config: Option<String>,
        /// The destination configuration's spec [default: {"type":"object"}]
        #[arg(long, value_name = "FILE")]
        destination_spec: Option<String>,
        /// When the connections it makes run: `manual`, a five-field cron expression (UTC) or
        /// an interval (`every 6 hours`)
        #[arg(long, value_name = "SCHEDULE", default_value = "manual")]
        schedule: String,
        /// Its tags, comma-separated; each must exist (`bulkhead tags create`)
        #[arg(long, value_name = "TAGS", value_delimiter = ',')]
        tags: Option<Vec<String>>,
    },
    /// List the connection templates, oldest first
    List(TagFilterArgs),
    /// Delete a connection template; destinations and connections made from it stay
    Delete {
        /// The template's id
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum SourcesCommand {
    /// Create a source from a template, as the customer does: through a scoped token
    ///
    /// Mints a short-lived token for the workspace (kept in memory, never printed), which
    /// keeps the workspace's stored tag selection, and creates the source with it: the
    /// template must be one the workspace sees, else "template not available to this
    /// workspace". Every connection template the workspace sees makes a destination and a
    /// connection to it. Prints what was made, secrets masked. The workspace must exist
    /// (`bulkhead token --external-id ID --source-tags …` creates it with its selection).
    Create {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
        /// The source template's id
        #[arg(long, value_name = "TEMPLATE_ID")]
        template: String,
        /// The source's display name
        #[arg(long, value_name = "NAME")]
        name: String,
        /// The customer's configuration (JSON object, `-` for stdin), merged over the
        /// template's default and checked against its spec
        #[arg(long, value_name = "FILE")]
        config: String,
    },
    /// List a customer's sources through a scoped token for that workspace, secrets masked
    List {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
    },
    /// Print a source's configuration with its secrets in clear (organization access)
    ///
    /// SENSITIVE: the output holds credentials. Keep it out of logs, shell history and
    /// shared terminals.
    Reveal {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
        /// The source's id
        source_id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Only external ids starting with this text (case-sensitive)
    #[arg(long, value_name = "P")]
    pub(crate) prefix: Option<String>,

    /// Only workspaces with this status: active or inactive
    #[arg(long, value_name = "STATUS")]
    pub(crate) status: Option<String>,

    /// Page size, 1 to 100
    #[arg(long, value_name = "N", default_value_t = 50)]
    pub(crate) limit: u32,

    /// Continue after this cursor (printed by the previous page)
    #[arg(long, value_name = "CURSOR")]
    pub(crate) after: Option<String>,
}

/// What `bulkhead serve` listens on.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0 picks a free port)
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,

    /// The base URL clients reach the server at, for the `next` links of list pages
    /// (default: links are paths)
    #[arg(long, value_name = "URL")]
    pub(crate) public_url: Option<String>,

    #[command(flatten)]
    pub(crate) database: PostgresArg,
}

/// `--postgres URL`, for the commands that run on either database (`serve`, `worker`).
#[derive(Debug, Args)]
pub(crate) struct PostgresArg {
    /// A PostgreSQL database instead of the SQLite file: the restricted role's
    /// `postgresql://` URL (prefer the environment variable, which other users of the machine
    /// cannot see). Exclusive with --db. The master key comes from --master-key-file,
    /// BULKHEAD_MASTER_KEY or BULKHEAD_MASTER_KEY_FILE; BULKHEAD_PG_OWNER_URL (the owner's
    /// URL) migrates the schema first, BULKHEAD_PG_SCHEMA names it (default `bulkhead`)
    #[arg(
        long,
        env = "BULKHEAD_POSTGRES_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub(crate) postgres: Option<String>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum JobsCommand {
    /// Queue a sync of one connection of the customer's workspace, or of every connection:
    /// the jobs wait for a worker (`bulkhead worker`)
    Start {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
        /// Only this connection [default: every connection of the workspace; those with a
        /// job already queued or running are skipped with a note]
        #[arg(long, value_name = "CONNECTION_ID")]
        connection: Option<String>,
    },
    /// The customer's latest jobs across its connections, newest first
    List {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
        /// How many (1 to 100)
        #[arg(long, value_name = "N", default_value_t = 20, value_parser = clap::value_parser!(u8).range(1..=100))]
        limit: u8,
    },
    /// Cancel a job in whatever state it is; a worker running it stops at its next heartbeat
    Cancel {
        /// The customer (exact and case-sensitive)
        #[arg(long, value_name = "ID")]
        external_id: String,
        /// The job (its sync run's id)
        job_id: String,
    },
}

#[derive(Debug, Args)]
pub(crate) struct FakeConnectorArgs {
    /// How long to pretend to sync, in milliseconds (at most 60000), unless the source's
    /// configuration sets `fake_delay_ms`
    #[arg(long, value_name = "MS", default_value_t = 300)]
    pub(crate) delay_ms: u64,
}

#[derive(Debug, Args)]
pub(crate) struct WorkerArgs {
    /// The connector command, run with `sh -c` for each job
    #[arg(long, value_name = "CMD")]
    pub(crate) exec: String,

    /// The worker's name in the jobs' audit events [default: bulkhead-worker-<pid>; with
    /// --workers N, each thread adds /0, /1, …]
    #[arg(long, value_name = "NAME")]
    pub(crate) name: Option<String>,

    /// How many jobs to run at once, each on a thread of its own
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=64))]
    pub(crate) workers: u16,

    /// End as soon as no job is ready, instead of waiting for more
    #[arg(long)]
    pub(crate) drain: bool,

    /// End each worker thread after this many jobs
    #[arg(long, value_name = "N")]
    pub(crate) max_jobs: Option<u64>,

    /// How often a running job is heartbeated [default: a third of the lease, 20s]
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) heartbeat: Option<Duration>,

    /// How long this worker's claims and heartbeats hold a job [default: the engine's, 60s];
    /// a job whose lease runs out goes to another worker
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) lease: Option<Duration>,

    /// How long a job whose lease ran out waits before its next attempt, doubling with each
    /// attempt [default: the engine's, 15s]
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) backoff: Option<Duration>,

    /// How long to wait before claiming again when no job was ready
    #[arg(long, value_name = "DURATION", value_parser = duration::parse, default_value = "2s")]
    pub(crate) poll: Duration,

    #[command(flatten)]
    pub(crate) database: PostgresArg,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub(crate) struct TokenArgs {
    #[command(subcommand)]
    pub(crate) command: Option<TokenCommand>,

    #[command(flatten)]
    pub(crate) issue: IssueArgs,
}

/// What `bulkhead token` asks for.
#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    /// The customer (exact and case-sensitive); their workspace is created if missing
    #[arg(long, value_name = "ID", required = true)]
    pub(crate) external_id: Option<String>,

    /// Source template tags to store on the workspace, comma-separated
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub(crate) source_tags: Option<Vec<String>>,

    /// How the source tags match: any (default) or all
    #[arg(long, value_name = "MODE", value_parser = ["any", "all"], requires = "source_tags")]
    pub(crate) source_tags_mode: Option<String>,

    /// Connection template tags to store on the workspace, comma-separated
    #[arg(long, value_name = "TAGS", value_delimiter = ',')]
    pub(crate) connection_tags: Option<Vec<String>>,

    /// How the connection tags match: any (default) or all
    #[arg(long, value_name = "MODE", value_parser = ["any", "all"], requires = "connection_tags")]
    pub(crate) connection_tags_mode: Option<String>,

    /// The token's lifetime (`90s`, `20m`, `1h`) [default: the organization's, 20 minutes]
    #[arg(long, value_name = "DURATION", value_parser = duration::parse)]
    pub(crate) ttl: Option<Duration>,

    /// The operations it grants, comma-separated (`sources:read,sources:create`)
    /// [default: read everything, create and update sources and connections]
    #[arg(long, value_name = "OPS", value_delimiter = ',')]
    pub(crate) ops: Option<Vec<String>>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Check a scoped token as `Engine::authenticate` does, and print its claims
    ///
    /// Checks the signature, claims, expiry, issuer and audience, that its workspace exists
    /// and is active, and that it was not revoked. Needs no org key. Exits with status 1 and
    /// the reason if the token is refused.
    Verify {
        /// The token, or `-` to read it from stdin (keeps it out of the process list)
        token: String,
    },
    /// Revoke one scoped token of the organization until it expires (needs the org key)
    Revoke {
        /// The token, or `-` to read it from stdin
        token: String,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// List the current signing keys: the signer, and older keys still verifying
    List,
    /// Make a new signing key the signer; older keys verify until their last token expires
    Rotate,
    /// Retire a signing key at once (it may have leaked): its tokens are refused from now on
    ///
    /// `authenticate` refuses them in every process at once; an offline `token verify` in
    /// another process within the minute it caches keys. Retiring the signer makes a new one
    /// first. Customers holding tokens of the key need new ones.
    Retire {
        /// The key's id (`kid`, as `keys list` shows it; it may start with `-`)
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
    /// Print the public keys that verify the organization's EdDSA tokens, as a JWKS
    ///
    /// Always JSON (RFC 7517). Empty for an organization that signs with HS256: its tokens
    /// are verified with a shared secret, not public keys.
    Jwks,
    /// Re-seal the database under a new master key (operator access: needs no org key)
    ///
    /// Generates a new master key and writes it to a new file first (`<db>.key.new`, mode
    /// 0600, or --new-key-file), then re-seals every data key, signing key and template
    /// secret under it in one transaction. When the current key came from the default
    /// `<db>.key`, that file becomes `<db>.key.old` and the new one `<db>.key`; otherwise no
    /// file is moved, and the key's environment variable or file must be updated. Prints the
    /// count of re-sealed values and the new key's fingerprint, never the key. Stop every
    /// other process using the database first.
    RotateMaster {
        /// Where to write the new key (must not exist) (default: `<db>.key.new`)
        #[arg(long, value_name = "PATH")]
        new_key_file: Option<PathBuf>,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn token_needs_an_external_id_unless_a_subcommand_is_given() {
        let err = Cli::try_parse_from(["bulkhead", "token"]).unwrap_err();
        assert_eq!(
            err.kind(),
            clap::error::ErrorKind::MissingRequiredArgument,
            "{err}"
        );
        assert!(err.to_string().contains("--external-id"), "{err}");
        assert!(Cli::try_parse_from(["bulkhead", "token", "verify", "x.y.z"]).is_ok());
        let cli = Cli::try_parse_from([
            "bulkhead",
            "token",
            "--external-id",
            "c-1",
            "--source-tags",
            "a,b",
            "--ttl",
            "5m",
        ])
        .unwrap();
        let Command::Token(args) = cli.command else {
            panic!("not a token command");
        };
        assert!(args.command.is_none());
        assert_eq!(
            args.issue.source_tags,
            Some(vec!["a".to_owned(), "b".to_owned()])
        );
        assert_eq!(args.issue.ttl, Some(Duration::from_secs(300)));
    }

    #[test]
    fn a_tags_mode_needs_its_tags() {
        let parsed = Cli::try_parse_from([
            "bulkhead",
            "token",
            "--external-id",
            "c-1",
            "--source-tags-mode",
            "all",
        ]);
        let err = parsed.unwrap_err();
        assert_eq!(
            err.kind(),
            clap::error::ErrorKind::MissingRequiredArgument,
            "{err}"
        );
        assert!(err.to_string().contains("--source-tags"), "{err}");
    }

    #[test]
    fn a_bad_duration_names_the_option() {
        let err = Cli::try_parse_from(["bulkhead", "token", "--external-id", "c", "--ttl", "5x"])
            .unwrap_err();
        assert!(err.to_string().contains("--ttl"), "{err}");
    }
}
