//! Connector configuration specs: which fields a connector takes, of what type, and which of
//! them are secrets.
//!
//! A [`ConfigSpec`] is a JSON-Schema-style document, as connectors publish them, with Airbyte's
//! secret marker `"airbyte_secret": true`. It is checked once, by [`ConfigSpec::parse`]: a spec
//! that exists is one this module understands completely, so [`ConfigSpec::validate`] and
//! [`ConfigSpec::secret_pointers`] never meet a keyword they would have to guess about. That
//! matters most for secrets: a misspelled `airbyte_secert` would otherwise leave a credential
//! unmarked, stored and shown in clear.
//!
//! # The supported subset
//!
//! - The root is an object schema: `{"type": "object", ...}`. A root without `type` is an object
//!   schema too; any other root `type` is refused. The root may also carry `$schema`, which is
//!   ignored.
//! - An object schema has optional `properties` (field name → property schema), `required` (an
//!   array of field names, each declared in `properties`, none repeated) and
//!   `additionalProperties` (`true` or `false`, default `true`; `false` refuses fields the spec
//!   does not declare).
//! - A property schema has a `type`, required: one of `string`, `integer`, `number`, `boolean`,
//!   `object`, `array`. `integer` means a JSON number that is an integer (fits `i64` or `u64`;
//!   `1.0` is not one); `number` is any JSON number. `null` is no type's value.
//! - Optional, on any property: `enum`, a non-empty array of the allowed values (each of the
//!   property's type); `airbyte_secret`, `true` or `false`.
//! - `airbyte_secret: true` is allowed on `string`, `integer`, `number` and `boolean` properties
//!   at a fixed path. It is refused on `object` and `array` properties (mark the fields inside
//!   instead) and anywhere inside an array's `items`: a secret is sealed and masked by its JSON
//!   pointer, and an array element has none that a spec can name.
//! - An `object` property may have `properties`, `required` and `additionalProperties`, as
//!   above; without `properties` it accepts any object. An `array` property may have `items`, a
//!   property schema every element is checked against; without it, any elements are accepted.
//! - The annotations `title`, `description`, `default`, `examples`, `order`, `pattern`,
//!   `format`, `minimum`, `maximum`, `minLength` and `maxLength` are accepted anywhere with any
//!   value, and ignored: validation checks types, `enum`, `required` and
//!   `additionalProperties` only. `default` in particular is not applied; a template's default
//!   config is [`merge`]d instead.
//! - Any other keyword (`oneOf`, `$ref`, `const`, a typo like `requried`) is refused, with its
//!   JSON pointer in the spec, and so is a keyword on a type it does not apply to (`items` on a
//!   `string`).
//! - Nesting is limited to [`ConfigSpec::MAX_DEPTH`] levels below the root, in the spec and in
//!   the configs it validates; deeper is an error, never a stack overflow.
//!
//! Spec errors are [`Error::InvalidInput`] for the field `spec`. Validation errors are
//! [`Error::InvalidInput`] for the field ``config at `/json/pointer` ``; they never repeat the
//! value of a secret field, nor any value where the type is wrong.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value};

use crate::error::Error;

/// The text a secret field reads as, everywhere but an organization's explicit reveal.
pub const SECRET_MASK: &str = "**********";

/// The type names a property may have, as listed in errors.
const TYPE_NAMES: &str = "string, integer, number, boolean, object, array";

/// Annotations: accepted with any value and ignored.
const ANNOTATIONS: [&str; 11] = [
    "title",
    "description",
    "default",
    "examples",
    "order",
    "pattern",
    "format",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
];

/// The keywords with a meaning here.
const KEYWORDS: [&str; 7] = [
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "enum",
    "airbyte_secret",
];

/// A connector's configuration spec: a JSON-Schema-style document, checked when made.
///
/// The supported subset of JSON Schema: an object root; `type` (`string`, `integer`,
/// `number`, `boolean`, `object`, `array`), `properties`, `required`, `additionalProperties`,
/// `items`, `enum` and `airbyte_secret` (on scalar fields outside arrays); the annotations
/// `title`, `description`, `default`, `examples`, `order`, `pattern`, `format`, `minimum`,
/// `maximum`, `minLength` and `maxLength`, accepted and not enforced. Any other keyword is
/// refused, so a typo cannot silently drop a rule or a secret marker. Nesting is limited to
/// [`ConfigSpec::MAX_DEPTH`] levels.
///
/// ```
/// use bulkhead_core::ConfigSpec;
/// use serde_json::json;
///
/// let spec = ConfigSpec::parse(json!({
///     "type": "object",
///     "required": ["account_id", "client_secret"],
///     "properties": {
///         "account_id": {"type": "string"},
///         "client_secret": {"type": "string", "airbyte_secret": true}
///     }
/// }))?;
/// assert_eq!(spec.secret_pointers(), ["/client_secret"]);
///
/// let config = json!({"account_id": "acct_1"});
/// let err = spec.validate(config.as_object().unwrap()).unwrap_err();
/// assert_eq!(err.to_string(), "invalid config at `/client_secret`: is required");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Debug)]
pub struct ConfigSpec {
    /// The spec as given.
    value: Value,
    /// The root object schema, parsed from `value`.
    root: ObjectSchema,
}

impl ConfigSpec {
    /// How many levels below the root a spec's properties, and a config's values, may nest.
    pub const MAX_DEPTH: usize = 32;

    /// Checks `value` as a spec of the supported subset.
    ///
    /// Errors are [`Error::InvalidInput`] for the field `spec` and name the offending JSON
    /// pointer in the spec.
    pub fn parse(value: Value) -> Result<Self, Error> {
        let root = parse_root(&value)?;
        Ok(Self { value, root })
    }

    /// Parses JSON text into a spec; see [`ConfigSpec::parse`].
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| spec_error(format!("is not valid JSON: {e}")))?;
        Self::parse(value)
    }

    /// The spec `{"type": "object"}`: it accepts any object and has no secrets.
    pub fn empty() -> Self {
        let mut value = Map::new();
        value.insert("type".to_owned(), Value::String("object".to_owned()));
        Self {
            value: Value::Object(value),
            root: ObjectSchema::any(),
        }
    }

    /// The spec as given, for storing and listing.
    pub fn as_value(&self) -> &Value {
        &self.value
    }

    /// Checks `config` against the spec.
    ///
    /// The first error is reported, in a fixed order: nesting deeper than
    /// [`ConfigSpec::MAX_DEPTH`] anywhere in the config first; then, object by object from the
    /// root, missing required fields in the order of the spec's `required`, then each field in
    /// sorted key order, a field's own contents before the next field.
    pub fn validate(&self, config: &Map<String, Value>) -> Result<(), Error> {
        check_depth(config)?;
        check_object(&self.root, config, &mut String::new())
    }

    /// The RFC 6901 JSON pointers of every property marked `"airbyte_secret": true`, inside
    /// nested objects too, sorted.
    pub fn secret_pointers(&self) -> Vec<String> {
        let mut pointers = Vec::new();
        collect_secrets(&self.root, &mut String::new(), &mut pointers);
        pointers.sort();
        pointers
    }
}

/// Merges `over` onto `base`, deeply: where both hold an object under the same key, the objects
/// are merged key by key, recursively; anything else in `over` (a scalar, an array, `null`, an
/// object over a non-object) replaces what `base` has. Keys only in `base` are kept.
///
/// Neither input is changed. Recursion follows only keys where both sides hold objects, so it
/// is never deeper than the shallower input.
pub fn merge(base: &Map<String, Value>, over: &Map<String, Value>) -> Map<String, Value> {
    let mut merged = base.clone();
    merge_into(&mut merged, over);
    merged
}

fn merge_into(target: &mut Map<String, Value>, over: &Map<String, Value>) {
    for (key, value) in over {
        if let (Some(Value::Object(inner)), Value::Object(over_inner)) =
            (target.get_mut(key), value)
        {
            merge_into(inner, over_inner);
        } else {
            target.insert(key.clone(), value.clone());
        }
    }
}

/// A property type.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Type {
    String,
    Integer,
    Number,
    Boolean,
    Object,
    Array,
}

impl Type {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "string" => Self::String,
            "integer" => Self::Integer,
            "number" => Self::Number,
            "boolean" => Self::Boolean,
            "object" => Self::Object,
            "array" => Self::Array,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Integer => "integer",
            Self::Number => "number",
            Self::Boolean => "boolean",
            Self::Object => "object",
            Self::Array => "array",
        }
    }

    /// Whether `value` is of this type.
    fn admits(self, value: &Value) -> bool {
        match (self, value) {
            (Self::String, Value::String(_))
            | (Self::Number, Value::Number(_))
            | (Self::Boolean, Value::Bool(_))
            | (Self::Object, Value::Object(_))
            | (Self::Array, Value::Array(_)) => true,
            (Self::Integer, Value::Number(n)) => n.is_i64() || n.is_u64(),
            _ => false,
        }
    }

    /// What `value`, not of this type, is instead: `is a string`.
    fn mismatch(self, value: &Value) -> String {
        match (self, value) {
            (Self::Integer, Value::Number(_)) => "is a number that is not an integer".to_owned(),
            _ => format!("is {}", describe(value)),
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A property's schema.
#[derive(Clone, PartialEq, Debug)]
struct Schema {
    shape: Shape,
    /// Marked `"airbyte_secret": true`; only ever on a scalar at a fixed path.
    secret: bool,
    /// The `enum` values, each of the property's type.
    allowed: Option<Vec<Value>>,
}

/// A property's type, with what the type brings.
#[derive(Clone, PartialEq, Debug)]
enum Shape {
    String,
    Integer,
    Number,
    Boolean,
    Object(ObjectSchema),
    /// An array, with the schema of its elements if the spec gives one.
    Array(Option<Box<Schema>>),
}

impl Shape {
    fn ty(&self) -> Type {
        match self {
            Self::String => Type::String,
            Self::Integer => Type::Integer,
            Self::Number => Type::Number,
            Self::Boolean => Type::Boolean,
            Self::Object(_) => Type::Object,
            Self::Array(_) => Type::Array,
        }
    }
}

/// An object schema: the root, or an `object` property.
#[derive(Clone, PartialEq, Debug)]
struct ObjectSchema {
    /// Sorted by name, which is the order fields are checked in.
    properties: BTreeMap<String, Schema>,
    /// Each declared in `properties`, none repeated, in the spec's order.
    required: Vec<String>,
    /// Whether fields not in `properties` are accepted.
    additional: bool,
}

impl ObjectSchema {
    /// The schema of an object without properties: any object is accepted.
    fn any() -> Self {
        Self {
            properties: BTreeMap::new(),
            required: Vec::new(),
            additional: true,
        }
    }
}

fn spec_error(reason: impl Into<String>) -> Error {
    Error::invalid_input("spec", reason)
}

fn config_error(pointer: &str, reason: impl Into<String>) -> Error {
    Error::invalid_input(format!("config at `{pointer}`"), reason)
}

/// Appends `name` to `pointer` as one RFC 6901 reference token.
fn push_token(pointer: &mut String, name: &str) {
    pointer.push('/');
    for c in name.chars() {
        match c {
            '~' => pointer.push_str("~0"),
            '/' => pointer.push_str("~1"),
            c => pointer.push(c),
        }
    }
}

/// `pointer` with `name` appended as one reference token.
fn child(pointer: &str, name: &str) -> String {
    let mut child = pointer.to_owned();
    push_token(&mut child, name);
    child
}

/// A map's entries sorted by key, whatever order the map iterates in.
fn sorted(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    let mut entries: Vec<_> = map.iter().collect();
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries
}

/// What kind of JSON value `value` is, with its article: `a string`.
fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_root(value: &Value) -> Result<ObjectSchema, Error> {
    let Value::Object(map) = value else {
        return Err(spec_error(format!(
            "must be a JSON object, not {}",
            describe(value)
        )));
    };
    check_keywords(map, "", true)?;
    match map.get("type") {
        None => {}
        Some(Value::String(name)) if name == "object" => {}
        Some(Value::String(name)) => {
            return Err(spec_error(format!(
                "`/type` is `{name}`; the root of a spec must be `object`"
            )));
        }
        Some(other) => {
            return Err(spec_error(format!(
                "`/type` is {}; the root of a spec must be `object`",
                describe(other)
            )));
        }
    }
    let root = parse_typed(map, "", 0, Type::Object, false)?;
    if root.allowed.is_some() {
        return Err(spec_error(
            "`/enum` is not supported at the root; put it on a property",
        ));
    }
    match root.shape {
        Shape::Object(object) => Ok(object),
        // `parse_typed` made the shape of the type it was given.
        other => Err(spec_error(format!(
            "the root must be `object`, not `{}`",
            other.ty()
        ))),
    }
}

/// Parses the property schema `value` at `pointer` in the spec, `level` levels below the root,
/// inside an array's `items` if `in_items`.
fn parse_property(
    value: &Value,
    pointer: &str,
    level: usize,
    in_items: bool,
) -> Result<Schema, Error> {
    // Checked before anything is read, so recursion stops here whatever the spec holds.
    if level > ConfigSpec::MAX_DEPTH {
        return Err(spec_error(format!(
            "`{pointer}` nests deeper than {} levels",
            ConfigSpec::MAX_DEPTH
        )));
    }
    let Value::Object(map) = value else {
        return Err(spec_error(format!(
            "`{pointer}` is {}; a property schema is a JSON object",
            describe(value)
        )));
    };
    check_keywords(map, pointer, false)?;
    let ty = match map.get("type") {
        None => {
            return Err(spec_error(format!(
                "`{pointer}/type` is missing; use one of {TYPE_NAMES}"
            )));
        }
        Some(Value::String(name)) => Type::from_name(name).ok_or_else(|| {
            spec_error(format!(
                "`{pointer}/type` is `{name}`; use one of {TYPE_NAMES}"
            ))
        })?,
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/type` is {}; use one of {TYPE_NAMES}",
                describe(other)
            )));
        }
    };
    parse_typed(map, pointer, level, ty, in_items)
}

/// Refuses any keyword of the schema `map` at `pointer` that has no meaning here.
fn check_keywords(map: &Map<String, Value>, pointer: &str, root: bool) -> Result<(), Error> {
    for (key, _) in sorted(map) {
        let known = KEYWORDS.contains(&key.as_str())
            || ANNOTATIONS.contains(&key.as_str())
            || (root && key == "$schema");
        if !known {
            return Err(spec_error(format!(
                "`{}` is not a supported keyword; use {}, or the annotations {}",
                child(pointer, key),
                KEYWORDS.join(", "),
                ANNOTATIONS.join(", ")
            )));
        }
    }
    Ok(())
}

/// Parses the schema `map` at `pointer`, whose type is `ty`.
fn parse_typed(
    map: &Map<String, Value>,
    pointer: &str,
    level: usize,
    ty: Type,
    in_items: bool,
) -> Result<Schema, Error> {
    for (keyword, owner) in [
        ("properties", Type::Object),
        ("required", Type::Object),
        ("additionalProperties", Type::Object),
        ("items", Type::Array),
    ] {
        if ty != owner && map.contains_key(keyword) {
            return Err(spec_error(format!(
                "`{pointer}/{keyword}` applies to {owner} properties only; this one is {ty}"
            )));
        }
    }

    let secret = match map.get("airbyte_secret") {
        None => false,
        Some(Value::Bool(secret)) => *secret,
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/airbyte_secret` is {}; use true or false",
                describe(other)
            )));
        }
    };
    if secret {
        match ty {
            Type::Object => {
                return Err(spec_error(format!(
                    "`{pointer}/airbyte_secret` is true on an object; mark the fields inside it instead"
                )));
            }
            Type::Array => {
                return Err(spec_error(format!(
                    "`{pointer}/airbyte_secret` is true on an array; only string, integer, number and boolean fields can be secret"
                )));
            }
            Type::String | Type::Integer | Type::Number | Type::Boolean => {}
        }
        if in_items {
            return Err(spec_error(format!(
                "`{pointer}/airbyte_secret` is true inside an array's items; a secret must be a field at a fixed path"
            )));
        }
    }

    let allowed = match map.get("enum") {
        None => None,
        Some(Value::Array(values)) => {
            if values.is_empty() {
                return Err(spec_error(format!(
                    "`{pointer}/enum` is empty; list at least one allowed value"
                )));
            }
            for (i, value) in values.iter().enumerate() {
                if !ty.admits(value) {
                    return Err(spec_error(format!(
                        "`{pointer}/enum/{i}` {}; the property's type is {ty}",
                        ty.mismatch(value)
                    )));
                }
            }
            Some(values.clone())
        }
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/enum` is {}; use an array of the allowed values",
                describe(other)
            )));
        }
    };

    let shape = match ty {
        Type::String => Shape::String,
        Type::Integer => Shape::Integer,
        Type::Number => Shape::Number,
        Type::Boolean => Shape::Boolean,
        Type::Object => Shape::Object(parse_object(map, pointer, level, in_items)?),
        Type::Array => Shape::Array(match map.get("items") {
            None => None,
            Some(items) => Some(Box::new(parse_property(
                items,
                &format!("{pointer}/items"),
                level + 1,
                true,
            )?)),
        }),
    };
    Ok(Schema {
        shape,
        secret,
        allowed,
    })
}

/// Parses the object keywords of the schema `map` at `pointer`.
fn parse_object(
    map: &Map<String, Value>,
    pointer: &str,
    level: usize,
    in_items: bool,
) -> Result<ObjectSchema, Error> {
    let mut properties = BTreeMap::new();
    match map.get("properties") {
        None => {}
        Some(Value::Object(declared)) => {
            let base = format!("{pointer}/properties");
            for (name, value) in sorted(declared) {
                let schema = parse_property(value, &child(&base, name), level + 1, in_items)?;
                properties.insert(name.clone(), schema);
            }
        }
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/properties` is {}; use an object of field names to property schemas",
                describe(other)
            )));
        }
    }

    let mut required = Vec::new();
    match map.get("required") {
        None => {}
        Some(Value::Array(names)) => {
            let mut seen = BTreeSet::new();
            for (i, name) in names.iter().enumerate() {
                let Value::String(name) = name else {
                    return Err(spec_error(format!(
                        "`{pointer}/required/{i}` is {}; use a field name",
                        describe(name)
                    )));
                };
                if !properties.contains_key(name) {
                    return Err(spec_error(format!(
                        "`{pointer}/required/{i}` names `{name}`, which `{pointer}/properties` does not declare"
                    )));
                }
                if !seen.insert(name.as_str()) {
                    return Err(spec_error(format!(
                        "`{pointer}/required/{i}` repeats `{name}`"
                    )));
                }
                required.push(name.clone());
            }
        }
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/required` is {}; use an array of field names",
                describe(other)
            )));
        }
    }

    let additional = match map.get("additionalProperties") {
        None => true,
        Some(Value::Bool(additional)) => *additional,
        Some(other) => {
            return Err(spec_error(format!(
                "`{pointer}/additionalProperties` is {}; use true or false",
                describe(other)
            )));
        }
    };

    Ok(ObjectSchema {
        properties,
        required,
        additional,
    })
}

/// Refuses a config that nests deeper than [`ConfigSpec::MAX_DEPTH`], naming the first value
/// too deep in sorted key order.
///
/// Iterative, not recursive: the check that stops deep input must not overflow on it.
fn check_depth(config: &Map<String, Value>) -> Result<(), Error> {
    let mut pending: Vec<(String, &Value, usize)> = Vec::new();
    // Children are pushed in reverse so they pop in order.
    for (name, value) in sorted(config).into_iter().rev() {
        pending.push((child("", name), value, 1));
    }
    while let Some((pointer, value, depth)) = pending.pop() {
        if depth > ConfigSpec::MAX_DEPTH {
            return Err(config_error(
                &pointer,
                format!("nests deeper than {} levels", ConfigSpec::MAX_DEPTH),
            ));
        }
        match value {
            Value::Object(map) => {
                for (name, value) in sorted(map).into_iter().rev() {
                    pending.push((child(&pointer, name), value, depth + 1));
                }
            }
            Value::Array(values) => {
                for (i, value) in values.iter().enumerate().rev() {
                    pending.push((format!("{pointer}/{i}"), value, depth + 1));
                }
            }
            Value::Null | Value::Bool(_) | Value::Number(_) | Value::String(_) => {}
        }
    }
    Ok(())
}

/// Checks the object `map` at `pointer` against `schema`.
fn check_object(
    schema: &ObjectSchema,
    map: &Map<String, Value>,
    pointer: &mut String,
) -> Result<(), Error> {
    for name in &schema.required {
        if !map.contains_key(name) {
            return Err(config_error(&child(pointer, name), "is required"));
        }
    }
    for (name, value) in sorted(map) {
        let len = pointer.len();
        push_token(pointer, name);
        let checked = match schema.properties.get(name) {
            Some(property) => check_value(property, value, pointer),
            None if schema.additional => Ok(()),
            None => Err(config_error(pointer, "is not a field of this connector")),
        };
        pointer.truncate(len);
        checked?;
    }
    Ok(())
}

/// Checks `value` at `pointer` against the property schema `schema`.
fn check_value(schema: &Schema, value: &Value, pointer: &mut String) -> Result<(), Error> {
    let ty = schema.shape.ty();
    if !ty.admits(value) {
        // The value itself is not repeated: it may be a secret in the wrong place.
        return Err(config_error(
            pointer,
            format!("{}; the spec says {ty}", ty.mismatch(value)),
        ));
    }
    if let Some(allowed) = &schema.allowed
        && !allowed.contains(value)
    {
        let reason = if schema.secret {
            "is not one of the allowed values".to_owned()
        } else {
            format!(
                "{} is not one of the allowed values; use {}",
                quote(value),
                list(allowed)
            )
        };
        return Err(config_error(pointer, reason));
    }
    match (&schema.shape, value) {
        (Shape::Object(object), Value::Object(map)) => check_object(object, map, pointer),
        (Shape::Array(Some(items)), Value::Array(values)) => {
            for (i, value) in values.iter().enumerate() {
                let len = pointer.len();
                pointer.push('/');
                pointer.push_str(&i.to_string());
                let checked = check_value(items, value, pointer);
                pointer.truncate(len);
                checked?;
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

/// `value` in backticks for an error: a string as its text, anything else as JSON, cut short.
fn quote(value: &Value) -> String {
    const MAX_CHARS: usize = 64;
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if text.chars().count() > MAX_CHARS {
        let cut: String = text.chars().take(MAX_CHARS).collect();
        format!("`{cut}…`")
    } else {
        format!("`{text}`")
    }
}

/// The allowed values for an error, the first few of a long list.
fn list(allowed: &[Value]) -> String {
    const SHOWN: usize = 10;
    let shown: Vec<String> = allowed.iter().take(SHOWN).map(quote).collect();
    match allowed.len().checked_sub(SHOWN) {
        Some(more) if more > 0 => format!("one of {} and {more} more", shown.join(", ")),
        _ if allowed.len() == 1 => shown.concat(),
        _ => format!("one of {}", shown.join(", ")),
    }
}

fn collect_secrets(object: &ObjectSchema, pointer: &mut String, pointers: &mut Vec<String>) {
    for (name, property) in &object.properties {
        let len = pointer.len();
        push_token(pointer, name);
        if property.secret {
            pointers.push(pointer.clone());
        }
        // Arrays are not searched: parsing refuses secrets inside `items`.
        if let Shape::Object(inner) = &property.shape {
            collect_secrets(inner, pointer, pointers);
        }
        pointer.truncate(len);
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn spec(value: Value) -> ConfigSpec {
        ConfigSpec::parse(value).unwrap()
    }

    fn spec_err(value: Value) -> String {
        let err = ConfigSpec::parse(value).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "spec"),
            "{err:?}"
        );
        err.to_string()
    }

    fn obj(value: Value) -> Map<String, Value> {
        match value {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn config_err(spec: &ConfigSpec, config: Value) -> String {
        spec.validate(&obj(config)).unwrap_err().to_string()
    }

    fn stripe() -> Value {
        json!({
            "type": "object",
            "required": ["account_id", "client_secret"],
            "properties": {
                "account_id": {"type": "string"},
                "client_secret": {"type": "string", "airbyte_secret": true},
                "start_date": {"type": "string", "format": "date"}
            }
        })
    }

    /// A spec whose property `a` is an object with property `a`, `levels` times over.
    fn nested_spec(levels: usize) -> Value {
        let mut schema = json!({"type": "string"});
        for _ in 1..levels {
            schema = json!({"type": "object", "properties": {"a": schema}});
        }
        json!({"type": "object", "properties": {"a": schema}})
    }

    /// A value nested `levels` objects deep under the key `a`, with a string at the bottom.
    fn nested_value(levels: usize) -> Value {
        let mut value = json!("x");
        for _ in 0..levels {
            value = json!({ "a": value });
        }
        value
    }

    #[test]
    fn airbyte_style_stripe_spec_parses() {
        let spec = spec(stripe());
        assert_eq!(spec.secret_pointers(), ["/client_secret"]);
        spec.validate(&obj(json!({
            "account_id": "acct_1",
            "client_secret": "sk_live_1",
            "start_date": "2024-01-01"
        })))
        .unwrap();
    }

    #[test]
    fn spec_from_json_parses_text_and_refuses_invalid_json() {
        let spec = ConfigSpec::from_json(&stripe().to_string()).unwrap();
        assert_eq!(spec.as_value(), &stripe());
        let err = ConfigSpec::from_json("{\"type\": ")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("invalid spec: is not valid JSON"), "{err}");
    }

    #[test]
    fn as_value_is_the_spec_as_given() {
        let given = json!({"$schema": "http://json-schema.org/draft-07/schema#", "title": "Stripe", "properties": {}});
        assert_eq!(spec(given.clone()).as_value(), &given);
    }

    #[test]
    fn empty_spec_accepts_any_object_and_has_no_secrets() {
        let empty = ConfigSpec::empty();
        empty
            .validate(&obj(json!({"anything": [1, {"b": null}], "x": true})))
            .unwrap();
        assert!(empty.secret_pointers().is_empty());
        assert_eq!(empty, spec(json!({"type": "object"})));
    }

    #[test]
    fn missing_root_type_is_an_object() {
        let spec = spec(json!({"properties": {"port": {"type": "integer"}}}));
        spec.validate(&obj(json!({"port": 5432}))).unwrap();
    }

    #[test]
    fn root_of_another_type_is_refused() {
        assert_eq!(
            spec_err(json!({"type": "string"})),
            "invalid spec: `/type` is `string`; the root of a spec must be `object`"
        );
        assert_eq!(
            spec_err(json!(["type", "object"])),
            "invalid spec: must be a JSON object, not an array"
        );
    }

    #[test]
    fn unknown_keyword_is_refused_with_its_pointer() {
        let err = spec_err(json!({"type": "object", "requried": []}));
        assert!(
            err.starts_with("invalid spec: `/requried` is not a supported keyword;"),
            "{err}"
        );
        let err = spec_err(json!({
            "properties": {"port": {"type": "integer", "minimun": 1}}
        }));
        assert!(
            err.starts_with("invalid spec: `/properties/port/minimun` is not a supported keyword;"),
            "{err}"
        );
        let err = spec_err(json!({"properties": {"auth": {"type": "object", "oneOf": []}}}));
        assert!(err.contains("`/properties/auth/oneOf`"), "{err}");
    }

    #[test]
    fn misspelled_secret_marker_is_refused() {
        let err = spec_err(json!({
            "properties": {"key": {"type": "string", "airbyte_secert": true}}
        }));
        assert!(err.contains("`/properties/key/airbyte_secert`"), "{err}");
    }

    #[test]
    fn unknown_type_name_is_refused_with_the_type_names() {
        assert_eq!(
            spec_err(json!({"properties": {"port": {"type": "integr"}}})),
            "invalid spec: `/properties/port/type` is `integr`; use one of string, integer, number, boolean, object, array"
        );
        assert_eq!(
            spec_err(json!({"properties": {"port": {"type": ["null", "integer"]}}})),
            "invalid spec: `/properties/port/type` is an array; use one of string, integer, number, boolean, object, array"
        );
    }

    #[test]
    fn property_without_type_is_refused() {
        assert_eq!(
            spec_err(json!({"properties": {"port": {"title": "Port"}}})),
            "invalid spec: `/properties/port/type` is missing; use one of string, integer, number, boolean, object, array"
        );
    }

    #[test]
    fn property_schema_that_is_not_an_object_is_refused() {
        assert_eq!(
            spec_err(json!({"properties": {"port": "integer"}})),
            "invalid spec: `/properties/port` is a string; a property schema is a JSON object"
        );
    }

    #[test]
    fn required_naming_an_undeclared_property_is_refused() {
        assert_eq!(
            spec_err(
                json!({"required": ["host", "port"], "properties": {"host": {"type": "string"}}})
            ),
            "invalid spec: `/required/1` names `port`, which `/properties` does not declare"
        );
        let err = spec_err(json!({"properties": {"db": {
            "type": "object", "required": ["user"], "properties": {}
        }}}));
        assert!(
            err.contains("`/properties/db/required/0` names `user`"),
            "{err}"
        );
    }

    #[test]
    fn required_repeating_a_name_is_refused() {
        assert_eq!(
            spec_err(
                json!({"required": ["host", "host"], "properties": {"host": {"type": "string"}}})
            ),
            "invalid spec: `/required/1` repeats `host`"
        );
    }

    #[test]
    fn secret_on_an_object_is_refused() {
        assert_eq!(
            spec_err(
                json!({"properties": {"credentials": {"type": "object", "airbyte_secret": true}}})
            ),
            "invalid spec: `/properties/credentials/airbyte_secret` is true on an object; mark the fields inside it instead"
        );
    }

    #[test]
    fn secret_on_an_array_is_refused() {
        let err =
            spec_err(json!({"properties": {"keys": {"type": "array", "airbyte_secret": true}}}));
        assert!(
            err.starts_with("invalid spec: `/properties/keys/airbyte_secret` is true on an array"),
            "{err}"
        );
    }

    #[test]
    fn secret_inside_array_items_is_refused() {
        let err = spec_err(json!({"properties": {"keys": {
            "type": "array",
            "items": {"type": "object", "properties": {"token": {"type": "string", "airbyte_secret": true}}}
        }}}));
        assert!(
            err.starts_with(
                "invalid spec: `/properties/keys/items/properties/token/airbyte_secret` is true inside an array's items"
            ),
            "{err}"
        );
    }

    #[test]
    fn secret_on_each_scalar_type_is_accepted() {
        for ty in ["string", "integer", "number", "boolean"] {
            let spec = spec(json!({"properties": {"s": {"type": ty, "airbyte_secret": true}}}));
            assert_eq!(spec.secret_pointers(), ["/s"], "{ty}");
        }
    }

    #[test]
    fn secret_marker_must_be_a_boolean() {
        assert_eq!(
            spec_err(json!({"properties": {"s": {"type": "string", "airbyte_secret": "yes"}}})),
            "invalid spec: `/properties/s/airbyte_secret` is a string; use true or false"
        );
    }

    #[test]
    fn keyword_on_a_type_it_does_not_apply_to_is_refused() {
        assert_eq!(
            spec_err(json!({"properties": {"host": {"type": "string", "properties": {}}}})),
            "invalid spec: `/properties/host/properties` applies to object properties only; this one is string"
        );
        assert_eq!(
            spec_err(json!({"items": {"type": "string"}})),
            "invalid spec: `/items` applies to array properties only; this one is object"
        );
    }

    #[test]
    fn additional_properties_must_be_a_boolean() {
        assert_eq!(
            spec_err(json!({"additionalProperties": {"type": "string"}})),
            "invalid spec: `/additionalProperties` is an object; use true or false"
        );
    }

    #[test]
    fn enum_must_be_a_non_empty_array_of_the_property_type() {
        assert_eq!(
            spec_err(json!({"properties": {"mode": {"type": "string", "enum": []}}})),
            "invalid spec: `/properties/mode/enum` is empty; list at least one allowed value"
        );
        assert_eq!(
            spec_err(json!({"properties": {"mode": {"type": "string", "enum": "full"}}})),
            "invalid spec: `/properties/mode/enum` is a string; use an array of the allowed values"
        );
        assert_eq!(
            spec_err(json!({"properties": {"mode": {"type": "string", "enum": ["full", 1]}}})),
            "invalid spec: `/properties/mode/enum/1` is a number; the property's type is string"
        );
        assert_eq!(
            spec_err(json!({"properties": {"n": {"type": "integer", "enum": [1, 1.5]}}})),
            "invalid spec: `/properties/n/enum/1` is a number that is not an integer; the property's type is integer"
        );
    }

    #[test]
    fn annotations_are_accepted_and_ignored() {
        let spec = spec(json!({
            "$schema": "http://json-schema.org/draft-07/schema#",
            "title": "Postgres",
            "description": "a database",
            "properties": {"port": {
                "type": "integer", "title": "Port", "description": "TCP port", "default": 5432,
                "examples": ["5432"], "order": 1, "minimum": 1, "maximum": 65535
            }, "host": {
                "type": "string", "pattern": "^[a-z]+$", "format": "hostname",
                "minLength": 1, "maxLength": 3
            }}
        }));
        // Neither `pattern`, `maxLength` nor `minimum` is enforced; `default` is not applied.
        spec.validate(&obj(json!({"host": "NOT A HOSTNAME", "port": 0})))
            .unwrap();
        spec.validate(&obj(json!({}))).unwrap();
    }

    #[test]
    fn schema_keyword_is_accepted_at_the_root_only() {
        let err = spec_err(json!({"properties": {"p": {"type": "string", "$schema": "x"}}}));
        assert!(err.contains("`/properties/p/$schema`"), "{err}");
    }

    #[test]
    fn spec_error_pointers_escape_property_names() {
        let err = spec_err(json!({"properties": {"a/b~c": {"type": "strin"}}}));
        assert!(
            err.contains("`/properties/a~1b~0c/type` is `strin`"),
            "{err}"
        );
    }

    #[test]
    fn missing_required_field_is_named_by_its_pointer() {
        let spec = spec(stripe());
        let err = spec
            .validate(&obj(json!({"account_id": "acct_1"})))
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidInput { field, .. } if field == "config at `/client_secret`"),
            "{err:?}"
        );
        assert_eq!(
            err.to_string(),
            "invalid config at `/client_secret`: is required"
        );
    }

    #[test]
    fn missing_nested_required_field_is_named_by_its_pointer() {
        let spec = spec(json!({
            "required": ["credentials"],
            "properties": {"credentials": {
                "type": "object",
                "required": ["api_key"],
                "properties": {"api_key": {"type": "string", "airbyte_secret": true}}
            }}
        }));
        assert_eq!(
            config_err(&spec, json!({"credentials": {}})),
            "invalid config at `/credentials/api_key`: is required"
        );
        assert_eq!(
            config_err(&spec, json!({})),
            "invalid config at `/credentials`: is required"
        );
    }

    #[test]
    fn missing_required_fields_are_reported_in_spec_order() {
        let spec = spec(json!({
            "required": ["zone", "account"],
            "properties": {"account": {"type": "string"}, "zone": {"type": "string"}}
        }));
        assert_eq!(
            config_err(&spec, json!({})),
            "invalid config at `/zone`: is required"
        );
    }

    #[test]
    fn required_fields_are_reported_before_wrong_fields() {
        let spec = spec(json!({
            "required": ["b"],
            "properties": {"a": {"type": "string"}, "b": {"type": "string"}}
        }));
        assert_eq!(
            config_err(&spec, json!({"a": 1})),
            "invalid config at `/b`: is required"
        );
    }

    #[test]
    fn fields_are_checked_in_sorted_key_order() {
        let spec = spec(json!({
            "properties": {"a": {"type": "object", "properties": {"z": {"type": "string"}}}, "b": {"type": "string"}}
        }));
        assert_eq!(
            config_err(&spec, json!({"b": 1, "a": {"z": 2}})),
            "invalid config at `/a/z`: is a number; the spec says string"
        );
    }

    #[test]
    fn wrong_type_is_refused_for_each_type() {
        let cases = [
            ("string", json!(1), "is a number; the spec says string"),
            ("integer", json!("1"), "is a string; the spec says integer"),
            ("number", json!(true), "is a boolean; the spec says number"),
            (
                "boolean",
                json!("true"),
                "is a string; the spec says boolean",
            ),
            ("object", json!([]), "is an array; the spec says object"),
            ("array", json!({}), "is an object; the spec says array"),
            ("string", json!(null), "is null; the spec says string"),
        ];
        for (ty, value, reason) in cases {
            let spec = spec(json!({"properties": {"f": {"type": ty}}}));
            assert_eq!(
                config_err(&spec, json!({ "f": value })),
                format!("invalid config at `/f`: {reason}")
            );
        }
    }

    #[test]
    fn right_type_is_accepted_for_each_type() {
        let cases = [
            ("string", json!("x")),
            ("integer", json!(-3)),
            ("number", json!(2.5)),
            ("boolean", json!(false)),
            ("object", json!({"any": "thing"})),
            ("array", json!([1, "two"])),
        ];
        for (ty, value) in cases {
            let spec = spec(json!({"properties": {"f": {"type": ty}}}));
            spec.validate(&obj(json!({ "f": value }))).unwrap();
        }
    }

    #[test]
    fn integer_refuses_fractions_and_number_accepts_them() {
        let integer = spec(json!({"properties": {"n": {"type": "integer"}}}));
        integer.validate(&obj(json!({"n": i64::MIN}))).unwrap();
        integer.validate(&obj(json!({"n": u64::MAX}))).unwrap();
        for fraction in [json!(1.5), json!(1.0), json!(1e300)] {
            assert_eq!(
                config_err(&integer, json!({ "n": fraction })),
                "invalid config at `/n`: is a number that is not an integer; the spec says integer"
            );
        }
        let number = spec(json!({"properties": {"n": {"type": "number"}}}));
        for value in [json!(1.5), json!(1.0), json!(7), json!(u64::MAX)] {
            number.validate(&obj(json!({ "n": value }))).unwrap();
        }
    }

    #[test]
    fn value_outside_enum_is_refused() {
        let spec = spec(json!({"properties": {
            "mode": {"type": "string", "enum": ["full", "incremental"]},
            "level": {"type": "integer", "enum": [1, 2, 3]}
        }}));
        spec.validate(&obj(json!({"mode": "full", "level": 3})))
            .unwrap();
        assert_eq!(
            config_err(&spec, json!({"mode": "x"})),
            "invalid config at `/mode`: `x` is not one of the allowed values; use one of `full`, `incremental`"
        );
        assert_eq!(
            config_err(&spec, json!({"level": 4})),
            "invalid config at `/level`: `4` is not one of the allowed values; use one of `1`, `2`, `3`"
        );
    }

    #[test]
    fn secret_value_outside_enum_is_not_repeated() {
        let spec = spec(json!({"properties": {
            "key": {"type": "string", "airbyte_secret": true, "enum": ["a", "b"]}
        }}));
        assert_eq!(
            config_err(&spec, json!({"key": "hunter2"})),
            "invalid config at `/key`: is not one of the allowed values"
        );
    }

    #[test]
    fn additional_properties_false_refuses_unknown_fields() {
        let spec = spec(json!({
            "additionalProperties": false,
            "properties": {"host": {"type": "string"}, "db": {
                "type": "object", "additionalProperties": false,
                "properties": {"name": {"type": "string"}}
            }}
        }));
        spec.validate(&obj(json!({"host": "h", "db": {"name": "n"}})))
            .unwrap();
        assert_eq!(
            config_err(&spec, json!({"host": "h", "extra": 1})),
            "invalid config at `/extra`: is not a field of this connector"
        );
        assert_eq!(
            config_err(&spec, json!({"db": {"name": "n", "user": "u"}})),
            "invalid config at `/db/user`: is not a field of this connector"
        );
    }

    #[test]
    fn additional_properties_true_or_absent_accepts_unknown_fields() {
        for spec in [
            spec(json!({"additionalProperties": true, "properties": {"host": {"type": "string"}}})),
            spec(json!({"properties": {"host": {"type": "string"}}})),
        ] {
            spec.validate(&obj(json!({"host": "h", "extra": {"x": [1]}})))
                .unwrap();
        }
    }

    #[test]
    fn array_items_are_checked() {
        let spec = spec(json!({"properties": {
            "streams": {"type": "array", "items": {
                "type": "object", "required": ["name"],
                "properties": {"name": {"type": "string"}}
            }},
            "ports": {"type": "array", "items": {"type": "integer"}}
        }}));
        spec.validate(&obj(json!({"streams": [{"name": "a"}], "ports": [1, 2]})))
            .unwrap();
        assert_eq!(
            config_err(&spec, json!({"ports": [1, "2"]})),
            "invalid config at `/ports/1`: is a string; the spec says integer"
        );
        assert_eq!(
            config_err(&spec, json!({"streams": [{"name": "a"}, {}]})),
            "invalid config at `/streams/1/name`: is required"
        );
    }

    #[test]
    fn array_without_items_accepts_any_elements() {
        let spec = spec(json!({"properties": {"tags": {"type": "array"}}}));
        spec.validate(&obj(json!({"tags": [1, "a", null, {"b": []}]})))
            .unwrap();
    }

    #[test]
    fn config_error_pointers_escape_field_names() {
        let spec = spec(json!({"additionalProperties": false, "properties": {
            "a/b": {"type": "object", "properties": {"c~d": {"type": "string"}}}
        }}));
        assert_eq!(
            config_err(&spec, json!({"a/b": {"c~d": 1}})),
            "invalid config at `/a~1b/c~0d`: is a number; the spec says string"
        );
        assert_eq!(
            config_err(&spec, json!({"x/y": 1})),
            "invalid config at `/x~1y`: is not a field of this connector"
        );
    }

    #[test]
    fn secret_pointers_list_nested_secrets_sorted() {
        let spec = spec(json!({"properties": {
            "user": {"type": "string"},
            "password": {"type": "string", "airbyte_secret": true},
            "tunnel": {"type": "object", "properties": {
                "ssh_key": {"type": "string", "airbyte_secret": true},
                "port": {"type": "integer", "airbyte_secret": false},
                "auth": {"type": "object", "properties": {"pin": {"type": "integer", "airbyte_secret": true}}}
            }},
            "api_key": {"type": "string", "airbyte_secret": true}
        }}));
        assert_eq!(
            spec.secret_pointers(),
            [
                "/api_key",
                "/password",
                "/tunnel/auth/pin",
                "/tunnel/ssh_key"
            ]
        );
    }

    #[test]
    fn secret_pointers_escape_per_rfc_6901() {
        let spec = spec(json!({"properties": {
            "a/b~c": {"type": "string", "airbyte_secret": true},
            "~": {"type": "object", "properties": {"/": {"type": "string", "airbyte_secret": true}}}
        }}));
        assert_eq!(spec.secret_pointers(), ["/a~1b~0c", "/~0/~1"]);
    }

    #[test]
    fn merge_merges_nested_objects() {
        let base =
            obj(json!({"db": {"host": "h", "tls": {"mode": "require", "ca": "x"}}, "keep": 1}));
        let over = obj(json!({"db": {"user": "u", "tls": {"mode": "verify"}}}));
        assert_eq!(
            Value::Object(merge(&base, &over)),
            json!({"db": {"host": "h", "user": "u", "tls": {"mode": "verify", "ca": "x"}}, "keep": 1})
        );
    }

    #[test]
    fn merge_replaces_scalars_and_arrays() {
        let base = obj(json!({"port": 1, "tags": [1, 2, 3], "obj": {"a": 1}, "s": "x", "n": 1}));
        let over =
            obj(json!({"port": 2, "tags": [9], "obj": "flat", "s": {"now": "object"}, "n": null}));
        assert_eq!(
            Value::Object(merge(&base, &over)),
            json!({"port": 2, "tags": [9], "obj": "flat", "s": {"now": "object"}, "n": null})
        );
    }

    #[test]
    fn merge_leaves_base_and_over_untouched() {
        let base = obj(json!({"db": {"host": "h"}, "port": 1}));
        let over = obj(json!({"db": {"user": "u"}, "port": 2}));
        let (base_before, over_before) = (base.clone(), over.clone());
        let merged = merge(&base, &over);
        assert_eq!(base, base_before);
        assert_eq!(over, over_before);
        assert_ne!(Value::Object(merged), Value::Object(base));
    }

    #[test]
    fn merge_with_empty_is_identity() {
        let map = obj(json!({"a": {"b": [1]}}));
        assert_eq!(merge(&map, &Map::new()), map);
        assert_eq!(merge(&Map::new(), &map), map);
    }

    #[test]
    fn spec_nested_to_the_depth_limit_is_accepted() {
        let spec = spec(nested_spec(ConfigSpec::MAX_DEPTH));
        spec.validate(&obj(nested_value(ConfigSpec::MAX_DEPTH)))
            .unwrap();
    }

    #[test]
    fn spec_nested_beyond_the_depth_limit_is_an_error() {
        for levels in [ConfigSpec::MAX_DEPTH + 1, 500] {
            let err = spec_err(nested_spec(levels));
            assert!(err.ends_with("` nests deeper than 32 levels"), "{err}");
        }
    }

    #[test]
    fn array_items_count_toward_the_spec_depth_limit() {
        let mut schema = json!({"type": "string"});
        for _ in 0..ConfigSpec::MAX_DEPTH {
            schema = json!({"type": "array", "items": schema});
        }
        let err = spec_err(json!({"properties": {"a": schema}}));
        assert!(
            err.ends_with("/items` nests deeper than 32 levels"),
            "{err}"
        );
    }

    #[test]
    fn config_nested_beyond_the_depth_limit_is_an_error() {
        let too_deep = obj(nested_value(ConfigSpec::MAX_DEPTH + 1));
        let pointer = "/a".repeat(ConfigSpec::MAX_DEPTH + 1);
        assert_eq!(
            ConfigSpec::empty()
                .validate(&too_deep)
                .unwrap_err()
                .to_string(),
            format!("invalid config at `{pointer}`: nests deeper than 32 levels")
        );
        let very_deep = obj(nested_value(500));
        let err = ConfigSpec::empty().validate(&very_deep).unwrap_err();
        assert!(
            err.to_string().ends_with("nests deeper than 32 levels"),
            "{err}"
        );
        ConfigSpec::empty()
            .validate(&obj(nested_value(ConfigSpec::MAX_DEPTH)))
            .unwrap();
    }

    #[test]
    fn type_errors_do_not_repeat_the_value() {
        let spec =
            spec(json!({"properties": {"key": {"type": "integer", "airbyte_secret": true}}}));
        let err = config_err(&spec, json!({"key": "sk_live_secret"}));
        assert!(!err.contains("sk_live_secret"), "{err}");
    }
}
