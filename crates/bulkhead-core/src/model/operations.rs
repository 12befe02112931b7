//! Workspace operations: what a scoped token may do.
//!
//! Only workspace operations exist in this type. Organization-level powers (templates, keys,
//! other workspaces, settings) have no [`Operation`] at all, so no token can ever carry one:
//! a name like `keys:manage` fails to parse, whether it comes from a request or from inside a
//! signed token.

use std::fmt;
use std::str::FromStr;

use serde::{Serialize, Serializer};

use crate::error::Error;

macro_rules! operations {
    ($($(#[$doc:meta])* $variant:ident => $text:literal),+ $(,)?) => {
        /// One thing a workspace scope may do.
        #[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
        #[non_exhaustive]
        pub enum Operation {
            $($(#[$doc])* $variant),+
        }

        impl Operation {
            /// Every operation, in a fixed order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The name used in tokens and requests (`sources:create`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for Operation {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self, Error> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(Error::invalid_input(
                        "operations",
                        format!(
                            "`{other}` is not a workspace operation; organization-level operations can never be granted to a scoped token (workspace operations: {})",
                            [$($text),+].join(", ")
                        ),
                    )),
                }
            }
        }
    };
}

operations! {
    /// Read the workspace's own row.
    ReadWorkspace => "workspace:read",
    /// List the templates available to the workspace.
    ReadTemplates => "templates:read",
    /// Read sources.
    ReadSources => "sources:read",
    /// Create sources.
    CreateSources => "sources:create",
    /// Rename sources or change their configuration.
    UpdateSources => "sources:update",
    /// Delete sources.
    DeleteSources => "sources:delete",
    /// Read destinations.
    ReadDestinations => "destinations:read",
    /// Create destinations.
    CreateDestinations => "destinations:create",
    /// Rename destinations or change their configuration.
    UpdateDestinations => "destinations:update",
    /// Delete destinations.
    DeleteDestinations => "destinations:delete",
    /// Read connections.
    ReadConnections => "connections:read",
    /// Create connections.
    CreateConnections => "connections:create",
    /// Change connections.
    UpdateConnections => "connections:update",
    /// Delete connections (with their sync history).
    DeleteConnections => "connections:delete",
    /// Read sync runs.
    ReadSyncs => "syncs:read",
    /// Start sync runs and record how they end.
    TriggerSyncs => "syncs:trigger",
}

impl Operation {
    fn bit(self) -> u32 {
        let index = Self::ALL.iter().position(|op| *op == self).unwrap_or(31);
        1 << index
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Operation {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A set of [`Operation`]s.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OperationSet(u32);

impl OperationSet {
    /// No operation.
    pub const fn empty() -> Self {
        Self(0)
    }

    /// This set and `op`.
    #[must_use]
    pub fn with(self, op: Operation) -> Self {
        Self(self.0 | op.bit())
    }

    /// Every workspace operation: what an organization has in its own workspaces.
    pub fn all() -> Self {
        Operation::ALL.iter().copied().collect()
    }

    /// The seed's default for a scoped token: read templates, create and update sources and
    /// connections, and read everything in the workspace. No deletes, no sync triggers.
    pub fn scoped_default() -> Self {
        use Operation::*;
        [
            ReadWorkspace,
            ReadTemplates,
            ReadSources,
            CreateSources,
            UpdateSources,
            ReadDestinations,
            ReadConnections,
            CreateConnections,
            UpdateConnections,
            ReadSyncs,
        ]
        .into_iter()
        .collect()
    }

    /// The reading operations only: what an organization keeps in an inactive workspace.
    pub fn read_only() -> Self {
        Operation::ALL
            .iter()
            .copied()
            .filter(|op| op.as_str().ends_with(":read"))
            .collect()
    }

    /// Whether `op` is in the set.
    pub fn contains(self, op: Operation) -> bool {
        self.0 & op.bit() != 0
    }

    /// Whether every operation of `other` is in this set.
    pub fn is_superset(self, other: OperationSet) -> bool {
        self.0 & other.0 == other.0
    }

    /// The operations, in [`Operation::ALL`] order.
    pub fn iter(self) -> impl Iterator<Item = Operation> {
        Operation::ALL
            .iter()
            .copied()
            .filter(move |op| self.contains(op.to_owned()))
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Parses a list of operation names; one unknown name fails the whole list.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        names.into_iter().map(str::parse::<Operation>).collect()
    }
}

impl FromIterator<Operation> for OperationSet {
    fn from_iter<I: IntoIterator<Item = Operation>>(iter: I) -> Self {
        Self(iter.into_iter().fold(0, |bits, op| bits | op.bit()))
    }
}

impl fmt::Debug for OperationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set()
            .entries(self.iter().map(Operation::as_str))
            .finish()
    }
}

impl fmt::Display for OperationSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Operation::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

impl Serialize for OperationSet {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter().map(Operation::as_str))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operations_fit_in_the_bit_set() {
        assert!(Operation::ALL.len() <= 31);
    }

    #[test]
    fn every_operation_name_round_trips() {
        for op in Operation::ALL {
            assert_eq!(op.as_str().parse::<Operation>().unwrap(), *op);
        }
    }

    #[test]
    fn organization_level_names_are_refused_with_the_reason() {
        for name in [
            "keys:manage",
            "templates:write",
            "workspaces:read",
            "settings:write",
        ] {
            let err = name.parse::<Operation>().unwrap_err();
            assert!(
                err.to_string()
                    .contains("organization-level operations can never be granted"),
                "{err}"
            );
        }
    }

    #[test]
    fn default_set_excludes_deletes_and_triggers() {
        let set = OperationSet::scoped_default();
        assert!(set.contains(Operation::CreateSources));
        assert!(!set.contains(Operation::DeleteSources));
        assert!(!set.contains(Operation::TriggerSyncs));
        assert!(OperationSet::all().is_superset(set));
        assert!(!set.is_superset(OperationSet::all()));
    }
}
