//! Delivers campaigns' send lists to the messaging system's webhook: each list was written as a
//! delivery in the transaction that sent the campaign (so none is lost), and is POSTed until
//! the webhook answers 2xx — signed (`Tote-Signature`, HMAC-SHA256 over "t.body", the scheme
//! card gateways use) and keyed (`Idempotency-Key: tote-send-<id>`) so the receiver can tell a
//! retry from a new list. A failed attempt waits 2 s doubling to 10 min; after
//! `MAX_ATTEMPTS` the delivery is `failed` for HQ to see.

use super::store;
use crate::config::WebhookSettings;
use crate::startup::AppState;
use secrecy::ExposeSecret;
use std::time::Duration;
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;

/// Attempts before a delivery is given up (about an hour and a half of backoff).
pub const MAX_ATTEMPTS: i64 = 16;
/// Deliveries one round sends.
const PER_ROUND: u32 = 20;

/// Wait after attempt `attempts` (1-based) failed: 2 s doubling to 10 min.
pub fn backoff_ms(attempts: i64) -> i64 {
    1_000i64.saturating_mul(1i64 << attempts.clamp(0, 10)).min(600_000)
}

/// Delivers what is due, once a second, while a webhook is configured.
pub async fn run(state: AppState, stop: Stop) {
    let Some(hook) = state.settings.marketing.send_webhook.clone() else { return stop.stopped().await };
    let client = match reqwest::Client::builder().timeout(Duration::from_millis(hook.timeout_ms)).build() {
        Ok(client) => client,
        Err(error) => {
            tracing::error!(%error, "the send-list webhook client could not be built");
            return stop.stopped().await;
        }
    };
    loop {
        match round(&state, &client, &hook).await {
            Ok(n) if n > 0 => tracing::info!(delivered = n, "send lists delivered"),
            Ok(_) => {}
            Err(error) => tracing::error!(%error, "send-list delivery round failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = stop.stopped() => return,
        }
    }
}

/// One round: every due delivery tried once; returns how many were delivered.
pub async fn round(state: &AppState, client: &reqwest::Client, hook: &WebhookSettings) -> Result<u32, crate::db::DbError> {
    let now = now_ms();
    let due = state.db.read(move |tx| store::due_send_batches(tx, now, PER_ROUND)).await?;
    let mut delivered = 0;
    for (batch, body) in due {
        let outcome = post(client, hook, batch.id, body).await;
        let now = now_ms();
        let attempts = batch.attempts + 1;
        let (state_after, error, next) = match outcome {
            Ok(()) => ("delivered", None, now),
            Err(why) if attempts >= MAX_ATTEMPTS => ("failed", Some(why), now),
            Err(why) => ("pending", Some(why), now + backoff_ms(attempts)),
        };
        match state_after {
            "delivered" => delivered += 1,
            "failed" => tracing::error!(batch = batch.id, campaign = %batch.campaign, error = error.as_deref().unwrap_or(""), "a send list could not be delivered"),
            _ => tracing::warn!(batch = batch.id, campaign = %batch.campaign, error = error.as_deref().unwrap_or(""), "a send list delivery will be tried again"),
        }
        state.db.write(move |tx| store::attempted(tx, batch.id, state_after, error.as_deref(), next, now)).await?;
    }
    Ok(delivered)
}

/// One POST: Ok on 2xx; the reason otherwise (status and the start of the answer, or the
/// transport error).
async fn post(client: &reqwest::Client, hook: &WebhookSettings, id: u64, body: String) -> Result<(), String> {
    let signature = tote_shared::payment::card::signature_header(hook.secret.expose_secret(), now_ms() / 1_000, &body);
    let sent = client
        .post(&hook.url)
        .header("Content-Type", "application/json")
        .header("Tote-Signature", signature)
        .header("Idempotency-Key", format!("tote-send-{id}"))
        .body(body)
        .send()
        .await
        .map_err(|e| format!("the webhook could not be reached: {e}"))?;
    let status = sent.status();
    if status.is_success() {
        return Ok(());
    }
    let text = sent.text().await.unwrap_or_default();
    Err(format!("the webhook answered {status}: {}", text.chars().take(200).collect::<String>()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_a_second_to_ten_minutes() {
        assert_eq!((backoff_ms(1), backoff_ms(2), backoff_ms(5)), (2_000, 4_000, 32_000));
        assert_eq!(backoff_ms(MAX_ATTEMPTS), 600_000);
    }
}
