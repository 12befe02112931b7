//! The files Bulkhead creates are readable and writable by their owner only (0600), whatever
//! the umask: the SQLite database and its `-wal` and `-shm` files (tenant names, external ids,
//! configurations, the audit log) and the master key file (what `bulkhead init` writes).
//!
//! The umask belongs to the whole process and `std` cannot set it, so the test runs itself
//! again in a child process under `sh -c 'umask …; exec …'`, once per umask.
#![cfg(unix)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::fs::OpenOptions;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;

use bulkhead::{Config, Engine, MasterKey};

/// Set in the child: the directory to work in.
const CHILD_DIR: &str = "BULKHEAD_FILE_MODES_DIR";
/// Set in the child: the umask it runs under, in octal.
const CHILD_UMASK: &str = "BULKHEAD_FILE_MODES_UMASK";
const TEST: &str = "database_wal_shm_and_key_files_are_created_private_whatever_the_umask";

/// The permission bits of `path`, in octal.
fn mode(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("`{}`: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:03o}", mode & 0o777)
}

fn beside(db: &Path, suffix: &str) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[test]
fn database_wal_shm_and_key_files_are_created_private_whatever_the_umask() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        let umask = u32::from_str_radix(&std::env::var(CHILD_UMASK).unwrap(), 8).unwrap();
        return in_child(Path::new(&dir), umask);
    }
    // 277 takes the owner's own write bit: only the key file is made then (SQLite needs to
    // write its files), which must still come out 0600, not 0400.
    for umask in ["022", "002", "000", "277"] {
        let dir = tempfile::tempdir().unwrap();
        let output = Command::new("/bin/sh")
            .arg("-c")
            .arg(format!(
                "umask {umask} && exec \"$0\" --exact {TEST} --test-threads 1 --nocapture"
            ))
            .arg(std::env::current_exe().unwrap())
            .env(CHILD_DIR, dir.path())
            .env(CHILD_UMASK, umask)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "umask {umask}: the child failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        // The child ran the test, not nothing.
        assert!(
            String::from_utf8_lossy(&output.stdout).contains("1 passed"),
            "umask {umask}: {}",
            String::from_utf8_lossy(&output.stdout)
        );
    }
}

fn in_child(dir: &Path, umask: u32) {
    // The umask is the one asked for: a file made with mode 0666 gets 0666 less it.
    let probe = dir.join("probe");
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o666)
        .open(&probe)
        .unwrap();
    assert_eq!(
        mode(&probe),
        format!("{:03o}", 0o666 & !umask),
        "the child's umask"
    );

    let db = dir.join("bulkhead.db");
    let key_file = bulkhead::default_key_file(&db);
    let key = MasterKey::create_file(&key_file).unwrap();
    if umask & 0o700 != 0 {
        assert_eq!(
            mode(&key_file),
            "600",
            "the key file under umask {umask:03o}"
        );
        return;
    }
    let engine = Engine::open(&db, Config::default().with_master_key(key)).unwrap();
    // A write, so the WAL holds data.
    engine.create_organization("Acme").unwrap();
    let files = [
        db.clone(),
        beside(&db, "-wal"),
        beside(&db, "-shm"),
        key_file.clone(),
    ];
    for path in &files {
        assert_eq!(
            mode(path),
            "600",
            "`{}` under umask {umask:03o}",
            path.display()
        );
    }
    // Opened again (a second process would see the same): the files stay private.
    drop(engine);
    let key = MasterKey::load_file(&key_file).unwrap();
    let engine = Engine::open(&db, Config::default().with_master_key(key)).unwrap();
    engine.create_organization("Globex").unwrap();
    for path in &files {
        assert_eq!(mode(path), "600", "`{}` reopened", path.display());
    }
}
