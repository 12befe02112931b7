//! The objects Bulkhead stores, as callers see them, and the requests that create and change
//! them.
//!
//! Every tenant object carries its `org_id` and `workspace_id`: the guard checks both on
//! every row storage returns (see [`crate::guard`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::Serialize;

use crate::error::Error;
use crate::model::algorithm::Algorithm;
use crate::model::ids::{
    ConnectionId, ConnectionTemplateId, DestinationId, ExternalId, OrgId, SourceId,
    SourceTemplateId, SyncRunId, WorkspaceId,
};
use crate::model::names::{Connector, ConnectorConfig, Name, Schedule};
use crate::model::tags::TagSelection;
use crate::model::time::Timestamp;

/// Declares a two-way mapping between a status enum and its stored lowercase text.
macro_rules! text_enum {
    ($(#[$doc:meta])* $name:ident, $field:literal { $($(#[$vdoc:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, Serialize)]
        #[serde(rename_all = "lowercase")]
        pub enum $name {
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The stored (and displayed) form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(Error::invalid_input(
                        $field,
                        format!("`{other}` is not one of: {}", [$($text),+].join(", ")),
                    )),
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// Whether a workspace is in use.
    WorkspaceStatus, "status" {
        /// In use.
        Active => "active",
        /// Kept, but switched off by the organization.
        Inactive => "inactive",
    }
);

text_enum!(
    /// Whether a connection may run.
    ConnectionStatus, "status" {
        /// Runs on its schedule or on demand.
        Active => "active",
        /// Does not run.
        Inactive => "inactive",
    }
);

text_enum!(
    /// Where a sync run is in its life.
    SyncStatus, "status" {
        /// Queued, not started (reserved for the scheduler).
        Pending => "pending",
        /// Started, not finished.
        Running => "running",
        /// Finished without error.
        Succeeded => "succeeded",
        /// Finished with an error.
        Failed => "failed",
        /// Stopped before it finished.
        Cancelled => "cancelled",
    }
);

impl SyncStatus {
    /// Whether the run has ended (succeeded, failed or cancelled).
    pub fn is_finished(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// The host company: owner of workspaces.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Organization {
    /// Its id.
    pub id: OrgId,
    /// Its display name.
    pub name: Name,
    /// When it was created.
    pub created_at: Timestamp,
    /// How its scoped tokens are made.
    pub settings: OrgSettings,
}

fn as_secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(d.as_secs())
}

/// How an organization's scoped tokens are made and checked.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrgSettings {
    /// The algorithm of new signing keys (`HS256` by default; `EdDSA` lets other services
    /// verify tokens with the organization's JWKS).
    pub token_algorithm: Algorithm,
    /// The `iss` claim (default `bulkhead`).
    pub issuer: String,
    /// The `aud` claim (default `bulkhead-workspace`).
    pub audience: String,
    /// Lifetime of a token when the request names none (default 20 minutes).
    #[serde(serialize_with = "as_secs")]
    pub default_token_ttl: Duration,
    /// The longest lifetime a request may ask for (default 1 hour).
    #[serde(serialize_with = "as_secs")]
    pub max_token_ttl: Duration,
    /// How many new workspaces may be created in a burst (default 100): the size of the
    /// organization's token bucket for workspace creation.
    pub workspace_creation_burst: u32,
    /// How many new workspaces per second the bucket refills with (default 10). Past the
    /// burst, creating a workspace for a new external id fails with
    /// [`Error::RateLimited`]; tokens for existing workspaces are never limited.
    pub workspace_creation_rate: u32,
}

impl Default for OrgSettings {
    fn default() -> Self {
        Self {
            token_algorithm: Algorithm::Hs256,
            issuer: "bulkhead".to_owned(),
            audience: "bulkhead-workspace".to_owned(),
            default_token_ttl: Duration::from_secs(20 * 60),
            max_token_ttl: Duration::from_secs(60 * 60),
            workspace_creation_burst: 100,
            workspace_creation_rate: 10,
        }
    }
}

impl OrgSettings {
    /// The longest token lifetime any organization may allow.
    pub const MAX_TTL_LIMIT: Duration = Duration::from_secs(24 * 60 * 60);
    /// The largest workspace-creation burst and rate (per second) an organization may set.
    pub const MAX_CREATION_LIMIT: u32 = 1_000_000;

    /// Checks the settings: issuer and audience are names (1 to 255 characters), and
    /// 1 second <= default TTL <= maximum TTL <= 24 hours, in whole seconds, and the
    /// workspace-creation burst and rate are 1 to [`OrgSettings::MAX_CREATION_LIMIT`].
    pub fn validate(&self) -> Result<(), Error> {
        for (field, value) in [
            ("workspace_creation_burst", self.workspace_creation_burst),
            ("workspace_creation_rate", self.workspace_creation_rate),
        ] {
            if value == 0 || value > Self::MAX_CREATION_LIMIT {
                return Err(Error::invalid_input(
                    field,
                    format!("is {value}; it must be 1 to {}", Self::MAX_CREATION_LIMIT),
                ));
            }
        }
        Name::parse_field("issuer", self.issuer.as_str())?;
        Name::parse_field("audience", self.audience.as_str())?;
        if self.max_token_ttl > Self::MAX_TTL_LIMIT || self.max_token_ttl.as_secs() == 0 {
            return Err(Error::invalid_input(
                "max_token_ttl",
                "must be 1 second to 24 hours",
            ));
        }
        if self.default_token_ttl.as_secs() == 0 || self.default_token_ttl > self.max_token_ttl {
            return Err(Error::invalid_input(
                "default_token_ttl",
                format!(
                    "must be 1 second to the maximum ({} s)",
                    self.max_token_ttl.as_secs()
                ),
            ));
        }
        Ok(())
    }
}

/// The result of getting or creating a workspace by its external id
/// (`OrgScope::get_or_create_workspace`, and the storage port's call under it).
#[derive(Clone, Debug, PartialEq)]
pub struct GetOrCreated {
    /// The workspace for the external id.
    pub workspace: Workspace,
    /// Whether this call created it.
    pub created: bool,
}

/// One customer's isolated environment.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Workspace {
    /// Its id.
    pub id: WorkspaceId,
    /// The organization that owns it.
    pub org_id: OrgId,
    /// The host's id for the customer; unique within the organization.
    pub external_id: ExternalId,
    /// Its display name (the external id unless the organization set another).
    pub name: Name,
    /// Whether it is in use.
    pub status: WorkspaceStatus,
    /// Which source templates it sees.
    pub source_tags: TagSelection,
    /// Which connection templates apply to it.
    pub connection_tags: TagSelection,
    /// Tokens issued before this time are refused ("revoke all tokens").
    pub tokens_valid_after: Option<Timestamp>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
    /// When it was deleted: a tombstone, invisible and refusing tokens, kept (with its rows)
    /// until it is purged. `None` for a live workspace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deleted_at: Option<Timestamp>,
    /// For a tombstone left by merging this workspace into another: that workspace, which
    /// its external id now resolves to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<WorkspaceId>,
}

impl Workspace {
    /// Whether it was deleted (or merged away) and waits to be purged.
    pub fn is_deleted(&self) -> bool {
        self.deleted_at.is_some()
    }
}

/// A customer's configured connector: where data comes from.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Source {
    /// Its id.
    pub id: SourceId,
    /// The organization of its workspace.
    pub org_id: OrgId,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// Its display name.
    pub name: Name,
    /// The connector it runs (`stripe`).
    pub connector: Connector,
    /// The connector's configuration, secret fields masked.
    pub config: ConnectorConfig,
    /// The template it was made from, if any.
    pub template_id: Option<SourceTemplateId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A customer's target: where data goes.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Destination {
    /// Its id.
    pub id: DestinationId,
    /// The organization of its workspace.
    pub org_id: OrgId,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// Its display name.
    pub name: Name,
    /// The connector it runs (`s3`).
    pub connector: Connector,
    /// The connector's configuration, secret fields masked.
    pub config: ConnectorConfig,
    /// The connection template it was made from, if any.
    pub template_id: Option<ConnectionTemplateId>,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// The pipeline from a source to a destination, both in the same workspace.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Connection {
    /// Its id.
    pub id: ConnectionId,
    /// The organization of its workspace.
    pub org_id: OrgId,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// Its display name.
    pub name: Name,
    /// Where data comes from.
    pub source_id: SourceId,
    /// Where data goes.
    pub destination_id: DestinationId,
    /// Whether it may run.
    pub status: ConnectionStatus,
    /// When it runs.
    pub schedule: Schedule,
    /// When it was created.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// One execution of a connection.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SyncRun {
    /// Its id.
    pub id: SyncRunId,
    /// The organization of its workspace.
    pub org_id: OrgId,
    /// The workspace it belongs to.
    pub workspace_id: WorkspaceId,
    /// The connection that ran.
    pub connection_id: ConnectionId,
    /// Where the run is in its life.
    pub status: SyncStatus,
    /// When it started.
    pub started_at: Timestamp,
    /// When it ended, once it has.
    pub finished_at: Option<Timestamp>,
    /// Rows moved.
    pub rows_synced: u64,
    /// Bytes moved.
    pub bytes_synced: u64,
    /// Why it failed, for a failed run.
    pub error: Option<String>,
}

/// A request to create a source.
#[derive(Clone, Debug)]
pub struct NewSource {
    /// Its display name.
    pub name: Name,
    /// The connector it runs.
    pub connector: Connector,
    /// The connector's configuration.
    pub config: ConnectorConfig,
}

/// A request to create a destination.
#[derive(Clone, Debug)]
pub struct NewDestination {
    /// Its display name.
    pub name: Name,
    /// The connector it runs.
    pub connector: Connector,
    /// The connector's configuration.
    pub config: ConnectorConfig,
}

/// Changes to a source or a destination; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct ConnectorUpdate {
    /// A new display name.
    pub name: Option<Name>,
    /// A new configuration, replacing the old one whole.
    pub config: Option<ConnectorConfig>,
}

/// A request to create a connection. The source and the destination are looked up in the
/// caller's own workspace; an id from anywhere else is not found.
#[derive(Clone, Debug)]
pub struct NewConnection {
    /// Its display name.
    pub name: Name,
    /// Where data comes from.
    pub source_id: SourceId,
    /// Where data goes.
    pub destination_id: DestinationId,
    /// When it runs.
    pub schedule: Schedule,
}

/// Changes to a connection; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct ConnectionUpdate {
    /// A new display name.
    pub name: Option<Name>,
    /// A new status.
    pub status: Option<ConnectionStatus>,
    /// A new schedule.
    pub schedule: Option<Schedule>,
}

/// How a sync run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SyncOutcome {
    /// It finished without error.
    Succeeded {
        /// Rows moved.
        rows: u64,
        /// Bytes moved.
        bytes: u64,
    },
    /// It finished with an error.
    Failed {
        /// What went wrong (at most [`SyncOutcome::MAX_ERROR_CHARS`] characters).
        error: String,
        /// Rows moved before the error.
        rows: u64,
        /// Bytes moved before the error.
        bytes: u64,
    },
    /// It was stopped.
    Cancelled,
}

impl SyncOutcome {
    /// The longest error text kept for a failed run.
    pub const MAX_ERROR_CHARS: usize = 4096;
}
