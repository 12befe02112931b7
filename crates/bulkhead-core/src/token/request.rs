//! The scoped-token flow's request and answer.

use std::fmt;
use std::time::Duration;

use serde::{Serialize, Serializer};

use crate::model::ids::{ExternalId, WorkspaceId};
use crate::model::operations::OperationSet;
use crate::model::origin::AllowedOrigin;
use crate::model::tags::TagSelection;
use crate::model::time::Timestamp;

/// A request for a scoped token: the seed's `POST /embedded/scoped-token` body.
///
/// ```
/// use bulkhead_core::{ScopedTokenRequest, TagMode, TagSelection};
/// let request = ScopedTokenRequest::new("customer-unique-id-123".parse()?)
///     .source_tags(TagSelection::parse(["production"], TagMode::Any)?)
///     .connection_tags(TagSelection::parse(["production"], TagMode::Any)?);
/// assert!(request.ttl.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ScopedTokenRequest {
    /// The customer; their workspace is created if the organization has none.
    pub external_id: ExternalId,
    /// Source template tags to store on the workspace; `None` keeps its current selection.
    pub source_tags: Option<TagSelection>,
    /// Connection template tags to store on the workspace; `None` keeps its current
    /// selection.
    pub connection_tags: Option<TagSelection>,
    /// The token's lifetime; `None` is the organization's default (20 minutes unless set).
    pub ttl: Option<Duration>,
    /// What the token may do; `None` is [`OperationSet::scoped_default`].
    pub operations: Option<OperationSet>,
    /// The one browser origin the token may be used from (its `origin` claim), for a token
    /// handed to an embedded widget; `None` for a token without one.
    pub allowed_origin: Option<AllowedOrigin>,
}

impl ScopedTokenRequest {
    /// A request for `external_id` with every option at its default.
    pub fn new(external_id: ExternalId) -> Self {
        Self {
            external_id,
            source_tags: None,
            connection_tags: None,
            ttl: None,
            operations: None,
            allowed_origin: None,
        }
    }

    /// Sets the source template tags.
    pub fn source_tags(mut self, tags: TagSelection) -> Self {
        self.source_tags = Some(tags);
        self
    }

    /// Sets the connection template tags.
    pub fn connection_tags(mut self, tags: TagSelection) -> Self {
        self.connection_tags = Some(tags);
        self
    }

    /// Sets the lifetime.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// Binds the token to one browser origin (see [`AllowedOrigin`]).
    pub fn allowed_origin(mut self, origin: AllowedOrigin) -> Self {
        self.allowed_origin = Some(origin);
        self
    }

    /// Narrows the operations.
    pub fn operations(mut self, operations: OperationSet) -> Self {
        self.operations = Some(operations);
        self
    }
}

/// A scoped token in clear: a bearer credential. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct ScopedToken(String);

impl ScopedToken {
    pub(crate) fn new(token: String) -> Self {
        Self(token)
    }

    /// The token, to hand to the customer's browser or app. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ScopedToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ScopedToken(..)")
    }
}

impl Serialize for ScopedToken {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

/// The answer to a scoped-token request: `{ token, workspace_id, expires_at }`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct IssuedToken {
    /// The token.
    pub token: ScopedToken,
    /// The one workspace it grants.
    pub workspace_id: WorkspaceId,
    /// When it stops working.
    pub expires_at: Timestamp,
    /// Its `jti`, for revoking it.
    pub token_id: String,
    /// Whether this request created the workspace.
    pub workspace_created: bool,
}
