//! Settings sections both daemons share, with their validation. Each daemon's `Settings`
//! embeds them and adds its own sections.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error(transparent)]
    Invalid(#[from] Invalid),
}

/// Reads the TOML file at `path`, then `{env_prefix}__SECTION__KEY` environment variables over it.
pub fn load_layered<T: DeserializeOwned>(path: &Path, env_prefix: &str) -> Result<T, ConfigError> {
    Ok(config::Config::builder()
        .add_source(config::File::from(path))
        .add_source(config::Environment::with_prefix(env_prefix).prefix_separator("__").separator("__"))
        .build()?
        .try_deserialize()?)
}

pub fn default_log() -> String {
    "info".into()
}

/// A setting outside its allowed range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid setting {field}: {why}")]
pub struct Invalid {
    pub field: &'static str,
    pub why: std::borrow::Cow<'static, str>,
}

pub fn invalid<T>(field: &'static str, why: impl Into<std::borrow::Cow<'static, str>>) -> Result<T, Invalid> {
    Err(Invalid { field, why: why.into() })
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Where the API listens. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    /// Largest request body.
    pub max_body_bytes: usize,
    /// Open connections at once; further clients wait in the kernel backlog.
    pub max_connections: usize,
    /// Requests processed at once; further requests wait.
    pub max_in_flight: usize,
}

impl HttpSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1024..=16 * 1024 * 1024).contains(&self.max_body_bytes) {
            return invalid("http.max_body_bytes", "must be between 1 KiB and 16 MiB");
        }
        if !(1..=100_000).contains(&self.max_connections) {
            return invalid("http.max_connections", "must be between 1 and 100000");
        }
        if !(1..=100_000).contains(&self.max_in_flight) {
            return invalid("http.max_in_flight", "must be between 1 and 100000");
        }
        Ok(())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    /// The SQLite file (WAL mode; keep it on a local disk).
    pub path: PathBuf,
    /// Writes waiting for the writer thread before callers are made to wait.
    pub write_queue: usize,
    /// Most writes folded into one group commit (one fsync).
    pub max_batch: usize,
    /// Read-only connections for queries.
    pub max_readers: usize,
}

impl DatabaseSettings {
    pub fn validate(&self) -> Result<(), Invalid> {
        if !(1..=1_000_000).contains(&self.write_queue) {
            return invalid("database.write_queue", "must be between 1 and 1000000");
        }
        if !(1..=10_000).contains(&self.max_batch) {
            return invalid("database.max_batch", "must be between 1 and 10000");
        }
        if !(1..=64).contains(&self.max_readers) {
            return invalid("database.max_readers", "must be between 1 and 64");
        }
        Ok(())
    }
}
