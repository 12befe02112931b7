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
mod tests;
