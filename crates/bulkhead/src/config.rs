//! [`Config`]: how an engine is set up.

use std::sync::Arc;
use std::time::Duration;

use bulkhead_core::{Clock, Error, Result, SystemClock};

/// How an [`crate::Engine`] is set up. `Config::default()` suits most hosts.
#[derive(Clone, Debug)]
pub struct Config {
    /// Settings of the SQLite store.
    #[cfg(feature = "sqlite")]
    pub sqlite: bulkhead_sqlite::SqliteOptions,
    pub(crate) clock: Arc<dyn Clock>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            #[cfg(feature = "sqlite")]
            sqlite: bulkhead_sqlite::SqliteOptions::default(),
            clock: Arc::new(SystemClock),
        }
    }
}

impl Config {
    /// The default configuration, changed by these environment variables when set:
    ///
    /// - `BULKHEAD_SQLITE_SYNCHRONOUS`: `normal` (default) or `full`;
    /// - `BULKHEAD_SQLITE_BUSY_TIMEOUT_MS`: how long to wait for another process's lock.
    ///
    /// A variable that is set but invalid is an error naming it, never silently ignored.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        #[cfg_attr(not(feature = "sqlite"), allow(unused_mut))]
        let mut config = Self::default();
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
        Ok(config)
    }

    /// Reads time from `clock` instead of the system clock (tests use a `ManualClock`).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
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
}
