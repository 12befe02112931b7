//! The `bulkhead` binary, run as a user runs it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// Runs `bulkhead` with `args`, with no organization in the environment.
fn bulkhead(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(args)
        .env_remove("BULKHEAD_ORG")
        .output()
        .expect("the binary runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8(output.stdout.clone()).unwrap()
}

fn stderr(output: &Output) -> String {
    String::from_utf8(output.stderr.clone()).unwrap()
}

fn json(output: &Output) -> Value {
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

fn db_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

#[test]
fn demo_prints_the_seed_tree_and_a_not_found_isolation_line() {
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
        "Destination: S3 bucket",
        "Connection: Stripe → S3 bucket (active, cron `0 * * * *`, last sync succeeded: 1200 rows)",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in:\n{text}");
    }
    let isolation = text
        .lines()
        .find(|l| l.starts_with("Isolation: customer-a asked for customer-b's source "))
        .unwrap_or_else(|| panic!("no isolation line in:\n{text}"));
    assert!(isolation.contains(": not found (source `"), "{isolation}");
}

#[test]
fn demo_json_has_three_workspaces_and_a_passed_isolation_check() {
    let output = bulkhead(&["demo", "--json"]);
    assert_success(&output);
    let doc = json(&output);
    let workspaces = doc["workspaces"].as_array().unwrap();
    let ids: Vec<&str> = workspaces
        .iter()
        .map(|w| w["workspace"]["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["customer-a", "customer-b", "customer-c"]);
    for w in workspaces {
        assert_eq!(w["sources"].as_array().unwrap().len(), 1);
        assert_eq!(w["destinations"][0]["name"], "S3 bucket");
        let connection = &w["connections"][0];
        assert_eq!(connection["status"], "active");
        assert_eq!(connection["latest_sync_run"]["status"], "succeeded");
    }
    assert_eq!(doc["organization"]["name"], "Acme Corp");
    assert_eq!(doc["isolation"]["outcome"], "not_found");
    assert_eq!(doc["isolation"]["passed"], true);
    assert_eq!(doc["database"]["temporary"], true);
}

#[test]
fn demo_with_db_keeps_a_database_the_other_commands_read() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    let output = bulkhead(&["demo", "--db", db_arg(&db)]);
    assert_success(&output);
    assert!(stdout(&output).contains("workspaces show customer-a"));

    let orgs = json(&bulkhead(&["--db", db_arg(&db), "org", "list", "--json"]));
    let org_id = orgs["organizations"][0]["id"].as_str().unwrap().to_owned();
    let output = bulkhead(&[
        "--db",
        db_arg(&db),
        "--org",
        &org_id,
        "workspaces",
        "show",
        "customer-b",
    ]);
    assert_success(&output);
    let text = stdout(&output);
    assert!(
        text.contains("Source: Salesforce (salesforce, source "),
        "{text}"
    );
    assert!(text.contains("Last sync: succeeded, 5400 rows"), "{text}");
}

#[test]
fn demo_refuses_an_existing_db_file() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("existing.db");
    std::fs::write(&db, b"keep me").unwrap();
    let output = bulkhead(&["demo", "--db", db_arg(&db)]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), b"keep me");
}

#[test]
fn init_prints_path_and_schema_version() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let output = bulkhead(&["--db", db_arg(&db), "init", "--json"]);
    assert_success(&output);
    let doc = json(&output);
    assert!(doc["schema_version"].as_i64().unwrap() >= 1);
    assert!(doc["database"].as_str().unwrap().ends_with("b.db"));
    assert!(db.exists());
}

#[test]
fn org_create_then_workspaces_list_json_on_a_temp_db() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let created = bulkhead(&["--db", db_arg(&db), "org", "create", "Acme", "--json"]);
    assert_success(&created);
    let org = json(&created);
    assert_eq!(org["name"], "Acme");
    let org_id = org["id"].as_str().unwrap();

    let listed = Command::new(env!("CARGO_BIN_EXE_bulkhead"))
        .args(["--db", db_arg(&db), "workspaces", "list", "--json"])
        .env("BULKHEAD_ORG", org_id)
        .output()
        .unwrap();
    assert_success(&listed);
    let doc = json(&listed);
    assert_eq!(doc["workspaces"], Value::Array(Vec::new()));
    assert_eq!(doc["next_cursor"], Value::Null);
}

#[test]
fn org_create_prints_the_id_alone() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let output = bulkhead(&["--db", db_arg(&db), "org", "create", "Acme"]);
    assert_success(&output);
    let id = stdout(&output);
    let listed = json(&bulkhead(&["--db", db_arg(&db), "org", "list", "--json"]));
    assert_eq!(id.trim(), listed["organizations"][0]["id"]);
}

#[test]
fn workspaces_list_pages_with_the_printed_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("demo.db");
    assert_success(&bulkhead(&["demo", "--db", db_arg(&db)]));
    let orgs = json(&bulkhead(&["--db", db_arg(&db), "org", "list", "--json"]));
    let org_id = orgs["organizations"][0]["id"].as_str().unwrap().to_owned();
    let base = ["--db", db_arg(&db), "--org", &org_id, "workspaces", "list"];

    let first = bulkhead(&[&base[..], &["--limit", "2"]].concat());
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

    let second = bulkhead(&[&base[..], &["--limit", "2", "--after", cursor, "--json"]].concat());
    assert_success(&second);
    let doc = json(&second);
    assert_eq!(doc["workspaces"][0]["external_id"], "customer-c");
    assert_eq!(doc["workspaces"].as_array().unwrap().len(), 1);
    assert_eq!(doc["next_cursor"], Value::Null);

    let filtered = json(&bulkhead(
        &[
            &base[..],
            &["--prefix", "customer-b", "--status", "active", "--json"],
        ]
        .concat(),
    ));
    assert_eq!(filtered["workspaces"].as_array().unwrap().len(), 1);
}

#[test]
fn workspaces_show_of_an_unknown_external_id_mentions_case_sensitivity() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let created = json(&bulkhead(&[
        "--db",
        db_arg(&db),
        "org",
        "create",
        "Acme",
        "--json",
    ]));
    let org_id = created["id"].as_str().unwrap();
    let output = bulkhead(&[
        "--db",
        db_arg(&db),
        "--org",
        org_id,
        "workspaces",
        "show",
        "Customer-A",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("case-sensitive"), "{err}");
}

#[test]
fn invalid_org_exits_1_naming_org_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let output = bulkhead(&[
        "--db",
        db_arg(&db),
        "--org",
        "not-a-uuid",
        "workspaces",
        "list",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(err.starts_with("error: "), "{err}");
    assert!(err.contains("org_id"), "{err}");
}

#[test]
fn workspace_commands_without_an_org_say_how_to_give_one() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let output = bulkhead(&["--db", db_arg(&db), "workspaces", "list"]);
    assert_eq!(output.status.code(), Some(1));
    let err = stderr(&output);
    assert!(
        err.contains("--org") && err.contains("BULKHEAD_ORG"),
        "{err}"
    );
}

#[test]
fn out_of_range_limit_is_an_error_naming_limit() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("b.db");
    let created = json(&bulkhead(&[
        "--db",
        db_arg(&db),
        "org",
        "create",
        "Acme",
        "--json",
    ]));
    let org_id = created["id"].as_str().unwrap();
    let output = bulkhead(&[
        "--db",
        db_arg(&db),
        "--org",
        org_id,
        "workspaces",
        "list",
        "--limit",
        "101",
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("invalid limit"),
        "{}",
        stderr(&output)
    );
}
