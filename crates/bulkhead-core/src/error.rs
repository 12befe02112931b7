//! The one error type of Bulkhead, with the kinds a host branches on.
//!
//! Messages are lowercase, have no final period, quote user input in backticks, name the cause
//! a user can act on, and never carry a secret or another tenant's data.

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use crate::model::ids::{ConnectionId, SyncRunId, WorkspaceId};
use crate::model::time::Timestamp;

/// `Result` with Bulkhead's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The kinds of object an error can be about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ObjectKind {
    /// An organization.
    Organization,
    /// A workspace.
    Workspace,
    /// A source.
    Source,
    /// A destination.
    Destination,
    /// A connection.
    Connection,
    /// A sync run.
    SyncRun,
    /// An org access key.
    OrgKey,
    /// A signing key.
    SigningKey,
    /// A tag.
    Tag,
    /// A source template.
    SourceTemplate,
    /// A connection template.
    ConnectionTemplate,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Organization => "organization",
            Self::Workspace => "workspace",
            Self::Source => "source",
            Self::Destination => "destination",
            Self::Connection => "connection",
            Self::SyncRun => "sync run",
            Self::OrgKey => "org key",
            Self::SigningKey => "signing key",
            Self::Tag => "tag",
            Self::SourceTemplate => "source template",
            Self::ConnectionTemplate => "connection template",
        })
    }
}

/// Everything that can go wrong in a Bulkhead call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The object does not exist in the caller's scope. An object of another workspace or
    /// organization gives exactly this error too: existence is never revealed across tenants.
    #[error("{kind} `{id}` not found")]
    NotFound {
        /// What was looked up.
        kind: ObjectKind,
        /// The id that was asked for, as the caller gave it.
        id: String,
    },
    /// No workspace of the organization has this external id.
    #[error(
        "workspace not found: no workspace has external id `{external_id}` in this organization; external ids are exact and case-sensitive"
    )]
    ExternalIdNotFound {
        /// The external id that was asked for.
        external_id: String,
    },
    /// A field of the request is invalid.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field, as named in the API (`external_id`, `limit`, `config`).
        field: Cow<'static, str>,
        /// Why it is invalid.
        reason: String,
    },
    /// The request conflicts with the current state (a finished sync run finished again, a
    /// source still used by a connection deleted).
    #[error("conflict: {reason}")]
    Conflict {
        /// What conflicts, and what to do about it.
        reason: String,
    },
    /// A sync of this connection is already running: a connection runs one sync at a time
    /// (the database enforces it, so two concurrent starts cannot both win). Retry once the
    /// run has ended, or cancel it.
    #[error(
        "conflict: a sync of connection `{connection_id}` is already running; wait for it to end or cancel it"
    )]
    SyncAlreadyRunning {
        /// The connection.
        connection_id: ConnectionId,
    },
    /// A worker's heartbeat or completion of job `job_id` was refused: its lease no longer
    /// holds (it expired and the job went to a newer attempt, or the job ended or was
    /// cancelled). The worker must stop working on the job; nothing it sent was kept.
    #[error(
        "conflict: the lease on job `{job_id}` is no longer held (it expired and the job was retried, or the job ended or was cancelled); stop working on it"
    )]
    LeaseLost {
        /// The job (its sync run's id).
        job_id: SyncRunId,
    },
    /// The store has no job queue (see `SystemStore::jobs`).
    #[error("this storage adapter has no job queue")]
    NoJobQueue,
    /// Storage returned an object that belongs to another tenant. The guard refused to return
    /// it, failed the call and reported the breach; this is a bug in the storage layer.
    #[error(
        "isolation breach: storage returned a {kind} outside the caller's scope; the call was refused and reported"
    )]
    IsolationBreach {
        /// The kind of object that crossed the boundary.
        kind: ObjectKind,
    },
    /// An org access key was refused: unknown, revoked or expired. Which of these is not
    /// said, so a guesser learns nothing.
    #[error("invalid or expired org key{hint}")]
    InvalidOrgKey {
        /// A hint about the shape of what was given (a scoped token where a key was expected),
        /// empty otherwise.
        hint: &'static str,
    },
    /// A scoped token was refused.
    #[error("invalid token: {detail}")]
    InvalidToken {
        /// Why, for hosts that branch on it.
        reason: TokenRejection,
        /// Why, in words.
        detail: String,
    },
    /// A scoped token has expired.
    #[error("token expired at {expired_at}; request a new scoped token")]
    TokenExpired {
        /// When it expired.
        expired_at: Timestamp,
    },
    /// The caller is authenticated but may not do this.
    #[error("permission denied for `{operation}`: {reason}")]
    PermissionDenied {
        /// What was attempted (`sources:delete`).
        operation: String,
        /// Why it is denied, and what to do instead.
        reason: String,
    },
    /// The customer's workspace was deleted and is not purged yet: its external id cannot
    /// start a new workspace until then.
    #[error(
        "workspace `{external_id}` was deleted; its external id can be used again once the organization purges it"
    )]
    WorkspaceDeleted {
        /// The customer's external id.
        external_id: String,
    },
    /// The workspace is switched off by its organization.
    #[error("workspace `{workspace_id}` is inactive; its organization must reactivate it")]
    WorkspaceInactive {
        /// The workspace.
        workspace_id: WorkspaceId,
    },
    /// The organization created new workspaces faster than its rate limit allows (see
    /// [`crate::OrgSettings::workspace_creation_rate`]). Existing workspaces are not limited.
    #[error("rate limited, retry after {} s", whole_secs_up(*.retry_after))]
    RateLimited {
        /// How long until the next new workspace is admitted.
        retry_after: Duration,
    },
    /// A cryptographic operation failed: a value sealed under another master key, corrupted
    /// ciphertext, or no randomness.
    #[error("crypto error: {reason}")]
    Crypto {
        /// What failed.
        reason: String,
    },
    /// The storage layer failed (I/O, corruption, a busy database past its timeout).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Why a scoped token was refused; see [`Error::InvalidToken`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TokenRejection {
    /// Not a well-formed token: wrong shape, bad base64url, bad JSON, missing or mistyped
    /// claims, duplicate keys.
    Malformed,
    /// Larger than the size cap.
    TooLarge,
    /// The `typ` header is not `bulkhead-scoped+jwt`.
    Type,
    /// The `alg` header is not allowed, or not the algorithm of the signing key.
    Algorithm,
    /// A header the profile does not allow (`crit`).
    UnsupportedHeader,
    /// The `kid` names no current signing key.
    UnknownKey,
    /// The signature does not verify.
    Signature,
    /// The `aud` claim is not this organization's audience.
    Audience,
    /// The `iss` claim is not this organization's issuer.
    Issuer,
    /// The token claims another organization than the one whose key signed it.
    Organization,
    /// Issued in the future (beyond the leeway), or `iat` after `exp`.
    NotYetValid,
    /// Revoked: by its id, or with every token of its workspace.
    Revoked,
    /// Its lifetime (`exp - iat`) is longer than its organization allows.
    Lifetime,
}

impl Error {
    /// An [`Error::InvalidToken`].
    pub fn invalid_token(reason: TokenRejection, detail: impl Into<String>) -> Self {
        Self::InvalidToken {
            reason,
            detail: detail.into(),
        }
    }

    /// An [`Error::Crypto`].
    pub fn crypto(reason: impl Into<String>) -> Self {
        Self::Crypto {
            reason: reason.into(),
        }
    }

    /// An [`Error::InvalidInput`] for `field`.
    pub fn invalid_input(field: impl Into<Cow<'static, str>>, reason: impl Into<String>) -> Self {
        Self::InvalidInput {
            field: field.into(),
            reason: reason.into(),
        }
    }

    /// An [`Error::NotFound`] for the object `kind` with id `id`.
    pub fn not_found(kind: ObjectKind, id: impl fmt::Display) -> Self {
        Self::NotFound {
            kind,
            id: id.to_string(),
        }
    }

    /// An [`Error::Conflict`].
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::Conflict {
            reason: reason.into(),
        }
    }

    /// Whether this is a not-found error of any kind.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            Self::NotFound { .. } | Self::ExternalIdNotFound { .. }
        )
    }
}

/// `d` in whole seconds, rounded up, at least 1: what a caller should wait.
fn whole_secs_up(d: Duration) -> u64 {
    let secs = d.as_secs().saturating_add(u64::from(d.subsec_nanos() > 0));
    secs.max(1)
}

/// A failure inside a storage adapter.
#[derive(Debug, thiserror::Error)]
#[error("storage error: {message}")]
pub struct StorageError {
    message: String,
    #[source]
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl StorageError {
    /// A storage error described by `message`.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            source: None,
        }
    }

    /// A storage error described by `message`, caused by `source`; the message ends with the
    /// cause's own message so a log line is complete without walking the chain.
    pub fn with_source(
        message: impl fmt::Display,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Self {
            message: format!("{message}: {source}"),
            source: Some(Box::new(source)),
        }
    }

    /// What failed.
    pub fn message(&self) -> &str {
        &self.message
    }
}
