//! The compatibility test: Airbyte's own Python SDK, `airbyte-api` 1.0.1 from PyPI,
//! unmodified, against the real server on `127.0.0.1:0`. The script
//! (`tests/sdk/airbyte_sdk_check.py`) gets an access token by client credentials, then lists,
//! creates, gets, patches and deletes workspaces, sources, destinations and connections, and
//! creates, gets, lists and cancels jobs, on both prefixes; it asserts every answer and exits
//! non-zero on the first failure, whose output this test shows.
//!
//! The SDK lives in a virtualenv: `$BULKHEAD_SDK_VENV` when set (`.ci/run` makes one), else
//! `sdk-venv` in the build directory (`$CARGO_TARGET_DIR`, or `target/` of the workspace).
//! When the virtualenv is missing or lacks the SDK, the test makes it (`python3 -m venv`, then
//! `pip install airbyte-api==1.0.1`) under a lock file, so parallel runs do not race. Without
//! `python3` or its `venv` it installs them with apt-get as root or with passwordless sudo
//! (as the PostgreSQL tests install PostgreSQL). It never skips: where it cannot install, it
//! fails with a one-line instruction.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use crate::support;

use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::Server;

/// The SDK, pinned: the reference (`shared/reference/airbyte-http-api.md`) records what this
/// release sends and accepts.
const SDK: &str = "airbyte-api==1.0.1";

/// The workspace's root directory.
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Where the virtualenv is: `$BULKHEAD_SDK_VENV`, else `sdk-venv` in the build directory.
fn venv_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("BULKHEAD_SDK_VENV").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let target = match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => workspace_root().join(dir),
        None => workspace_root().join("target"),
    };
    target.join("sdk-venv")
}

fn python_in(venv: &Path) -> PathBuf {
    venv.join("bin").join("python")
}

/// Whether `venv` holds a Python with the pinned SDK.
fn sdk_ready(venv: &Path) -> bool {
    Command::new(python_in(venv))
        .args([
            "-c",
            "import sys; from airbyte_api._version import __version__ as v; sys.exit(v != '1.0.1')",
        ])
        .output()
        .is_ok_and(|o| o.status.success())
}

fn shown(output: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The Python of a virtualenv with the SDK, made first if need be (under a lock file).
fn ensure_venv() -> PathBuf {
    let venv = venv_dir();
    if sdk_ready(&venv) {
        return python_in(&venv);
    }
    let parent = venv.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).unwrap();
    let lock_path = venv.with_extension("lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| panic!("cannot open the lock file {}: {e}", lock_path.display()));
    lock.lock().unwrap();
    // Another process may have made it while this one waited.
    if sdk_ready(&venv) {
        return python_in(&venv);
    }
    // A fresh machine may have no python3, or Debian's without `venv` and `ensurepip`: install
    // them as the PostgreSQL binaries are installed (as root or with passwordless sudo).
    let venv_works = || {
        Command::new("python3")
            .args(["-c", "import venv, ensurepip"])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !venv_works() {
        if let Err(why) = bulkhead_testkit::pg::apt_install(&["python3", "python3-venv"]) {
            panic!(
                "python3 with venv is missing and could not be installed ({why}): install it (apt-get install python3 python3-venv) or set BULKHEAD_SDK_VENV to a virtualenv with {SDK}"
            );
        }
        assert!(
            venv_works(),
            "apt-get installed python3 and python3-venv, but `python3 -m venv` still cannot run"
        );
    }
    if !python_in(&venv).exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "`python3 -m venv` failed: install python3-venv (apt-get install python3-venv) or set BULKHEAD_SDK_VENV\n{}",
            shown(&made)
        );
    }
    let installed = Command::new(python_in(&venv))
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            SDK,
        ])
        .output()
        .unwrap();
    assert!(
        installed.status.success(),
        "pip could not install {SDK} into {}: check the network or set BULKHEAD_SDK_VENV\n{}",
        venv.display(),
        shown(&installed)
    );
    assert!(
        sdk_ready(&venv),
        "{SDK} is not importable from {} after installing it",
        venv.display()
    );
    python_in(&venv)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airbyte_api_python_sdk_runs_unmodified_against_the_server() {
    let python = tokio::task::spawn_blocking(ensure_venv).await.unwrap();
    let server = Server::start().await;
    let client_id = server.client_id(&server.org_key);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/airbyte_sdk_check.py");
    for prefix in ["/v1", "/api/public/v1"] {
        let mut command = Command::new(&python);
        command
            .arg(&script)
            .arg(prefix)
            .env("BULKHEAD_URL", &server.base)
            .env("BULKHEAD_CLIENT_ID", &client_id)
            .env("BULKHEAD_CLIENT_SECRET", &server.org_key)
            // Loopback only: never through a proxy the environment may name.
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("PYTHONDONTWRITEBYTECODE", "1");
        let output = tokio::task::spawn_blocking(move || command.output())
            .await
            .unwrap()
            .unwrap();
        assert!(
            output.status.success(),
            "the airbyte-api SDK script failed against {prefix} ({})\n{}",
            output.status,
            shown(&output)
        );
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            stdout.contains(&format!("ok: airbyte-api 1.0.1 against {prefix}")),
            "{stdout}"
        );
    }
}
