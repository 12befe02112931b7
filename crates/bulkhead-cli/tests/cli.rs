//! The `bulkhead` binary, run as a user runs it.
//!
//! Every run starts from a clean environment for Bulkhead's variables; a test that needs one
//! sets it on that command only (`Command::env`), never on the test process.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

/// The demo's secrets (duplicated from `src/demo.rs`, whose unit test checks this file still
/// lists them; `demo_secrets_here_are_the_ones_the_demo_seals` checks them against the
/// database).
const DEMO_SECRETS: [&str; 4] = [
    "sk_live_demo_a_4eC39HqLyjWDarjtT1zdp7dc",
    "sk_live_demo_b_9Qm2Xw7LrK4pVn8Hs3Zt6Yc",
    "pg_demo_c_Zt7Qm2Wx9Lr4Kp8Vn3Hs5Jd",
    "s3_demo_wJalrXUtnFEMI_K7MDENG_bPxRfiCYzz",
];

/// A source template's spec with a secret field.
const STRIPE_SPEC: &str = r#"{"type": "object", "required": ["account_id", "api_key"],
    "properties": {"account_id": {"type": "string"},
                   "api_key": {"type": "string", "airbyte_secret": true}}}"#;

/// A secret a test customer configures.
const CUSTOMER_SECRET: &str = "sk_test_cli_customer_secret_8f3k2";

/// A master key for tests that pass one in the environment: base64 of 32 bytes.
const ENV_MASTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// `bulkhead` with `args` and only the given environment variables of Bulkhead's own.
fn command(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_bulkhead"));
    cmd.args(args);
    for name in [
        "BULKHEAD_ORG",
        "BULKHEAD_ORG_KEY",
        "BULKHEAD_MASTER_KEY",
        "BULKHEAD_MASTER_KEY_FILE",
    ] {
        cmd.env_remove(name);
    }
    for (name, value) in env {
        cmd.env(name, value);
    }
    cmd
}

fn bulkhead(args: &[&str]) -> Output {
    command(args, &[]).output().expect("the binary runs")
}

/// `bulkhead` with the org key in `BULKHEAD_ORG_KEY`.
fn bulkhead_as(org_key: &str, args: &[&str]) -> Output {
    command(args, &[("BULKHEAD_ORG_KEY", org_key)])
        .output()
        .expect("the binary runs")
}

/// `bulkhead` with `input` on stdin.
fn bulkhead_with_stdin(args: &[&str], input: &str) -> Output {
    let mut child = command(args, &[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(output: &Output) -> Value {
    assert_success(output);
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", stdout(output)))
}

fn assert_success(output: &Output) {
    assert!(
        output.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        output.status.code(),
        stdout(output),
        stderr(output)
    );
}

/// Asserts exit status 1 and returns stderr, which must be one `error: ` report.
fn assert_error(output: &Output) -> String {
    assert_eq!(
        output.status.code(),
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        stdout(output),
        stderr(output)
    );
    let err = stderr(output);
    assert!(err.starts_with("error: "), "{err}");
    err
}

fn arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn key_file(db: &Path) -> PathBuf {
    PathBuf::from(format!("{}.key", db.display()))
}

#[cfg(unix)]
fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A temporary directory with a database made by `bulkhead init`.
fn initialized() -> (TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    assert_success(&bulkhead(&["--db", arg(&db), "init"]));
    (dir, db)
}

/// Creates an organization; returns its id and its org key.
fn create_org(db: &Path, extra: &[&str]) -> (String, String) {
    let doc = json(&bulkhead(
        &[&["--db", arg(db), "org", "create", "Acme", "--json"], extra].concat(),
    ));
    (
        doc["organization"]["id"].as_str().unwrap().to_owned(),
        doc["org_key"].as_str().unwrap().to_owned(),
    )
}

/// The demo kept in `<dir>/demo.db`; returns the database and the org key it wrote.
fn kept_demo(dir: &TempDir) -> (PathBuf, String) {
    let db = dir.path().join("demo.db");
    assert_success(&bulkhead(&["demo", "--db", arg(&db)]));
    let key = std::fs::read_to_string(format!("{}.org-key", db.display())).unwrap();
    (db, key.trim().to_owned())
}

/// Issues a token for `external_id` with `extra` options and returns `token --json`.
fn issue(db: &Path, org_key: &str, external_id: &str, extra: &[&str]) -> Value {
    json(&bulkhead_as(
        org_key,
        &[
            &[
                "--db",
                arg(db),
                "token",
                "--external-id",
                external_id,
                "--json",
            ],
            extra,
        ]
        .concat(),
    ))
}

// ---- demo ----

#[test]
fn demo_prints_the_seed_tree_and_the_isolation_lines() {
    let output = bulkhead(&["demo"]);
    assert_success(&output);
    let text = stdout(&output);
    for expected in [
        "Organization: Acme Corp",
        "customer-a",
        "customer-b",
        "customer-c",
        "Source: Stripe",
        "Source: Salesforce",
        "Source: PostgreSQL",
        "Source templates seen with tags production (any): ",
        "Source templates seen with tags premium (any): ",
        "Source templates seen with tags premium, production (all): PostgreSQL",
        "Connection templates seen with tags production (any): S3 bucket",
        "Source: Stripe {account_id: acct_demo_a, api_key: **********, start_date: 2024-01-01}",
        "Destination: S3 bucket {",
        "secret_access_key: **********}",
        "Connection: S3 bucket (Stripe → S3 bucket, active, every 6 hours, last sync succeeded: 1878 rows)",
        "Scoped tokens (HS256, default operations",
        "Templates: customer-c's token (tags premium, production (all)) asked to use the Stripe \
         template (tags production): refused (permission denied for `sources:create`: template \
         not available to this workspace)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let foreign = text
        .lines()
        .find(|l| l.starts_with("Isolation: customer-a's token asked for customer-b's source "))
        .unwrap_or_else(|| panic!("no foreign-source line in:\n{text}"));
    assert!(foreign.contains(": not found (source `"), "{foreign}");
    let scope = text
        .lines()
        .find(|l| l.starts_with("Isolation: customer-a's token authenticates to workspace "))
        .unwrap_or_else(|| panic!("no token-scope line in:\n{text}"));
    assert!(
        scope.ends_with("(customer-a's) and lists only its sources: Stripe"),
        "{scope}"
    );
}

#[test]
fn demo_never_prints_the_org_key_a_whole_token_or_a_secret() {
    for args in [&["demo"][..], &["demo", "--json"][..]] {
        let output = bulkhead(args);
        assert_success(&output);
        let all = format!("{}{}", stdout(&output), stderr(&output));
        assert!(!all.contains("bh_org_"), "{all}");
        for secret in DEMO_SECRETS {
            assert!(!all.contains(secret), "the demo printed {secret}");
        }
        assert!(all.contains("**********"), "{all}");
        // A JWT is three dot-separated base64url parts starting `eyJ`; only prefixes appear.
        for word in all.split(|c: char| c.is_whitespace() || c == '"') {
            if let Some(at) = word.find("eyJ") {
                assert!(word[at..].ends_with('…'), "a whole token? {word}");
                assert!(!word[at..].contains('.'), "a whole token? {word}");
            }
        }
    }
}

#[test]
fn demo_json_has_three_workspaces_tokens_and_a_passed_isolation_check() {
    let doc = json(&bulkhead(&["demo", "--json"]));
    let workspaces = doc["workspaces"].as_array().unwrap();
    let ids: Vec<&str> = workspaces
        .iter()
        .map(|w| w["workspace"]["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["customer-a", "customer-b", "customer-c"]);
    for w in workspaces {
        assert_eq!(w["sources"].as_array().unwrap().len(), 1);
        assert_eq!(w["destinations"][0]["name"], "S3 bucket");
        assert_eq!(
            w["destinations"][0]["config"]["secret_access_key"],
            "**********"
        );
        let connection = &w["connections"][0];
        assert_eq!(connection["status"], "active");
        assert_eq!(connection["latest_sync_run"]["status"], "succeeded");
    }
    // Each customer's tags select a different set of source templates.
    let seen: Vec<Vec<&str>> = workspaces
        .iter()
        .map(|w| {
            let mut names: Vec<&str> = w["source_templates"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["name"].as_str().unwrap())
                .collect();
            names.sort_unstable();
            names
        })
        .collect();
    assert_eq!(
        seen,
        [
            vec!["PostgreSQL", "Stripe"],
            vec!["PostgreSQL", "Salesforce"],
            vec!["PostgreSQL"],
        ]
    );
    assert_eq!(
        workspaces[0]["sources"][0]["config"]["api_key"],
        "**********"
    );
    assert_eq!(
        workspaces[2]["sources"][0]["config"]["password"],
        "**********"
    );
    let catalog = &doc["catalog"];
    assert_eq!(catalog["tags"].as_array().unwrap().len(), 2);
    assert_eq!(catalog["source_templates"].as_array().unwrap().len(), 3);
    assert_eq!(
        catalog["connection_templates"][0]["destination_config"]["secret_access_key"],
        "**********"
    );
    assert_eq!(doc["isolation"]["unseen_template"]["outcome"], "refused");
    let tokens = doc["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 3);
    assert_eq!(tokens[0]["algorithm"], "HS256");
    assert_eq!(tokens[0]["workspace_id"], workspaces[0]["workspace"]["id"]);
    assert!(tokens[0].get("token").is_none());
    assert_eq!(doc["organization"]["name"], "Acme Corp");
    let isolation = &doc["isolation"];
    assert_eq!(isolation["foreign_source"]["outcome"], "not_found");
    assert_eq!(
        isolation["token_scope"]["workspace_id"],
        workspaces[0]["workspace"]["id"]
    );
    assert_eq!(
        isolation["token_scope"]["sources"],
        serde_json::json!(["Stripe"])
    );
    assert_eq!(isolation["passed"], true);
    assert_eq!(doc["database"]["temporary"], true);
}

#[test]
fn demo_with_db_keeps_private_key_files_and_prints_commands_that_work() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let output = bulkhead(&["demo", "--db", arg(&db)]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(!text.contains("bh_org_"), "{text}");
    assert!(text.contains("export BULKHEAD_ORG_KEY=\"$(cat "), "{text}");
    assert!(text.contains("workspaces show customer-a"), "{text}");
    #[cfg(unix)]
    {
        assert_eq!(mode(&key_file(&db)), 0o600);
        assert_eq!(mode(Path::new(&format!("{}.org-key", db.display()))), 0o600);
    }

    let org_key = std::fs::read_to_string(format!("{}.org-key", db.display())).unwrap();
    let output = bulkhead_as(
        org_key.trim(),
        &["--db", arg(&db), "workspaces", "show", "customer-b"],
    );
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("Source: Salesforce (salesforce, source "),
        "{text}"
    );
    assert!(text.contains("api_key: **********"), "{text}");
    assert!(text.contains("Last sync: succeeded, 8172 rows"), "{text}");
}

#[test]
fn demo_refuses_an_existing_db_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("existing.db");
    std::fs::write(&db, b"keep me").unwrap();
    let err = assert_error(&bulkhead(&["demo", "--db", arg(&db)]));
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b"keep me");
    assert!(!key_file(&db).exists());
}

// ---- init and the master key ----

#[test]
fn init_writes_a_private_key_file_next_to_the_db_and_a_second_init_reuses_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let first = json(&bulkhead(&["--db", arg(&db), "init", "--json"]));
    assert!(first["schema_version"].as_i64().unwrap() >= 1);
    assert!(first["database"].as_str().unwrap().ends_with("b.db"));
    assert!(db.exists());
    let key = &first["master_key"];
    assert_eq!(key["created"], true);
    assert!(key["file"].as_str().unwrap().ends_with("b.db.key"));
    #[cfg(unix)]
    assert_eq!(mode(&key_file(&db)), 0o600);
    let written = std::fs::read_to_string(key_file(&db)).unwrap();
    assert!(
        !first.to_string().contains(written.trim()),
        "init printed the key"
    );

    let second = json(&bulkhead(&["--db", arg(&db), "init", "--json"]));
    assert_eq!(second["master_key"]["created"], false);
    assert_eq!(second["master_key"]["fingerprint"], key["fingerprint"]);
    assert_eq!(std::fs::read_to_string(key_file(&db)).unwrap(), written);
}

#[test]
fn init_prints_the_key_file_and_fingerprint_in_text() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let output = bulkhead(&["--db", arg(&db), "init"]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("schema version: "), "{text}");
    assert!(text.contains("b.db.key (created now, mode 0600)"), "{text}");
    assert!(text.contains("master key fingerprint: "), "{text}");
}

#[test]
fn init_with_a_key_in_the_environment_writes_no_key_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let env = [("BULKHEAD_MASTER_KEY", ENV_MASTER_KEY)];
    let output = command(&["--db", arg(&db), "init", "--json"], &env)
        .output()
        .unwrap();
    assert_eq!(json(&output)["master_key"]["source"], "environment");
    assert!(!key_file(&db).exists());
    let listed = command(&["--db", arg(&db), "org", "list"], &env)
        .output()
        .unwrap();
    assert_success(&listed);
}

#[test]
fn master_key_file_option_opens_the_database() {
    let (dir, db) = initialized();
    let moved = dir.path().join("elsewhere.key");
    std::fs::rename(key_file(&db), &moved).unwrap();
    assert_error(&bulkhead(&["--db", arg(&db), "org", "list"]));
    let output = bulkhead(&[
        "--db",
        arg(&db),
        "--master-key-file",
        arg(&moved),
        "org",
        "list",
    ]);
    assert_success(&output);
}

#[test]
fn a_command_on_a_db_without_key_file_says_to_run_init() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let err = assert_error(&bulkhead(&["--db", arg(&db), "org", "list"]));
    assert!(err.contains("bulkhead init"), "{err}");
    assert!(err.contains("BULKHEAD_MASTER_KEY"), "{err}");
}

#[test]
fn init_under_another_key_fails_and_takes_its_new_key_file_back() {
    let (_dir, db) = initialized();
    std::fs::remove_file(key_file(&db)).unwrap();
    let err = assert_error(&bulkhead(&["--db", arg(&db), "init"]));
    assert!(err.contains("master key"), "{err}");
    assert!(!key_file(&db).exists());
}

// ---- organizations and their keys ----

#[test]
fn org_create_prints_the_id_and_the_key_as_variables() {
    let (_dir, db) = initialized();
    let output = bulkhead(&["--db", arg(&db), "org", "create", "Acme"]);
    assert_success(&output);
    let text = stdout(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    let id = lines[0].strip_prefix("BULKHEAD_ORG_ID=").unwrap();
    let key = lines[1].strip_prefix("BULKHEAD_ORG_KEY=").unwrap();
    assert!(key.starts_with("bh_org_"), "{key}");
    assert!(stderr(&output).contains("shown only now"));
    let listed = json(&bulkhead(&["--db", arg(&db), "org", "list", "--json"]));
    assert_eq!(listed["organizations"][0]["id"], id);
    assert_success(&bulkhead_as(key, &["--db", arg(&db), "workspaces", "list"]));
}

#[test]
fn org_create_json_has_the_organization_and_its_key() {
    let (_dir, db) = initialized();
    let doc = json(&bulkhead(&[
        "--db",
        arg(&db),
        "org",
        "create",
        "Acme",
        "--alg",
        "eddsa",
        "--json",
    ]));
    assert_eq!(doc["organization"]["name"], "Acme");
    assert_eq!(doc["organization"]["settings"]["token_algorithm"], "EdDSA");
    assert!(doc["org_key"].as_str().unwrap().starts_with("bh_org_"));
}

#[test]
fn org_keys_create_list_and_revoke_make_the_revoked_key_stop_working() {
    let (_dir, db) = initialized();
    let (_, first) = create_org(&db, &[]);
    let made = json(&bulkhead_as(
        &first,
        &[
            "--db",
            arg(&db),
            "org",
            "keys",
            "create",
            "--expires-in",
            "30d",
            "--json",
        ],
    ));
    let second = made["org_key"].as_str().unwrap().to_owned();
    assert!(second.starts_with("bh_org_"));
    assert!(made["key"]["expires_at"].is_string());

    let listed = json(&bulkhead_as(
        &second,
        &["--db", arg(&db), "org", "keys", "list", "--json"],
    ));
    let keys = listed["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 2);
    assert!(
        !listed.to_string().contains(&first),
        "a key was listed whole"
    );
    let first_id = keys[0]["id"].as_str().unwrap();

    assert_success(&bulkhead_as(
        &second,
        &["--db", arg(&db), "org", "keys", "revoke", first_id],
    ));
    let err = assert_error(&bulkhead_as(
        &first,
        &["--db", arg(&db), "workspaces", "list"],
    ));
    assert!(err.contains("invalid or expired org key"), "{err}");
    assert_success(&bulkhead_as(
        &second,
        &["--db", arg(&db), "workspaces", "list"],
    ));
    let table = stdout(&bulkhead_as(
        &second,
        &["--db", arg(&db), "org", "keys", "list"],
    ));
    assert!(
        table.contains("revoked") && table.contains("active"),
        "{table}"
    );
}

#[test]
fn org_keys_create_with_org_recovers_an_organization_that_lost_every_key() {
    let (_dir, db) = initialized();
    let (org_id, key) = create_org(&db, &[]);
    let keys = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "org", "keys", "list", "--json"],
    ));
    let key_id = keys["keys"][0]["id"].as_str().unwrap();
    let revoked = bulkhead_as(&key, &["--db", arg(&db), "org", "keys", "revoke", key_id]);
    assert_success(&revoked);
    assert!(
        stderr(&revoked).contains(&format!("org keys create --org {org_id}")),
        "{}",
        stderr(&revoked)
    );

    let output = bulkhead(&["--db", arg(&db), "org", "keys", "create", "--org", &org_id]);
    assert_success(&output);
    assert!(
        stderr(&output).contains("operator recovery"),
        "{}",
        stderr(&output)
    );
    let text = stdout(&output);
    let new_key = text
        .lines()
        .find_map(|l| l.strip_prefix("BULKHEAD_ORG_KEY="))
        .unwrap_or_else(|| panic!("no key in:\n{text}"));
    assert_success(&bulkhead_as(
        new_key,
        &["--db", arg(&db), "workspaces", "list"],
    ));
}

#[test]
fn org_keys_create_worker_prints_a_worker_key_once_and_lists_its_role() {
    let (_dir, db) = initialized();
    let (_, org_key) = create_org(&db, &[]);
    let made = json(&bulkhead_as(
        &org_key,
        &[
            "--db",
            arg(&db),
            "org",
            "keys",
            "create",
            "--worker",
            "--json",
        ],
    ));
    let worker_key = made["org_key"].as_str().unwrap();
    assert!(worker_key.starts_with("bh_wkr_"), "a worker key's prefix");
    assert_eq!(made["key"]["role"], "worker");

    let output = bulkhead_as(
        &org_key,
        &["--db", arg(&db), "org", "keys", "create", "--worker"],
    );
    assert_success(&output);
    let text = stdout(&output);
    let printed = text
        .lines()
        .find_map(|l| l.strip_prefix("BULKHEAD_ORG_KEY="))
        .unwrap();
    assert!(printed.starts_with("bh_wkr_"), "{text}");
    assert!(stderr(&output).contains("worker key is shown only now"));

    let listed = json(&bulkhead_as(
        &org_key,
        &["--db", arg(&db), "org", "keys", "list", "--json"],
    ));
    let roles: Vec<&str> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["role"].as_str().unwrap())
        .collect();
    assert_eq!(roles, ["organization", "worker", "worker"]);
    assert!(
        !listed.to_string().contains(worker_key),
        "a key was listed whole"
    );
    let table = stdout(&bulkhead_as(
        &org_key,
        &["--db", arg(&db), "org", "keys", "list"],
    ));
    assert!(
        table.contains("ROLE") && table.contains("worker"),
        "{table}"
    );
}

#[test]
fn a_worker_key_runs_the_worker_and_no_other_command() {
    let dir = tempfile::tempdir().unwrap();
    let (db, org_key) = kept_demo(&dir);
    let made = json(&bulkhead_as(
        &org_key,
        &[
            "--db",
            arg(&db),
            "org",
            "keys",
            "create",
            "--worker",
            "--json",
        ],
    ));
    let worker_key = made["org_key"].as_str().unwrap().to_owned();
    for args in [
        &["workspaces", "list"][..],
        &["org", "keys", "list"],
        &["org", "keys", "create"],
        &["token", "--external-id", "customer-a"],
        &["jobs", "start", "--external-id", "customer-a"],
    ] {
        let err = assert_error(&bulkhead_as(
            &worker_key,
            &[&["--db", arg(&db)], args].concat(),
        ));
        assert!(err.contains("worker key"), "{args:?}: {err}");
        assert!(!err.contains(&worker_key), "the key is never printed");
    }
    let started = json(&bulkhead_as(
        &org_key,
        &[
            "--db",
            arg(&db),
            "--json",
            "jobs",
            "start",
            "--external-id",
            "customer-a",
        ],
    ));
    assert_eq!(started.as_array().unwrap().len(), 1, "{started}");
    let worked = json(&bulkhead_as(
        &worker_key,
        &[
            "--db",
            arg(&db),
            "--json",
            "worker",
            "--exec",
            &fake_connector(10),
            "--drain",
        ],
    ));
    assert_eq!(worked["succeeded"], 1, "{worked}");
}

#[test]
fn recovery_with_an_invalid_org_id_exits_1_naming_org_id() {
    let (_dir, db) = initialized();
    let err = assert_error(&bulkhead(&[
        "--db",
        arg(&db),
        "org",
        "keys",
        "create",
        "--org",
        "not-a-uuid",
    ]));
    assert!(err.contains("org_id"), "{err}");
}

#[test]
fn a_bad_expiry_is_a_usage_error_naming_the_option() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let output = bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "org",
            "keys",
            "create",
            "--expires-in",
            "30",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("--expires-in"),
        "{}",
        stderr(&output)
    );
}

// ---- workspaces ----

#[test]
fn workspaces_list_with_the_org_key_works_and_with_a_wrong_key_exits_1() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let doc = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "list", "--json"],
    ));
    assert_eq!(doc["workspaces"], Value::Array(Vec::new()));
    assert_eq!(doc["next_cursor"], Value::Null);

    let wrong = format!("bh_org_{}", "A".repeat(43));
    let err = assert_error(&bulkhead_as(
        &wrong,
        &["--db", arg(&db), "workspaces", "list"],
    ));
    assert!(err.contains("invalid or expired org key"), "{err}");
}

#[test]
fn org_key_may_be_given_as_an_option() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    assert_success(&bulkhead(&[
        "--db",
        arg(&db),
        "workspaces",
        "list",
        "--org-key",
        &key,
    ]));
}

#[test]
fn workspace_commands_without_an_org_key_say_how_to_give_one() {
    let (_dir, db) = initialized();
    let err = assert_error(&bulkhead(&["--db", arg(&db), "workspaces", "list"]));
    assert!(
        err.contains("--org-key") && err.contains("BULKHEAD_ORG_KEY"),
        "{err}"
    );
}

#[test]
fn workspaces_list_pages_with_the_printed_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = kept_demo(&dir);
    let base = ["--db", arg(&db), "workspaces", "list"];

    let first = bulkhead_as(&key, &[&base[..], &["--limit", "2"]].concat());
    assert_success(&first);
    let text = stdout(&first);
    assert!(text.contains("EXTERNAL ID"), "{text}");
    assert!(
        text.contains("customer-b") && !text.contains("customer-c"),
        "{text}"
    );
    let cursor = text
        .lines()
        .find_map(|l| l.strip_prefix("next cursor: "))
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no cursor in:\n{text}"));

    let second = json(&bulkhead_as(
        &key,
        &[&base[..], &["--limit", "2", "--after", cursor, "--json"]].concat(),
    ));
    assert_eq!(second["workspaces"][0]["external_id"], "customer-c");
    assert_eq!(second["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(second["next_cursor"], Value::Null);

    let filtered = json(&bulkhead_as(
        &key,
        &[
            &base[..],
            &["--prefix", "customer-b", "--status", "active", "--json"],
        ]
        .concat(),
    ));
    assert_eq!(filtered["workspaces"].as_array().unwrap().len(), 1);
}

#[test]
fn workspaces_list_shows_the_dashboard_as_a_table_and_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = kept_demo(&dir);
    let base = ["--db", arg(&db), "workspaces", "list"];

    let doc = json(&bulkhead_as(&key, &[&base[..], &["--json"]].concat()));
    let workspaces = doc["workspaces"].as_array().unwrap();
    assert!(!workspaces.is_empty(), "{doc}");
    let total = u64::try_from(workspaces.len()).unwrap();
    assert_eq!(doc["stats"]["total"], total, "{doc}");
    assert_eq!(
        doc["stats"]["active"].as_u64().unwrap() + doc["stats"]["inactive"].as_u64().unwrap(),
        total
    );
    for w in workspaces {
        for field in [
            "workspace_id",
            "external_id",
            "status",
            "sources",
            "connections",
            "latest_runs",
            "rows_synced",
            "bytes_synced",
        ] {
            assert!(!w[field].is_null(), "no `{field}` in {w}");
        }
        assert_eq!(
            w["connections"].as_u64().unwrap(),
            u64::try_from(w["latest_runs"].as_array().unwrap().len()).unwrap()
        );
    }

    let text = stdout(&bulkhead_as(&key, &base));
    let header = text.lines().next().unwrap();
    for column in [
        "EXTERNAL ID",
        "STATUS",
        "SOURCES",
        "CONNECTIONS",
        "LAST SYNC",
        "ROWS",
        "BYTES",
    ] {
        assert!(header.contains(column), "no {column} in:\n{text}");
    }
    let first = &workspaces[0];
    let row = text
        .lines()
        .find(|l| l.starts_with(first["external_id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no row for {first} in:\n{text}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(cells[2], first["sources"].to_string(), "{row}");
    assert_eq!(cells[3], first["connections"].to_string(), "{row}");
    assert_eq!(
        cells[cells.len() - 2],
        first["rows_synced"].to_string(),
        "{row}"
    );
    assert_eq!(
        cells[cells.len() - 1],
        first["bytes_synced"].to_string(),
        "{row}"
    );
    assert!(
        text.contains(&format!("{total} workspaces: ")),
        "no summary in:\n{text}"
    );
}

#[test]
fn workspaces_show_of_an_unknown_external_id_mentions_case_sensitivity() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let err = assert_error(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "show", "Customer-A"],
    ));
    assert!(err.contains("case-sensitive"), "{err}");
}

#[test]
fn out_of_range_limit_is_an_error_naming_limit() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let err = assert_error(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "list", "--limit", "101"],
    ));
    assert!(err.contains("invalid limit"), "{err}");
}

// ---- scoped tokens ----

#[test]
fn token_then_token_verify_round_trip() {
    let (_dir, db) = initialized();
    let (org_id, key) = create_org(&db, &[]);
    let output = bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "token",
            "--external-id",
            "cust-1",
            "--source-tags",
            "production,eu",
            "--source-tags-mode",
            "all",
            "--connection-tags",
            "production",
            "--ttl",
            "5m",
            "--ops",
            "sources:read,sources:create",
        ],
    );
    assert_success(&output);
    let token = stdout(&output).trim().to_owned();
    assert_eq!(token.split('.').count(), 3, "{token}");
    assert!(
        stderr(&output).contains("created now"),
        "{}",
        stderr(&output)
    );

    // Verifying needs no org key.
    let claims = json(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        &token,
        "--json",
    ]));
    assert_eq!(claims["external_id"], "cust-1");
    assert_eq!(claims["org_id"], org_id.as_str());
    assert_eq!(
        claims["operations"],
        serde_json::json!(["sources:read", "sources:create"])
    );
    let lifetime = claims["expires_at"].as_i64().unwrap() - claims["issued_at"].as_i64().unwrap();
    assert_eq!(lifetime, 300);

    let text = stdout(&bulkhead_with_stdin(
        &["--db", arg(&db), "token", "verify", "-"],
        &format!("{token}\n"),
    ));
    assert!(text.contains("external id: cust-1"), "{text}");

    let workspace = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "list", "--json"],
    ));
    assert_eq!(
        workspace["workspaces"][0]["workspace_id"],
        claims["workspace_id"]
    );
    let shown = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "show", "cust-1", "--json"],
    ));
    assert_eq!(shown["workspace"]["source_tags"]["mode"], "all", "{shown}");
}

#[test]
fn token_json_is_the_issued_token() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let first = issue(&db, &key, "cust-1", &[]);
    assert!(first["token"].as_str().unwrap().starts_with("eyJ"));
    assert_eq!(first["workspace_created"], true);
    let again = issue(&db, &key, "cust-1", &[]);
    assert_eq!(again["workspace_created"], false);
    assert_eq!(again["workspace_id"], first["workspace_id"]);
}

#[test]
fn token_with_an_org_level_operation_is_refused_naming_operations() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let err = assert_error(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "token",
            "--external-id",
            "cust-1",
            "--ops",
            "sources:read,keys:manage",
        ],
    ));
    assert!(
        err.contains("operations") && err.contains("keys:manage"),
        "{err}"
    );
}

#[test]
fn token_with_a_bad_ttl_is_a_usage_error_naming_ttl() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let output = bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "token",
            "--external-id",
            "c",
            "--ttl",
            "20x",
        ],
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("--ttl"), "{}", stderr(&output));
}

#[test]
fn token_verify_of_a_bad_token_exits_1_with_the_library_error() {
    let (_dir, db) = initialized();
    let err = assert_error(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        "not.a.token",
    ]));
    assert!(err.contains("invalid token"), "{err}");
}

#[test]
fn token_revoke_makes_the_token_fail_verification() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let issued = issue(&db, &key, "cust-1", &[]);
    let token = issued["token"].as_str().unwrap();
    let output = bulkhead_as(&key, &["--db", arg(&db), "token", "revoke", token]);
    assert_success(&output);
    assert!(
        stdout(&output).contains("revoked token"),
        "{}",
        stdout(&output)
    );
    let err = assert_error(&bulkhead(&["--db", arg(&db), "token", "verify", token]));
    assert!(err.contains("revoked"), "{err}");
}

// ---- signing keys ----

#[test]
fn keys_jwks_of_an_eddsa_org_has_one_okp_key() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &["--alg", "eddsa"]);
    let jwks = json(&bulkhead_as(&key, &["--db", arg(&db), "keys", "jwks"]));
    let keys = jwks["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["kty"], "OKP");
    assert_eq!(keys[0]["crv"], "Ed25519");
    assert_eq!(keys[0]["alg"], "EdDSA");
}

#[test]
fn keys_jwks_of_an_hs256_org_is_empty() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let output = bulkhead_as(&key, &["--db", arg(&db), "keys", "jwks"]);
    assert_eq!(json(&output)["keys"], Value::Array(Vec::new()));
    assert!(stderr(&output).contains("HS256"), "{}", stderr(&output));
}

#[test]
fn keys_retire_stops_a_leaked_signing_key_at_once() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let before = issue(&db, &key, "cust-1", &[]);
    let listed = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "keys", "list", "--json"],
    ));
    let kid = listed["signing_keys"][0]["kid"]
        .as_str()
        .unwrap()
        .to_owned();

    let retired = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "keys", "retire", &kid, "--json"],
    ));
    assert_eq!(retired["retired"], kid.as_str());
    let signer = retired["new_signer"]["kid"].as_str().unwrap();
    assert_ne!(signer, kid);

    // The token it signed is refused at once; a new one, of the new signer, verifies.
    let refused = assert_error(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        before["token"].as_str().unwrap(),
    ]));
    assert!(refused.contains("signing key"), "{refused}");
    let after = issue(&db, &key, "cust-1", &[]);
    assert_success(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        after["token"].as_str().unwrap(),
    ]));
    // The key is gone from the list; retiring it again, or an unknown kid, is not found.
    let listed = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "keys", "list", "--json"],
    ));
    let kids: Vec<&str> = listed["signing_keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids, [signer]);
    for unknown in [kid.as_str(), "no-such-kid", "bad kid\u{1}"] {
        let error = assert_error(&bulkhead_as(
            &key,
            &["--db", arg(&db), "keys", "retire", unknown],
        ));
        assert!(error.contains("not found"), "{error}");
    }
}

#[test]
fn keys_rotate_adds_a_signer_and_older_tokens_still_verify() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &["--alg", "eddsa"]);
    let before = issue(&db, &key, "cust-1", &[]);

    let rotated = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "keys", "rotate", "--json"],
    ));
    assert_eq!(rotated["algorithm"], "EdDSA");
    assert_eq!(rotated["retire_at"], Value::Null);

    let listed = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "keys", "list", "--json"],
    ));
    let signing = listed["signing_keys"].as_array().unwrap();
    assert_eq!(signing.len(), 2);
    assert_eq!(signing[0]["kid"], rotated["kid"]);
    assert!(signing[1]["retire_at"].is_string());

    let jwks = json(&bulkhead_as(&key, &["--db", arg(&db), "keys", "jwks"]));
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2);
    // Signing keys rotate; the org keys are untouched.
    let org_keys = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "org", "keys", "list", "--json"],
    ));
    assert_eq!(org_keys["keys"].as_array().unwrap().len(), 1);

    assert_success(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        before["token"].as_str().unwrap(),
    ]));
    let after = issue(&db, &key, "cust-1", &[]);
    let claims = json(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        after["token"].as_str().unwrap(),
        "--json",
    ]));
    assert_eq!(claims["external_id"], "cust-1");
}

// ---- the demo's secrets at rest ----

#[test]
fn demo_leaves_no_secret_in_plaintext_in_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let (db, _) = kept_demo(&dir);
    let mut checked = 0;
    for suffix in ["", "-wal", "-journal"] {
        let file = PathBuf::from(format!("{}{suffix}", db.display()));
        let Ok(bytes) = std::fs::read(&file) else {
            continue;
        };
        checked += 1;
        for secret in DEMO_SECRETS {
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{secret} is in plaintext in {}",
                file.display()
            );
        }
    }
    assert!(checked >= 1);
}

#[test]
fn demo_secrets_here_are_the_ones_the_demo_seals() {
    // The organization's reveal opens what the demo sealed: the constants above are the real
    // secrets, so the plaintext search looks for the right bytes.
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = kept_demo(&dir);
    let expected = [
        ("customer-a", "api_key", DEMO_SECRETS[0]),
        ("customer-b", "api_key", DEMO_SECRETS[1]),
        ("customer-c", "password", DEMO_SECRETS[2]),
    ];
    for (customer, field, secret) in expected {
        let listed = json(&bulkhead_as(
            &key,
            &[
                "--db",
                arg(&db),
                "sources",
                "list",
                "--external-id",
                customer,
                "--json",
            ],
        ));
        let source = listed["sources"][0]["id"].as_str().unwrap();
        let revealed = json(&bulkhead_as(
            &key,
            &[
                "--db",
                arg(&db),
                "sources",
                "reveal",
                "--external-id",
                customer,
                source,
                "--json",
            ],
        ));
        assert_eq!(revealed["config"][field], secret, "{customer}");
    }
}

// ---- tags ----

#[test]
fn tags_create_list_rename_and_delete() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let base = ["--db", arg(&db), "tags"];
    let made = json(&bulkhead_as(
        &key,
        &[&base[..], &["create", "production", "--json"]].concat(),
    ));
    assert_eq!(made["name"], "production");
    assert_success(&bulkhead_as(
        &key,
        &[&base[..], &["create", "premium"]].concat(),
    ));
    let err = assert_error(&bulkhead_as(
        &key,
        &[&base[..], &["create", "premium"]].concat(),
    ));
    assert!(err.contains("conflict"), "{err}");

    let listed = json(&bulkhead_as(
        &key,
        &[&base[..], &["list", "--json"]].concat(),
    ));
    let names: Vec<&str> = listed["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["premium", "production"]);

    assert_success(&bulkhead_as(
        &key,
        &[&base[..], &["rename", "premium", "gold"]].concat(),
    ));
    let table = stdout(&bulkhead_as(&key, &[&base[..], &["list"]].concat()));
    assert!(table.starts_with("TAG"), "{table}");
    assert!(
        table.contains("gold") && !table.contains("premium"),
        "{table}"
    );

    assert_success(&bulkhead_as(
        &key,
        &[&base[..], &["delete", "gold"]].concat(),
    ));
    let listed = json(&bulkhead_as(
        &key,
        &[&base[..], &["list", "--json"]].concat(),
    ));
    assert_eq!(listed["tags"].as_array().unwrap().len(), 1);
    let err = assert_error(&bulkhead_as(
        &key,
        &[&base[..], &["delete", "gold"]].concat(),
    ));
    assert!(err.contains("not found"), "{err}");
    // Organization commands need the org key.
    let err = assert_error(&bulkhead(&[&base[..], &["list"]].concat()));
    assert!(err.contains("BULKHEAD_ORG_KEY"), "{err}");
}

// ---- templates ----

/// Writes `text` to `<dir>/<name>` and returns the path.
fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// `bulkhead` with the org key and `input` on stdin.
fn bulkhead_as_with_stdin(org_key: &str, args: &[&str], input: &str) -> Output {
    let mut child = command(args, &[("BULKHEAD_ORG_KEY", org_key)])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Creates tags `production` and `premium`.
fn create_tags(db: &Path, key: &str) {
    for tag in ["production", "premium"] {
        assert_success(&bulkhead_as(key, &["--db", arg(db), "tags", "create", tag]));
    }
}

#[test]
fn templates_sources_create_with_the_spec_from_stdin_list_and_delete() {
    let (dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    create_tags(&db, &key);
    let default_secret = "sk_default_template_secret_77";
    let config = write(
        dir.path(),
        "default.json",
        &format!(r#"{{"api_key": "{default_secret}", "region": "eu"}}"#),
    );
    let output = bulkhead_as_with_stdin(
        &key,
        &[
            "--db",
            arg(&db),
            "templates",
            "sources",
            "create",
            "--name",
            "Stripe",
            "--connector",
            "stripe",
            "--tags",
            "production,premium",
            "--spec",
            "-",
            "--config",
            arg(&config),
            "--json",
        ],
        STRIPE_SPEC,
    );
    let made = json(&output);
    assert!(!stdout(&output).contains(default_secret));
    assert_eq!(made["name"], "Stripe");
    assert_eq!(made["connector"], "stripe");
    assert_eq!(made["tags"], serde_json::json!(["premium", "production"]));
    assert_eq!(made["default_config"]["api_key"], "**********");
    assert_eq!(made["default_config"]["region"], "eu");
    assert_eq!(
        made["spec"]["properties"]["api_key"]["airbyte_secret"],
        true
    );
    let id = made["id"].as_str().unwrap().to_owned();

    // Defaults: spec {"type": "object"}, config {}.
    let plain = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "templates",
            "sources",
            "create",
            "--name",
            "Plain",
            "--connector",
            "plain",
            "--tags",
            "premium",
            "--json",
        ],
    ));
    assert_eq!(plain["spec"], serde_json::json!({"type": "object"}));
    assert_eq!(plain["default_config"], serde_json::json!({}));

    let base = ["--db", arg(&db), "templates", "sources"];
    let table = stdout(&bulkhead_as(&key, &[&base[..], &["list"]].concat()));
    assert!(table.starts_with("TEMPLATE ID"), "{table}");
    assert!(
        table.contains(&id) && table.contains("premium, production") && table.contains("/api_key"),
        "{table}"
    );
    assert!(!table.contains(default_secret), "{table}");

    let names = |args: &[&str]| -> Vec<String> {
        let doc = json(&bulkhead_as(
            &key,
            &[&base[..], &["list", "--json"], args].concat(),
        ));
        doc["source_templates"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(names(&["--tags", "production"]), ["Stripe"]);
    let mut any = names(&["--tags", "production,premium"]);
    any.sort();
    assert_eq!(any, ["Plain", "Stripe"]);
    assert_eq!(
        names(&["--tags", "production,premium", "--tags-mode", "all"]),
        ["Stripe"]
    );

    assert_success(&bulkhead_as(&key, &[&base[..], &["delete", &id]].concat()));
    assert_eq!(names(&[]), ["Plain"]);
    let err = assert_error(&bulkhead_as(&key, &[&base[..], &["delete", &id]].concat()));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn templates_sources_create_refuses_a_bad_spec_and_two_stdin_inputs() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    let create = [
        "--db",
        arg(&db),
        "templates",
        "sources",
        "create",
        "--name",
        "X",
        "--connector",
        "x",
    ];
    let err = assert_error(&bulkhead_as_with_stdin(
        &key,
        &[&create[..], &["--spec", "-"]].concat(),
        r#"{"type": "object", "properties": {"k": {"type": "string", "airbyte_secert": true}}}"#,
    ));
    assert!(err.contains("invalid spec"), "{err}");
    let err = assert_error(&bulkhead_as(
        &key,
        &[&create[..], &["--spec", "-", "--config", "-"]].concat(),
    ));
    assert!(err.contains("stdin"), "{err}");
    let err = assert_error(&bulkhead_as(
        &key,
        &[&create[..], &["--tags", "missing"]].concat(),
    ));
    assert!(err.contains("missing"), "{err}");
}

/// `templates connections create` of the S3 template with a secret; returns its JSON.
fn create_connection_template(dir: &Path, db: &Path, key: &str, tags: &str) -> Value {
    let config = write(
        dir,
        "s3.json",
        r#"{"bucket": "acme-exports", "secret_access_key": "s3_cli_test_secret_55"}"#,
    );
    let spec = write(
        dir,
        "s3-spec.json",
        r#"{"type": "object", "required": ["bucket", "secret_access_key"],
            "properties": {"bucket": {"type": "string"},
                           "secret_access_key": {"type": "string", "airbyte_secret": true}}}"#,
    );
    let output = bulkhead_as(
        key,
        &[
            "--db",
            arg(db),
            "templates",
            "connections",
            "create",
            "--name",
            "S3 bucket",
            "--destination-name",
            "S3 bucket",
            "--destination-connector",
            "s3",
            "--destination-config",
            arg(&config),
            "--destination-spec",
            arg(&spec),
            "--schedule",
            "0 * * * *",
            "--tags",
            tags,
            "--json",
        ],
    );
    assert!(!stdout(&output).contains("s3_cli_test_secret_55"));
    json(&output)
}

#[test]
fn templates_connections_create_list_and_delete() {
    let (dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    create_tags(&db, &key);
    let made = create_connection_template(dir.path(), &db, &key, "production,premium");
    assert_eq!(made["name"], "S3 bucket");
    assert_eq!(made["destination_connector"], "s3");
    assert_eq!(made["schedule"], "0 * * * *");
    assert_eq!(
        made["destination_config"]["secret_access_key"],
        "**********"
    );
    let id = made["id"].as_str().unwrap().to_owned();

    let base = ["--db", arg(&db), "templates", "connections"];
    let table = stdout(&bulkhead_as(&key, &[&base[..], &["list"]].concat()));
    assert!(table.starts_with("TEMPLATE ID"), "{table}");
    for expected in [
        id.as_str(),
        "S3 bucket (s3)",
        "0 * * * *",
        "/secret_access_key",
    ] {
        assert!(
            table.contains(expected),
            "missing {expected:?} in:\n{table}"
        );
    }
    // A bad schedule names the field.
    let err = assert_error(&bulkhead_as(
        &key,
        &[
            &base[..],
            &[
                "create",
                "--name",
                "N",
                "--destination-name",
                "D",
                "--destination-connector",
                "s3",
                "--schedule",
                "hourly",
            ],
        ]
        .concat(),
    ));
    assert!(err.contains("invalid"), "{err}");

    assert_success(&bulkhead_as(&key, &[&base[..], &["delete", &id]].concat()));
    let listed = json(&bulkhead_as(
        &key,
        &[&base[..], &["list", "--json"]].concat(),
    ));
    assert_eq!(listed["connection_templates"], Value::Array(Vec::new()));
}

// ---- sources, through a customer's scoped token ----

/// An organization with tags, a Stripe source template (`production`) and an S3 connection
/// template (`production`), and two customers: `cust-a` selecting `production`, `cust-b`
/// selecting `premium`. Returns the org key and the source template's id.
fn catalog_with_customers(dir: &Path, db: &Path) -> (String, String) {
    let (_, key) = create_org(db, &[]);
    create_tags(db, &key);
    let spec = write(dir, "stripe-spec.json", STRIPE_SPEC);
    let template = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(db),
            "templates",
            "sources",
            "create",
            "--name",
            "Stripe",
            "--connector",
            "stripe",
            "--tags",
            "production",
            "--spec",
            arg(&spec),
            "--json",
        ],
    ));
    create_connection_template(dir, db, &key, "production");
    for (customer, tags) in [("cust-a", "production"), ("cust-b", "premium")] {
        issue(
            db,
            &key,
            customer,
            &["--source-tags", tags, "--connection-tags", tags],
        );
    }
    (key, template["id"].as_str().unwrap().to_owned())
}

/// `sources create` for `customer` from `template`, with the customer's secret.
fn create_source(dir: &Path, db: &Path, key: &str, customer: &str, template: &str) -> Output {
    let config = write(
        dir,
        "customer.json",
        &format!(r#"{{"account_id": "acct_1", "api_key": "{CUSTOMER_SECRET}"}}"#),
    );
    bulkhead_as(
        key,
        &[
            "--db",
            arg(db),
            "sources",
            "create",
            "--external-id",
            customer,
            "--template",
            template,
            "--name",
            "My Stripe",
            "--config",
            arg(&config),
        ],
    )
}

#[test]
fn sources_create_through_a_token_makes_the_destination_and_connection() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    let output = create_source(dir.path(), &db, &key, "cust-a", &template);
    assert_success(&output);
    let text = stdout(&output);
    assert!(!text.contains(CUSTOMER_SECRET), "{text}");
    for expected in [
        "created source My Stripe (source ",
        "in workspace `cust-a`",
        r#""api_key":"**********""#,
        "destination: S3 bucket (destination ",
        "connection: S3 bucket (connection ",
        "My Stripe → S3 bucket, active, cron `0 * * * *`",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }

    // The same through --json, and the config from stdin.
    let output = bulkhead_as_with_stdin(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "create",
            "--external-id",
            "cust-a",
            "--template",
            &template,
            "--name",
            "Second",
            "--config",
            "-",
            "--json",
        ],
        &format!(r#"{{"account_id": "acct_2", "api_key": "{CUSTOMER_SECRET}"}}"#),
    );
    let made = json(&output);
    assert!(!stdout(&output).contains(CUSTOMER_SECRET));
    assert_eq!(made["external_id"], "cust-a");
    assert_eq!(made["source"]["config"]["api_key"], "**********");
    assert_eq!(made["source"]["template_id"], template.as_str());
    assert_eq!(made["destinations"].as_array().unwrap().len(), 1);
    assert_eq!(made["connections"].as_array().unwrap().len(), 1);

    // An invalid configuration is refused naming the field.
    let err = assert_error(&bulkhead_as_with_stdin(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "create",
            "--external-id",
            "cust-a",
            "--template",
            &template,
            "--name",
            "Third",
            "--config",
            "-",
        ],
        r#"{"account_id": "acct_3"}"#,
    ));
    assert!(err.contains("/api_key"), "{err}");
}

#[test]
fn sources_create_from_a_template_the_workspace_does_not_see_is_refused() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    let err = assert_error(&create_source(dir.path(), &db, &key, "cust-b", &template));
    assert!(
        err.contains("template not available to this workspace"),
        "{err}"
    );
    assert!(!err.contains(CUSTOMER_SECRET), "{err}");
    let listed = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "list",
            "--external-id",
            "cust-b",
            "--json",
        ],
    ));
    assert_eq!(listed["sources"], Value::Array(Vec::new()));
}

#[test]
fn sources_create_for_an_unknown_customer_says_how_to_make_its_workspace() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    let err = assert_error(&create_source(dir.path(), &db, &key, "Cust-A", &template));
    assert!(
        err.contains("case-sensitive") && err.contains("bulkhead token --external-id Cust-A"),
        "{err}"
    );
    // And no workspace was made for it.
    let listed = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "list", "--json"],
    ));
    assert_eq!(listed["workspaces"].as_array().unwrap().len(), 2);
}

#[test]
fn sources_list_masks_the_secret_and_sources_reveal_shows_it() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    assert_success(&create_source(dir.path(), &db, &key, "cust-a", &template));

    let output = bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "list",
            "--external-id",
            "cust-a",
        ],
    );
    assert_success(&output);
    let table = stdout(&output);
    assert!(table.starts_with("SOURCE ID"), "{table}");
    assert!(table.contains(r#""api_key":"**********""#), "{table}");
    assert!(!table.contains(CUSTOMER_SECRET), "{table}");
    let listed = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "list",
            "--external-id",
            "cust-a",
            "--json",
        ],
    ));
    let source_id = listed["sources"][0]["id"].as_str().unwrap().to_owned();
    assert_eq!(listed["sources"][0]["config"]["api_key"], "**********");

    let output = bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "reveal",
            "--external-id",
            "cust-a",
            &source_id,
        ],
    );
    assert_success(&output);
    let config: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(config["api_key"], CUSTOMER_SECRET);
    assert_eq!(config["account_id"], "acct_1");
    assert!(stderr(&output).contains("SENSITIVE"), "{}", stderr(&output));

    // Another customer's id for the source is not found.
    let err = assert_error(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "reveal",
            "--external-id",
            "cust-b",
            &source_id,
        ],
    ));
    assert!(err.contains("not found"), "{err}");
    assert!(!err.contains(CUSTOMER_SECRET), "{err}");
}

// ---- deleting a workspace ----

#[test]
fn workspaces_delete_needs_yes_then_the_external_id_answers_deleted_until_purged() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    assert_success(&create_source(dir.path(), &db, &key, "cust-a", &template));
    let delete = ["--db", arg(&db), "workspaces", "delete", "cust-a"];
    let show = ["--db", arg(&db), "workspaces", "show", "cust-a"];

    let err = assert_error(&bulkhead_as(&key, &delete));
    assert!(
        err.contains("--yes") && err.contains("tokens stop working"),
        "{err}"
    );
    assert_success(&bulkhead_as(&key, &show));

    let output = bulkhead_as(&key, &[&delete[..], &["--yes"]].concat());
    assert_success(&output);
    assert!(
        stdout(&output).contains("deleted workspace `cust-a`"),
        "{}",
        stdout(&output)
    );
    let err = assert_error(&bulkhead_as(&key, &show));
    assert!(err.contains("was deleted"), "{err}");
    let err = assert_error(&bulkhead_as(&key, &[&delete[..], &["--yes"]].concat()));
    assert!(err.contains("was deleted"), "{err}");
    // The other customer is untouched.
    assert_success(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "show", "cust-b"],
    ));

    let purge = [
        "--db",
        arg(&db),
        "workspaces",
        "purge",
        "--older-than",
        "1s",
    ];
    let err = assert_error(&bulkhead_as(&key, &purge));
    assert!(
        err.contains("--yes") && err.contains("irreversibly"),
        "{err}"
    );
    // Deleted just now: younger than a day, so kept.
    let doc = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "workspaces",
            "purge",
            "--older-than",
            "1d",
            "--yes",
            "--json",
        ],
    ));
    assert_eq!(doc["purged"], 0);
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let output = bulkhead_as(&key, &[&purge[..], &["--yes"]].concat());
    assert_success(&output);
    assert!(
        stdout(&output).contains("purged 1 deleted workspace(s)"),
        "{}",
        stdout(&output)
    );
    let err = assert_error(&bulkhead_as(&key, &show));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn workspaces_delete_with_purge_destroys_the_data_at_once() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    assert_success(&create_source(dir.path(), &db, &key, "cust-a", &template));
    let delete = [
        "--db",
        arg(&db),
        "workspaces",
        "delete",
        "cust-a",
        "--purge",
    ];
    let err = assert_error(&bulkhead_as(&key, &delete));
    assert!(
        err.contains("data key") && err.contains("irreversibly"),
        "{err}"
    );
    let doc = json(&bulkhead_as(
        &key,
        &[&delete[..], &["--yes", "--json"]].concat(),
    ));
    assert_eq!(
        (doc["deleted"].clone(), doc["purged"].clone()),
        (true.into(), true.into())
    );
    let err = assert_error(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "show", "cust-a"],
    ));
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn workspaces_merge_moves_a_duplicate_into_the_main_workspace() {
    let (dir, db) = initialized();
    let (key, template) = catalog_with_customers(dir.path(), &db);
    assert_success(&create_source(dir.path(), &db, &key, "cust-a", &template));
    let merge = ["--db", arg(&db), "workspaces", "merge", "cust-a", "cust-b"];
    let err = assert_error(&bulkhead_as(&key, &merge));
    assert!(err.contains("--yes"), "{err}");
    let doc = json(&bulkhead_as(
        &key,
        &[&merge[..], &["--yes", "--json"]].concat(),
    ));
    assert_eq!(doc["sources"], 1);
    // The duplicate's external id now leads to the main workspace, sources included.
    let shown = json(&bulkhead_as(
        &key,
        &["--db", arg(&db), "workspaces", "show", "cust-a", "--json"],
    ));
    assert_eq!(shown["workspace"]["external_id"], "cust-b", "{shown}");
}

// ---- rotating the master key ----

#[test]
fn keys_rotate_master_swaps_the_default_key_file_and_commands_still_work() {
    let dir = tempfile::tempdir().unwrap();
    let (db, key) = kept_demo(&dir);
    let old_key = std::fs::read_to_string(key_file(&db)).unwrap();
    let old_file = PathBuf::from(format!("{}.key.old", db.display()));

    // Operator access: no org key needed.
    let output = bulkhead(&["--db", arg(&db), "keys", "rotate-master", "--json"]);
    let report = json(&output);
    assert!(report["resealed"].as_u64().unwrap() >= 3, "{report}");
    assert_eq!(report["previous_source"], "default_file");
    assert_ne!(report["fingerprint"], report["previous_fingerprint"]);
    let new_key = std::fs::read_to_string(key_file(&db)).unwrap();
    assert_ne!(new_key, old_key);
    assert_eq!(std::fs::read_to_string(&old_file).unwrap(), old_key);
    assert!(!PathBuf::from(format!("{}.key.new", db.display())).exists());
    #[cfg(unix)]
    assert_eq!(mode(&key_file(&db)), 0o600);
    let all = format!("{}{}", stdout(&output), stderr(&output));
    assert!(!all.contains(new_key.trim()) && !all.contains(old_key.trim()));
    let init = json(&bulkhead(&["--db", arg(&db), "init", "--json"]));
    assert_eq!(init["master_key"]["fingerprint"], report["fingerprint"]);

    // Everything still opens with the rotated default key file: signing keys, data keys.
    let issued = issue(&db, &key, "customer-a", &[]);
    assert_success(&bulkhead(&[
        "--db",
        arg(&db),
        "token",
        "verify",
        issued["token"].as_str().unwrap(),
    ]));
    let listed = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "list",
            "--external-id",
            "customer-a",
            "--json",
        ],
    ));
    let source = listed["sources"][0]["id"].as_str().unwrap();
    let revealed = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "sources",
            "reveal",
            "--external-id",
            "customer-a",
            source,
            "--json",
        ],
    ));
    assert_eq!(revealed["config"]["api_key"], DEMO_SECRETS[0]);
    // The old key opens nothing now.
    let err = assert_error(&bulkhead(&[
        "--db",
        arg(&db),
        "--master-key-file",
        arg(&old_file),
        "org",
        "list",
    ]));
    assert!(err.contains("master key"), "{err}");

    // A second rotation keeps the older key file rather than overwrite it.
    let err = assert_error(&bulkhead(&["--db", arg(&db), "keys", "rotate-master"]));
    assert!(
        err.contains(".key.old") && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(std::fs::read_to_string(&old_file).unwrap(), old_key);
}

#[test]
fn keys_rotate_master_with_the_key_in_the_environment_moves_no_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let env = [("BULKHEAD_MASTER_KEY", ENV_MASTER_KEY)];
    let run = |args: &[&str], env: &[(&str, &str)]| command(args, env).output().unwrap();
    assert_success(&run(&["--db", arg(&db), "init"], &env));
    assert_success(&run(&["--db", arg(&db), "org", "create", "Acme"], &env));

    let output = run(&["--db", arg(&db), "keys", "rotate-master"], &env);
    assert_success(&output);
    let text = stdout(&output);
    assert!(text.contains("new master key fingerprint: "), "{text}");
    assert!(
        stderr(&output).contains("set BULKHEAD_MASTER_KEY"),
        "{}",
        stderr(&output)
    );
    let new_file = PathBuf::from(format!("{}.key.new", db.display()));
    #[cfg(unix)]
    assert_eq!(mode(&new_file), 0o600);
    assert!(!key_file(&db).exists());
    let new_key = std::fs::read_to_string(&new_file).unwrap();
    assert!(!text.contains(new_key.trim()), "{text}");

    let err = assert_error(&run(&["--db", arg(&db), "org", "list"], &env));
    assert!(err.contains("master key"), "{err}");
    assert_success(&run(
        &["--db", arg(&db), "org", "list"],
        &[("BULKHEAD_MASTER_KEY", new_key.trim())],
    ));
}

#[test]
fn keys_rotate_master_with_a_wrong_key_writes_no_new_file() {
    let (_dir, db) = initialized();
    let env = [("BULKHEAD_MASTER_KEY", ENV_MASTER_KEY)];
    let output = command(&["--db", arg(&db), "keys", "rotate-master"], &env)
        .output()
        .unwrap();
    let err = assert_error(&output);
    assert!(err.contains("master key"), "{err}");
    assert!(!PathBuf::from(format!("{}.key.new", db.display())).exists());
}

// ---- audit ----

#[test]
fn audit_list_shows_who_did_what_and_verify_passes_on_an_untouched_chain() {
    let (_dir, db) = initialized();
    let (_, key) = create_org(&db, &[]);
    issue(&db, &key, "cust-1", &[]);
    assert_success(&bulkhead_as(
        &key,
        &["--db", arg(&db), "tags", "create", "gold"],
    ));

    let out = bulkhead_as(&key, &["--db", arg(&db), "audit", "list"]);
    assert_success(&out);
    let text = stdout(&out);
    for expected in [
        "organization.create",
        "workspace.create",
        "token.issue",
        "tag.create",
        "org-key:",
    ] {
        assert!(text.contains(expected), "no `{expected}` in:\n{text}");
    }
    let doc = json(&bulkhead_as(
        &key,
        &[
            "--db",
            arg(&db),
            "audit",
            "list",
            "--action",
            "tag.create",
            "--json",
        ],
    ));
    let events = doc["events"].as_array().unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0]["target"], "tag:gold");
    assert_eq!(events[0]["hash"].as_str().unwrap().len(), 64);

    let out = bulkhead_as(&key, &["--db", arg(&db), "audit", "verify"]);
    assert_success(&out);
    assert!(
        stdout(&out).contains("audit chain intact: 4 event(s) verified"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn audit_verify_exits_1_and_names_the_first_broken_link() {
    let (_dir, db) = initialized();
    let (org_id, key) = create_org(&db, &[]);
    for n in 0..3 {
        assert_success(&bulkhead_as(
            &key,
            &["--db", arg(&db), "tags", "create", &format!("t{n}")],
        ));
    }
    let raw = rusqlite::Connection::open(&db).unwrap();
    let org: uuid::Uuid = org_id.parse().unwrap();
    raw.execute(
        "UPDATE audit_log SET target = 'tag:other' WHERE org_id = ?1 AND seq = 3",
        rusqlite::params![org],
    )
    .unwrap();
    drop(raw);

    let out = bulkhead_as(&key, &["--db", arg(&db), "audit", "verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("breaks at event 3"), "{message}");
    let out = bulkhead_as(&key, &["--db", arg(&db), "audit", "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let doc: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(doc["intact"], false);
    assert_eq!(doc["broken_at"], 3);
    assert_eq!(doc["verified"], 2);
}

#[cfg(unix)]
#[test]
fn serve_prints_its_address_answers_http_and_stops_on_sigterm() {
    use std::io::{BufRead as _, BufReader, Read as _};

    let dir = TempDir::new().unwrap();
    let db = dir.path().join("serve.db");
    let db = db.to_str().unwrap();
    assert!(bulkhead(&["--db", db, "init"]).status.success());
    let mut child = command(&["--db", db, "serve", "--listen", "127.0.0.1:0"], &[])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();

    let mut stream = std::net::TcpStream::connect(&addr).unwrap();
    stream
        .write_all(
            b"GET /api/v1/workspaces HTTP/1.1\r\nHost: bulkhead\r\nConnection: close\r\n\r\n",
        )
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    let lower = answer.to_ascii_lowercase();
    assert!(
        lower.contains("content-type: application/problem+json"),
        "{answer}"
    );
    assert!(lower.contains("www-authenticate: bearer"), "{answer}");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = child.wait().unwrap();
    assert!(status.success(), "serve exited with {status}");
}

#[test]
fn serve_refuses_both_db_and_postgres() {
    let dir = TempDir::new().unwrap();
    let db = dir.path().join("serve.db");
    let out = bulkhead(&[
        "--db",
        db.to_str().unwrap(),
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--postgres",
        "postgresql://app:hunter2@127.0.0.1:1/bulkhead",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let message = stderr(&out);
    assert!(message.contains("--db and --postgres"), "{message}");
    assert!(
        !message.contains("hunter2"),
        "the URL is never echoed: {message}"
    );
    assert!(!db.exists(), "nothing was opened");
}

// ---- jobs and workers ----

/// `bulkhead --db DB --json ARGS…` as the organization.
fn as_org(db: &Path, org_key: &str, args: &[&str]) -> Output {
    bulkhead_as(org_key, &[&["--db", arg(db), "--json"], args].concat())
}

/// The fake connector, as a worker's `--exec` runs it.
fn fake_connector(delay_ms: u32) -> String {
    format!(
        "'{}' fake-connector --delay-ms {delay_ms}",
        env!("CARGO_BIN_EXE_bulkhead")
    )
}

/// The customer's jobs, newest first.
fn jobs_of(db: &Path, org_key: &str, external_id: &str) -> Vec<Value> {
    json(&as_org(
        db,
        org_key,
        &["jobs", "list", "--external-id", external_id],
    ))
    .as_array()
    .unwrap()
    .clone()
}

#[test]
fn jobs_started_wait_for_a_worker_that_runs_each_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, org_key) = kept_demo(&dir);
    let started = json(&as_org(
        &db,
        &org_key,
        &["jobs", "start", "--external-id", "customer-a"],
    ));
    let started = started.as_array().unwrap();
    assert_eq!(started.len(), 1, "{started:?}");
    assert_eq!(started[0]["status"], "pending");
    let id = started[0]["id"].as_str().unwrap().to_owned();

    // A second start while it waits is skipped, with a note.
    let again = as_org(
        &db,
        &org_key,
        &["jobs", "start", "--external-id", "customer-a"],
    );
    assert_eq!(json(&again), serde_json::json!([]));
    assert!(stderr(&again).contains("already has a job queued or running"));

    let worked = json(&as_org(
        &db,
        &org_key,
        &["worker", "--exec", &fake_connector(10), "--drain"],
    ));
    assert_eq!(worked["succeeded"], 1, "{worked}");
    assert_eq!(worked["failed"], 0, "{worked}");
    let jobs = jobs_of(&db, &org_key, "customer-a");
    let job = jobs.iter().find(|j| j["id"] == id.as_str()).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["rows"], 1878,
        "the fake connector's rows for this connection"
    );
    // Nothing is left: a second worker finds no job.
    let idle = json(&as_org(
        &db,
        &org_key,
        &["worker", "--exec", &fake_connector(10), "--drain"],
    ));
    assert_eq!(idle["succeeded"], 0, "{idle}");
}

#[test]
fn the_worker_never_prints_the_configuration_it_hands_the_connector() {
    let dir = tempfile::tempdir().unwrap();
    let (db, org_key) = kept_demo(&dir);
    for customer in ["customer-a", "customer-b", "customer-c"] {
        json(&as_org(
            &db,
            &org_key,
            &["jobs", "start", "--external-id", customer],
        ));
    }
    // A connector that reads its secrets and says them on stderr would be the connector's
    // leak; the worker itself must add none: the command here prints nothing but its result.
    let worked = as_org(
        &db,
        &org_key,
        &[
            "worker",
            "--exec",
            &fake_connector(0),
            "--drain",
            "--workers",
            "2",
        ],
    );
    let doc = json(&worked);
    assert_eq!(doc["succeeded"], 3, "{doc}");
    let printed = format!("{}{}", stdout(&worked), stderr(&worked));
    for secret in DEMO_SECRETS {
        assert!(!printed.contains(secret), "{secret} printed: {printed}");
    }
}

#[test]
fn a_cancelled_job_stops_its_running_connector() {
    let dir = tempfile::tempdir().unwrap();
    let (db, org_key) = kept_demo(&dir);
    let started = json(&as_org(
        &db,
        &org_key,
        &["jobs", "start", "--external-id", "customer-b"],
    ));
    let id = started[0]["id"].as_str().unwrap().to_owned();
    let pid_file = dir.path().join("connector.pid");
    let connector = format!("echo $$ > '{}'; exec sleep 300", pid_file.display());
    let worker = command(
        &[
            "--db",
            arg(&db),
            "--json",
            "worker",
            "--exec",
            &connector,
            "--drain",
            "--heartbeat",
            "1s",
        ],
        &[("BULKHEAD_ORG_KEY", &org_key)],
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    while !pid_file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let cancelled = json(&as_org(
        &db,
        &org_key,
        &["jobs", "cancel", "--external-id", "customer-b", &id],
    ));
    assert_eq!(cancelled[0]["status"], "cancelled");
    let out = worker.wait_with_output().unwrap();
    let doc = json(&out);
    assert_eq!(doc["stopped"], 1, "{doc}");
    assert_eq!(doc["succeeded"], 0, "{doc}");
    let pid = std::fs::read_to_string(&pid_file).unwrap();
    assert!(
        !Path::new(&format!("/proc/{}", pid.trim())).exists()
            || std::fs::read_to_string(format!("/proc/{}/stat", pid.trim()))
                .unwrap_or_default()
                .contains(") Z"),
        "the connector still runs"
    );
    let jobs = jobs_of(&db, &org_key, "customer-b");
    let job = jobs.iter().find(|j| j["id"] == id.as_str()).unwrap();
    assert_eq!(job["status"], "cancelled", "{job}");
}

#[test]
fn a_killed_workers_job_is_claimed_again_after_its_lease_and_completes_once() {
    let dir = tempfile::tempdir().unwrap();
    let (db, org_key) = kept_demo(&dir);
    let started = json(&as_org(
        &db,
        &org_key,
        &["jobs", "start", "--external-id", "customer-c"],
    ));
    let id = started[0]["id"].as_str().unwrap().to_owned();
    // The first worker's connector never finishes; the worker is killed (SIGKILL) mid-job.
    let pid_file = dir.path().join("connector.pid");
    let connector = format!("echo $$ > '{}'; exec sleep 300", pid_file.display());
    let mut first = command(
        &[
            "--db",
            arg(&db),
            "worker",
            "--exec",
            &connector,
            "--drain",
            "--lease",
            "1s",
            "--backoff",
            "1s",
        ],
        &[("BULKHEAD_ORG_KEY", &org_key)],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    while !pid_file.exists() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    first.kill().unwrap();
    first.wait().unwrap();
    // Its connector was in a group of its own: end it as an operator would.
    let connector_pid = std::fs::read_to_string(&pid_file).unwrap();
    let _ = Command::new("kill")
        .args(["-9", connector_pid.trim()])
        .status();

    // A second worker claims it once the lease and the backoff have passed: attempt 2.
    let second = json(&as_org(
        &db,
        &org_key,
        &[
            "worker",
            "--exec",
            &fake_connector(10),
            "--lease",
            "1s",
            "--backoff",
            "1s",
            "--max-jobs",
            "1",
            "--poll",
            "1s",
        ],
    ));
    assert_eq!(second["succeeded"], 1, "{second}");
    let jobs = jobs_of(&db, &org_key, "customer-c");
    let mine: Vec<&Value> = jobs.iter().filter(|j| j["id"] == id.as_str()).collect();
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["status"], "succeeded", "{:?}", mine[0]);
    // Completed once: exactly one run of that connection beyond the demo's first.
    let succeeded = jobs.iter().filter(|j| j["status"] == "succeeded").count();
    assert_eq!(succeeded, 2, "{jobs:?}");
}
