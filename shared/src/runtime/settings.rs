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
    /// Longest a connection may take to send a request's headers, counted from when the server
    /// starts waiting for them: on a new connection, and after each response on a kept-alive
    /// one (so it also bounds how long an idle keep-alive connection is held). Slow-header
    /// clients are closed at this point and give their slot back.
    #[serde(default = "default_header_read_timeout_ms")]
    pub header_read_timeout_ms: u64,
    /// Longest a connection may go without a byte read or written, whatever it is doing (a
    /// stalled request body, a client that stops reading its response). Longer than the longest
    /// sync long-poll, which is silent while it waits.
    #[serde(default = "default_idle_timeout_ms")]
    pub idle_timeout_ms: u64,
    /// Open connections one client address may hold; more are closed as soon as they are
    /// accepted. Behind a reverse proxy every client has the proxy's address: raise it there.
    #[serde(default = "default_max_connections_per_client")]
    pub max_connections_per_client: usize,
    /// Serve HTTPS with this certificate and key instead of plain HTTP.
    #[serde(default)]
    pub tls: Option<super::tls::TlsFiles>,
    /// Mark cookies `Secure` (sent over HTTPS only). Set it whenever browsers reach the daemon
    /// over TLS — directly or through a TLS-terminating proxy; the edge's handheld session
    /// cookie is then never sent in clear. Central sets no cookies.
    #[serde(default)]
    pub secure_cookies: bool,
}

pub fn default_header_read_timeout_ms() -> u64 {
    10_000
}

pub fn default_idle_timeout_ms() -> u64 {
    60_000
}

pub fn default_max_connections_per_client() -> usize {
    64
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
        if !(100..=300_000).contains(&self.header_read_timeout_ms) {
            return invalid("http.header_read_timeout_ms", "must be between 100 and 300000");
        }
        let shortest_idle_ms = crate::sync::MAX_PULL_WAIT_MS + 5_000;
        if !(shortest_idle_ms..=3_600_000).contains(&self.idle_timeout_ms) {
            return invalid(
                "http.idle_timeout_ms",
                format!("must be between {shortest_idle_ms} (longer than a sync long-poll) and 3600000"),
            );
        }
        if !(1..=self.max_connections).contains(&self.max_connections_per_client) {
            return invalid("http.max_connections_per_client", "must be between 1 and http.max_connections");
        }
        if let Some(tls) = &self.tls {
            if !tls.cert_file.is_file() || !tls.key_file.is_file() {
                return invalid("http.tls", "cert_file and key_file must be readable files");
            }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn http(extra: &str) -> HttpSettings {
        let text = format!("listen = \"127.0.0.1:0\"\nmax_body_bytes = 65536\nmax_connections = 512\nmax_in_flight = 256\n{extra}");
        toml::from_str(&text).expect("valid TOML")
    }

    #[test]
    fn a_config_written_before_the_connection_timeouts_gets_their_defaults() {
        let settings = http("");
        assert_eq!(settings.header_read_timeout_ms, 10_000);
        assert_eq!(settings.idle_timeout_ms, 60_000);
        assert_eq!(settings.max_connections_per_client, 64);
        assert!(!settings.secure_cookies, "plain HTTP unless told");
        assert_eq!(settings.validate(), Ok(()));
    }

    #[test]
    fn connection_limits_out_of_range_are_refused_by_name() {
        let field = |extra: &str| http(extra).validate().map_err(|invalid| invalid.field);
        assert_eq!(field("header_read_timeout_ms = 0"), Err("http.header_read_timeout_ms"));
        assert_eq!(field("idle_timeout_ms = 30000"), Err("http.idle_timeout_ms"), "shorter than a sync long-poll");
        assert_eq!(field("max_connections_per_client = 0"), Err("http.max_connections_per_client"));
        assert_eq!(field("max_connections_per_client = 513"), Err("http.max_connections_per_client"));
        assert_eq!(field("max_connections_per_client = 512\nheader_read_timeout_ms = 300"), Ok(()));
    }
}
