//! How the sync client reaches central: over HTTP(S) in production (`HttpLink`). The suite's
//! deterministic simulation puts an in-memory link with seeded faults in its place, so what it
//! exercises is this client's own handling of every answer, not a copy of it.

use crate::config::CentralSettings;
use secrecy::ExposeSecret;
use std::future::Future;
use std::time::Duration;
use tote_shared::sync::{PullResponse, PushAck, PushBatch};

/// Central's answer to a push.
#[derive(Debug)]
pub enum PushReply {
    /// Central applied what was new and answers its mark.
    Acked(PushAck),
    /// 409: the stream rule refused the push (nothing applied); `high_water` when the problem
    /// names central's mark.
    Conflict { high_water: Option<u64>, body: String },
    /// Any other refusal.
    Refused { status: u16, body: String },
}

/// Central's answer to a pull.
#[derive(Debug)]
pub enum PullReply {
    Commands(PullResponse),
    Refused { status: u16, body: String },
}

/// Central could not be asked, or its answer never came (so whether a push applied is unknown).
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    #[error("central unreachable: {0}")]
    Http(#[from] reqwest::Error),
    #[error("central unreachable: {0}")]
    Lost(String),
}

/// The two calls of the sync protocol.
pub trait CentralLink: Send + Sync + 'static {
    fn push(&self, batch: &PushBatch) -> impl Future<Output = Result<PushReply, LinkError>> + Send;
    /// Commands after `after`, waiting up to `wait_ms` for news (long poll).
    fn pull(&self, after: u64, wait_ms: u64, limit: u32) -> impl Future<Output = Result<PullReply, LinkError>> + Send;
}

pub struct HttpLink {
    http: reqwest::Client,
    settings: CentralSettings,
}

impl HttpLink {
    pub fn new(settings: &CentralSettings) -> anyhow::Result<HttpLink> {
        let mut http = reqwest::Client::builder().connect_timeout(Duration::from_millis(settings.request_timeout_ms)).pool_max_idle_per_host(2);
        if let Some(ca) = &settings.ca_file {
            // A private CA: HQ's certificate must chain to it, and nothing else is trusted.
            http = http.use_preconfigured_tls(tote_shared::runtime::tls::client_config(ca)?.as_ref().clone());
        }
        if settings.url.starts_with("http://") {
            tracing::warn!(url = %settings.url, "sync with central is not encrypted: use an https:// URL outside a lab");
        }
        Ok(HttpLink { http: http.build()?, settings: settings.clone() })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.settings.url.trim_end_matches('/'), path)
    }
}

impl CentralLink for HttpLink {
    async fn push(&self, batch: &PushBatch) -> Result<PushReply, LinkError> {
        let response = self
            .http
            .post(self.url("/api/v1/sync/events"))
            .bearer_auth(self.settings.token.expose_secret())
            .timeout(Duration::from_millis(self.settings.request_timeout_ms))
            .json(batch)
            .send()
            .await?;
        let status = response.status();
        if status == reqwest::StatusCode::CONFLICT {
            let body: serde_json::Value = response.json().await.unwrap_or_default();
            let high_water = body.get("high_water").and_then(|v| v.as_u64());
            return Ok(PushReply::Conflict { high_water, body: body.to_string() });
        }
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Ok(PushReply::Refused { status: status.as_u16(), body });
        }
        Ok(PushReply::Acked(response.json().await?))
    }

    async fn pull(&self, after: u64, wait_ms: u64, limit: u32) -> Result<PullReply, LinkError> {
        let response = self
            .http
            .get(self.url("/api/v1/sync/commands"))
            .query(&[("after", after), ("wait_ms", wait_ms), ("limit", limit as u64)])
            .bearer_auth(self.settings.token.expose_secret())
            .timeout(Duration::from_millis(wait_ms + self.settings.request_timeout_ms))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Ok(PullReply::Refused { status: status.as_u16(), body });
        }
        Ok(PullReply::Commands(response.json().await?))
    }
}
