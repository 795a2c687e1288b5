//! Central's typed settings: a TOML file, then `TOTE_CENTRAL__SECTION__KEY` environment
//! variables, then `validate()`. Secrets are `SecretString` and never logged.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::path::Path;
pub use tote_shared::runtime::settings::{DatabaseSettings, HttpSettings};
pub use tote_shared::runtime::settings::ConfigError;
use tote_shared::runtime::settings::{default_log, load_layered, Invalid};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub http: HttpSettings,
    pub database: DatabaseSettings,
    pub orders: OrderSettings,
    pub auth: AuthSettings,
    #[serde(default)]
    pub retention: RetentionSettings,
    #[serde(default = "default_log")]
    pub log: String,
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

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetentionSettings {
    /// Idempotency-Keys are forgotten after this long (clients retry within minutes).
    pub idempotency_keys_hours: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings { idempotency_keys_hours: 24 * 7 }
    }
}

impl Settings {
    pub fn load(path: &Path) -> Result<Settings, ConfigError> {
        let settings: Settings = load_layered(path, "TOTE_CENTRAL")?;
        settings.validate()?;
        Ok(settings)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.http.validate()?;
        self.database.validate()?;
        let invalid = |field, why: &'static str| Err(ConfigError::Invalid(Invalid { field, why: why.into() }));
        if self.orders.payment_timeout_ms < 1_000 || self.orders.sweep_interval_ms < 10 {
            return invalid("orders", "payment_timeout_ms must be ≥ 1000 and sweep_interval_ms ≥ 10");
        }
        if self.retention.idempotency_keys_hours < 1 {
            return invalid("retention.idempotency_keys_hours", "must be at least 1");
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
