//! Risk rules at work: the engine (`tote_shared::payment::risk`, pure) behind a lock, its
//! rules from configuration or the API, every decision stored with the rule that made it, and
//! the journal consumer that tells the engine how payments ended (declines feed the
//! card-testing rules).

use super::store;
use crate::config::PaymentSettings;
use crate::db::{Database, DbResult, Tx};
use crate::journal::consumer::Consumer;
use crate::journal::{BusinessEvent, JournalEntry};
use std::sync::{Arc, Mutex};
use tote_shared::payment::risk::{AttemptStatus, Decision, PaymentAttempt, PaymentResult, RiskEngine, RiskRules};

/// How far back the engine's windows are rebuilt at start (the longest window allowed).
const RESTORE_MS: i64 = 24 * 3_600_000;
const RESTORE_LIMIT: u32 = 500_000;

#[derive(Clone)]
pub struct Risk {
    engine: Arc<Mutex<RiskEngine>>,
}

impl Risk {
    /// Rules: saved through the API, else the configured file, else the defaults. The windows
    /// are rebuilt from the stored decisions of the last day.
    pub async fn load(db: &Database, settings: &PaymentSettings, now_ms: i64) -> anyhow::Result<Risk> {
        let configured = match &settings.risk_rules_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("payment.risk_rules_path {}: {e}", path.display()))?;
                toml::from_str::<RiskRules>(&text).map_err(|e| anyhow::anyhow!("payment.risk_rules_path {}: {e}", path.display()))?
            }
            None => RiskRules::default_rules(),
        };
        let (saved, attempts) = db
            .read(move |tx| -> DbResult<_> { Ok((store::saved_rules(tx)?, store::attempts_since(tx, now_ms - RESTORE_MS, RESTORE_LIMIT)?)) })
            .await?;
        let rules = saved.unwrap_or(configured);
        let engine = RiskEngine::restore(rules, attempts).map_err(|e| anyhow::anyhow!("risk rules: {e}"))?;
        Ok(Risk { engine: Arc::new(Mutex::new(engine)) })
    }

    /// A fresh attempt id: random, so central processes sharing one database never collide.
    pub fn attempt_id() -> u64 {
        use rand::Rng;
        rand::thread_rng().gen_range(1..i64::MAX as u64)
    }

    pub fn evaluate(&self, attempt_id: u64, attempt: &PaymentAttempt) -> Decision {
        match self.engine.lock() {
            Ok(mut engine) => engine.evaluate(attempt_id, attempt),
            Err(poisoned) => poisoned.into_inner().evaluate(attempt_id, attempt),
        }
    }

    pub fn rules(&self) -> RiskRules {
        match self.engine.lock() {
            Ok(engine) => engine.rules().clone(),
            Err(poisoned) => poisoned.into_inner().rules().clone(),
        }
    }

    /// Replaces the rules (already validated and saved); the windows are kept.
    pub fn set_rules(&self, rules: RiskRules) -> Result<(), String> {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.set_rules(rules).map_err(|e| e.to_string())
    }

    /// What the engine holds in memory: (attempts, keys, users). Bounded by `RiskLimits`;
    /// the rules' longest window (or the wait for a channel's answer) sets how much of it is
    /// in use.
    pub fn remembered(&self) -> (usize, usize, usize) {
        let engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        (engine.remembered_attempts(), engine.remembered_keys(), engine.remembered_users())
    }

    fn record(&self, attempt_id: u64, result: PaymentResult) {
        let mut engine = self.engine.lock().unwrap_or_else(|p| p.into_inner());
        engine.record_outcome(attempt_id, result);
    }
}

/// Tells the engine (and the stored decision) how each payment ended.
pub struct RiskConsumer {
    pub risk: Risk,
}

impl Consumer for RiskConsumer {
    fn name(&self) -> &'static str {
        "risk"
    }

    fn apply(&self, tx: &mut dyn Tx, entries: &[JournalEntry]) -> DbResult<()> {
        let mut settled = Vec::new();
        for entry in entries {
            let (payment_id, result) = match &entry.event {
                BusinessEvent::PaymentSucceeded { payment_id, .. } => (*payment_id, PaymentResult::Succeeded),
                BusinessEvent::PaymentFailed { payment_id, .. } => (*payment_id, PaymentResult::Declined),
                _ => continue,
            };
            if let Some(attempt_id) = store::settle_decision(tx, payment_id, AttemptStatus::from(result))? {
                settled.push((attempt_id, result));
            }
        }
        // The engine only learns once the rows are written; a rerun after a rollback finds
        // the attempt settled already and the engine ignores a second outcome.
        for (attempt_id, result) in settled {
            self.risk.record(attempt_id, result);
        }
        Ok(())
    }
}
