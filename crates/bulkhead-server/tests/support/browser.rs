//! A real headless Chromium for the page tests, driven over WebDriver (fantoccini, no TLS)
//! through Debian's `chromedriver`.
//!
//! [`Browser::start`] finds `chromium` and `chromedriver` on `PATH` and, when either is
//! missing, installs Debian's `chromium` and `chromium-driver` the way the PostgreSQL harness
//! installs PostgreSQL (`apt-get`, as root or through passwordless `sudo`, as `.ci/run` does).
//! When that is impossible the test fails with a one-line instruction: it never skips.
//!
//! Chromium runs with the flags of `../shared/reference/web-stack.md` (`--no-sandbox`: the
//! tests may run as root) in a fresh profile, and records the console (`goog:loggingPrefs`),
//! so a test can assert that no script error and no Content-Security-Policy violation
//! happened ([`Browser::assert_quiet_console`]). [`Browser::shot`] saves a PNG of the page
//! under `target/screenshots/`.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::wd::WebDriverCompatibleCommand;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// The width and height of a desktop window and of a phone's.
pub(crate) const DESKTOP: (u32, u32) = (1280, 900);
/// A phone held upright.
pub(crate) const PHONE: (u32, u32) = (390, 844);

/// How long a wait for an element or a condition may take before the test fails.
pub(crate) const WAIT: Duration = Duration::from_secs(15);

/// One browser session, with its driver process.
pub(crate) struct Browser {
    /// The WebDriver session.
    pub(crate) client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

/// The path of `program` on `PATH`, if it is there.
fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

/// `chromium` and `chromedriver`, installed first if either is missing.
fn binaries() -> (PathBuf, PathBuf) {
    let found = || Some((on_path("chromium")?, on_path("chromedriver")?));
    if let Some(both) = found() {
        return both;
    }
    if let Err(why) = bulkhead_testkit::pg::apt_install(&["chromium", "chromium-driver"]) {
        panic!(
            "the browser tests need Debian's chromium and chromium-driver ({why}); run \
             `apt-get install chromium chromium-driver` or `.ci/run`"
        );
    }
    found().unwrap_or_else(|| {
        panic!("chromium and chromedriver are still not on PATH after installing them")
    })
}

/// A free loopback port (taken and let go: chromedriver binds it next).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// The directory the screenshots go to: `target/screenshots/` of this workspace (or of
/// `CARGO_TARGET_DIR` when set).
pub(crate) fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target"),
        PathBuf::from,
    );
    target.join("screenshots")
}

/// chromedriver's `POST /session/{id}/se/log`: the browser's console since the last call.
#[derive(Debug)]
struct BrowserLog;

impl WebDriverCompatibleCommand for BrowserLog {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/se/log",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _url: &url::Url) -> (axum::http::Method, Option<String>) {
        (
            axum::http::Method::POST,
            Some(json!({"type": "browser"}).to_string()),
        )
    }
}

impl Browser {
    /// A fresh headless Chromium with a desktop-sized window.
    pub(crate) async fn start() -> Self {
        let (chromium, chromedriver) = binaries();
        let port = free_port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let profile = tempfile::tempdir().expect("a profile directory");
        let mut capabilities = serde_json::Map::new();
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={},{}", DESKTOP.0, DESKTOP.1),
                ],
            }),
        );
        capabilities.insert("goog:loggingPrefs".into(), json!({"browser": "ALL"}));
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&url)
                .await
            {
                Ok(client) => break client,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("chromedriver on {url} did not start a session: {e}"),
            }
        };
        Self {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Resizes the window to `(width, height)`.
    pub(crate) async fn size(&self, (width, height): (u32, u32)) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("the window resizes");
    }

    /// Opens `url` and waits for its document to load.
    pub(crate) async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page opens");
    }

    /// Saves the page as `target/screenshots/<name>.png`.
    pub(crate) async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).expect("the screenshot directory");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    /// The console entries since the last call, as chromedriver reports them (`level`,
    /// `message`, `source`, `timestamp`).
    pub(crate) async fn console(&self) -> Vec<Value> {
        match self.client.issue_cmd(BrowserLog).await {
            Ok(Value::Array(entries)) => entries,
            Ok(other) => panic!("the browser log is not a list: {other}"),
            Err(e) => panic!("the browser log cannot be read: {e}"),
        }
    }

    /// Fails the test when the console has, since the last read, an error, a warning, or a
    /// Content-Security-Policy violation (Chromium reports those as errors too).
    pub(crate) async fn assert_quiet_console(&self) {
        let bad: Vec<Value> = self
            .console()
            .await
            .into_iter()
            .filter(|entry| {
                let level = entry["level"].as_str().unwrap_or_default();
                let message = entry["message"].as_str().unwrap_or_default();
                level == "SEVERE"
                    || level == "WARNING"
                    || message.contains("Content Security Policy")
                    || message.contains("Content-Security-Policy")
            })
            .collect();
        assert!(bad.is_empty(), "the console is not quiet: {bad:#?}");
    }

    /// Signs in to the dashboard's shown sign-in form with `key`.
    pub(crate) async fn sign_in(&self, key: &str) {
        let input = self.find("#sign-in-view:not([hidden]) #org-key").await;
        input.clear().await.unwrap();
        input.send_keys(key).await.unwrap();
        self.find("#sign-in button[type=submit]")
            .await
            .click()
            .await
            .unwrap();
    }

    /// Waits for the element `css` to be present, and returns it.
    pub(crate) async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(WAIT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?} within {WAIT:?}: {e}"))
    }

    /// Runs `script` (a function body; `arguments` are `args`) and returns its value.
    pub(crate) async fn eval(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("the script failed: {e}\n{script}"))
    }

    /// Waits until `script` (a function body) returns `true`.
    pub(crate) async fn until(&self, what: &str, script: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.eval(script, vec![]).await == Value::Bool(true) {
                return;
            }
            assert!(Instant::now() < deadline, "waited {WAIT:?} for {what}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Ends the session and stops the driver (and with it the browser).
    pub(crate) async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A test that panicked never reached `close`: do not leave the driver behind.
        let _ = self.driver.kill();
    }
}
