//! Central's typed settings: a TOML file, then `TOTE_CENTRAL__SECTION__KEY` environment
//! variables, then `validate()`. Secrets are `SecretString` and never logged.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub orders: OrderSettings,
    pub auth: AuthSettings,
    #[serde(default = "default_log")]
    pub log: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    /// Where the HQ API listens. Port 0 picks a free port (tests).
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_connections: usize,
    /// Requests in flight at once; more wait.
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    pub path: PathBuf,
    /// Jobs waiting for the writer before callers are made to wait.
    pub write_queue: usize,
    /// Most jobs in one group commit.
    pub max_batch: usize,
    pub max_readers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderSettings {
    /// An unpaid order closes and releases its lock after this long.
    pub payment_timeout_ms: u64,
    /// How often to look for unpaid orders past their deadline.
    pub sweep_interval_ms: u64,
    /// Most lines in one order.
    pub max_lines: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    /// Bearer token with full access. Set it from the environment in production.
    pub admin_token: SecretString,
    /// Bearer token that may only read.
    pub read_token: SecretString,
}

fn default_log() -> String {
    "info".into()
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot load settings: {0}")]
    Load(#[from] config::ConfigError),
    #[error("invalid setting {field}: {why}")]
    Invalid { field: &'static str, why: &'static str },
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let settings: Settings = config::Config::builder()
            .add_source(config::File::from(path))
            .add_source(config::Environment::with_prefix("TOTE_CENTRAL").prefix_separator("__").separator("__"))
            .build()?
            .try_deserialize()?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |field, why| Err(ConfigError::Invalid { field, why });
        if !(1024..=16 * 1024 * 1024).contains(&self.http.max_body_bytes) {
            return invalid("http.max_body_bytes", "must be between 1 KiB and 16 MiB");
        }
        if !(1..=100_000).contains(&self.http.max_connections) {
            return invalid("http.max_connections", "must be between 1 and 100000");
        }
        if !(1..=100_000).contains(&self.http.max_in_flight) {
            return invalid("http.max_in_flight", "must be between 1 and 100000");
        }
        if !(1..=1_000_000).contains(&self.database.write_queue) || !(1..=10_000).contains(&self.database.max_batch) {
            return invalid("database.write_queue/max_batch", "write_queue 1..=1000000, max_batch 1..=10000");
        }
        if !(1..=64).contains(&self.database.max_readers) {
            return invalid("database.max_readers", "must be between 1 and 64");
        }
        if self.orders.payment_timeout_ms < 1_000 || self.orders.sweep_interval_ms < 10 {
            return invalid("orders", "payment_timeout_ms must be ≥ 1000 and sweep_interval_ms ≥ 10");
        }
        if !(1..=200).contains(&self.orders.max_lines) {
            return invalid("orders.max_lines", "must be between 1 and 200");
        }
        for (field, token) in [("auth.admin_token", &self.auth.admin_token), ("auth.read_token", &self.auth.read_token)] {
            if token.expose_secret().len() < 16 {
                return invalid(field, "must be at least 16 characters");
            }
        }
        if self.auth.admin_token.expose_secret() == self.auth.read_token.expose_secret() {
            return invalid("auth.read_token", "must differ from auth.admin_token");
        }
        Ok(())
    }
}
