use super::*;

#[test]
fn shared_server_is_started_once_and_answers_queries() {
    let first = PgServer::shared();
    let second = PgServer::shared();
    assert!(std::ptr::eq(first, second));
    assert_eq!(first.port(), second.port());

    let bin = find_bin_dir().expect("a server started, so its binaries are found");
    let output = Command::new(format!("{bin}/psql"))
        .args([first.admin_url(), "-Atc", "select 1"])
        .output()
        .expect("psql runs");
    assert!(
        output.status.success(),
        "psql failed: {}",
        describe(&output)
    );
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "1");
}

#[test]
fn url_with_password_is_parsed_without_it() {
    let server = PgServer::parse("postgresql://admin:s3cr:et@db.example:6543/app").unwrap();
    assert_eq!(
        server.admin_url(),
        "postgresql://admin:s3cr:et@db.example:6543/app"
    );
    assert_eq!(server.user(), "admin");
    assert_eq!(server.host(), "db.example");
    assert_eq!(server.port(), 6543);
    assert_eq!(server.database(), "app");
    assert_eq!(
        server.url_for("tenant_a"),
        "postgresql://tenant_a@db.example:6543/app"
    );
}

#[test]
fn url_without_password_or_port_defaults_to_5432() {
    let server = PgServer::parse("postgres://bulkhead_admin@127.0.0.1/postgres").unwrap();
    assert_eq!(server.user(), "bulkhead_admin");
    assert_eq!(server.host(), "127.0.0.1");
    assert_eq!(server.port(), 5432);
    assert_eq!(server.database(), "postgres");
}

#[test]
fn url_without_database_defaults_to_the_user_and_ignores_options() {
    let server = PgServer::parse("postgresql://alice@localhost:5433?sslmode=disable").unwrap();
    assert_eq!(server.port(), 5433);
    assert_eq!(server.database(), "alice");
}

#[test]
fn malformed_urls_are_refused_without_quoting_them() {
    for url in [
        "mysql://root:hunter2@localhost/db",
        "postgresql://localhost:5432/db",
        "postgresql://:hunter2@localhost/db",
        "postgresql://root:hunter2@:5432/db",
        "postgresql://root:hunter2@localhost:port/db",
    ] {
        let error = PgServer::parse(url).err().expect(url);
        assert!(!error.contains("hunter2"), "{error}");
    }
}

#[test]
fn versions_are_ordered_as_numbers() {
    assert!(parse_version("9.6") < parse_version("15"));
    assert!(parse_version("15") < parse_version("16"));
    assert_eq!(parse_version("main"), None);
}

#[test]
fn install_needs_apt_get_and_root_or_passwordless_sudo() {
    let unasked = || -> bool { panic!("sudo was tried although it does not matter") };
    assert_eq!(Install::choose(true, unasked, true), Install::AsRoot);
    assert_eq!(Install::choose(true, unasked, false), Install::Impossible);
    assert_eq!(Install::choose(false, unasked, false), Install::Impossible);
    assert_eq!(Install::choose(false, || true, true), Install::WithSudo);
    assert_eq!(Install::choose(false, || false, true), Install::Impossible);
}

#[test]
fn binaries_found_are_used_and_nothing_is_installed() {
    let bin = find_or_install(
        &|| Some("/usr/lib/postgresql/17/bin".to_owned()),
        || panic!("no need to choose"),
        |_| -> Result<(), String> { panic!("no need to lock") },
        |_| panic!("no need to install"),
    );
    assert_eq!(bin.unwrap(), "/usr/lib/postgresql/17/bin");
}

#[test]
fn without_a_way_to_install_the_error_says_how_to() {
    let err = find_or_install(
        &|| None,
        || Install::Impossible,
        |_| -> Result<(), String> { panic!("nothing to lock") },
        |_| panic!("nothing to install"),
    )
    .unwrap_err();
    assert!(err.contains("BULKHEAD_PG_URL"), "{err}");
}

#[test]
fn missing_binaries_are_installed_under_the_lock_then_found() {
    let installed = std::cell::Cell::new(false);
    let steps = std::cell::RefCell::new(Vec::new());
    let find = || {
        steps.borrow_mut().push("find".to_owned());
        installed
            .get()
            .then(|| "/usr/lib/postgresql/17/bin".to_owned())
    };
    let bin = find_or_install(
        &find,
        || Install::WithSudo,
        |how| {
            steps.borrow_mut().push(format!("lock {how:?}"));
            Ok(())
        },
        |how| {
            steps.borrow_mut().push(format!("install {how:?}"));
            installed.set(true);
            Ok(())
        },
    );
    assert_eq!(bin.unwrap(), "/usr/lib/postgresql/17/bin");
    assert_eq!(
        steps.into_inner(),
        ["find", "lock WithSudo", "find", "install WithSudo", "find"]
    );
}

#[test]
fn binaries_another_process_installed_while_this_one_waited_are_not_installed_again() {
    let looks = std::cell::Cell::new(0);
    let find = || {
        looks.set(looks.get() + 1);
        (looks.get() > 1).then(|| "/usr/lib/postgresql/17/bin".to_owned())
    };
    let bin = find_or_install(
        &find,
        || Install::AsRoot,
        |_| Ok(()),
        |_| panic!("installed again"),
    );
    assert_eq!(bin.unwrap(), "/usr/lib/postgresql/17/bin");
}

#[test]
fn a_failed_install_or_one_that_finds_nothing_fails() {
    let err = find_or_install(
        &|| None,
        || Install::AsRoot,
        |_| Ok(()),
        |_| Err("`apt-get update` failed".to_owned()),
    )
    .unwrap_err();
    assert!(err.contains("apt-get update"), "{err}");
    let err = find_or_install(&|| None, || Install::AsRoot, |_| Ok(()), |_| Ok(())).unwrap_err();
    assert!(err.contains("still not found"), "{err}");
}

#[test]
fn a_lock_that_fails_stops_the_install() {
    let err = find_or_install(
        &|| None,
        || Install::AsRoot,
        |_| -> Result<(), String> { Err("lock timed out".to_owned()) },
        |_| panic!("installed without the lock"),
    )
    .unwrap_err();
    assert_eq!(err, "lock timed out");
}

#[test]
fn install_lock_is_held_by_one_holder_at_a_time_and_a_stale_one_is_taken_over() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("install.lock");
    let first = FileLock::acquire(&path, Duration::from_secs(5)).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        std::process::id().to_string()
    );
    // Held by a live process (this one): another taker waits, here until it gives up.
    let err = FileLock::acquire(&path, Duration::from_millis(700))
        .err()
        .unwrap();
    assert!(err.contains("another test process"), "{err}");
    // A taker that waits gets it once the holder lets go.
    let waiter = {
        let path = path.clone();
        thread::spawn(move || FileLock::acquire(&path, Duration::from_secs(10)).map(drop))
    };
    thread::sleep(Duration::from_millis(700));
    drop(first);
    waiter.join().unwrap().unwrap();
    assert!(!path.exists(), "released when dropped");
    // The lock of a process that is gone is taken over at once.
    fs::write(&path, "999999999").unwrap();
    let taken = FileLock::acquire(&path, Duration::ZERO).unwrap();
    assert_eq!(
        fs::read_to_string(&path).unwrap(),
        std::process::id().to_string()
    );
    drop(taken);
}

#[test]
fn quoted_words_survive_the_shell() {
    let output = Command::new("sh")
        .args(["-c", &format!("printf %s {}", sh_quote("it's a $HOME"))])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&output.stdout), "it's a $HOME");
}
