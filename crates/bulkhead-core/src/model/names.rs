//! Validated values that appear in requests and rows: [`Name`], [`Connector`], [`ConnectorConfig`],
//! and (from [`crate::model::schedule`]) [`Schedule`] with its
//! [`CronExpr`](crate::model::schedule::CronExpr).
//!
//! Each is checked once, where it is made; a value that exists is valid.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Error;
pub(crate) use crate::model::schedule::Schedule;

/// A display name: 1 to 255 characters, no control characters, no surrounding whitespace.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Name(String);

impl Name {
    /// Checks `value` as the field `field` and wraps it.
    pub fn parse_field(field: &'static str, value: impl Into<String>) -> Result<Self, Error> {
        let value = value.into();
        let chars = value.chars().count();
        if chars == 0 {
            return Err(Error::invalid_input(field, "must not be empty"));
        }
        if chars > 255 {
            return Err(Error::invalid_input(
                field,
                format!("is {chars} characters long; the limit is 255"),
            ));
        }
        if value.chars().any(char::is_control) {
            return Err(Error::invalid_input(
                field,
                "must not contain control characters",
            ));
        }
        if value.starts_with(char::is_whitespace) || value.ends_with(char::is_whitespace) {
            return Err(Error::invalid_input(
                field,
                "must not start or end with whitespace",
            ));
        }
        Ok(Self(value))
    }

    /// The name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Name {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        Self::parse_field("name", s)
    }
}

impl<'de> Deserialize<'de> for Name {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::parse_field("name", String::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Name {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A connector's name, such as `stripe`, `postgres` or `s3`: 1 to 64 characters of `a-z`,
/// `0-9`, `.`, `_` and `-`, starting with a letter or digit.
#[derive(Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Connector(String);

impl Connector {
    /// The connector name as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Connector {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self, Error> {
        const FIELD: &str = "connector";
        if s.is_empty() || s.len() > 64 {
            return Err(Error::invalid_input(
                FIELD,
                "must be 1 to 64 characters long",
            ));
        }
        let ok_first = s.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit());
        let ok_rest = s
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'));
        if !(ok_first && ok_rest) {
            return Err(Error::invalid_input(
                FIELD,
                format!(
                    "`{s}` may use only a-z, 0-9, `.`, `_`, `-` and must start with a letter or digit"
                ),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl<'de> Deserialize<'de> for Connector {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Connector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

/// A connector configuration: a JSON object of at most [`ConnectorConfig::MAX_BYTES`] bytes.
///
/// Its `Debug` output lists the keys only, never the values, because a configuration may hold
/// credentials.
///
/// One read from storage ([`ConnectorConfig::from_stored`]) keeps its stored JSON text and
/// is parsed into a map only when [`ConnectorConfig::as_map`] is first called: a list that
/// only echoes configurations writes [`ConnectorConfig::stored_json`] as it is, without
/// building and dropping a tree of values per row.
#[derive(Clone, Default)]
pub struct ConnectorConfig {
    /// The configuration as a map; filled on first use when `stored` is set.
    map: OnceLock<Map<String, Value>>,
    /// The stored text it was read from (compact JSON written by [`ConnectorConfig::to_json`]).
    stored: Option<Box<RawValue>>,
}

impl ConnectorConfig {
    /// The largest configuration accepted, serialized, in bytes.
    pub const MAX_BYTES: usize = 64 * 1024;

    /// Checks that `value` is a JSON object of acceptable size.
    pub fn new(value: Value) -> Result<Self, Error> {
        match value {
            Value::Object(map) => Self::from_map(map),
            other => Err(Error::invalid_input(
                "config",
                format!("must be a JSON object, not {}", json_type(&other)),
            )),
        }
    }

    /// Parses JSON text into a configuration.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| Error::invalid_input("config", format!("is not valid JSON: {e}")))?;
        Self::new(value)
    }

    /// A configuration read from storage: `text` as [`ConnectorConfig::to_json`] wrote it.
    /// The text is checked to be one JSON object (no tree is built) and kept as it is; the
    /// size limit was checked when it was written.
    pub fn from_stored(text: String) -> Result<Self, Error> {
        let raw = RawValue::from_string(text)
            .map_err(|e| Error::invalid_input("config", format!("is not valid JSON: {e}")))?;
        if !raw.get().starts_with('{') {
            return Err(Error::invalid_input("config", "must be a JSON object"));
        }
        Ok(Self {
            map: OnceLock::new(),
            stored: Some(raw),
        })
    }

    fn from_map(map: Map<String, Value>) -> Result<Self, Error> {
        let len = serde_json::to_vec(&map)
            .map(|v| v.len())
            .unwrap_or(usize::MAX);
        if len > Self::MAX_BYTES {
            return Err(Error::invalid_input(
                "config",
                format!("is {len} bytes; the limit is {} bytes", Self::MAX_BYTES),
            ));
        }
        Ok(Self {
            map: OnceLock::from(map),
            stored: None,
        })
    }

    /// The configuration as a JSON object.
    pub fn as_map(&self) -> &Map<String, Value> {
        self.map.get_or_init(|| {
            self.stored
                .as_deref()
                // Checked to be a JSON object when it was read; an object of serde_json's own
                // writing parses back.
                .and_then(|raw| serde_json::from_str(raw.get()).ok())
                .unwrap_or_default()
        })
    }

    /// The stored JSON text this configuration was read from, when it was read from storage
    /// ([`ConnectorConfig::from_stored`]): compact JSON, the same bytes as serializing
    /// [`ConnectorConfig::as_map`] with `serde_json` (which [`ConnectorConfig::to_json`] did
    /// when it was stored). `None` for one made from a value.
    pub fn stored_json(&self) -> Option<&RawValue> {
        self.stored.as_deref()
    }

    /// The configuration as compact JSON text.
    pub fn to_json(&self) -> String {
        match &self.stored {
            Some(raw) => raw.get().to_owned(),
            None => Value::Object(self.as_map().clone()).to_string(),
        }
    }
}

impl PartialEq for ConnectorConfig {
    fn eq(&self, other: &Self) -> bool {
        self.as_map() == other.as_map()
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

impl fmt::Debug for ConnectorConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.as_map().keys()).finish()
    }
}

impl Serialize for ConnectorConfig {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_map().serialize(s)
    }
}

impl<'de> Deserialize<'de> for ConnectorConfig {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Self::new(Value::deserialize(d)?).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stored_config_serializes_as_its_text_and_reads_as_its_map() {
        for text in [
            r#"{}"#,
            r#"{"a":1,"b":[true,null,1.5,-2e-7],"c":{"d":"x\"y\u0001é"},"e":"********"}"#,
            r#"{"api_key":"********","nested":{"k":[{"v":18446744073709551615}]}}"#,
        ] {
            let written = ConnectorConfig::from_json(text).unwrap().to_json();
            let stored = ConnectorConfig::from_stored(written.clone()).unwrap();
            let parsed = ConnectorConfig::from_json(&written).unwrap();
            assert_eq!(stored.stored_json().unwrap().get(), written);
            // The same bytes as writing the parsed map, and the same map.
            assert_eq!(serde_json::to_string(&parsed).unwrap(), written);
            assert_eq!(serde_json::to_string(&stored).unwrap(), written);
            assert_eq!(stored.to_json(), written);
            assert_eq!(stored.as_map(), parsed.as_map());
            assert_eq!(stored, parsed);
            assert!(parsed.stored_json().is_none());
        }
    }

    #[test]
    fn stored_text_that_is_not_one_json_object_is_refused() {
        for bad in ["", "[1]", "\"x\"", "{", r#"{"a":1} x"#, r#"{"a":tru}"#] {
            let err = ConnectorConfig::from_stored(bad.to_owned()).unwrap_err();
            assert!(err.to_string().contains("config"), "{bad}: {err}");
        }
    }

    #[test]
    fn config_debug_shows_keys_not_values() {
        let config = ConnectorConfig::from_json(r#"{"api_key":"sk_live_secret"}"#).unwrap();
        let debug = format!("{config:?}");
        assert!(debug.contains("api_key"));
        assert!(!debug.contains("sk_live_secret"));
    }

    #[test]
    fn config_must_be_an_object() {
        let err = ConnectorConfig::from_json("[1]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid config: must be a JSON object, not an array"
        );
    }

    #[test]
    fn name_rules_name_the_field() {
        let err = Name::parse_field("source name", "").unwrap_err();
        assert_eq!(err.to_string(), "invalid source name: must not be empty");
        assert!(matches!(
            Name::parse_field("name", "x".repeat(256)),
            Err(Error::InvalidInput { field, .. }) if field == "name"
        ));
        assert!(Name::parse_field("name", "Stripe").is_ok());
    }

    #[test]
    fn connector_rules() {
        assert!("stripe".parse::<Connector>().is_ok());
        assert!("source-postgres".parse::<Connector>().is_ok());
        for bad in ["Stripe", ""] {
            assert!(
                matches!(bad.parse::<Connector>(), Err(Error::InvalidInput { .. })),
                "{bad:?}"
            );
        }
    }
}
