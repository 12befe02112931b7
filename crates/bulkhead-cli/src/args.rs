//! The command line's grammar (clap), and parsing of the values clap leaves as text.
//!
//! Ids, external ids, statuses and cursors are kept as text here and parsed by Bulkhead's own
//! types where they are used, so a bad value gets the library's message (naming the field, as
//! `invalid org_id: is not a uuid`) and exit status 1, like every other error.

use std::path::PathBuf;

use bulkhead::OrgId;
use clap::{Args, Parser, Subcommand};

use crate::error::CliError;

/// `bulkhead`: operate a Bulkhead database, or watch the demo.
#[derive(Debug, Parser)]
#[command(name = "bulkhead", version, about, long_about = None)]
pub(crate) struct Cli {
    /// The database file [default: ./bulkhead.db; for `demo`, a temporary file]
    #[arg(long, global = true, value_name = "PATH")]
    pub(crate) db: Option<PathBuf>,

    /// Print machine-readable JSON instead of text
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// The organization that workspace commands work on
    #[arg(long, global = true, env = "BULKHEAD_ORG", value_name = "ORG_ID")]
    pub(crate) org: Option<String>,

    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create the database, or migrate it to the current schema; prints its path and version
    Init,
    /// Create and list organizations
    #[command(subcommand)]
    Org(OrgCommand),
    /// Inspect an organization's workspaces (needs --org or BULKHEAD_ORG)
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// Build the seed's example organization in a fresh database and show isolation at work
    ///
    /// The database is a temporary file, removed at the end, unless --db names one; that file
    /// must not exist yet, so the example never mixes with other data.
    Demo,
}

#[derive(Debug, Subcommand)]
pub(crate) enum OrgCommand {
    /// Create an organization; prints its id
    Create {
        /// Its display name (1 to 255 characters)
        name: String,
    },
    /// List every organization, oldest first
    List,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorkspacesCommand {
    /// List the organization's workspaces, ordered by external id
    List(ListArgs),
    /// Show one workspace with its sources, destinations, connections and latest syncs
    Show {
        /// The customer's external id (exact and case-sensitive)
        external_id: String,
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

/// The organization of `--org` (or `BULKHEAD_ORG`), which workspace commands require.
pub(crate) fn org_id(value: Option<&str>) -> Result<OrgId, CliError> {
    let value = value.ok_or_else(|| {
        CliError::usage(
            "workspace commands need an organization: pass `--org ORG_ID` or set BULKHEAD_ORG \
             (`bulkhead org list` shows the ids)",
        )
    })?;
    Ok(value.parse()?)
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    #[test]
    fn command_line_definition_is_consistent() {
        Cli::command().debug_assert();
    }
}
