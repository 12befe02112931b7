//! [`Config`]: how an engine is set up.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use bulkhead_core::{Clock, Error, MasterKey, Result, SystemClock};

/// Where the master key comes from.
#[derive(Clone, Debug)]
enum MasterKeySource {
    /// Not set: [`crate::Engine::open`] looks for the key file next to the database.
    NextToDatabase,
    Key(Arc<MasterKey>),
    File(PathBuf),
}

/// How an [`crate::Engine`] is set up.
///
/// Every engine needs the host's master key, which seals every secret at rest: give it with
/// [`Config::with_master_key`], a key file with [`Config::with_master_key_file`], the
/// environment ([`Config::from_env`]), or let [`crate::Engine::open`] find the file that
/// `bulkhead init` writes next to the database (`<database>.key`).
#[derive(Clone, Debug)]
pub struct Config {
    /// Settings of the SQLite store.
    #[cfg(feature = "sqlite")]
    pub sqlite: bulkhead_sqlite::SqliteOptions,
    /// Settings of the PostgreSQL store: schema, owner URL (for migrations), pool.
    #[cfg(feature = "postgres")]
    pub postgres: bulkhead_postgres::PgOptions,
    /// Clock skew tolerated when checking a token's times (default 30 seconds).
    pub token_leeway: Duration,
    clock: Arc<dyn Clock>,
    master_key: MasterKeySource,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            #[cfg(feature = "sqlite")]
            sqlite: bulkhead_sqlite::SqliteOptions::default(),
            #[cfg(feature = "postgres")]
            postgres: bulkhead_postgres::PgOptions::default(),
            token_leeway: Duration::from_secs(30),
            clock: Arc::new(SystemClock),
            master_key: MasterKeySource::NextToDatabase,
        }
    }
}

/// The key file `bulkhead init` writes for the database at `database`: `<database>.key`.
pub fn default_key_file(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(".key");
    PathBuf::from(name)
}

impl Config {
    /// The default configuration, changed by these environment variables when set:
    ///
    /// - `BULKHEAD_MASTER_KEY`: the master key, base64 of 32 bytes;
    /// - `BULKHEAD_MASTER_KEY_FILE`: a file holding it (mode 0600);
    /// - `BULKHEAD_SQLITE_SYNCHRONOUS`: `normal` (default) or `full`;
    /// - `BULKHEAD_SQLITE_BUSY_TIMEOUT_MS`: how long to wait for another process's lock;
    /// - with the `postgres` feature, `BULKHEAD_PG_OWNER_URL` (the owner's URL, to migrate)
    ///   and `BULKHEAD_PG_SCHEMA` (default `bulkhead`).
    ///
    /// A variable that is set but invalid is an error naming it, never silently ignored.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let mut config = Self::default();
        if let Some(value) = lookup("BULKHEAD_MASTER_KEY") {
            config.master_key = MasterKeySource::Key(Arc::new(MasterKey::from_base64(
                &value,
                "BULKHEAD_MASTER_KEY",
            )?));
        } else if let Some(path) = lookup("BULKHEAD_MASTER_KEY_FILE") {
            config.master_key = MasterKeySource::File(PathBuf::from(path));
        }
        #[cfg(feature = "sqlite")]
        {
            use bulkhead_sqlite::Synchronous;
            const SYNC: &str = "BULKHEAD_SQLITE_SYNCHRONOUS";
            const BUSY: &str = "BULKHEAD_SQLITE_BUSY_TIMEOUT_MS";
            if let Some(value) = lookup(SYNC) {
                config.sqlite.synchronous = match value.to_ascii_lowercase().as_str() {
                    "normal" => Synchronous::Normal,
                    "full" => Synchronous::Full,
                    _ => {
                        return Err(Error::invalid_input(
                            SYNC,
                            format!("is `{value}`; use `normal` or `full`"),
                        ));
                    }
                };
            }
            if let Some(value) = lookup(BUSY) {
                let ms: u64 = value.parse().map_err(|_| {
                    Error::invalid_input(
                        BUSY,
                        format!("is `{value}`, not a number of milliseconds"),
                    )
                })?;
                config.sqlite.busy_timeout = Duration::from_millis(ms);
            }
        }
        #[cfg(feature = "postgres")]
        {
            if let Some(url) = lookup("BULKHEAD_PG_OWNER_URL") {
                config.postgres.owner_url = Some(url);
            }
            if let Some(schema) = lookup("BULKHEAD_PG_SCHEMA") {
                config.postgres.schema = schema;
            }
        }
        Ok(config)
    }

    /// Reads time from `clock` instead of the system clock (tests use a `ManualClock`).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Uses `key` as the master key.
    pub fn with_master_key(mut self, key: MasterKey) -> Self {
        self.master_key = MasterKeySource::Key(Arc::new(key));
        self
    }

    /// Reads the master key from the file at `path` when the engine opens.
    pub fn with_master_key_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.master_key = MasterKeySource::File(path.into());
        self
    }

    pub(crate) fn clock(&self) -> Arc<dyn Clock> {
        Arc::clone(&self.clock)
    }

    /// The master key, from where this configuration says; `database` locates the default
    /// key file.
    pub(crate) fn master_key(&self, database: Option<&Path>) -> Result<Arc<MasterKey>> {
        match &self.master_key {
            MasterKeySource::Key(key) => Ok(Arc::clone(key)),
            MasterKeySource::File(path) => Ok(Arc::new(MasterKey::load_file(path)?)),
            MasterKeySource::NextToDatabase => match database.map(default_key_file) {
                Some(path) if path.exists() => Ok(Arc::new(MasterKey::load_file(&path)?)),
                Some(path) => Err(Error::invalid_input(
                    "master key",
                    format!(
                        "none given: set BULKHEAD_MASTER_KEY (base64 of 32 bytes) or BULKHEAD_MASTER_KEY_FILE, or run `bulkhead init` to create `{}`",
                        path.display()
                    ),
                )),
                None => Err(Error::invalid_input(
                    "master key",
                    "none given: use Config::with_master_key or Config::with_master_key_file",
                )),
            },
        }
    }
}

#[cfg(all(test, feature = "sqlite"))]
mod tests {
    use super::*;

    #[test]
    fn invalid_environment_value_names_the_variable() {
        let err = Config::from_lookup(|name| {
            (name == "BULKHEAD_SQLITE_SYNCHRONOUS").then(|| "sometimes".to_owned())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid BULKHEAD_SQLITE_SYNCHRONOUS: is `sometimes`; use `normal` or `full`"
        );
    }

    #[test]
    fn full_synchronous_is_read_from_the_environment() {
        let config = Config::from_lookup(|name| {
            (name == "BULKHEAD_SQLITE_SYNCHRONOUS").then(|| "FULL".to_owned())
        })
        .unwrap();
        assert_eq!(
            config.sqlite.synchronous,
            bulkhead_sqlite::Synchronous::Full
        );
    }

    #[test]
    fn master_key_is_read_from_the_environment() {
        let key = MasterKey::generate().unwrap();
        let encoded = key.export_base64();
        let config =
            Config::from_lookup(|name| (name == "BULKHEAD_MASTER_KEY").then(|| encoded.clone()))
                .unwrap();
        let loaded = config.master_key(None).unwrap();
        assert_eq!(loaded.fingerprint(), key.fingerprint());
    }

    #[test]
    fn bad_master_key_in_the_environment_names_the_variable() {
        let err = Config::from_lookup(|name| {
            (name == "BULKHEAD_MASTER_KEY").then(|| "not base64!".to_owned())
        })
        .unwrap_err();
        assert!(
            err.to_string().starts_with("invalid BULKHEAD_MASTER_KEY"),
            "{err}"
        );
    }

    #[test]
    fn missing_master_key_says_how_to_make_one() {
        let err = Config::default()
            .master_key(Some(Path::new("/nonexistent/bulkhead.db")))
            .unwrap_err();
        assert!(err.to_string().contains("bulkhead init"), "{err}");
        assert!(err.to_string().contains("bulkhead.db.key"), "{err}");
    }
}
