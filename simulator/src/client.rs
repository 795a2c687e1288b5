//! Thin JSON-over-HTTP helpers for the simulated people.

use anyhow::{bail, Result};
use serde_json::Value;

#[derive(Clone)]
pub struct Api {
    http: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Api {
    pub fn new(base: String, token: Option<String>) -> Api {
        Api { http: reqwest::Client::new(), base, token }
    }

    /// With a client of the caller's (one that trusts a private CA, say).
    pub fn with_client(base: String, token: Option<String>, http: reqwest::Client) -> Api {
        Api { http, base, token }
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    fn auth(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(t) => r.bearer_auth(t),
            None => r,
        }
    }

    pub async fn get(&self, path: &str) -> Result<Value> {
        let r = self.auth(self.http.get(format!("{}{path}", self.base))).send().await?;
        answer(r).await
    }

    /// A plain-text answer (metrics).
    pub async fn get_text(&self, path: &str) -> Result<String> {
        let r = self.auth(self.http.get(format!("{}{path}", self.base))).send().await?;
        anyhow::ensure!(r.status().is_success(), "GET {path}: {}", r.status());
        Ok(r.text().await?)
    }

    pub async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self.auth(self.http.post(format!("{}{path}", self.base))).json(body).send().await?;
        answer(r).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Result<Value> {
        let r = self.auth(self.http.put(format!("{}{path}", self.base))).json(body).send().await?;
        answer(r).await
    }

    /// A CSV file (rate cards and the like).
    pub async fn post_csv(&self, path: &str, csv: &str) -> Result<Value> {
        let r = self.auth(self.http.post(format!("{}{path}", self.base))).header("content-type", "text/csv").body(csv.to_owned()).send().await?;
        answer(r).await
    }

    pub async fn post_keyed(&self, path: &str, key: &str, body: &Value) -> Result<Value> {
        let r = self.auth(self.http.post(format!("{}{path}", self.base))).header("Idempotency-Key", key).json(body).send().await?;
        answer(r).await
    }
}

async fn answer(r: reqwest::Response) -> Result<Value> {
    let status = r.status();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("{status}: {}", body["detail"].as_str().unwrap_or(&body.to_string()));
    }
    Ok(body)
}
