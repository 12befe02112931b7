//! The property harnesses of the fuzz targets.
//!
//! Each harness is a `pub fn <target>(data: &[u8])` that panics if, and only if, `data` breaks
//! the target's property. The cargo-fuzz targets in `fuzz/fuzz_targets/` are one-line calls to
//! them, and `tests/fuzz_corpus.rs` replays the checked-in seeds in `fuzz/seeds/<target>/`
//! through the same functions under plain `cargo test` on stable, so a crash found once stays
//! fixed.
//!
//! | harness | property |
//! | --- | --- |
//! | [`external_id`] | accepted exactly when the rules hold; accepted ids round-trip through text and JSON; refusals are invalid input naming `external_id` |
//! | [`cursor`] | a cursor has one spelling (parse then display gives the same text); the decoder accepts exactly the three encodings (created, external id, audit sequence); refusals name `cursor` |
//! | [`config_spec`] | parsing and validation never panic; errors name `spec` or a `config at` pointer that points where the error is; secret pointers are RFC 6901 and resolve to scalars; [`merge`] follows its documentation |
//! | [`token`] | `verify_token` and `authenticate` accept only the exact tokens the engine minted (not revoked, for `authenticate`); every other string is refused as an invalid token (a permission error if it starts like an org key) |
//!
//! ```
//! use bulkhead_testkit::fuzzing;
//! fuzzing::external_id(b"cust_abc123");
//! fuzzing::cursor(b"not a cursor");
//! fuzzing::config_spec(b"{\"properties\": {\"k\": {\"type\": \"string\"}}}\n{\"k\": \"v\"}");
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bulkhead_core::keys::{ORG_KEY_PREFIX, WORKER_KEY_PREFIX};
use bulkhead_core::token::TOKEN_TYPE;
use bulkhead_core::{
    Algorithm, ConfigSpec, Cursor, Engine, EngineConfig, Error, ExternalId, ManualClock, MasterKey,
    OperationSet, OrgScope, OrgSettings, Position, ScopedTokenRequest, Store, Timestamp,
    TokenRejection, merge,
};
use bulkhead_sqlite::{SqliteOptions, SqliteStore};
use serde_json::{Map, Value};
use uuid::Uuid;

/// A harness: panics if, and only if, its input breaks the target's property.
pub type Harness = fn(&[u8]);

/// Every harness, by the name of its fuzz target and its seed directory.
pub const TARGETS: [(&str, Harness); 4] = [
    ("external_id", external_id),
    ("cursor", cursor),
    ("config_spec", config_spec),
    ("token", token),
];

/// Panics unless `err` is [`Error::InvalidInput`] for `field`.
fn assert_invalid_input(err: &Error, field: &str) {
    match err {
        Error::InvalidInput { field: named, .. } => assert_eq!(named, field, "{err}"),
        other => panic!("expected invalid input naming `{field}`, got {other:?}"),
    }
}

/// External ids: [`ExternalId::new`] accepts `data` exactly when the documented rules hold (1
/// to 255 bytes of UTF-8, no control characters, no leading or trailing whitespace). An
/// accepted id is kept byte for byte and round-trips through `Display`/`FromStr` and JSON;
/// deserializing the same text as JSON gives the same answer as `new`; a refusal is invalid
/// input naming `external_id`. Input that is not UTF-8 is skipped.
pub fn external_id(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let obeys_rules = !text.is_empty()
        && text.len() <= ExternalId::MAX_BYTES
        && !text.chars().any(char::is_control)
        && text.trim() == text;
    let json = serde_json::to_string(text).unwrap();
    let from_json = serde_json::from_str::<ExternalId>(&json);
    match ExternalId::new(text) {
        Ok(id) => {
            assert!(
                obeys_rules,
                "accepted an id that breaks the rules: {text:?}"
            );
            assert_eq!(id.as_str(), text);
            assert_eq!(id.to_string(), text);
            assert_eq!(text.parse::<ExternalId>().unwrap(), id);
            assert_eq!(serde_json::to_string(&id).unwrap(), json);
            assert_eq!(from_json.unwrap(), id, "JSON refused what `new` accepts");
        }
        Err(err) => {
            assert!(!obeys_rules, "refused a valid id {text:?}: {err}");
            assert_invalid_input(&err, "external_id");
            assert!(
                from_json.is_err(),
                "JSON accepted what `new` refuses: {text:?}"
            );
        }
    }
}

/// Page cursors, both ways:
///
/// - `data` as text: a cursor that parses displays as exactly that text (one cursor, one
///   spelling) and serializes to it in JSON; a refusal is invalid input naming `cursor`.
/// - `data` as the decoded bytes of a cursor (base64url-encoded here): the decoder accepts
///   exactly tag `1` followed by 8 bytes of time and 16 of id, tag `2` followed by a valid
///   external id, or tag `3` followed by exactly 8 bytes of audit sequence number, in at most
///   400 characters, and decodes them to those values. Every tag of [`Position`] is listed
///   here: a tag the decoder knows and this harness does not is a false crash.
pub fn cursor(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        check_cursor_text(text);
    }
    let text = URL_SAFE_NO_PAD.encode(data);
    let expected = match data {
        _ if text.len() > 400 => None,
        [1, rest @ ..] => rest.split_first_chunk::<8>().and_then(|(at, id)| {
            let id = Uuid::from_slice(id).ok()?;
            let at = Timestamp::from_unix_millis(i64::from_be_bytes(*at));
            Some(Position::Created { at, id })
        }),
        [2, rest @ ..] => std::str::from_utf8(rest)
            .ok()
            .and_then(|s| ExternalId::new(s).ok())
            .map(Position::ExternalId),
        [3, rest @ ..] => <[u8; 8]>::try_from(rest)
            .ok()
            .map(|seq| Position::Sequence(u64::from_be_bytes(seq))),
        _ => None,
    };
    match (text.parse::<Cursor>(), expected) {
        (Ok(cursor), Some(position)) => {
            assert_eq!(cursor.position(), &position);
            assert_eq!(data.first(), Some(&cursor_tag(&position)));
        }
        (Err(err), None) => assert_invalid_input(&err, "cursor"),
        (Ok(cursor), None) => panic!("decoded {cursor:?} from bytes that encode no cursor"),
        (Err(err), Some(position)) => panic!("refused the encoding of {position:?}: {err}"),
    }
    check_cursor_text(&text);
}

/// The tag byte of each kind of position. An exhaustive match, so that a new kind of cursor
/// does not compile until the harness above knows its encoding.
fn cursor_tag(position: &Position) -> u8 {
    match position {
        Position::Created { .. } => 1,
        Position::ExternalId(_) => 2,
        Position::Sequence(_) => 3,
    }
}

fn check_cursor_text(text: &str) {
    match text.parse::<Cursor>() {
        Ok(cursor) => {
            assert_eq!(cursor.to_string(), text, "a cursor has one spelling");
            assert_eq!(cursor.to_string().parse::<Cursor>().unwrap(), cursor);
            assert_eq!(
                serde_json::to_value(&cursor).unwrap(),
                Value::String(text.to_owned())
            );
        }
        Err(err) => assert_invalid_input(&err, "cursor"),
    }
}

/// Connector specs and configs. `data` is a spec (JSON, the first line), a config (JSON, the
/// second line) and optionally an override (JSON, the rest). Text that is not JSON is skipped
/// at each step; a config or override that is not an object is skipped.
///
/// - [`ConfigSpec::parse`] never panics; it refuses with invalid input naming `spec`, and what
///   it accepts parses again, from [`ConfigSpec::as_value`], to an equal spec.
/// - [`ConfigSpec::secret_pointers`] are sorted, unique, canonical RFC 6901 pointers; in a
///   config that validated, a secret pointer that reaches a value (walking the object keys it
///   names) resolves to that same value through `serde_json`'s pointer, and it is a string,
///   number or boolean, never null, an object or an array.
/// - [`ConfigSpec::validate`] never panics; it refuses with invalid input whose field is
///   ``config at `<pointer>` ``, and the pointer is where the error is: it resolves in the
///   config, or, for a missing required field, its parent does and lacks the field.
/// - [`merge`] of config and override holds every key of both; keys of the override replace,
///   except where both hold objects, which merge the same way, recursively; merging with an
///   empty object, either way round, changes nothing.
pub fn config_spec(data: &[u8]) {
    let mut lines = data.splitn(3, |&b| b == b'\n');
    let spec_text = lines.next().unwrap_or_default();
    let config_text = lines.next().unwrap_or_default();
    let over_text = lines.next().unwrap_or_default();

    let Ok(value) = serde_json::from_slice::<Value>(spec_text) else {
        return;
    };
    let spec = match ConfigSpec::parse(value) {
        Ok(spec) => spec,
        Err(err) => return assert_invalid_input(&err, "spec"),
    };
    match ConfigSpec::parse(spec.as_value().clone()) {
        Ok(again) => assert_eq!(again, spec, "a spec parses again to another spec"),
        Err(err) => panic!("a spec does not parse again from its own value: {err}"),
    }
    let secrets = spec.secret_pointers();
    for pair in secrets.windows(2) {
        assert!(
            pair[0] < pair[1],
            "secret pointers not sorted and unique: {secrets:?}"
        );
    }
    for pointer in &secrets {
        assert!(
            unescape_pointer(pointer).is_some_and(|tokens| !tokens.is_empty()),
            "secret pointer {pointer:?} is not a canonical RFC 6901 pointer to a field"
        );
    }

    let Ok(config) = serde_json::from_slice::<Map<String, Value>>(config_text) else {
        return;
    };
    match spec.validate(&config) {
        Ok(()) => check_secrets_resolve(&secrets, &config),
        Err(err) => check_config_error(&err, &config),
    }

    assert_eq!(merge(&config, &Map::new()), config);
    assert_eq!(merge(&Map::new(), &config), config);
    let over = serde_json::from_slice::<Map<String, Value>>(over_text).unwrap_or_default();
    check_merged(&config, &over, &merge(&config, &over));
}

/// The reference tokens of an RFC 6901 pointer, if it is one in canonical form (`~` only as
/// `~0` or `~1`, `/` only as a separator).
fn unescape_pointer(pointer: &str) -> Option<Vec<String>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    rest.split('/')
        .map(|token| {
            let mut name = String::new();
            let mut chars = token.chars();
            while let Some(c) = chars.next() {
                match c {
                    '~' => match chars.next()? {
                        '0' => name.push('~'),
                        '1' => name.push('/'),
                        _ => return None,
                    },
                    c => name.push(c),
                }
            }
            Some(name)
        })
        .collect()
}

/// The value at `tokens`, following object keys only.
fn walk_objects<'a>(config: &'a Map<String, Value>, tokens: &[String]) -> Option<&'a Value> {
    let (last, parents) = tokens.split_last()?;
    let mut map = config;
    for name in parents {
        map = map.get(name)?.as_object()?;
    }
    map.get(last)
}

fn check_secrets_resolve(secrets: &[String], config: &Map<String, Value>) {
    let root = Value::Object(config.clone());
    for pointer in secrets {
        let tokens = unescape_pointer(pointer).unwrap();
        let walked = walk_objects(config, &tokens);
        assert_eq!(
            root.pointer(pointer),
            walked,
            "secret pointer {pointer:?} does not resolve to its field"
        );
        if let Some(value) = walked {
            assert!(
                matches!(value, Value::String(_) | Value::Number(_) | Value::Bool(_)),
                "a validated config holds {value} at the secret {pointer:?}"
            );
        }
    }
}

fn check_config_error(err: &Error, config: &Map<String, Value>) {
    let Error::InvalidInput { field, reason } = err else {
        panic!("validation failed with {err:?}, not invalid input");
    };
    let pointer = field
        .strip_prefix("config at `")
        .and_then(|rest| rest.strip_suffix('`'))
        .unwrap_or_else(|| panic!("validation error names {field:?}, not a config pointer"));
    let tokens = unescape_pointer(pointer)
        .unwrap_or_else(|| panic!("{pointer:?} is not a canonical RFC 6901 pointer"));
    let root = Value::Object(config.clone());
    if reason == "is required" {
        let (missing, _) = tokens.split_last().expect("a required field has a name");
        let parent = pointer.rsplit_once('/').map_or("", |(parent, _)| parent);
        let parent = root.pointer(parent).and_then(Value::as_object);
        assert!(
            parent.is_some_and(|p| !p.contains_key(missing)),
            "`{pointer}` is said to be missing, but its parent is not an object without it"
        );
    } else {
        assert!(
            root.pointer(pointer).is_some(),
            "the error `{field}: {reason}` points at nothing in the config"
        );
    }
}

/// `merged` is `base` with `over` merged onto it, as [`merge`] documents it.
fn check_merged(base: &Map<String, Value>, over: &Map<String, Value>, merged: &Map<String, Value>) {
    for key in merged.keys() {
        assert!(
            base.contains_key(key) || over.contains_key(key),
            "merge made up the key {key:?}"
        );
    }
    for (key, value) in base {
        if !over.contains_key(key) {
            assert_eq!(
                merged.get(key),
                Some(value),
                "merge lost the base's {key:?}"
            );
        }
    }
    for (key, value) in over {
        let got = merged.get(key);
        match (base.get(key), value, got) {
            (Some(Value::Object(b)), Value::Object(o), Some(Value::Object(m))) => {
                check_merged(b, o, m);
            }
            _ => assert_eq!(
                got,
                Some(value),
                "merge did not apply the override's {key:?}"
            ),
        }
    }
}

/// An engine over a store (in-memory SQLite for [`token`], any store for [`TokenFuzzer`]),
/// with three tokens it minted at a fixed time: live HS256 and EdDSA tokens of two
/// organizations, and a revoked HS256 token.
struct TokenFixture {
    engine: Engine,
    /// Indexed by [`LIVE_HS256`], [`LIVE_EDDSA`], [`REVOKED`]: the order a recipe picks from.
    minted: [String; 3],
    /// The `alg` and `kid` of each minted token's header.
    headers: [(String, String); 3],
}

const LIVE_HS256: usize = 0;
const LIVE_EDDSA: usize = 1;
const REVOKED: usize = 2;

impl TokenFixture {
    fn get() -> &'static Self {
        static FIXTURE: OnceLock<TokenFixture> = OnceLock::new();
        FIXTURE.get_or_init(|| {
            // Shared cache: the store's writer and reader connections see one in-memory
            // database, which lives as long as the store (the process): no file, no directory
            // left behind.
            let store = SqliteStore::open(
                "file:bulkhead-fuzz-token?mode=memory&cache=shared",
                &SqliteOptions::default(),
            )
            .unwrap();
            Self::on(Arc::new(store))
        })
    }

    /// The fixture over `store`, which must be empty.
    fn on(store: Arc<dyn Store>) -> Self {
        // The clock never moves: the minted tokens stay valid however long the fuzzer runs.
        let clock = Arc::new(ManualClock::new(Timestamp::from_unix_millis(
            1_795_928_602_000,
        )));
        let engine = Engine::new(
            store,
            EngineConfig {
                clock,
                master_key: Arc::new(MasterKey::from_bytes([7; 32]).unwrap()),
                token_leeway: Duration::from_secs(30),
            },
        )
        .unwrap();
        let org = |name: &str, token_algorithm| {
            let settings = OrgSettings {
                token_algorithm,
                ..OrgSettings::default()
            };
            let (org, _) = engine.create_organization_with(name, settings).unwrap();
            engine.operator_org_scope(org.id).unwrap()
        };
        let mint = |scope: &OrgScope, customer: &str| {
            let request = ScopedTokenRequest::new(customer.parse().unwrap());
            let issued = scope.scoped_token(&request).unwrap();
            issued.token.expose().to_owned()
        };
        let hs256 = org("fuzz-hs256", Algorithm::Hs256);
        let eddsa = org("fuzz-eddsa", Algorithm::EdDsa);
        let minted = [
            mint(&hs256, "cust-1"),
            mint(&eddsa, "cust-1"),
            mint(&hs256, "cust-2"),
        ];
        hs256.revoke_token(&minted[REVOKED]).unwrap();
        let headers = minted.clone().map(|token| {
            let header = token.split('.').next().unwrap();
            let header: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).unwrap()).unwrap();
            let field = |name: &str| header[name].as_str().unwrap().to_owned();
            (field("alg"), field("kid"))
        });
        Self {
            engine,
            minted,
            headers,
        }
    }

    /// The token `data` stands for: itself, or what its recipe makes (see [`token`]).
    fn candidate(&self, data: &[u8]) -> Vec<u8> {
        let [RECIPE, base, ops @ ..] = data else {
            return data.to_vec();
        };
        let base = usize::from(*base) % self.minted.len();
        let mut token = self.minted[base].as_bytes().to_vec();
        for op in ops.chunks_exact(4) {
            let &[code, hi, lo, value] = op else {
                continue;
            };
            // The high bit counts the position from the end, so a recipe can name "the last
            // character of the signature" whatever the token's length.
            let at = |len: usize| {
                let n = usize::from(u16::from_be_bytes([hi & 0x7f, lo]));
                match len {
                    0 => 0,
                    _ if hi & 0x80 == 0 => n % len,
                    _ => len - 1 - n % len,
                }
            };
            match code % 8 {
                0 if !token.is_empty() => {
                    let i = at(token.len());
                    token[i] ^= value;
                }
                1 => {
                    let i = at(token.len() + 1);
                    token.insert(i, value);
                }
                2 if !token.is_empty() => {
                    token.remove(at(token.len()));
                }
                3 if !token.is_empty() => {
                    let i = at(token.len());
                    token[i] = value;
                }
                4 => {
                    let part = at(3);
                    let source = self.minted.get(usize::from(value % 4));
                    let new = source.map_or("", |t| t.split('.').nth(part).unwrap_or(""));
                    replace_part(&mut token, part, new.as_bytes());
                }
                5 => {
                    let header = self.forged_header(base, value);
                    replace_part(&mut token, 0, URL_SAFE_NO_PAD.encode(header).as_bytes());
                }
                6 => {
                    let claims = self.forged_claims(base, value);
                    replace_part(&mut token, 1, URL_SAFE_NO_PAD.encode(claims).as_bytes());
                }
                7 => {
                    let len = at(token.len() + 1);
                    token.truncate(len);
                }
                _ => {}
            }
        }
        token
    }

    /// A header for the kid of minted token `base`, in one of a catalog of forgeries: other
    /// algorithms (`none`, the other one, different case), another type, `crit`, a duplicate
    /// `alg`, another organization's kid, an unknown parameter, no kid, the same header
    /// spelled differently, and (from 12) kids no engine makes (a NUL, 65 characters, empty)
    /// and a `crit` that is `null`.
    fn forged_header(&self, base: usize, variant: u8) -> String {
        let (alg, kid) = &self.headers[base];
        let other = if alg == "HS256" {
            LIVE_EDDSA
        } else {
            LIVE_HS256
        };
        let q = |s: &str| serde_json::to_string(s).unwrap();
        let (alg, kid, typ) = (q(alg), q(kid), q(TOKEN_TYPE));
        match variant % 16 {
            0 => format!(r#"{{"alg":"none","typ":{typ},"kid":{kid}}}"#),
            1 => format!(r#"{{"alg":"HS256","typ":{typ},"kid":{kid}}}"#),
            2 => format!(r#"{{"alg":"EdDSA","typ":{typ},"kid":{kid}}}"#),
            3 => format!(
                r#"{{"alg":{},"typ":{typ},"kid":{kid}}}"#,
                alg.to_lowercase()
            ),
            4 => format!(r#"{{"alg":{alg},"typ":"JWT","kid":{kid}}}"#),
            5 => format!(r#"{{"alg":{alg},"typ":{typ},"kid":{kid},"crit":["exp"]}}"#),
            6 => format!(r#"{{"alg":"none","alg":{alg},"typ":{typ},"kid":{kid}}}"#),
            7 => format!(
                r#"{{"alg":{alg},"typ":{typ},"kid":{}}}"#,
                q(&self.headers[other].1)
            ),
            8 => format!(
                r#"{{"alg":{alg},"typ":{typ},"kid":{kid},"jku":"https://attacker.invalid/jwks.json"}}"#
            ),
            9 => format!(r#"{{"alg":{alg},"typ":{typ}}}"#),
            10 => format!(r#"{{"kid":{kid},"typ":{typ},"alg":{alg}}}"#),
            11 => format!(r#"{{ "alg": {alg}, "typ": {typ}, "kid": {kid} }}"#),
            // PostgreSQL refuses a NUL in text: the kid must be refused before the lookup.
            12 => format!(r#"{{"alg":{alg},"typ":{typ},"kid":"\u0000"}}"#),
            13 => format!(r#"{{"alg":{alg},"typ":{typ},"kid":"{}"}}"#, "k".repeat(65)),
            14 => format!(r#"{{"alg":{alg},"typ":{typ},"kid":""}}"#),
            _ => format!(r#"{{"alg":{alg},"typ":{typ},"kid":{kid},"crit":null}}"#),
        }
    }

    /// The claims of minted token `base`, changed in one of a catalog of ways: a later `exp`,
    /// every operation, another workspace, another organization, an unknown claim, no
    /// claims, or the same claims spelled differently.
    fn forged_claims(&self, base: usize, variant: u8) -> String {
        let claims = |i: usize| -> Map<String, Value> {
            let payload = self.minted[i].split('.').nth(1).unwrap();
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
        };
        let other = if self.headers[base].0 == "HS256" {
            LIVE_EDDSA
        } else {
            LIVE_HS256
        };
        let mut forged = claims(base);
        match variant % 7 {
            0 => {
                let exp = forged["exp"].as_i64().unwrap();
                forged.insert("exp".into(), (exp + 10 * 365 * 86_400).into());
            }
            1 => {
                let all: Vec<&str> = OperationSet::all().iter().map(|op| op.as_str()).collect();
                forged.insert("ops".into(), all.into());
            }
            2 => {
                forged.insert("sub".into(), claims(other)["sub"].clone());
            }
            3 => {
                forged.insert("org".into(), claims(other)["org"].clone());
            }
            4 => {
                forged.insert("admin".into(), true.into());
            }
            5 => forged.clear(),
            _ => {
                let mut pretty = serde_json::to_string_pretty(&forged).unwrap();
                pretty.push(' ');
                return pretty;
            }
        }
        serde_json::to_string(&forged).unwrap()
    }
}

/// Replaces the `index`-th dot-separated part of `token`, if it has one.
fn replace_part(token: &mut Vec<u8>, index: usize, new: &[u8]) {
    let mut parts: Vec<&[u8]> = token.split(|&b| b == b'.').collect();
    if let Some(part) = parts.get_mut(index) {
        *part = new;
        *token = parts.join(&b'.');
    }
}

/// Marks a token recipe; it is not a base64url character, so no token starts with it.
const RECIPE: u8 = b'!';

/// Scoped tokens: [`Engine::verify_token`] and [`Engine::authenticate`] never panic, and accept
/// only the exact strings the engine minted; any other accepted string is a forgery.
///
/// The engine (over an in-memory SQLite store, with a stopped clock; [`TokenFuzzer`] runs the
/// same property over another store) is built once per process and mints three tokens: a live
/// HS256 token, a live EdDSA token of another organization, and a revoked HS256 token. `verify_token` must accept all three and `authenticate` the two live
/// ones (the revoked one is refused as revoked); any other string must be refused as an invalid
/// token (or, if it starts like an org key, as a permission error).
///
/// `data` is the token to try, as text (bytes that are not UTF-8 are replaced), unless it is a
/// recipe: `!`, a byte choosing the minted token to start from (modulo 3: HS256, EdDSA,
/// revoked), then operations of 4 bytes `[op, pos_hi, pos_lo, value]` applied in turn. The
/// position is 15 bits, modulo the length, counted from the end when the high bit is set. The
/// op, modulo 8: 0 XOR the byte at pos with value; 1 insert value at pos; 2 delete the byte at
/// pos; 3 set the byte at pos to value; 4 replace part pos (modulo 3: header, claims,
/// signature) with the same part of minted token value (modulo 4, 3 being an empty part);
/// 5 replace the header with forgery value (see the fixture's catalog); 6 replace the claims
/// with forgery value; 7 truncate to pos.
pub fn token(data: &[u8]) {
    check_token(TokenFixture::get(), data);
}

/// The [`token`] harness over a store of the caller's choice, so that refusals that depend on
/// the backend (a PostgreSQL error on a value SQLite takes, say) are fuzzed too: a refusal
/// must still be an invalid token, never a storage error. Replay the seeds
/// ([`seeds`]`("token")`) and [`token_inputs`] through [`TokenFuzzer::check`].
pub struct TokenFuzzer(TokenFixture);

impl TokenFuzzer {
    /// Sets up the fixture of [`token`] (two organizations, three minted tokens) in `store`,
    /// which must be empty.
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self(TokenFixture::on(store))
    }

    /// Panics if, and only if, `data` breaks the property of [`token`].
    pub fn check(&self, data: &[u8]) {
        check_token(&self.0, data);
    }
}

impl fmt::Debug for TokenFuzzer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenFuzzer").finish_non_exhaustive()
    }
}

/// Every seed of the fuzz target `target` (the files of `fuzz/seeds/<target>/` in this
/// repository), sorted by path, with its bytes.
///
/// # Panics
///
/// When the directory is missing or a seed cannot be read.
pub fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/seeds")
        .join(target);
    let entries = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("seed directory `{}` is missing: {e}", dir.display()));
    let mut paths: Vec<PathBuf> = entries
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_file())
        .collect();
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let data = std::fs::read(&path).unwrap();
            (path, data)
        })
        .collect()
}

/// `count` inputs for [`token`], the same for the same `seed`: mostly recipes of one to four
/// random operations (so most start from a token that passes the cheap checks), some random
/// text over the base64url alphabet and the dot. A CI-sized stand-in for a fuzzer run, for
/// stores `cargo fuzz` does not reach.
pub fn token_inputs(count: usize, seed: u64) -> Vec<Vec<u8>> {
    // SplitMix64: small, deterministic, good enough to spread inputs.
    let mut state = seed;
    let mut next = move || {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";
    (0..count)
        .map(|_| {
            let word = next();
            if word % 8 == 0 {
                let len = (word >> 8) % 200;
                (0..len)
                    .map(|_| ALPHABET[(next() % ALPHABET.len() as u64) as usize])
                    .collect()
            } else {
                let mut recipe = vec![RECIPE, (word >> 8) as u8];
                for _ in 0..=(word >> 16) % 4 {
                    recipe.extend_from_slice(&next().to_le_bytes()[..4]);
                }
                recipe
            }
        })
        .collect()
}

/// The property of [`token`] for `data`, on `fixture`'s engine.
fn check_token(fixture: &TokenFixture, data: &[u8]) {
    let candidate = fixture.candidate(data);
    let text = String::from_utf8_lossy(&candidate);
    let text = text.as_ref();
    let minted = fixture.minted.iter().position(|t| t == text);
    let live = minted.filter(|&i| i != REVOKED);

    match fixture.engine.verify_token(text) {
        Ok(_) => assert!(
            minted.is_some(),
            "forgery: verify_token accepted a token the engine never minted: {text:?}"
        ),
        Err(err) => {
            assert!(
                minted.is_none(),
                "verify_token refused its own token: {err}"
            );
            assert_refused(&err, text);
        }
    }
    match fixture.engine.authenticate(text) {
        Ok(_) => assert!(
            live.is_some(),
            "forgery: authenticate accepted a token that is not live: {text:?}"
        ),
        Err(err) if minted == Some(REVOKED) => assert!(
            matches!(
                err,
                Error::InvalidToken {
                    reason: TokenRejection::Revoked,
                    ..
                }
            ),
            "the revoked token was refused for another reason: {err}"
        ),
        Err(err) => {
            assert!(live.is_none(), "authenticate refused a live token: {err}");
            assert_refused(&err, text);
        }
    }
}

/// A string that is not a minted token is an invalid token; one that starts like an org key is
/// refused as the wrong credential.
fn assert_refused(err: &Error, text: &str) {
    let expected = match err {
        Error::InvalidToken { .. } => true,
        Error::PermissionDenied { .. } => {
            text.starts_with(ORG_KEY_PREFIX) || text.starts_with(WORKER_KEY_PREFIX)
        }
        _ => false,
    };
    assert!(expected, "{text:?} was refused with {err:?}");
}
