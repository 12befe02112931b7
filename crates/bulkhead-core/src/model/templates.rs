//! Templates: an organization's blueprints for what its customers may set up.
//!
//! A **source template** names a connector, a default configuration and its spec; a workspace
//! creates sources from the source templates its tag selection matches. A **connection
//! template** describes a destination (connector, configuration, spec) and a schedule; when a
//! workspace creates a source, every connection template its selection matches makes (or
//! reuses) that destination in the workspace and a connection from the new source to it.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::model::ids::{ConnectionTemplateId, OrgId, SourceTemplateId};
use crate::model::names::{Connector, ConnectorConfig, Name, Schedule};
use crate::model::objects::{Connection, Destination, Source};
use crate::model::spec::ConfigSpec;
use crate::model::tags::Tag;
use crate::model::time::Timestamp;

/// An organization's tag.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TagInfo {
    /// Its name.
    pub name: Tag,
    /// When it was made.
    pub created_at: Timestamp,
}

/// A blueprint for sources.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceTemplate {
    /// Its id.
    pub id: SourceTemplateId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its display name.
    pub name: Name,
    /// The connector sources made from it run.
    pub connector: Connector,
    /// The default configuration, under the customer's (secret fields masked).
    pub default_config: ConnectorConfig,
    /// The configuration's spec: required fields, types, secret fields.
    #[serde(serialize_with = "spec_value")]
    pub spec: ConfigSpec,
    /// Its tags.
    pub tags: BTreeSet<Tag>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// A blueprint for a destination and the connection to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ConnectionTemplate {
    /// Its id.
    pub id: ConnectionTemplateId,
    /// Its organization.
    pub org_id: OrgId,
    /// Its display name, also the name of the connections it makes.
    pub name: Name,
    /// The name of the destination it makes.
    pub destination_name: Name,
    /// The destination's connector.
    pub destination_connector: Connector,
    /// The destination's configuration (secret fields masked).
    pub destination_config: ConnectorConfig,
    /// The destination configuration's spec.
    #[serde(serialize_with = "spec_value")]
    pub destination_spec: ConfigSpec,
    /// When the connections it makes run.
    pub schedule: Schedule,
    /// Its tags.
    pub tags: BTreeSet<Tag>,
    /// When it was made.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

fn spec_value<S: serde::Serializer>(spec: &ConfigSpec, s: S) -> Result<S::Ok, S::Error> {
    spec.as_value().serialize(s)
}

/// A request to make a source template.
#[derive(Clone, Debug)]
pub struct NewSourceTemplate {
    /// Its display name.
    pub name: Name,
    /// The connector.
    pub connector: Connector,
    /// The default configuration (validated against the spec only once merged with a
    /// customer's configuration).
    pub default_config: ConnectorConfig,
    /// The spec.
    pub spec: ConfigSpec,
    /// Its tags; each must exist in the organization.
    pub tags: BTreeSet<Tag>,
}

/// A request to make a connection template.
#[derive(Clone, Debug)]
pub struct NewConnectionTemplate {
    /// Its display name.
    pub name: Name,
    /// The name of the destination it makes.
    pub destination_name: Name,
    /// The destination's connector.
    pub destination_connector: Connector,
    /// The destination's configuration, checked against `destination_spec`.
    pub destination_config: ConnectorConfig,
    /// The destination configuration's spec.
    pub destination_spec: ConfigSpec,
    /// When the connections it makes run.
    pub schedule: Schedule,
    /// Its tags; each must exist in the organization.
    pub tags: BTreeSet<Tag>,
}

/// Changes to a source template; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct SourceTemplateUpdate {
    /// A new display name.
    pub name: Option<Name>,
    /// A new default configuration (masked secret fields keep their stored values).
    pub default_config: Option<ConnectorConfig>,
    /// A new spec.
    pub spec: Option<ConfigSpec>,
    /// New tags, replacing the old set.
    pub tags: Option<BTreeSet<Tag>>,
}

/// Changes to a connection template; `None` keeps the current value.
#[derive(Clone, Debug, Default)]
pub struct ConnectionTemplateUpdate {
    /// A new display name.
    pub name: Option<Name>,
    /// A new destination name.
    pub destination_name: Option<Name>,
    /// A new destination configuration (masked secret fields keep their stored values).
    pub destination_config: Option<ConnectorConfig>,
    /// A new destination spec.
    pub destination_spec: Option<ConfigSpec>,
    /// A new schedule.
    pub schedule: Option<Schedule>,
    /// New tags, replacing the old set.
    pub tags: Option<BTreeSet<Tag>>,
}

/// A request to create a source from a template.
#[derive(Clone, Debug)]
pub struct NewSourceFromTemplate {
    /// The template; it must match the workspace's source tag selection.
    pub template_id: SourceTemplateId,
    /// The source's display name.
    pub name: Name,
    /// The customer's configuration, merged over the template's default and checked against
    /// its spec.
    pub config: ConnectorConfig,
}

/// What creating a source from a template made.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SourceFromTemplate {
    /// The source.
    pub source: Source,
    /// One destination per matching connection template (made now or reused).
    pub destinations: Vec<Destination>,
    /// One connection per matching connection template, from the source to its destination.
    pub connections: Vec<Connection>,
}
