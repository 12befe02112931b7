//! Shared fixtures for the benches: a database with one organization and a workspace holding
//! a known number of sources, and the cached many-workspace databases of
//! `benches/many_workspaces.rs`.

use bulkhead::{
    Config, ConnectorConfig, Engine, MasterKey, NewSource, OrgScope, Result, Source, SourceId,
    Timestamp, WorkspaceId, WorkspaceScope,
};
use rusqlite::{Connection, OptionalExtension, Row, params};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// The JSON config every bench source carries.
pub const SOURCE_CONFIG: &str = r#"{"account_id":"acct_123","start_date":"2024-01-01"}"#;

/// An engine on a fresh file with one workspace of `sources` sources, and a neighbour
/// workspace with as many, so the tenant filter has rows to exclude.
pub struct Fixture {
    /// The engine.
    pub engine: Engine,
    /// The organization's scope.
    pub org: OrgScope,
    /// The measured workspace.
    pub scope: WorkspaceScope,
    /// Its id, for hand-written baselines.
    pub workspace_id: WorkspaceId,
    /// Its sources, oldest first.
    pub sources: Vec<SourceId>,
}

/// Builds a [`Fixture`] in the database file `path`.
pub fn fixture(path: &Path, sources: usize) -> Result<Fixture> {
    let engine = Engine::open(
        path,
        Config::default().with_master_key(MasterKey::generate()?),
    )?;
    let (_, key) = engine.create_organization("Bench")?;
    let admin = engine.authenticate_org(key.expose())?;
    let mut measured = None;
    for customer in ["bench-neighbour", "bench-customer"] {
        let ws = admin.get_or_create_workspace(&customer.parse()?)?.workspace;
        let scope = admin.workspace(ws.id)?;
        let mut ids = Vec::with_capacity(sources);
        for n in 0..sources {
            ids.push(add_source(&scope, n)?);
        }
        measured = Some((scope, ws.id, ids));
    }
    let (scope, workspace_id, sources) = measured
        .ok_or_else(|| bulkhead::Error::invalid_input("sources", "fixture built no workspace"))?;
    Ok(Fixture {
        engine,
        org: admin,
        scope,
        workspace_id,
        sources,
    })
}

fn add_source(scope: &WorkspaceScope, n: usize) -> Result<SourceId> {
    let source = scope.create_source(NewSource {
        name: format!("Source {n}").parse()?,
        connector: "stripe".parse()?,
        config: ConnectorConfig::from_json(SOURCE_CONFIG)?,
    })?;
    Ok(source.id)
}

/// The peak resident set of this process (`VmHWM`), in KiB, where `/proc` has it.
pub fn peak_rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Where cached bench databases live: `<target>/bench-data`.
pub fn bench_data_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("bench-data")
}

/// Workspaces made through the engine in a [`ManyWorkspaces`] database (each with
/// [`SOURCES_EACH`] sources); the benches rotate over them.
pub const MEASURED: usize = 10;
/// Sources of each workspace that has any.
pub const SOURCES_EACH: usize = 10;
/// Bump when the layout of the generated databases changes; part of the cache key with the
/// schema version.
const LAYOUT_VERSION: u32 = 1;

/// A database of `workspaces` workspaces in one organization, 1% of them with
/// [`SOURCES_EACH`] sources, opened by an engine.
pub struct ManyWorkspaces {
    /// The engine on the file.
    pub engine: Engine,
    /// The organization's scope (from its access key).
    pub org: OrgScope,
    /// The file.
    pub path: PathBuf,
    /// Seconds spent building it in this run; `None` when it came from the cache.
    pub built_in: Option<f64>,
}

/// The external id of the `n`th measured workspace.
pub fn measured_external_id(n: usize) -> String {
    format!("measured-{n:02}")
}

/// Opens the cached database of `workspaces` workspaces under [`bench_data_dir`], building
/// it first when missing. The cache key holds the count, the schema version and
/// `LAYOUT_VERSION`; the file is built under a temporary name and renamed when complete.
///
/// The organization, its key and the [`MEASURED`] workspaces with their sources are made
/// through the engine; the bulk (the other workspaces, and the sources of 1% of them) is
/// inserted with raw SQL in large transactions, matching the schema's columns.
pub fn many_workspaces(workspaces: usize) -> Result<ManyWorkspaces> {
    let dir = bench_data_dir();
    std::fs::create_dir_all(&dir).map_err(|e| io_error(&dir, &e))?;
    let stem = format!(
        "workspaces-{workspaces}-schema{}-layout{LAYOUT_VERSION}",
        bulkhead::sqlite::SCHEMA_VERSION
    );
    let path = dir.join(format!("{stem}.db"));
    let org_key_path = dir.join(format!("{stem}.orgkey"));
    let key_path = bulkhead::default_key_file(&path);
    let mut built_in = None;
    if !(path.exists() && org_key_path.exists() && key_path.exists()) {
        let started = Instant::now();
        build(&dir, &stem, workspaces)?;
        built_in = Some(started.elapsed().as_secs_f64());
    }
    let engine = Engine::open(&path, Config::default())?;
    let org_key =
        std::fs::read_to_string(&org_key_path).map_err(|e| io_error(&org_key_path, &e))?;
    let org = engine.authenticate_org(org_key.trim())?;
    Ok(ManyWorkspaces {
        engine,
        org,
        path,
        built_in,
    })
}

fn io_error(path: &Path, e: &std::io::Error) -> bulkhead::Error {
    bulkhead::Error::invalid_input("bench data", format!("{}: {e}", path.display()))
}

fn sql_error(e: &rusqlite::Error) -> bulkhead::Error {
    bulkhead::Error::invalid_input("bench data", format!("SQLite: {e}"))
}

fn build(dir: &Path, stem: &str, workspaces: usize) -> Result<()> {
    let partial = dir.join(format!("{stem}.partial.db"));
    let partial_key = bulkhead::default_key_file(&partial);
    for stale in [
        partial.clone(),
        partial_key.clone(),
        dir.join(format!("{stem}.partial.db-wal")),
        dir.join(format!("{stem}.partial.db-shm")),
    ] {
        let _ = std::fs::remove_file(stale);
    }
    MasterKey::create_file(&partial_key)?;
    let org_id;
    let org_key;
    {
        let engine = Engine::open(&partial, Config::default())?;
        let (org, key) = engine.create_organization("Bench")?;
        org_id = org.id;
        org_key = key.expose().to_owned();
        let admin = engine.authenticate_org(&org_key)?;
        for n in 0..MEASURED.min(workspaces) {
            let ws = admin
                .get_or_create_workspace(&measured_external_id(n).parse()?)?
                .workspace;
            let scope = admin.workspace(ws.id)?;
            for s in 0..SOURCES_EACH {
                add_source(&scope, s)?;
            }
        }
    }
    bulk_insert(&partial, org_id, workspaces).map_err(|e| sql_error(&e))?;
    let final_path = dir.join(format!("{stem}.db"));
    let key_path = bulkhead::default_key_file(&final_path);
    let org_key_path = dir.join(format!("{stem}.orgkey"));
    std::fs::write(&org_key_path, &org_key).map_err(|e| io_error(&org_key_path, &e))?;
    std::fs::rename(&partial_key, &key_path).map_err(|e| io_error(&key_path, &e))?;
    std::fs::rename(&partial, &final_path).map_err(|e| io_error(&final_path, &e))?;
    Ok(())
}

/// A version-4-shaped UUID from a counter (splitmix64), so the bulk needs no system
/// randomness and keys land all over the B-trees as real random ids do.
fn uuid_from(seed: u64) -> uuid::Uuid {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    let high = u128::from(mix(seed.wrapping_mul(2)));
    let low = u128::from(mix(seed.wrapping_mul(2).wrapping_add(1)));
    uuid::Builder::from_random_bytes(((high << 64) | low).to_be_bytes()).into_uuid()
}

fn bulk_insert(path: &Path, org_id: bulkhead::OrgId, workspaces: usize) -> rusqlite::Result<()> {
    const BATCH: usize = 200_000;
    let mut conn = rusqlite::Connection::open(path)?;
    conn.execute_batch(
        "PRAGMA synchronous = OFF; PRAGMA cache_size = -524288; PRAGMA foreign_keys = OFF;",
    )?;
    let org = *org_id.as_uuid();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    let bulk = workspaces.saturating_sub(MEASURED);
    // 1% of all workspaces have sources; the measured ones are among them.
    let with_sources = (workspaces / 100).saturating_sub(MEASURED);
    let mut done = 0;
    while done < bulk {
        let tx = conn.transaction()?;
        {
            let mut ws_stmt = tx.prepare(
                "INSERT INTO workspaces (id, org_id, external_id, name, status, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?3, 'active', ?4, ?4)",
            )?;
            let mut src_stmt = tx.prepare(
                "INSERT INTO sources (workspace_id, id, org_id, name, connector, config, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, 'stripe', ?5, ?6, ?6)",
            )?;
            let end = (done + BATCH).min(bulk);
            for n in done..end {
                let seed = u64::try_from(n).unwrap_or(u64::MAX);
                let id = uuid_from(seed);
                let external = format!("ws-{n:07}");
                ws_stmt.execute(rusqlite::params![id, org, external, now])?;
                if n < with_sources {
                    for s in 0..SOURCES_EACH {
                        let sid = uuid_from(seed.wrapping_add(1 << 40).wrapping_mul(16) + s as u64);
                        src_stmt.execute(rusqlite::params![
                            id,
                            sid,
                            org,
                            format!("Source {s}"),
                            SOURCE_CONFIG,
                            now + i64::try_from(s).unwrap_or(0),
                        ])?;
                    }
                }
            }
            done = end;
        }
        tx.commit()?;
    }
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")?;
    Ok(())
}

/// The size of the database file and its WAL, in bytes.
pub fn database_bytes(path: &Path) -> u64 {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    [path.to_path_buf(), PathBuf::from(wal)]
        .iter()
        .filter_map(|p| std::fs::metadata(p).ok())
        .map(|m| m.len())
        .sum()
}

/// The claims of a scoped token as a generic JWT library sees them: the same names and JSON
/// types, for the `jsonwebtoken` baselines.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct JwtClaims {
    /// Issuer.
    pub iss: String,
    /// Audience.
    pub aud: String,
    /// The workspace id.
    pub sub: String,
    /// The organization id.
    pub org: String,
    /// The external id.
    pub ext: String,
    /// The operations.
    pub ops: Vec<String>,
    /// Issued at, seconds.
    pub iat: i64,
    /// Expires at, seconds.
    pub exp: i64,
    /// Token id.
    pub jti: String,
}

/// A compact JWT taken apart: what raw-crypto baselines verify.
#[derive(Clone, Debug)]
pub struct TokenParts {
    /// The `kid` header.
    pub kid: String,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: Vec<u8>,
    /// The signature, decoded.
    pub signature: Vec<u8>,
    /// The claims.
    pub claims: JwtClaims,
}

/// Takes `token` apart (no verification).
pub fn token_parts(token: &str) -> Result<TokenParts> {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let bad = |what: &str| bulkhead::Error::invalid_input("token", what.to_owned());
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("not three parts"));
    };
    let header: serde_json::Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(header)
            .map_err(|_| bad("header base64"))?,
    )
    .map_err(|_| bad("header json"))?;
    let claims: JwtClaims = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| bad("payload base64"))?,
    )
    .map_err(|_| bad("claims json"))?;
    Ok(TokenParts {
        kid: header
            .get("kid")
            .and_then(|k| k.as_str())
            .ok_or_else(|| bad("no kid"))?
            .to_owned(),
        signing_input: token
            .get(..header_len(token))
            .ok_or_else(|| bad("lengths"))?
            .as_bytes()
            .to_vec(),
        signature: URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| bad("signature base64"))?,
        claims,
    })
}

fn header_len(token: &str) -> usize {
    token.rfind('.').unwrap_or(0)
}

/// Decodes a base64url (no padding) string, as JWKS `x` values are.
pub fn base64url(text: &str) -> Result<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| bulkhead::Error::invalid_input("base64url", text.to_owned()))
}

// The hand-written baselines of `benches/guarded_read.rs` (also run by
// `examples/profile_driver.rs`). They unwrap: a failure is a broken bench.

/// The columns of a source, in the order [`decode`] reads them.
const COLUMNS: &str = "id, org_id, workspace_id, name, connector, config, created_at, \
                       updated_at, template_id";

/// A row of `sources` as a [`Source`], the way a hand-written reader would decode it.
#[allow(clippy::unwrap_used, reason = "a hand-written baseline; see above")]
fn decode(r: &Row<'_>) -> rusqlite::Result<Source> {
    Ok(Source {
        id: bulkhead::SourceId::from_uuid(r.get(0)?).unwrap(),
        org_id: bulkhead::OrgId::from_uuid(r.get(1)?).unwrap(),
        workspace_id: bulkhead::WorkspaceId::from_uuid(r.get(2)?).unwrap(),
        name: r.get::<_, String>(3)?.parse().unwrap(),
        connector: r.get::<_, String>(4)?.parse().unwrap(),
        config: ConnectorConfig::from_stored(r.get::<_, String>(5)?).unwrap(),
        created_at: Timestamp::from_unix_millis(r.get(6)?),
        updated_at: Timestamp::from_unix_millis(r.get(7)?),
        template_id: r
            .get::<_, Option<uuid::Uuid>>(8)?
            .map(|id| bulkhead::SourceTemplateId::from_uuid(id).unwrap()),
    })
}

/// The baseline of the guarded `get`: one source by a hand-written prepared statement on a
/// plain connection, decoded into the same struct.
#[allow(clippy::unwrap_used, reason = "a hand-written baseline; see above")]
pub fn hand_written_get(
    conn: &Connection,
    workspace: &uuid::Uuid,
    id: &uuid::Uuid,
) -> Option<Source> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sources WHERE workspace_id = ?1 AND id = ?2"
        ))
        .unwrap();
    stmt.query_row(params![workspace, id], decode)
        .optional()
        .unwrap()
}

/// The list the store runs (first page: `limit + 1` rows to know whether there is a next
/// page), on the base table.
/// The baseline of the guarded list: the same query hand-written, decoded into the same
/// struct.
#[allow(clippy::unwrap_used, reason = "a hand-written baseline; see above")]
pub fn hand_written_list(conn: &Connection, workspace: &uuid::Uuid, limit: usize) -> Vec<Source> {
    let mut stmt = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM sources WHERE workspace_id = ?1 \
             ORDER BY created_at, id LIMIT ?2"
        ))
        .unwrap();
    let mut rows: Vec<Source> = stmt
        .query_map(params![workspace, limit as i64 + 1], decode)
        .unwrap()
        .collect::<rusqlite::Result<_>>()
        .unwrap();
    rows.truncate(limit);
    rows
}

/// A ratio measured side by side: `a` and `b` run in alternating batches of `batch` calls,
/// `rounds` times (which one goes first alternates too), and each round gives the ratio of
/// `a`'s batch time to `b`'s. Drift in the machine's speed (another process, a frequency
/// change) then hits both sides of a ratio alike, where criterion's groups, one after the
/// other seconds apart, each get whatever the machine gives at their turn.
#[derive(Clone, Debug)]
pub struct Paired {
    /// Each round's ratio, sorted.
    pub ratios: Vec<f64>,
}

impl Paired {
    /// Runs the rounds (a warm-up round first, not counted).
    pub fn measure(rounds: usize, batch: usize, mut a: impl FnMut(), mut b: impl FnMut()) -> Self {
        let time = |f: &mut dyn FnMut()| {
            let start = Instant::now();
            for _ in 0..batch {
                f();
            }
            start.elapsed().as_secs_f64()
        };
        time(&mut a);
        time(&mut b);
        let mut ratios: Vec<f64> = (0..rounds)
            .map(|round| {
                if round % 2 == 0 {
                    let ta = time(&mut a);
                    ta / time(&mut b)
                } else {
                    let tb = time(&mut b);
                    time(&mut a) / tb
                }
            })
            .collect();
        ratios.sort_by(f64::total_cmp);
        Self { ratios }
    }

    /// The ratio at quantile `q` (0 to 1) of the rounds.
    pub fn quantile(&self, q: f64) -> f64 {
        let last = self.ratios.len().saturating_sub(1);
        let at = (q * last as f64).round() as usize;
        self.ratios.get(at.min(last)).copied().unwrap_or(f64::NAN)
    }

    /// One line for the bench's output: the median and the quartiles.
    pub fn report(&self, what: &str) -> String {
        format!(
            "{what}: paired ratio median {:.3}x (quartiles {:.3}x to {:.3}x, {} rounds)",
            self.quantile(0.5),
            self.quantile(0.25),
            self.quantile(0.75),
            self.ratios.len()
        )
    }
}
