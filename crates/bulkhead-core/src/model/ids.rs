//! Identifiers: random UUIDs wrapped in one type per kind of object, and the host's
//! [`ExternalId`].
//!
//! A value of these types is valid by construction: ids are never nil, external ids obey the
//! rules in [`ExternalId`]. Mixing kinds (a source id where a connection id is expected) is a
//! compile error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use uuid::Uuid;

use crate::error::Error;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $field:literal) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh random (version 4) id.
            pub fn random() -> Self {
                Self(Uuid::new_v4())
            }

            /// Wraps a UUID read back from storage or given by a caller. The nil UUID is
            /// refused: it is never a valid id, and accepting it would let "no id" pass as one.
            pub fn from_uuid(uuid: Uuid) -> Result<Self, Error> {
                if uuid.is_nil() {
                    return Err(Error::invalid_input($field, "must not be the nil uuid"));
                }
                Ok(Self(uuid))
            }

            /// The UUID inside.
            pub fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                let uuid = Uuid::try_parse(s)
                    .map_err(|_| Error::invalid_input($field, "is not a uuid"))?;
                Self::from_uuid(uuid)
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0.hyphenated(), f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0.hyphenated())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                self.0.serialize(s)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let uuid = Uuid::deserialize(d)?;
                Self::from_uuid(uuid).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// Identifies an organization (the host company).
    OrgId,
    "org_id"
);
id_type!(
    /// Identifies a workspace (one customer's isolated environment).
    WorkspaceId,
    "workspace_id"
);
id_type!(
    /// Identifies a source inside a workspace.
    SourceId,
    "source_id"
);
id_type!(
    /// Identifies a destination inside a workspace.
    DestinationId,
    "destination_id"
);
id_type!(
    /// Identifies a connection inside a workspace.
    ConnectionId,
    "connection_id"
);
id_type!(
    /// Identifies a source template of an organization.
    SourceTemplateId,
    "template_id"
);
id_type!(
    /// Identifies a connection template of an organization.
    ConnectionTemplateId,
    "template_id"
);
id_type!(
    /// Identifies one org access key (not the key itself, which is secret).
    OrgKeyId,
    "key_id"
);
id_type!(
    /// Identifies one sync run of a connection.
    SyncRunId,
    "sync_run_id"
);

/// The first nine bytes of every sync run id that carries a job number: a constant
/// (`b11c4ead-0000-8000-80…`) with the UUID version 8 and RFC 9562 variant bits in place.
const JOB_PREFIX: [u8; 9] = [0xb1, 0x1c, 0x4e, 0xad, 0x00, 0x00, 0x80, 0x00, 0x80];

impl SyncRunId {
    /// The largest job number: `2^53 - 1`, the largest integer a JavaScript number holds
    /// exactly (the Airbyte API's `jobId` is an integer).
    pub const MAX_JOB_NUMBER: u64 = (1 << 53) - 1;

    /// A fresh sync run id carrying a random job number (what
    /// [`WorkspaceScope::start_sync`](crate::WorkspaceScope::start_sync) gives new runs).
    pub fn random_job() -> Self {
        let bytes = *Uuid::new_v4().as_bytes();
        let mut low = [0u8; 8];
        low.copy_from_slice(bytes.get(..8).unwrap_or(&[0u8; 8]));
        let number = u64::from_le_bytes(low) & Self::MAX_JOB_NUMBER;
        // Zero is not a job number; its chance is 2^-53, so fold it onto 1.
        Self::job(number.max(1))
    }

    /// The sync run id of the job number `number` (1 to [`SyncRunId::MAX_JOB_NUMBER`]): a
    /// version 8 UUID with a constant prefix and the number in its last seven bytes, so the
    /// number maps back to the id with no lookup. A number out of range is invalid input.
    ///
    /// ```
    /// use bulkhead_core::SyncRunId;
    /// let id = SyncRunId::from_job_number(42)?;
    /// assert_eq!(id.to_string(), "b11c4ead-0000-8000-8000-00000000002a");
    /// assert_eq!(id.job_number(), Some(42));
    /// assert!(SyncRunId::from_job_number(0).is_err());
    /// assert_eq!(SyncRunId::random().job_number(), None);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn from_job_number(number: u64) -> Result<Self, Error> {
        if number == 0 || number > Self::MAX_JOB_NUMBER {
            return Err(Error::invalid_input(
                "job_id",
                format!("must be an integer from 1 to {}", Self::MAX_JOB_NUMBER),
            ));
        }
        Ok(Self::job(number))
    }

    fn job(number: u64) -> Self {
        let mut bytes = [0u8; 16];
        for (to, from) in bytes.iter_mut().zip(JOB_PREFIX) {
            *to = from;
        }
        for (to, from) in bytes
            .iter_mut()
            .skip(9)
            .zip(number.to_be_bytes().into_iter().skip(1))
        {
            *to = from;
        }
        Self(Uuid::from_bytes(bytes))
    }

    /// The job number this id carries, if it was made by [`SyncRunId::random_job`] or
    /// [`SyncRunId::from_job_number`]; `None` for a plain random id (runs started before job
    /// numbers existed).
    pub fn job_number(&self) -> Option<u64> {
        let bytes = self.0.as_bytes();
        if bytes.get(..9) != Some(&JOB_PREFIX[..]) {
            return None;
        }
        let mut number = [0u8; 8];
        for (to, from) in number.iter_mut().skip(1).zip(bytes.iter().skip(9)) {
            *to = *from;
        }
        let number = u64::from_be_bytes(number);
        (1..=Self::MAX_JOB_NUMBER)
            .contains(&number)
            .then_some(number)
    }
}

/// The host application's own identifier for a customer, such as `cust_abc123`.
///
/// Rules: 1 to 255 bytes of UTF-8, no control characters, no leading or trailing whitespace.
/// External ids are compared exactly: `Cust-1` and `cust-1` are two customers.
///
/// ```
/// use bulkhead_core::ExternalId;
/// let id: ExternalId = "customer-unique-id-123".parse()?;
/// assert_eq!(id.as_str(), "customer-unique-id-123");
/// assert!(" padded".parse::<ExternalId>().is_err());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ExternalId(String);

impl ExternalId {
    /// The longest external id, in bytes.
    pub const MAX_BYTES: usize = 255;

    /// Checks `value` against the rules and wraps it.
    pub fn new(value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        check_external_id(&value)?;
        Ok(Self(value))
    }

    /// The id as the host gave it.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn check_external_id(value: &str) -> Result<(), Error> {
    const FIELD: &str = "external_id";
    if value.is_empty() {
        return Err(Error::invalid_input(FIELD, "must not be empty"));
    }
    if value.len() > ExternalId::MAX_BYTES {
        return Err(Error::invalid_input(
            FIELD,
            format!("is {} bytes long; the limit is 255 bytes", value.len()),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::invalid_input(
            FIELD,
            "must not contain control characters",
        ));
    }
    if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
        return Err(Error::invalid_input(
            FIELD,
            "must not start or end with whitespace",
        ));
    }
    Ok(())
}

impl FromStr for ExternalId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for ExternalId {
    type Error = Error;

    fn try_from(value: String) -> Result<Self, Error> {
        Self::new(value)
    }
}

impl<'de> Deserialize<'de> for ExternalId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::new(s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for ExternalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExternalId({:?})", self.0)
    }
}

impl AsRef<str> for ExternalId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_numbers_round_trip_through_sync_run_ids() {
        for n in [1, 2, 255, 256, 1 << 32, SyncRunId::MAX_JOB_NUMBER] {
            let id = SyncRunId::from_job_number(n).unwrap();
            assert_eq!(id.job_number(), Some(n));
            assert_eq!(id.as_uuid().get_version_num(), 8);
            assert_eq!(id.as_uuid().get_variant(), uuid::Variant::RFC4122);
            let parsed: SyncRunId = id.to_string().parse().unwrap();
            assert_eq!(parsed.job_number(), Some(n));
        }
        for _ in 0..1000 {
            let n = SyncRunId::random_job().job_number().unwrap();
            assert!((1..=SyncRunId::MAX_JOB_NUMBER).contains(&n));
        }
    }

    #[test]
    fn job_numbers_out_of_range_are_refused() {
        for n in [0, SyncRunId::MAX_JOB_NUMBER + 1, u64::MAX] {
            let err = SyncRunId::from_job_number(n).unwrap_err();
            assert!(matches!(err, Error::InvalidInput { .. }), "{n}: {err}");
        }
    }

    #[test]
    fn plain_random_sync_run_ids_carry_no_job_number() {
        for _ in 0..1000 {
            assert_eq!(SyncRunId::random().job_number(), None);
        }
        // The prefix with a zero number is no job either.
        let zero: SyncRunId = "b11c4ead-0000-8000-8000-000000000000".parse().unwrap();
        assert_eq!(zero.job_number(), None);
    }

    #[test]
    fn nil_uuid_is_refused_for_every_id_kind() {
        let nil = "00000000-0000-0000-0000-000000000000";
        let field = |e: Error| match e {
            Error::InvalidInput { field, .. } => field,
            other => panic!("expected invalid input, got {other:?}"),
        };
        assert_eq!(
            field(nil.parse::<WorkspaceId>().unwrap_err()),
            "workspace_id"
        );
        assert_eq!(field(nil.parse::<OrgId>().unwrap_err()), "org_id");
        assert_eq!(field(nil.parse::<SourceId>().unwrap_err()), "source_id");
    }

    #[test]
    fn id_round_trips_through_text() {
        let id = ConnectionId::random();
        assert_eq!(id.to_string().parse::<ConnectionId>().unwrap(), id);
    }

    #[test]
    fn external_id_accepts_255_bytes_and_refuses_256() {
        assert!(ExternalId::new("a".repeat(255)).is_ok());
        let err = ExternalId::new("a".repeat(256)).unwrap_err();
        assert!(err.to_string().contains("external_id"), "{err}");
    }

    #[test]
    fn external_id_counts_bytes_not_characters() {
        // 128 two-byte characters are 256 bytes.
        assert!(matches!(
            ExternalId::new("é".repeat(128)),
            Err(Error::InvalidInput { field, .. }) if field == "external_id"
        ));
        assert!(ExternalId::new("é".repeat(127)).is_ok());
    }

    #[test]
    fn external_id_keeps_case() {
        let upper = ExternalId::new("Cust-1").unwrap();
        let lower = ExternalId::new("cust-1").unwrap();
        assert_ne!(upper, lower);
    }

    #[test]
    fn external_id_deserialize_applies_the_rules() {
        assert!(serde_json::from_str::<ExternalId>("\"ok\"").is_ok());
        let err = serde_json::from_str::<ExternalId>("\"\\u0007bell\"").unwrap_err();
        assert!(err.to_string().contains("external_id"), "{err}");
    }
}
