//! A throw-away PostgreSQL server for tests.
//!
//! [`PgServer::shared`] gives every test of a process the same server, with the URL of a
//! superuser on loopback. Each test then makes what it needs (roles, databases) on it.
//!
//! # Where the server comes from
//!
//! - `BULKHEAD_PG_URL` set (`postgresql://user[:password]@host[:port]/database`): an existing
//!   server, used as is and never stopped. [`PgServer::url_for`] builds password-less URLs, so
//!   that server must trust those roles, or the caller adds their passwords itself.
//! - Otherwise a server started on first use: `initdb` in a fresh directory under `/tmp`,
//!   superuser `bulkhead_admin`, trust authentication, listening on a free port of
//!   `127.0.0.1` only, durability off (`fsync`, `synchronous_commit`, `full_page_writes`),
//!   since its data lives no longer than the test process. The binaries are those of the
//!   highest version under `/usr/lib/postgresql/*/bin`, else of `pg_config --bindir`, else the
//!   first directory of `PATH` that has `initdb`, `postgres` and `pg_isready`.
//!
//! # No PostgreSQL: installed if possible, else no pass
//!
//! When there is neither `BULKHEAD_PG_URL` nor a PostgreSQL installation, the first test that
//! needs a server installs one the way `.ci/run` does, so that `cargo test --workspace` works
//! on a fresh machine: if the tests run as root, or `sudo -n` works (passwordless sudo), and
//! `apt-get` exists (Debian, Ubuntu), it says so on stderr and runs `apt-get update` and
//! `DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql`,
//! then looks for the binaries again. Test binaries start in parallel, so the install holds a
//! lock in the process and a lock file, `/tmp/bulkhead-pg-install.lock` (made with
//! `create_new`, holding the installer's pid; one whose process is gone is taken over), and
//! looks again once it has them: one process installs, the others wait and find it.
//!
//! Where it cannot install (no root or passwordless sudo, no `apt-get`) or the install fails,
//! [`PgServer::shared`] panics, with a message saying how to install PostgreSQL, on a
//! developer's machine as in CI. A test that skipped itself would count as passed, and a suite
//! proving tenant isolation on PostgreSQL must not pass without having run on it. The first
//! failure to start is remembered: every later call panics at once with the same message
//! instead of trying (and timing out) again.
//!
//! # Why a watchdog
//!
//! The server lives in a `static`, and Rust never drops statics: no destructor runs when the
//! test harness exits the process, so the test process cannot stop its own server. Instead a
//! small shell script, the watchdog, starts `postgres` as its child and polls
//! `/proc/<test pid>` every half second; once the test process is gone, whether it returned,
//! panicked or was interrupted, the watchdog stops the server (fast shutdown, `SIGINT`),
//! waits for it and removes the whole directory. It runs in its own session (`setsid`) with
//! its output in the server's log file, so neither the end of the test process, a Ctrl-C sent
//! to it nor `cargo test` waiting on its pipes ties the watchdog to it. It polls `/proc`
//! rather than `kill -0` because the latter fails across users, and as root the watchdog runs
//! as `postgres` (below). This needs Linux; elsewhere, use `BULKHEAD_PG_URL`.
//!
//! # Root
//!
//! PostgreSQL refuses to run as root. When the tests run as root (containers, CI), the
//! directory is given to the `postgres` user, and `initdb` and the watchdog (hence `postgres`)
//! run as that user, through `runuser`, or `su` where there is no `runuser`.

use std::fs;
use std::io::Write as _;
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Mutex, OnceLock, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

/// The variable naming an existing server to use instead of starting one.
const URL_VAR: &str = "BULKHEAD_PG_URL";
/// The superuser `initdb` creates on a started server.
const ADMIN: &str = "bulkhead_admin";
/// The database of the URLs of a started server: the one `initdb` always creates.
const DATABASE: &str = "postgres";
/// The only address a started server listens on.
const LOOPBACK: &str = "127.0.0.1";
/// The user PostgreSQL runs as when the tests run as root.
const SERVER_USER: &str = "postgres";
/// How long a started server may take to accept connections.
const READY_TIMEOUT: Duration = Duration::from_secs(30);
/// How many lines of the server log a failure to start shows.
const LOG_TAIL_LINES: usize = 30;
/// The lock file of an install in progress, shared by every test process of the machine.
const INSTALL_LOCK: &str = "/tmp/bulkhead-pg-install.lock";
/// How long a process waits for another one's install before it gives up.
const INSTALL_WAIT: Duration = Duration::from_secs(20 * 60);

/// A PostgreSQL server for tests: superuser URL on loopback.
pub struct PgServer {
    admin_url: String,
    host: String,
    port: u16,
    user: String,
    database: String,
}

impl PgServer {
    /// The server of this test process: `BULKHEAD_PG_URL` when set (an existing server, URL of
    /// a superuser), otherwise one started once per process (first call) and shut down and
    /// removed after the process exits.
    ///
    /// # Panics
    ///
    /// When `BULKHEAD_PG_URL` is malformed, when PostgreSQL is not installed, or when the
    /// server does not start (the message then ends with the tail of its log). See the
    /// [module documentation](self).
    #[allow(
        clippy::panic,
        reason = "test equipment: a test that needs PostgreSQL fails, never skips, without it"
    )]
    pub fn shared() -> &'static PgServer {
        static SERVER: OnceLock<Result<PgServer, String>> = OnceLock::new();
        match SERVER.get_or_init(PgServer::from_env_or_start) {
            Ok(server) => server,
            Err(message) => panic!("{message}"),
        }
    }

    /// A libpq-style URL of a superuser, e.g.
    /// `postgresql://bulkhead_admin@127.0.0.1:54321/postgres`.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// The host: always `127.0.0.1` for a started server.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The superuser's name.
    pub fn user(&self) -> &str {
        &self.user
    }

    /// The database of [`admin_url`](Self::admin_url).
    pub fn database(&self) -> &str {
        &self.database
    }

    /// A URL for `user` (no password; the started server trusts loopback) on the same server
    /// and database.
    pub fn url_for(&self, user: &str) -> String {
        format!(
            "postgresql://{user}@{}:{}/{}",
            self.host, self.port, self.database
        )
    }

    fn from_env_or_start() -> Result<Self, String> {
        match std::env::var(URL_VAR) {
            Ok(url) if !url.is_empty() => Self::parse(&url).map_err(|e| format!("{URL_VAR}: {e}")),
            Err(std::env::VarError::NotUnicode(_)) => Err(format!("{URL_VAR} is not UTF-8")),
            Ok(_) | Err(std::env::VarError::NotPresent) => start(),
        }
    }

    /// Parses `postgresql://user[:password]@host[:port][/database][?options]`, minimally: the
    /// port defaults to 5432 and the database to the user's name (as in libpq); no
    /// percent-decoding, no IPv6 literals. Errors never quote the URL, which may hold a
    /// password.
    fn parse(url: &str) -> Result<Self, String> {
        const SHAPE: &str = "expected `postgresql://user[:password]@host[:port]/database`";
        let rest = url
            .strip_prefix("postgresql://")
            .or_else(|| url.strip_prefix("postgres://"))
            .ok_or_else(|| format!("not a `postgresql://` URL: {SHAPE}"))?;
        let rest = rest.split_once('?').map_or(rest, |(before, _)| before);
        let (user_info, location) = rest
            .rsplit_once('@')
            .ok_or_else(|| format!("no user: {SHAPE}"))?;
        let user = user_info
            .split_once(':')
            .map_or(user_info, |(user, _)| user);
        let (authority, database) = location.split_once('/').unwrap_or((location, ""));
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => {
                let port = port
                    .parse()
                    .map_err(|_| format!("port `{port}` is not a number"))?;
                (host, port)
            }
            None => (authority, 5432),
        };
        if user.is_empty() {
            return Err(format!("no user: {SHAPE}"));
        }
        if host.is_empty() {
            return Err(format!("no host: {SHAPE}"));
        }
        let database = if database.is_empty() { user } else { database };
        Ok(Self {
            admin_url: url.to_owned(),
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            database: database.to_owned(),
        })
    }
}

/// Starts a server whose watchdog removes it after this process exits; see the module docs.
fn start() -> Result<PgServer, String> {
    let bin = find_or_install(
        &find_bin_dir,
        || Install::choose(is_root(), passwordless_sudo, find_in_path("apt-get")),
        |_| FileLock::acquire(Path::new(INSTALL_LOCK), INSTALL_WAIT),
        apt_get_install,
    )?;
    let runner = Runner::detect()?;
    let dir = tempfile::Builder::new()
        .prefix("bulkhead-pg-")
        .tempdir_in("/tmp")
        .map_err(|e| format!("cannot create the server directory under /tmp: {e}"))?;
    let dir_path = dir
        .path()
        .to_str()
        .ok_or("the server directory is not UTF-8")?
        .to_owned();
    runner.give_dir(&dir_path)?;
    init_cluster(&bin, &runner, &dir_path)?;
    let port = free_port()?;
    // From here on the watchdog owns the directory and removes it; until it runs, we do.
    let dir = dir.keep();
    let mut watchdog = match spawn_watchdog(&bin, &runner, &dir_path, port) {
        Ok(watchdog) => watchdog,
        Err(e) => {
            let _ = fs::remove_dir_all(&dir);
            return Err(e);
        }
    };
    if let Err(e) = wait_ready(&bin, &dir_path, port, &mut watchdog) {
        // A running watchdog removes the directory after this process; a dead one never will.
        if !matches!(watchdog.try_wait(), Ok(None)) {
            let _ = fs::remove_dir_all(&dir);
        }
        return Err(e);
    }
    // Dropping a `Child` neither kills nor waits for it: the watchdog outlives this process.
    drop(watchdog);
    Ok(PgServer {
        admin_url: format!("postgresql://{ADMIN}@{LOOPBACK}:{port}/{DATABASE}"),
        host: LOOPBACK.to_owned(),
        port,
        user: ADMIN.to_owned(),
        database: DATABASE.to_owned(),
    })
}

/// How the PostgreSQL server binaries can be installed here, when they are missing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Install {
    /// `apt-get`, run directly: the tests run as root.
    AsRoot,
    /// `apt-get` through `sudo -n`: passwordless sudo.
    WithSudo,
    /// Not at all: no `apt-get`, or neither root nor passwordless sudo.
    Impossible,
}

impl Install {
    /// The way to install, from what the machine offers. `passwordless_sudo` is asked only
    /// when it matters (it runs `sudo -n true`).
    fn choose(is_root: bool, passwordless_sudo: impl FnOnce() -> bool, has_apt_get: bool) -> Self {
        if !has_apt_get {
            Self::Impossible
        } else if is_root {
            Self::AsRoot
        } else if passwordless_sudo() {
            Self::WithSudo
        } else {
            Self::Impossible
        }
    }
}

/// The binaries' directory from `find`; when there is none, installs PostgreSQL the way
/// `choose` says, holding the process-wide lock and the lock from `lock` (the lock file), and
/// looks again. Another process may have installed it while this one waited for the lock: it
/// looks before installing too. The probes are arguments so that a test can decide for them.
fn find_or_install<L>(
    find: &dyn Fn() -> Option<String>,
    choose: impl FnOnce() -> Install,
    lock: impl FnOnce(Install) -> Result<L, String>,
    install: impl FnOnce(Install) -> Result<(), String>,
) -> Result<String, String> {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    if let Some(bin) = find() {
        return Ok(bin);
    }
    let how = choose();
    if how == Install::Impossible {
        return Err(not_installed());
    }
    let _in_process = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let _lock = lock(how)?;
    if let Some(bin) = find() {
        return Ok(bin);
    }
    install(how)?;
    find().ok_or_else(|| {
        format!(
            "apt-get installed `postgresql`, but its server binaries are still not found \
             (under /usr/lib/postgresql/*/bin, `pg_config --bindir` or PATH); {}",
            not_installed()
        )
    })
}

/// Runs `apt-get update` and `apt-get install -y --no-install-recommends postgresql`,
/// non-interactively, as root or through `sudo -n`, as `.ci/run` does; says so on stderr
/// first (straight to the stream: the test harness captures `eprintln!`).
fn apt_get_install(how: Install) -> Result<(), String> {
    let _ = writeln!(
        std::io::stderr(),
        "bulkhead-testkit: PostgreSQL is not installed; installing it with apt-get{} (as .ci/run \
         does), once for every test process; this takes a minute",
        if how == Install::WithSudo {
            " through sudo"
        } else {
            ""
        }
    );
    let apt_get = |args: &[&str]| -> Result<(), String> {
        let line = format!("apt-get {}", args.join(" "));
        let mut command = match how {
            Install::WithSudo => {
                let mut command = Command::new("sudo");
                command.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
                command
            }
            Install::AsRoot | Install::Impossible => {
                let mut command = Command::new("apt-get");
                command.env("DEBIAN_FRONTEND", "noninteractive");
                command
            }
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{line}`: {e}; {}", not_installed()))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`{line}` failed: {}\n{}",
                describe(&output),
                not_installed()
            ))
        }
    };
    apt_get(&["update"])?;
    apt_get(&["install", "-y", "--no-install-recommends", "postgresql"])
}

/// Installs the Debian `packages` the way the PostgreSQL binaries are installed when missing
/// (`apt-get update`, then `apt-get install -y --no-install-recommends`, as root or through
/// `sudo -n`, saying so on stderr), for another test's needs (the Python SDK test's
/// `python3-venv`). Holds the same process-wide and file locks, so two test processes do not
/// run `apt-get` at once. An error says why it could not.
pub fn apt_install(packages: &[&str]) -> Result<(), String> {
    static IN_PROCESS: Mutex<()> = Mutex::new(());
    let how = Install::choose(is_root(), passwordless_sudo, find_in_path("apt-get"));
    if how == Install::Impossible {
        return Err(format!(
            "cannot install {}: no apt-get, or neither root nor passwordless sudo; install them \
             yourself",
            packages.join(" ")
        ));
    }
    let _in_process = IN_PROCESS.lock().unwrap_or_else(PoisonError::into_inner);
    let _lock = FileLock::acquire(Path::new(INSTALL_LOCK), INSTALL_WAIT)?;
    let _ = writeln!(
        std::io::stderr(),
        "bulkhead-testkit: installing {} with apt-get{} (as .ci/run does)",
        packages.join(" "),
        if how == Install::WithSudo {
            " through sudo"
        } else {
            ""
        }
    );
    let apt_get = |args: &[&str]| -> Result<(), String> {
        let line = format!("apt-get {}", args.join(" "));
        let mut command = if how == Install::WithSudo {
            let mut command = Command::new("sudo");
            command.args(["-n", "env", "DEBIAN_FRONTEND=noninteractive", "apt-get"]);
            command
        } else {
            let mut command = Command::new("apt-get");
            command.env("DEBIAN_FRONTEND", "noninteractive");
            command
        };
        let output = command
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("cannot run `{line}`: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!("`{line}` failed: {}", describe(&output)))
        }
    };
    apt_get(&["update"])?;
    let mut install = vec!["install", "-y", "--no-install-recommends"];
    install.extend_from_slice(packages);
    apt_get(&install)
}

/// Whether this process runs as root (`id -u` is 0).
fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
}

/// Whether `sudo` runs commands without asking for a password.
fn passwordless_sudo() -> bool {
    find_in_path("sudo")
        && Command::new("sudo")
            .args(["-n", "true"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
}

/// A lock file held while it exists: made with `create_new`, holding the holder's pid, removed
/// when dropped. A file whose process is gone (no `/proc/<pid>`) is stale and taken over.
struct FileLock {
    path: PathBuf,
}

impl FileLock {
    /// Takes the lock at `path`, waiting (polling) up to `wait` for its holder to let go.
    fn acquire(path: &Path, wait: Duration) -> Result<Self, String> {
        let deadline = Instant::now() + wait;
        loop {
            match fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(path)
            {
                Ok(mut file) => {
                    let _ = write!(file, "{}", std::process::id());
                    return Ok(Self {
                        path: path.to_owned(),
                    });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let holder = fs::read_to_string(path).unwrap_or_default();
                    let holder = holder.trim();
                    // An empty file is one being written right now: not stale.
                    if !holder.is_empty() && !Path::new(&format!("/proc/{holder}")).exists() {
                        let _ = fs::remove_file(path);
                        continue;
                    }
                    if Instant::now() >= deadline {
                        return Err(format!(
                            "another test process has been installing PostgreSQL for {} s \
                             (lock file {}, pid {holder}); wait for it or remove the file",
                            wait.as_secs(),
                            path.display()
                        ));
                    }
                    thread::sleep(Duration::from_millis(500));
                }
                Err(e) => {
                    return Err(format!(
                        "cannot create the install lock {}: {e}",
                        path.display()
                    ));
                }
            }
        }
    }
}

impl Drop for FileLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// The one-line instruction of a failure to find or install PostgreSQL.
fn not_installed() -> String {
    if std::env::var("CI").is_ok_and(|ci| ci == "true") {
        "PostgreSQL is not installed (CI=true): .ci/run installs it; locally install postgresql \
         or set BULKHEAD_PG_URL"
            .to_owned()
    } else {
        "PostgreSQL is not installed, and the tests install it themselves only as root or with \
         passwordless sudo, with apt-get: install it (Debian, Ubuntu: `sudo apt-get install \
         postgresql`) or set BULKHEAD_PG_URL to the URL of a superuser of an existing server \
         (`postgresql://user[:password]@host:port/database`)"
            .to_owned()
    }
}

/// The directory of `initdb`, `postgres` and `pg_isready`: the highest version under
/// `/usr/lib/postgresql`, else `pg_config --bindir`, else the first fitting `PATH` entry.
fn find_bin_dir() -> Option<String> {
    let has_tools = |dir: &Path| {
        ["initdb", "postgres", "pg_isready"]
            .iter()
            .all(|tool| dir.join(tool).is_file())
    };
    let versioned = fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = parse_version(entry.file_name().to_str()?)?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, bin)| has_tools(bin))
        .max_by(|(a, _), (b, _)| a.cmp(b))
        .map(|(_, bin)| bin);
    let from_pg_config = || {
        let output = Command::new("pg_config").arg("--bindir").output().ok()?;
        let dir = PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
        (output.status.success() && has_tools(&dir)).then_some(dir)
    };
    let from_path = || std::env::split_paths(&std::env::var_os("PATH")?).find(|dir| has_tools(dir));
    versioned
        .or_else(from_pg_config)
        .or_else(from_path)
        .and_then(|dir| dir.into_os_string().into_string().ok())
}

/// `"15"` is `[15]`, `"9.6"` is `[9, 6]`: ordered as versions, not as text.
fn parse_version(name: &str) -> Option<Vec<u32>> {
    name.split('.').map(|part| part.parse().ok()).collect()
}

/// Who runs `initdb` and `postgres`: this process's user, or `postgres` when that is root.
enum Runner {
    CurrentUser,
    RunUser,
    Su,
}

impl Runner {
    fn detect() -> Result<Self, String> {
        let output = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("cannot run `id -u`: {e}"))?;
        if String::from_utf8_lossy(&output.stdout).trim() != "0" {
            return Ok(Self::CurrentUser);
        }
        let has_server_user = Command::new("id")
            .arg(SERVER_USER)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        if !has_server_user {
            return Err(format!(
                "the tests run as root, which PostgreSQL refuses, and there is no `{SERVER_USER}` \
                 user to run it as: create one or set {URL_VAR}"
            ));
        }
        Ok(if find_in_path("runuser") {
            Self::RunUser
        } else {
            Self::Su
        })
    }

    /// The command line running `program args` as the server's user.
    fn argv(&self, program: &str, args: &[&str]) -> (String, Vec<String>) {
        let owned = |items: &[&str]| {
            items
                .iter()
                .map(|&item| item.to_owned())
                .collect::<Vec<_>>()
        };
        match self {
            Self::CurrentUser => (program.to_owned(), owned(args)),
            Self::RunUser => {
                let mut argv = owned(&["-u", SERVER_USER, "--", program]);
                argv.extend(owned(args));
                ("runuser".to_owned(), argv)
            }
            Self::Su => {
                let line = std::iter::once(program)
                    .chain(args.iter().copied())
                    .map(sh_quote)
                    .collect::<Vec<_>>()
                    .join(" ");
                (
                    "su".to_owned(),
                    vec![
                        SERVER_USER.to_owned(),
                        "-s".to_owned(),
                        "/bin/sh".to_owned(),
                        "-c".to_owned(),
                        line,
                    ],
                )
            }
        }
    }

    fn command(&self, program: &str, args: &[&str]) -> Command {
        let (program, args) = self.argv(program, args);
        let mut command = Command::new(program);
        command.args(args);
        command
    }

    /// Gives `dir` to the server's user, who must write the cluster and the socket there.
    fn give_dir(&self, dir: &str) -> Result<(), String> {
        if matches!(self, Self::CurrentUser) {
            return Ok(());
        }
        let output = Command::new("chown")
            .args(["-R", &format!("{SERVER_USER}:"), dir])
            .output()
            .map_err(|e| format!("cannot run `chown`: {e}"))?;
        if output.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`chown -R {SERVER_USER}: {dir}` failed: {}",
                describe(&output)
            ))
        }
    }
}

/// Runs `initdb` into `<dir>/data`, with the `C.UTF-8` locale where the system has it.
fn init_cluster(bin: &str, runner: &Runner, dir: &str) -> Result<(), String> {
    let initdb = format!("{bin}/initdb");
    let data = format!("{dir}/data");
    let run = |locale: &str| -> Result<Output, String> {
        runner
            .command(
                &initdb,
                &[
                    "-D",
                    &data,
                    "-U",
                    ADMIN,
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    locale,
                ],
            )
            .output()
            .map_err(|e| format!("cannot run `{initdb}`: {e}"))
    };
    let with_locale = run("--locale=C.UTF-8")?;
    if with_locale.status.success() {
        return Ok(());
    }
    // initdb removes a data directory it created and failed to fill; make sure before retrying.
    let _ = fs::remove_dir_all(&data);
    let without_locale = run("--no-locale")?;
    if without_locale.status.success() {
        return Ok(());
    }
    Err(format!(
        "initdb failed with --locale=C.UTF-8: {}\nand with --no-locale: {}",
        describe(&with_locale),
        describe(&without_locale)
    ))
}

/// A loopback port free right now. Another process could take it before the server binds it;
/// the server then fails to start, and the error shows its log.
fn free_port() -> Result<u16, String> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|e| format!("cannot find a free loopback port: {e}"))
}

/// Starts the watchdog, which starts the server and removes it once this process is gone.
fn spawn_watchdog(bin: &str, runner: &Runner, dir: &str, port: u16) -> Result<Child, String> {
    let q = sh_quote;
    let script = format!(
        "exec >>{log} 2>&1\n\
         {postgres} -D {data} -p {port} -k {dir} -c listen_addresses={LOOPBACK} \
         -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 &\n\
         server=$!\n\
         while [ -d /proc/{pid} ]; do sleep 0.5; done\n\
         kill -INT \"$server\"\n\
         wait \"$server\"\n\
         rm -rf {dir}\n",
        log = q(&log_path(dir)),
        postgres = q(&format!("{bin}/postgres")),
        data = q(&format!("{dir}/data")),
        dir = q(dir),
        pid = std::process::id(),
    );
    // An absolute shell: the server's user may not be able to read every entry of our `PATH`.
    let (program, args) = runner.argv("/bin/sh", &["-c", &script]);
    // In its own session, the watchdog survives this process and a Ctrl-C sent to it.
    let mut command = if find_in_path("setsid") {
        let mut command = Command::new("setsid");
        command.arg(program);
        command
    } else {
        let mut command = Command::new(program);
        command.process_group(0);
        command
    };
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the PostgreSQL watchdog: {e}"))
}

/// Waits until the server accepts connections, or fails with the tail of its log.
fn wait_ready(bin: &str, dir: &str, port: u16, watchdog: &mut Child) -> Result<(), String> {
    let pg_isready = format!("{bin}/pg_isready");
    let port_text = port.to_string();
    let deadline = Instant::now() + READY_TIMEOUT;
    loop {
        if let Ok(Some(status)) = watchdog.try_wait() {
            return Err(format!(
                "the PostgreSQL watchdog exited early ({status}); server log {}:\n{}",
                log_path(dir),
                log_tail(dir)
            ));
        }
        let ready = Command::new(&pg_isready)
            .args([
                "-q", "-h", LOOPBACK, "-p", &port_text, "-U", ADMIN, "-d", DATABASE,
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("cannot run `{pg_isready}`: {e}"))?;
        if ready.success() {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "PostgreSQL did not accept connections on {LOOPBACK}:{port} within {} s; last \
                 lines of {}:\n{}",
                READY_TIMEOUT.as_secs(),
                log_path(dir),
                log_tail(dir)
            ));
        }
        thread::sleep(Duration::from_millis(100));
    }
}

fn log_path(dir: &str) -> String {
    format!("{dir}/server.log")
}

fn log_tail(dir: &str) -> String {
    match fs::read(log_path(dir)) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let skipped = text.lines().count().saturating_sub(LOG_TAIL_LINES);
            text.lines().skip(skipped).collect::<Vec<_>>().join("\n")
        }
        Err(e) => format!("(no log: {e})"),
    }
}

fn find_in_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|path| std::env::split_paths(&path).any(|dir| dir.join(program).is_file()))
}

/// `text` as one word of a POSIX shell command line.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// A failed command's status and output, for an error message.
fn describe(output: &Output) -> String {
    format!(
        "{}\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[cfg(test)]
mod tests;
