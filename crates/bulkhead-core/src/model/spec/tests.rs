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
        spec_err(json!({"required": ["host", "port"], "properties": {"host": {"type": "string"}}})),
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
        spec_err(json!({"required": ["host", "host"], "properties": {"host": {"type": "string"}}})),
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
    let err = spec_err(json!({"properties": {"keys": {"type": "array", "airbyte_secret": true}}}));
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
    let base = obj(json!({"db": {"host": "h", "tls": {"mode": "require", "ca": "x"}}, "keep": 1}));
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
    let spec = spec(json!({"properties": {"key": {"type": "integer", "airbyte_secret": true}}}));
    let err = config_err(&spec, json!({"key": "sk_live_secret"}));
    assert!(!err.contains("sk_live_secret"), "{err}");
}
