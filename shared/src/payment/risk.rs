//! Risk rules evaluated before a payment is created: velocity, card testing, amounts far above
//! a user's history, blocklists.
//!
//! What it is: rules as data (`RiskRules`, read from TOML such as `configs/risk-rules.toml` or
//! sent as JSON through the API, so changing them needs no rebuild), their `validate()`, and
//! `RiskEngine`, which keeps a bounded in-memory history of recent attempts and turns each new
//! attempt into a `Decision` that names the rule that decided and why.
//!
//! What it is not: it does no I/O and reads no clock (each attempt brings its `at_ms`). It does
//! not persist anything: the caller stores attempts, decisions and outcomes, and hands them back
//! to `RiskEngine::restore` after a restart. It does not talk to a channel: the channel's answer
//! comes back through `record_outcome`.
//!
//! The first rule that matches decides; when none does the attempt is allowed with no rule.
//! A rule can allow too: a `blocklist` rule with `outcome = "allow"` placed first is an
//! allowlist.

use super::ChannelKind;
use crate::domain::Money;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;

/// Most rules in one set: every attempt is checked against each of them.
pub const MAX_RULES: usize = 100;
/// Longest window a rule may look back over: the engine keeps that much history in memory.
pub const MAX_WINDOW_MS: i64 = 24 * 60 * 60 * 1000;
/// Largest attempt count a rule may name (`max_attempts`, `min_attempts`, `min_history`).
pub const MAX_RULE_COUNT: u32 = 500;
/// Largest `multiple` of `amount_above_history`.
pub const MAX_MULTIPLE: u32 = 1_000;
/// Most values in one blocklist.
pub const MAX_BLOCKLIST_VALUES: usize = 100_000;
/// Longest rule name, in characters.
pub const MAX_NAME_CHARS: usize = 64;
/// Longest blocklist value, in characters.
pub const MAX_VALUE_CHARS: usize = 256;
/// A pending attempt is kept this long for its outcome, whatever the rules' windows: a channel
/// may report it long after the attempt (a WeChat QR code stays payable for two hours), and a
/// success must still find its attempt to count in the user's amount history.
pub const OUTCOME_WAIT_MS: i64 = 2 * 60 * 60 * 1000;
/// Idle keys examined for expiry per `evaluate`, so memory follows the active set without a
/// separate sweep.
const IDLE_SWEEP_PER_CALL: usize = 4;

/// One try to pay, as the caller sees it before creating the payment at the channel.
///
/// Empty identifiers count as absent: a form that sends `"device": ""` is not one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentAttempt {
    pub user: String,
    pub device: Option<String>,
    pub ip: Option<String>,
    pub card_fingerprint: Option<String>,
    pub channel: ChannelKind,
    pub amount_minor: i64,
    pub at_ms: i64,
}

impl PaymentAttempt {
    /// The attempt's identifier of this kind, if it has a non-empty one.
    pub fn key(&self, kind: KeyKind) -> Option<&str> {
        let value = match kind {
            KeyKind::User => Some(self.user.as_str()),
            KeyKind::Device => self.device.as_deref(),
            KeyKind::Ip => self.ip.as_deref(),
            KeyKind::Card => self.card_fingerprint.as_deref(),
        };
        value.filter(|v| !v.is_empty())
    }
}

/// What identifies "the same payer" for a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeyKind {
    User,
    Device,
    Ip,
    /// The card fingerprint the card gateway reports (the same card across accounts).
    Card,
}

impl KeyKind {
    pub const ALL: [KeyKind; 4] = [KeyKind::User, KeyKind::Device, KeyKind::Ip, KeyKind::Card];

    fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::User => "user",
            KeyKind::Device => "device",
            KeyKind::Ip => "ip",
            KeyKind::Card => "card",
        }
    }

    /// How a reason names it: "card fp-9", "IP 10.0.0.1".
    fn noun(self) -> &'static str {
        match self {
            KeyKind::Ip => "IP",
            other => other.as_str(),
        }
    }
}

/// What a rule decides when it matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Create the payment.
    Allow,
    /// Create the payment on hold for a person to look at before the goods ship.
    Review,
    /// Do not create the payment.
    Block,
}

/// When a rule matches. All counts include the attempt being evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// More than `max_attempts` attempts by the same key within `window_ms`.
    Velocity { key: KeyKind, window_ms: i64, max_attempts: u32 },
    /// Card testing: at least `min_attempts` attempts of at most `max_amount_minor` by the same
    /// key within `window_ms`, of which at least `min_decline_ratio_pct` percent of those already
    /// settled were declined. Attempts this engine blocked count as declined, so retries after a
    /// block keep the ratio up instead of diluting it; pending attempts are not settled. A
    /// matching key stays matched while the burst goes on and clears `window_ms` after it stops.
    /// The attempt being evaluated need not be small itself: the large purchase that follows a
    /// successful test is the one that matters.
    CardTesting { key: KeyKind, window_ms: i64, min_attempts: u32, max_amount_minor: i64, min_decline_ratio_pct: u32 },
    /// The amount is over `multiple` × the largest amount the user has paid successfully, once
    /// the user has at least `min_history` succeeded payments. The largest rather than the
    /// median: it is one number per user to keep and restore, and a shopper who once bought a
    /// sofa is not flagged for buying a second one.
    AmountAboveHistory { multiple: u32, min_history: u32 },
    /// The attempt's key is one of `values` (exact match).
    Blocklist { key: KeyKind, values: Vec<String> },
}

impl Condition {
    fn window_ms(&self) -> Option<i64> {
        match self {
            Condition::Velocity { window_ms, .. } | Condition::CardTesting { window_ms, .. } => Some(*window_ms),
            Condition::AmountAboveHistory { .. } | Condition::Blocklist { .. } => None,
        }
    }

    /// The most attempts per key the condition must be able to see.
    fn history_needed(&self) -> Option<(&'static str, u32, usize)> {
        match self {
            Condition::Velocity { max_attempts, .. } => {
                Some(("max_attempts", *max_attempts, *max_attempts as usize + 1))
            }
            Condition::CardTesting { min_attempts, .. } => {
                Some(("min_attempts", *min_attempts, *min_attempts as usize))
            }
            Condition::AmountAboveHistory { .. } | Condition::Blocklist { .. } => None,
        }
    }
}

/// One named rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    pub name: String,
    pub outcome: Outcome,
    pub condition: Condition,
}

/// An ordered rule set: the first rule that matches decides.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RiskRules {
    pub rules: Vec<Rule>,
}

/// Why a rule set cannot be used. The message is shown to API clients as-is; rule positions
/// count from 1.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RulesError {
    #[error("the rule set is empty: add at least one rule (an empty set would allow every payment)")]
    Empty,
    #[error("the rule set has {count} rules: at most {max} are allowed", max = MAX_RULES)]
    TooManyRules { count: usize },
    #[error("rule #{position} has an invalid name {name:?}: use 1-{max} characters and no control characters", max = MAX_NAME_CHARS)]
    InvalidName { position: usize, name: String },
    #[error("rule name {name:?} is used by rules #{first} and #{second}: names must be unique")]
    DuplicateName { name: String, first: usize, second: usize },
    #[error("rule {rule:?}: window_ms {window_ms} is out of range: it must be between 1 and {max} (24 h)", max = MAX_WINDOW_MS)]
    WindowOutOfRange { rule: String, window_ms: i64 },
    #[error("rule {rule:?}: {field} {value} is out of range: it must be between 1 and {max}")]
    CountOutOfRange { rule: String, field: &'static str, value: u32, max: u32 },
    #[error("rule {rule:?}: min_decline_ratio_pct {value} is out of range: it must be between 0 and 100")]
    PercentOutOfRange { rule: String, value: u32 },
    #[error("rule {rule:?}: max_amount_minor {value} is out of range: it must be between 1 and {max}", max = Money::MAX_MINOR)]
    AmountOutOfRange { rule: String, value: i64 },
    #[error("rule {rule:?}: the blocklist has no values")]
    EmptyBlocklist { rule: String },
    #[error("rule {rule:?}: the blocklist has {count} values: at most {max} are allowed", max = MAX_BLOCKLIST_VALUES)]
    BlocklistTooLong { rule: String, count: usize },
    #[error("rule {rule:?}: blocklist value #{position} {value:?} is invalid: use 1-{max} characters and no control characters", max = MAX_VALUE_CHARS)]
    InvalidBlocklistValue { rule: String, position: usize, value: String },
    #[error("rule {rule:?}: {field} {value} needs more history than the engine keeps per key ({cap} attempts)")]
    BeyondHistoryCap { rule: String, field: &'static str, value: u32, cap: usize },
}

impl RiskRules {
    /// Checks everything a rule set must satisfy before an engine runs it.
    pub fn validate(&self) -> Result<(), RulesError> {
        if self.rules.is_empty() {
            return Err(RulesError::Empty);
        }
        if self.rules.len() > MAX_RULES {
            return Err(RulesError::TooManyRules { count: self.rules.len() });
        }
        let mut seen: HashMap<&str, usize> = HashMap::new();
        for (index, rule) in self.rules.iter().enumerate() {
            let position = index + 1;
            if !is_clean_text(&rule.name, MAX_NAME_CHARS) {
                return Err(RulesError::InvalidName { position, name: truncate(&rule.name) });
            }
            if let Some(first) = seen.insert(rule.name.as_str(), position) {
                return Err(RulesError::DuplicateName { name: rule.name.clone(), first, second: position });
            }
            validate_condition(&rule.name, &rule.condition)?;
        }
        Ok(())
    }

    /// The longest window of any rule, 0 when no rule has one.
    pub fn longest_window_ms(&self) -> i64 {
        self.rules.iter().filter_map(|r| r.condition.window_ms()).max().unwrap_or(0)
    }

    /// The rules a new deployment starts with (the same as `configs/risk-rules.toml`). They
    /// block card testing and heavy velocity and let normal shoppers through; a shopper pays
    /// one to three times per order, a card tester dozens of times a minute with tiny amounts
    /// and mostly declines. In order:
    ///
    /// 1. `card-testing-by-card` — block: ≥ 5 attempts of at most ¥20.00 by one card within
    ///    1 h, ≥ 60 % of the settled ones declined.
    /// 2. `card-testing-by-device` — block: the same pattern, ≥ 10 attempts from one device
    ///    (one phone trying many cards).
    /// 3. `card-testing-by-ip` — block: ≥ 20 attempts from one IP (carrier NAT puts many
    ///    honest shoppers behind one address, hence the higher count).
    /// 4. `velocity-by-card` — block: more than 10 attempts by one card within 10 min.
    /// 5. `velocity-by-user` — block: more than 20 attempts by one user within 10 min.
    /// 6. `velocity-by-device` — review: more than 20 attempts from one device within 10 min.
    /// 7. `velocity-by-ip` — review: more than 100 attempts from one IP within 10 min (review,
    ///    not block: offices and campuses share an address).
    /// 8. `amount-above-history` — review: more than 10 × the user's largest succeeded payment,
    ///    once the user has 3 succeeded payments.
    ///
    /// There is no default blocklist: it is data that each deployment fills in.
    pub fn default_rules() -> RiskRules {
        const MINUTE_MS: i64 = 60 * 1000;
        const HOUR_MS: i64 = 60 * MINUTE_MS;
        let rule = |name: &str, outcome, condition| Rule { name: name.to_owned(), outcome, condition };
        let card_testing = |key, min_attempts| Condition::CardTesting {
            key,
            window_ms: HOUR_MS,
            min_attempts,
            max_amount_minor: 2_000,
            min_decline_ratio_pct: 60,
        };
        let velocity = |key, max_attempts| Condition::Velocity { key, window_ms: 10 * MINUTE_MS, max_attempts };
        RiskRules {
            rules: vec![
                rule("card-testing-by-card", Outcome::Block, card_testing(KeyKind::Card, 5)),
                rule("card-testing-by-device", Outcome::Block, card_testing(KeyKind::Device, 10)),
                rule("card-testing-by-ip", Outcome::Block, card_testing(KeyKind::Ip, 20)),
                rule("velocity-by-card", Outcome::Block, velocity(KeyKind::Card, 10)),
                rule("velocity-by-user", Outcome::Block, velocity(KeyKind::User, 20)),
                rule("velocity-by-device", Outcome::Review, velocity(KeyKind::Device, 20)),
                rule("velocity-by-ip", Outcome::Review, velocity(KeyKind::Ip, 100)),
                rule(
                    "amount-above-history",
                    Outcome::Review,
                    Condition::AmountAboveHistory { multiple: 10, min_history: 3 },
                ),
            ],
        }
    }
}

fn validate_condition(rule: &str, condition: &Condition) -> Result<(), RulesError> {
    let count = |field: &'static str, value: u32, max: u32| {
        if (1..=max).contains(&value) {
            Ok(())
        } else {
            Err(RulesError::CountOutOfRange { rule: rule.to_owned(), field, value, max })
        }
    };
    if let Some(window_ms) = condition.window_ms() {
        if !(1..=MAX_WINDOW_MS).contains(&window_ms) {
            return Err(RulesError::WindowOutOfRange { rule: rule.to_owned(), window_ms });
        }
    }
    match condition {
        Condition::Velocity { max_attempts, .. } => count("max_attempts", *max_attempts, MAX_RULE_COUNT),
        Condition::CardTesting { min_attempts, max_amount_minor, min_decline_ratio_pct, .. } => {
            count("min_attempts", *min_attempts, MAX_RULE_COUNT)?;
            if !(1..=Money::MAX_MINOR).contains(max_amount_minor) {
                return Err(RulesError::AmountOutOfRange { rule: rule.to_owned(), value: *max_amount_minor });
            }
            if *min_decline_ratio_pct > 100 {
                return Err(RulesError::PercentOutOfRange { rule: rule.to_owned(), value: *min_decline_ratio_pct });
            }
            Ok(())
        }
        Condition::AmountAboveHistory { multiple, min_history } => {
            count("multiple", *multiple, MAX_MULTIPLE)?;
            count("min_history", *min_history, MAX_RULE_COUNT)
        }
        Condition::Blocklist { values, .. } => {
            if values.is_empty() {
                return Err(RulesError::EmptyBlocklist { rule: rule.to_owned() });
            }
            if values.len() > MAX_BLOCKLIST_VALUES {
                return Err(RulesError::BlocklistTooLong { rule: rule.to_owned(), count: values.len() });
            }
            match values.iter().position(|v| !is_clean_text(v, MAX_VALUE_CHARS)) {
                Some(index) => Err(RulesError::InvalidBlocklistValue {
                    rule: rule.to_owned(),
                    position: index + 1,
                    value: truncate(&values[index]),
                }),
                None => Ok(()),
            }
        }
    }
}

/// The engine's answer for one attempt.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub outcome: Outcome,
    /// The rule that decided; `None` when no rule matched and the attempt is allowed.
    pub rule: Option<String>,
    /// Why, for the person reviewing it: "12 attempts by card fp-9 in 10 min, max 10".
    pub reason: String,
}

/// Where an attempt stands, as the engine counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttemptStatus {
    /// Allowed (or held for review), the channel has not answered yet.
    Pending,
    Succeeded,
    Declined,
    /// This engine blocked it; it never reached a channel.
    Blocked,
}

/// What the channel said about an allowed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaymentResult {
    Succeeded,
    Declined,
}

impl From<PaymentResult> for AttemptStatus {
    fn from(result: PaymentResult) -> AttemptStatus {
        match result {
            PaymentResult::Succeeded => AttemptStatus::Succeeded,
            PaymentResult::Declined => AttemptStatus::Declined,
        }
    }
}

/// An attempt as the caller persists it, to hand back to `RiskEngine::restore`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoredAttempt {
    pub attempt_id: u64,
    pub attempt: PaymentAttempt,
    /// `Blocked` when the decision was block, else the channel's answer, else `Pending`.
    pub status: AttemptStatus,
}

/// Memory bounds of an engine. With the defaults the history holds at most 500 000 attempts
/// (about 100 MB in the worst case, with long identifiers); the rules' windows usually keep it
/// far smaller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RiskLimits {
    /// Attempts remembered per key (one card, one IP …); the oldest go first.
    pub max_attempts_per_key: usize,
    /// Keys remembered; the one idle longest goes first.
    pub max_keys: usize,
    /// Attempts remembered in all.
    pub max_attempts: usize,
    /// Users whose amount history is remembered; the one idle longest goes first.
    pub max_users: usize,
}

impl Default for RiskLimits {
    fn default() -> RiskLimits {
        RiskLimits { max_attempts_per_key: 1_000, max_keys: 200_000, max_attempts: 500_000, max_users: 200_000 }
    }
}

/// An attempt the history remembers.
#[derive(Debug, Clone)]
struct Tracked {
    user: String,
    amount_minor: i64,
    status: AttemptStatus,
    /// How many key histories hold it, plus one while it awaits its outcome; it is forgotten
    /// when the last one lets go.
    refs: u8,
    /// Pending, and held for its outcome (see `OUTCOME_WAIT_MS`).
    awaiting: bool,
}

/// How long a key's history keeps an attempt, from the rules on that kind of key: the longest
/// velocity window, and for an amount no larger than a card-testing rule's `max_amount_minor`,
/// that rule's window. An attempt no rule would count is not kept by that key at all: with the
/// default rules a large attempt stays 10 minutes, not the card-testing hour.
#[derive(Debug, Clone, Default)]
struct Keep {
    velocity_ms: [i64; 4],
    /// (max_amount_minor, window_ms) of each card-testing rule, per key kind.
    small_ms: [Vec<(i64, i64)>; 4],
}

impl Keep {
    fn from_rules(rules: &RiskRules) -> Keep {
        let mut keep = Keep::default();
        for rule in &rules.rules {
            match rule.condition {
                Condition::Velocity { key, window_ms, .. } => {
                    let v = &mut keep.velocity_ms[key.index()];
                    *v = (*v).max(window_ms);
                }
                Condition::CardTesting { key, window_ms, max_amount_minor, .. } => {
                    keep.small_ms[key.index()].push((max_amount_minor, window_ms));
                }
                Condition::AmountAboveHistory { .. } | Condition::Blocklist { .. } => {}
            }
        }
        keep
    }

    /// How long `kind`'s history keeps an attempt of `amount_minor`; 0: not at all.
    fn ms(&self, kind: KeyKind, amount_minor: i64) -> i64 {
        let small = self.small_ms[kind.index()].iter().filter(|(max, _)| amount_minor <= *max).map(|(_, w)| *w);
        small.fold(self.velocity_ms[kind.index()], i64::max)
    }

    /// Whether `kind`'s history may let go of the attempt `id` made at `at_ms` (one no longer
    /// remembered goes at once).
    fn expired(&self, attempts: &HashMap<u64, Tracked>, kind: KeyKind, latest_ms: i64, at_ms: i64, id: u64) -> bool {
        match attempts.get(&id) {
            Some(a) => at_ms.saturating_add(self.ms(kind, a.amount_minor)) <= latest_ms,
            None => true,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct UserProfile {
    succeeded: u32,
    largest_succeeded_minor: i64,
}

/// Recent attempts by one key, oldest first, as (at_ms, attempt id).
type KeyHistory = VecDeque<(i64, u64)>;

/// Rules plus a bounded history of recent attempts. See the module documentation.
#[derive(Debug, Clone)]
pub struct RiskEngine {
    rules: RiskRules,
    /// Per rule, its blocklist as a set (empty for other conditions).
    blocklists: Vec<HashSet<String>>,
    limits: RiskLimits,
    /// How long each kind of key keeps an attempt.
    keep: Keep,
    /// Pending attempts in the order they came, held until their outcome or `OUTCOME_WAIT_MS`.
    awaiting: VecDeque<(i64, u64)>,
    /// The latest attempt time seen: the engine's idea of now.
    latest_ms: i64,
    histories: LruMap<(KeyKind, String), KeyHistory>,
    attempts: HashMap<u64, Tracked>,
    profiles: LruMap<String, UserProfile>,
}

impl RiskEngine {
    /// An engine with no history and the default limits.
    pub fn new(rules: RiskRules) -> Result<RiskEngine, RulesError> {
        RiskEngine::with_limits(rules, RiskLimits::default())
    }

    /// An engine with no history and the given limits. A rule that counts more attempts than
    /// `max_attempts_per_key` could never match, so it is refused.
    pub fn with_limits(rules: RiskRules, limits: RiskLimits) -> Result<RiskEngine, RulesError> {
        // Up to four keys are touched per attempt; fewer would evict the attempt's own keys.
        let limits = RiskLimits {
            max_attempts_per_key: limits.max_attempts_per_key.max(1),
            max_keys: limits.max_keys.max(KeyKind::ALL.len()),
            max_attempts: limits.max_attempts.max(1),
            max_users: limits.max_users.max(1),
        };
        let mut engine = RiskEngine {
            rules: RiskRules { rules: Vec::new() },
            blocklists: Vec::new(),
            limits,
            keep: Keep::default(),
            awaiting: VecDeque::new(),
            latest_ms: i64::MIN,
            histories: LruMap::new(),
            attempts: HashMap::new(),
            profiles: LruMap::new(),
        };
        engine.set_rules(rules)?;
        Ok(engine)
    }

    /// Rebuilds an engine after a restart from the attempts the caller stored, with their
    /// latest status. Pass the attempts of at least the longest window (and `OUTCOME_WAIT_MS`);
    /// succeeded attempts from further back only feed the users' amount history, so pass as
    /// many of those as that history should reach. Any order works; oldest first is cheapest.
    pub fn restore(
        rules: RiskRules,
        attempts: impl IntoIterator<Item = StoredAttempt>,
    ) -> Result<RiskEngine, RulesError> {
        RiskEngine::restore_with_limits(rules, RiskLimits::default(), attempts)
    }

    /// `restore` with the given limits.
    pub fn restore_with_limits(
        rules: RiskRules,
        limits: RiskLimits,
        attempts: impl IntoIterator<Item = StoredAttempt>,
    ) -> Result<RiskEngine, RulesError> {
        let mut engine = RiskEngine::with_limits(rules, limits)?;
        for stored in attempts {
            engine.latest_ms = engine.latest_ms.max(stored.attempt.at_ms);
            if engine.attempts.contains_key(&stored.attempt_id) {
                // The same attempt twice: keep the first record, take a later outcome.
                if let Some(result) = match stored.status {
                    AttemptStatus::Succeeded => Some(PaymentResult::Succeeded),
                    AttemptStatus::Declined => Some(PaymentResult::Declined),
                    AttemptStatus::Pending | AttemptStatus::Blocked => None,
                } {
                    engine.record_outcome(stored.attempt_id, result);
                }
                continue;
            }
            engine.insert(stored.attempt_id, &stored.attempt, stored.status);
            if stored.status == AttemptStatus::Succeeded {
                engine.note_success(&stored.attempt.user, stored.attempt.amount_minor);
            }
        }
        Ok(engine)
    }

    pub fn rules(&self) -> &RiskRules {
        &self.rules
    }

    /// Replaces the rules (new ones from the API) and keeps the history.
    pub fn set_rules(&mut self, rules: RiskRules) -> Result<(), RulesError> {
        rules.validate()?;
        for rule in &rules.rules {
            if let Some((field, value, needed)) = rule.condition.history_needed() {
                if needed > self.limits.max_attempts_per_key {
                    return Err(RulesError::BeyondHistoryCap {
                        rule: rule.name.clone(),
                        field,
                        value,
                        cap: self.limits.max_attempts_per_key,
                    });
                }
            }
        }
        self.blocklists = rules
            .rules
            .iter()
            .map(|rule| match &rule.condition {
                Condition::Blocklist { values, .. } => values.iter().cloned().collect(),
                _ => HashSet::new(),
            })
            .collect();
        self.keep = Keep::from_rules(&rules);
        self.rules = rules;
        Ok(())
    }

    /// Decides on an attempt and records it (as pending, or blocked) under `attempt_id`, which
    /// the caller chooses and persists. The counts the rules see include this attempt. An id the
    /// engine already holds is not recorded twice: the decision is made again against the
    /// current history (a retried request gets the same answer unless the history moved on).
    pub fn evaluate(&mut self, attempt_id: u64, attempt: &PaymentAttempt) -> Decision {
        self.latest_ms = self.latest_ms.max(attempt.at_ms);
        if !self.attempts.contains_key(&attempt_id) {
            self.insert(attempt_id, attempt, AttemptStatus::Pending);
        }
        self.profiles.touch(&attempt.user);
        let decision = self.decide(attempt);
        if decision.outcome == Outcome::Block {
            if let Some(tracked) = self.attempts.get_mut(&attempt_id) {
                if tracked.status == AttemptStatus::Pending {
                    tracked.status = AttemptStatus::Blocked;
                }
            }
            // It never reaches a channel: no outcome to wait for.
            self.stop_awaiting(attempt_id);
        }
        self.sweep_idle_keys();
        decision
    }

    /// Records the channel's answer for an attempt. Returns whether anything changed: `false`
    /// for an attempt the engine no longer remembers (older than its history, or evicted by a
    /// limit), one it blocked, or one already settled (the first answer wins; a channel does not
    /// turn a declined payment into a paid one, a new attempt does).
    pub fn record_outcome(&mut self, attempt_id: u64, result: PaymentResult) -> bool {
        let Some(tracked) = self.attempts.get_mut(&attempt_id) else {
            return false;
        };
        if tracked.status != AttemptStatus::Pending {
            return false;
        }
        tracked.status = result.into();
        if result == PaymentResult::Succeeded {
            let (user, amount_minor) = (tracked.user.clone(), tracked.amount_minor);
            self.note_success(&user, amount_minor);
        }
        self.stop_awaiting(attempt_id);
        true
    }

    /// The attempt no longer waits for its outcome: the key histories alone hold it now.
    fn stop_awaiting(&mut self, attempt_id: u64) {
        if let Some(tracked) = self.attempts.get_mut(&attempt_id).filter(|t| t.awaiting) {
            tracked.awaiting = false;
            release(&mut self.attempts, attempt_id);
        }
    }

    /// Attempts the history holds now (for metrics and tests).
    pub fn remembered_attempts(&self) -> usize {
        self.attempts.len()
    }

    /// Keys (cards, IPs …) the history holds now.
    pub fn remembered_keys(&self) -> usize {
        self.histories.len()
    }

    /// Users whose amount history the engine holds now.
    pub fn remembered_users(&self) -> usize {
        self.profiles.len()
    }

    fn decide(&self, attempt: &PaymentAttempt) -> Decision {
        for (index, rule) in self.rules.rules.iter().enumerate() {
            if let Some(reason) = self.check(index, &rule.condition, attempt) {
                return Decision { outcome: rule.outcome, rule: Some(rule.name.clone()), reason };
            }
        }
        Decision { outcome: Outcome::Allow, rule: None, reason: "no rule matched".to_owned() }
    }

    /// The reason the condition matches, or `None`.
    fn check(&self, index: usize, condition: &Condition, attempt: &PaymentAttempt) -> Option<String> {
        match condition {
            Condition::Velocity { key, window_ms, max_attempts } => {
                let value = attempt.key(*key)?;
                let count = self.in_window(*key, value, attempt.at_ms, *window_ms).count();
                (count > *max_attempts as usize).then(|| {
                    format!(
                        "{count} attempts by {} {} in {}, max {max_attempts}",
                        key.noun(),
                        truncate(value),
                        format_duration(*window_ms)
                    )
                })
            }
            Condition::CardTesting { key, window_ms, min_attempts, max_amount_minor, min_decline_ratio_pct } => {
                let value = attempt.key(*key)?;
                let (mut small, mut settled, mut declined) = (0u64, 0u64, 0u64);
                for tracked in self.in_window(*key, value, attempt.at_ms, *window_ms) {
                    if tracked.amount_minor > *max_amount_minor {
                        continue;
                    }
                    small += 1;
                    match tracked.status {
                        AttemptStatus::Pending => {}
                        AttemptStatus::Succeeded => settled += 1,
                        AttemptStatus::Declined | AttemptStatus::Blocked => {
                            settled += 1;
                            declined += 1;
                        }
                    }
                }
                let pct = u64::from(*min_decline_ratio_pct);
                let ratio_reached = pct == 0 || (settled > 0 && declined * 100 >= pct * settled);
                (small >= u64::from(*min_attempts) && ratio_reached).then(|| {
                    let actual_pct = (declined * 100).checked_div(settled).unwrap_or(0);
                    format!(
                        "{small} attempts of at most {} by {} {} in {}, {declined} of {settled} settled declined \
                         ({actual_pct}%), min {min_attempts} attempts and {pct}%",
                        format_minor(*max_amount_minor),
                        key.noun(),
                        truncate(value),
                        format_duration(*window_ms)
                    )
                })
            }
            Condition::AmountAboveHistory { multiple, min_history } => {
                let user = attempt.key(KeyKind::User)?;
                let profile = self.profiles.get(user)?;
                if profile.succeeded < *min_history {
                    return None;
                }
                // An overflowing threshold is above every amount: no match.
                let threshold = profile.largest_succeeded_minor.checked_mul(i64::from(*multiple))?;
                (attempt.amount_minor > threshold).then(|| {
                    format!(
                        "amount {} is over {multiple} × {}, the largest of user {}'s {} succeeded payments",
                        format_minor(attempt.amount_minor),
                        format_minor(profile.largest_succeeded_minor),
                        truncate(user),
                        profile.succeeded
                    )
                })
            }
            Condition::Blocklist { key, .. } => {
                let value = attempt.key(*key)?;
                self.blocklists[index]
                    .contains(value)
                    .then(|| format!("{} {} is on the blocklist", key.noun(), truncate(value)))
            }
        }
    }

    /// The remembered attempts by this key in the window that ends at `at_ms` (inclusive).
    fn in_window<'a>(
        &'a self,
        kind: KeyKind,
        value: &str,
        at_ms: i64,
        window_ms: i64,
    ) -> impl Iterator<Item = &'a Tracked> + 'a {
        let after_ms = at_ms.saturating_sub(window_ms);
        self.histories
            .get(&(kind, value.to_owned()))
            .into_iter()
            .flat_map(|history| history.iter().rev())
            .skip_while(move |(t, _)| *t > at_ms)
            .take_while(move |(t, _)| *t > after_ms)
            .filter_map(|(_, id)| self.attempts.get(id))
    }

    fn insert(&mut self, attempt_id: u64, attempt: &PaymentAttempt, status: AttemptStatus) {
        // Only the keys some rule would count it under; a pending attempt also waits for its
        // outcome, which a success needs to reach the user's amount history.
        let keys: Vec<(KeyKind, String)> = KeyKind::ALL
            .into_iter()
            .filter(|kind| self.keep.ms(*kind, attempt.amount_minor) > 0)
            .filter_map(|kind| attempt.key(kind).map(|value| (kind, value.to_owned())))
            .collect();
        let awaiting = status == AttemptStatus::Pending && !attempt.user.is_empty();
        if keys.is_empty() && !awaiting {
            return;
        }
        let refs = (keys.len() + usize::from(awaiting)) as u8;
        self.attempts.insert(attempt_id, Tracked { user: attempt.user.clone(), amount_minor: attempt.amount_minor, status, refs, awaiting });
        if awaiting {
            self.awaiting.push_back((attempt.at_ms, attempt_id));
        }
        let mut released = Vec::new();
        for key in keys {
            let kind = key.0;
            let (keep, latest_ms, attempts) = (&self.keep, self.latest_ms, &self.attempts);
            let expired = |t: i64, id: u64| keep.expired(attempts, kind, latest_ms, t, id);
            let history = self.histories.touch_or_insert_with(key, VecDeque::new);
            let entry = (attempt.at_ms, attempt_id);
            // `Option::is_none_or` is newer than the workspace's rust-version (1.80).
            let in_order = match history.back() {
                Some((t, _)) => *t <= attempt.at_ms,
                None => true,
            };
            if in_order {
                history.push_back(entry);
            } else {
                // Late arrivals (a restore in any order) go where their time puts them.
                let at = history.partition_point(|(t, _)| *t <= attempt.at_ms);
                history.insert(at, entry);
            }
            while history.len() > self.limits.max_attempts_per_key || history.front().is_some_and(|(t, id)| expired(*t, *id)) {
                if let Some((_, id)) = history.pop_front() {
                    released.push(id);
                }
            }
        }
        for id in released {
            release(&mut self.attempts, id);
        }
        while self.histories.len() > self.limits.max_keys || self.attempts.len() > self.limits.max_attempts {
            if let Some((_, history)) = self.histories.pop_stalest() {
                for (_, id) in history {
                    release(&mut self.attempts, id);
                }
            } else if let Some((_, id)) = self.awaiting.pop_front() {
                self.stop_awaiting(id);
            } else {
                break;
            }
        }
    }

    /// Drops the keys idle longest once that kind of key keeps none of their attempts, and lets
    /// go of pending attempts whose outcome never came.
    fn sweep_idle_keys(&mut self) {
        let latest_ms = self.latest_ms;
        while let Some((at_ms, id)) = self.awaiting.front().copied() {
            let still_waits = self.attempts.get(&id).is_some_and(|t| t.awaiting);
            if still_waits && at_ms.saturating_add(OUTCOME_WAIT_MS) > latest_ms {
                break;
            }
            self.awaiting.pop_front();
            self.stop_awaiting(id);
        }
        for _ in 0..IDLE_SWEEP_PER_CALL {
            // A key seen once (most shoppers' devices and addresses) holds one attempt; the
            // longest history is capped at `max_attempts_per_key`.
            let idle = match self.histories.stalest() {
                Some(((kind, _), history)) => history.iter().all(|(t, id)| self.keep.expired(&self.attempts, *kind, latest_ms, *t, *id)),
                None => false,
            };
            if !idle {
                break;
            }
            if let Some((_, history)) = self.histories.pop_stalest() {
                for (_, id) in history {
                    release(&mut self.attempts, id);
                }
            }
        }
    }

    fn note_success(&mut self, user: &str, amount_minor: i64) {
        if user.is_empty() {
            return;
        }
        let profile = self.profiles.touch_or_insert_with(user.to_owned(), UserProfile::default);
        profile.succeeded = profile.succeeded.saturating_add(1);
        profile.largest_succeeded_minor = profile.largest_succeeded_minor.max(amount_minor);
        while self.profiles.len() > self.limits.max_users {
            self.profiles.pop_stalest();
        }
    }
}

/// One key history lets go of an attempt.
fn release(attempts: &mut HashMap<u64, Tracked>, attempt_id: u64) {
    if let Some(tracked) = attempts.get_mut(&attempt_id) {
        tracked.refs = tracked.refs.saturating_sub(1);
        if tracked.refs == 0 {
            attempts.remove(&attempt_id);
        }
    }
}

/// A map that remembers the order in which its keys were last touched, to evict the stalest.
#[derive(Debug, Clone)]
struct LruMap<K, V> {
    entries: HashMap<K, (u64, V)>,
    by_touch: BTreeMap<u64, K>,
    next_touch: u64,
}

impl<K: Hash + Eq + Clone, V> LruMap<K, V> {
    fn new() -> LruMap<K, V> {
        LruMap { entries: HashMap::new(), by_touch: BTreeMap::new(), next_touch: 0 }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.entries.get(key).map(|(_, v)| v)
    }

    /// Marks the key as used now, if present.
    fn touch<Q>(&mut self, key: &Q)
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let touch = self.next_touch;
        if let Some((old, _)) = self.entries.get_mut(key) {
            if let Some(k) = self.by_touch.remove(&*old) {
                self.by_touch.insert(touch, k);
                *old = touch;
                self.next_touch += 1;
            }
        }
    }

    fn touch_or_insert_with(&mut self, key: K, make: impl FnOnce() -> V) -> &mut V {
        let touch = self.next_touch;
        self.next_touch += 1;
        let slot = self.entries.entry(key.clone()).or_insert_with(|| (touch, make()));
        if slot.0 != touch {
            self.by_touch.remove(&slot.0);
            slot.0 = touch;
        }
        self.by_touch.insert(touch, key);
        &mut slot.1
    }

    fn stalest(&self) -> Option<(&K, &V)> {
        let (_, key) = self.by_touch.first_key_value()?;
        self.entries.get(key).map(|(_, v)| (key, v))
    }

    fn pop_stalest(&mut self) -> Option<(K, V)> {
        let (_, key) = self.by_touch.pop_first()?;
        self.entries.remove(&key).map(|(_, v)| (key, v))
    }
}

/// Printable text for a name or list value: 1..=max characters, none that `text` forbids.
fn is_clean_text(text: &str, max_chars: usize) -> bool {
    let count = text.chars().count();
    (1..=max_chars).contains(&count) && crate::text::first_forbidden(text).is_none()
}

/// Messages echo caller input; keep them short whatever a client sent.
fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// 150000 → "1500.00": minor units as major.minor, with no currency (the channel knows it).
fn format_minor(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    format!("{sign}{}.{:02}", abs / 100, abs % 100)
}

/// 600000 → "10 min": the largest whole unit.
fn format_duration(ms: i64) -> String {
    const UNITS: [(i64, &str); 3] = [(3_600_000, "h"), (60_000, "min"), (1_000, "s")];
    UNITS
        .iter()
        .find(|(unit, _)| ms % unit == 0 && ms != 0)
        .map(|(unit, name)| format!("{} {name}", ms / unit))
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SECOND_MS: i64 = 1_000;
    const MINUTE_MS: i64 = 60 * SECOND_MS;

    fn attempt(user: &str, card: Option<&str>, amount_minor: i64, at_ms: i64) -> PaymentAttempt {
        PaymentAttempt {
            user: user.to_owned(),
            device: None,
            ip: None,
            card_fingerprint: card.map(str::to_owned),
            channel: if card.is_some() { ChannelKind::Card } else { ChannelKind::Wechat },
            amount_minor,
            at_ms,
        }
    }

    fn rules(list: Vec<(&str, Outcome, Condition)>) -> RiskRules {
        RiskRules {
            rules: list
                .into_iter()
                .map(|(name, outcome, condition)| Rule { name: name.to_owned(), outcome, condition })
                .collect(),
        }
    }

    fn engine(list: Vec<(&str, Outcome, Condition)>) -> RiskEngine {
        RiskEngine::new(rules(list)).expect("valid rules")
    }

    fn card_velocity(window_ms: i64, max_attempts: u32) -> Condition {
        Condition::Velocity { key: KeyKind::Card, window_ms, max_attempts }
    }

    #[test]
    fn default_rules_are_valid_and_equal_to_the_example_config() {
        let defaults = RiskRules::default_rules();
        assert_eq!(defaults.validate(), Ok(()));
        let file: RiskRules =
            toml::from_str(include_str!("../../../configs/risk-rules.toml")).expect("configs/risk-rules.toml parses");
        assert_eq!(file, defaults);
    }

    #[test]
    fn rules_round_trip_through_json_and_unknown_fields_or_kinds_are_rejected() {
        let defaults = RiskRules::default_rules();
        let json = serde_json::to_string(&defaults).expect("serialises");
        assert_eq!(serde_json::from_str::<RiskRules>(&json).expect("parses"), defaults);

        let typo = r#"{"rules":[{"name":"v","outcome":"block",
            "condition":{"kind":"velocity","key":"card","window_ms":1000,"max_attempt":3}}]}"#;
        assert!(serde_json::from_str::<RiskRules>(typo).is_err());
        let extra = r#"{"rules":[{"name":"v","outcome":"block","enabled":true,
            "condition":{"kind":"velocity","key":"card","window_ms":1000,"max_attempts":3}}]}"#;
        assert!(serde_json::from_str::<RiskRules>(extra).is_err());
        let unknown_kind = r#"{"rules":[{"name":"v","outcome":"block","condition":{"kind":"geo"}}]}"#;
        assert!(serde_json::from_str::<RiskRules>(unknown_kind).is_err());
        let unknown_outcome = r#"{"rules":[{"name":"v","outcome":"maybe",
            "condition":{"kind":"blocklist","key":"ip","values":["1.2.3.4"]}}]}"#;
        assert!(serde_json::from_str::<RiskRules>(unknown_outcome).is_err());
    }

    #[test]
    fn validation_names_the_rule_and_the_field_at_fault() {
        let message = |list| rules(list).validate().expect_err("invalid").to_string();
        assert_eq!(
            RiskRules { rules: vec![] }.validate().expect_err("empty").to_string(),
            "the rule set is empty: add at least one rule (an empty set would allow every payment)"
        );
        assert_eq!(
            message(vec![("", Outcome::Block, card_velocity(1_000, 3))]),
            "rule #1 has an invalid name \"\": use 1-64 characters and no control characters"
        );
        assert_eq!(
            message(vec![
                ("v", Outcome::Block, card_velocity(1_000, 3)),
                ("w", Outcome::Block, card_velocity(1_000, 3)),
                ("v", Outcome::Review, card_velocity(1_000, 3)),
            ]),
            "rule name \"v\" is used by rules #1 and #3: names must be unique"
        );
        assert_eq!(
            message(vec![("v", Outcome::Block, card_velocity(0, 3))]),
            "rule \"v\": window_ms 0 is out of range: it must be between 1 and 86400000 (24 h)"
        );
        assert_eq!(
            message(vec![("v", Outcome::Block, card_velocity(MAX_WINDOW_MS + 1, 3))]),
            "rule \"v\": window_ms 86400001 is out of range: it must be between 1 and 86400000 (24 h)"
        );
        assert_eq!(
            message(vec![("v", Outcome::Block, card_velocity(1_000, 0))]),
            "rule \"v\": max_attempts 0 is out of range: it must be between 1 and 500"
        );
        let card_testing = |max_amount_minor, min_decline_ratio_pct| Condition::CardTesting {
            key: KeyKind::Ip,
            window_ms: 1_000,
            min_attempts: 5,
            max_amount_minor,
            min_decline_ratio_pct,
        };
        assert_eq!(
            message(vec![("c", Outcome::Block, card_testing(500, 101))]),
            "rule \"c\": min_decline_ratio_pct 101 is out of range: it must be between 0 and 100"
        );
        assert_eq!(
            message(vec![("c", Outcome::Block, card_testing(0, 50))]),
            "rule \"c\": max_amount_minor 0 is out of range: it must be between 1 and 10000000000"
        );
        assert_eq!(
            message(vec![("a", Outcome::Review, Condition::AmountAboveHistory { multiple: 5, min_history: 0 })]),
            "rule \"a\": min_history 0 is out of range: it must be between 1 and 500"
        );
        assert_eq!(
            message(vec![("b", Outcome::Block, Condition::Blocklist { key: KeyKind::Ip, values: vec![] })]),
            "rule \"b\": the blocklist has no values"
        );
        assert_eq!(
            message(vec![(
                "b",
                Outcome::Block,
                Condition::Blocklist { key: KeyKind::Ip, values: vec!["1.2.3.4".into(), "bad\n".into()] }
            )]),
            "rule \"b\": blocklist value #2 \"bad\\n\" is invalid: use 1-256 characters and no control characters"
        );
        let too_many = (0..=MAX_RULES).map(|i| Rule {
            name: format!("r{i}"),
            outcome: Outcome::Block,
            condition: card_velocity(1_000, 3),
        });
        assert_eq!(
            RiskRules { rules: too_many.collect() }.validate().expect_err("too many").to_string(),
            "the rule set has 101 rules: at most 100 are allowed"
        );
    }

    #[test]
    fn an_engine_refuses_rules_that_need_more_history_than_it_keeps_per_key() {
        let limits = RiskLimits { max_attempts_per_key: 10, ..RiskLimits::default() };
        let error = RiskEngine::with_limits(rules(vec![("v", Outcome::Block, card_velocity(1_000, 10))]), limits)
            .expect_err("needs 11 attempts of history");
        assert_eq!(
            error.to_string(),
            "rule \"v\": max_attempts 10 needs more history than the engine keeps per key (10 attempts)"
        );
        assert!(RiskEngine::with_limits(rules(vec![("v", Outcome::Block, card_velocity(1_000, 9))]), limits).is_ok());
    }

    #[test]
    fn velocity_counts_this_attempt_and_matches_only_past_the_maximum() {
        let mut engine = engine(vec![("card-velocity", Outcome::Block, card_velocity(MINUTE_MS, 10))]);
        for i in 0..10 {
            let decision = engine.evaluate(i, &attempt(&format!("u{i}"), Some("fp-9"), 5_000, i as i64 * SECOND_MS));
            assert_eq!(decision.outcome, Outcome::Allow, "attempt {i}");
            assert_eq!(decision.rule, None);
            assert_eq!(decision.reason, "no rule matched");
        }
        let eleventh = engine.evaluate(10, &attempt("u10", Some("fp-9"), 5_000, 10 * SECOND_MS));
        assert_eq!(
            eleventh,
            Decision {
                outcome: Outcome::Block,
                rule: Some("card-velocity".into()),
                reason: "11 attempts by card fp-9 in 1 min, max 10".into(),
            }
        );
    }

    #[test]
    fn velocity_window_slides_so_attempts_older_than_the_window_stop_counting() {
        let mut engine = engine(vec![("v", Outcome::Block, card_velocity(10 * SECOND_MS, 2))]);
        assert_eq!(engine.evaluate(1, &attempt("u", Some("fp"), 100, 0)).outcome, Outcome::Allow);
        assert_eq!(engine.evaluate(2, &attempt("u", Some("fp"), 100, 5 * SECOND_MS)).outcome, Outcome::Allow);
        assert_eq!(engine.evaluate(3, &attempt("u", Some("fp"), 100, 9 * SECOND_MS)).outcome, Outcome::Block);
        // At 10 s the attempt at 0 is exactly one window old: out. Those at 5 s and 9 s count.
        let at_ten = engine.evaluate(4, &attempt("u", Some("fp"), 100, 10 * SECOND_MS));
        assert_eq!(at_ten.outcome, Outcome::Block);
        assert_eq!(at_ten.reason, "3 attempts by card fp in 10 s, max 2");
        // At 19.5 s only the one at 10 s and this one remain.
        assert_eq!(engine.evaluate(5, &attempt("u", Some("fp"), 100, 19_500)).outcome, Outcome::Allow);
    }

    fn card_testing_rule() -> Vec<(&'static str, Outcome, Condition)> {
        vec![(
            "card-testing",
            Outcome::Block,
            Condition::CardTesting {
                key: KeyKind::Card,
                window_ms: MINUTE_MS,
                min_attempts: 4,
                max_amount_minor: 500,
                min_decline_ratio_pct: 50,
            },
        )]
    }

    #[test]
    fn card_testing_needs_both_enough_small_attempts_and_a_high_decline_ratio() {
        // Small attempts that succeed: an honest run of cheap purchases.
        let mut paying = engine(card_testing_rule());
        for i in 0..6 {
            assert_eq!(paying.evaluate(i, &attempt("u", Some("fp-ok"), 300, i as i64)).outcome, Outcome::Allow);
            assert!(paying.record_outcome(i, PaymentResult::Succeeded));
        }
        // Declined attempts that are not small: a shopper whose big purchase keeps failing.
        let mut big = engine(card_testing_rule());
        for i in 0..6 {
            assert_eq!(big.evaluate(i, &attempt("u", Some("fp-big"), 50_000, i as i64)).outcome, Outcome::Allow);
            assert!(big.record_outcome(i, PaymentResult::Declined));
        }
        // Small and mostly declined: the fourth attempt is blocked.
        let mut testing = engine(card_testing_rule());
        let results = [PaymentResult::Declined, PaymentResult::Succeeded, PaymentResult::Declined];
        for (i, result) in results.into_iter().enumerate() {
            assert_eq!(testing.evaluate(i as u64, &attempt("u", Some("fp-9"), 100, i as i64)).outcome, Outcome::Allow);
            assert!(testing.record_outcome(i as u64, result));
        }
        let fourth = testing.evaluate(3, &attempt("u", Some("fp-9"), 100, 3));
        assert_eq!(fourth.rule.as_deref(), Some("card-testing"));
        assert_eq!(
            fourth.reason,
            "4 attempts of at most 5.00 by card fp-9 in 1 min, 2 of 3 settled declined (66%), min 4 attempts and 50%"
        );
        // The large purchase that follows the test is blocked as well.
        assert_eq!(testing.evaluate(4, &attempt("u", Some("fp-9"), 99_900, 4)).outcome, Outcome::Block);
        // A minute after the burst stopped the card is clear again.
        assert_eq!(testing.evaluate(5, &attempt("u", Some("fp-9"), 100, 4 + MINUTE_MS)).outcome, Outcome::Allow);
    }

    #[test]
    fn amount_above_history_waits_for_enough_succeeded_payments() {
        let mut engine =
            engine(vec![("amount", Outcome::Review, Condition::AmountAboveHistory { multiple: 5, min_history: 2 })]);
        assert_eq!(engine.evaluate(1, &attempt("u-1", None, 10_000, 0)).outcome, Outcome::Allow);
        engine.record_outcome(1, PaymentResult::Succeeded);
        // One succeeded payment is not a history yet.
        assert_eq!(engine.evaluate(2, &attempt("u-1", None, 80_000, 1)).outcome, Outcome::Allow);
        engine.record_outcome(2, PaymentResult::Succeeded);
        // Largest is now 800.00: up to 4000.00 passes, above it is reviewed.
        assert_eq!(engine.evaluate(3, &attempt("u-1", None, 400_000, 2)).outcome, Outcome::Allow);
        engine.record_outcome(3, PaymentResult::Declined);
        let big = engine.evaluate(4, &attempt("u-1", None, 400_001, 3));
        assert_eq!(big.outcome, Outcome::Review);
        assert_eq!(big.reason, "amount 4000.01 is over 5 × 800.00, the largest of user u-1's 2 succeeded payments");
        // Another user's history is not this user's.
        assert_eq!(engine.evaluate(5, &attempt("u-2", None, 400_001, 4)).outcome, Outcome::Allow);
    }

    #[test]
    fn blocklist_matches_listed_values_and_an_allow_rule_placed_first_is_an_allowlist() {
        let mut engine = engine(vec![
            (
                "trusted-cards",
                Outcome::Allow,
                Condition::Blocklist { key: KeyKind::Card, values: vec!["fp-vip".into()] },
            ),
            (
                "banned-ips",
                Outcome::Block,
                Condition::Blocklist { key: KeyKind::Ip, values: vec!["203.0.113.7".into()] },
            ),
        ]);
        let mut banned = attempt("u", Some("fp-1"), 100, 0);
        banned.ip = Some("203.0.113.7".into());
        assert_eq!(
            engine.evaluate(1, &banned),
            Decision {
                outcome: Outcome::Block,
                rule: Some("banned-ips".into()),
                reason: "IP 203.0.113.7 is on the blocklist".into(),
            }
        );
        let mut vip = banned.clone();
        vip.card_fingerprint = Some("fp-vip".into());
        let decision = engine.evaluate(2, &vip);
        assert_eq!((decision.outcome, decision.rule.as_deref()), (Outcome::Allow, Some("trusted-cards")));
    }

    #[test]
    fn the_first_matching_rule_decides_and_no_match_allows_with_no_rule() {
        let mut engine = engine(vec![
            ("review-after-one", Outcome::Review, card_velocity(MINUTE_MS, 1)),
            ("block-after-two", Outcome::Block, card_velocity(MINUTE_MS, 2)),
        ]);
        assert_eq!(engine.evaluate(1, &attempt("u", Some("fp"), 100, 0)).rule, None);
        assert_eq!(engine.evaluate(2, &attempt("u", Some("fp"), 100, 1)).rule.as_deref(), Some("review-after-one"));
        // Both match now; the first one listed wins even though the second is stricter.
        let third = engine.evaluate(3, &attempt("u", Some("fp"), 100, 2));
        assert_eq!((third.outcome, third.rule.as_deref()), (Outcome::Review, Some("review-after-one")));
    }

    #[test]
    fn attempts_without_the_key_or_with_an_empty_one_never_match_a_rule_on_that_key() {
        let mut engine = engine(vec![
            (
                "device-velocity",
                Outcome::Block,
                Condition::Velocity { key: KeyKind::Device, window_ms: MINUTE_MS, max_attempts: 1 },
            ),
            ("card-velocity", Outcome::Block, card_velocity(MINUTE_MS, 1)),
        ]);
        for i in 0..5 {
            let mut wechat = attempt(&format!("u{i}"), None, 100, i as i64);
            wechat.device = Some(String::new());
            assert_eq!(engine.evaluate(i, &wechat).outcome, Outcome::Allow);
        }
    }

    #[test]
    fn record_outcome_ignores_unknown_blocked_and_already_settled_attempts() {
        let mut engine = engine(vec![("v", Outcome::Block, card_velocity(MINUTE_MS, 1))]);
        assert!(!engine.record_outcome(99, PaymentResult::Succeeded));
        assert_eq!(engine.evaluate(1, &attempt("u", Some("fp"), 100, 0)).outcome, Outcome::Allow);
        assert_eq!(engine.evaluate(2, &attempt("u", Some("fp"), 100, 1)).outcome, Outcome::Block);
        assert!(!engine.record_outcome(2, PaymentResult::Succeeded), "a blocked attempt never reached a channel");
        assert!(engine.record_outcome(1, PaymentResult::Declined));
        assert!(!engine.record_outcome(1, PaymentResult::Declined), "a repeated webhook changes nothing");
        assert!(!engine.record_outcome(1, PaymentResult::Succeeded), "the first answer wins");
    }

    #[test]
    fn evaluating_the_same_attempt_id_twice_records_it_once() {
        let mut engine = engine(vec![("v", Outcome::Block, card_velocity(MINUTE_MS, 1))]);
        let first = attempt("u", Some("fp"), 100, 0);
        assert_eq!(engine.evaluate(7, &first).outcome, Outcome::Allow);
        assert_eq!(engine.evaluate(7, &first).outcome, Outcome::Allow);
        assert_eq!(engine.remembered_attempts(), 1);
    }

    #[test]
    fn history_per_key_is_capped_and_the_oldest_attempts_go_first() {
        let limits = RiskLimits { max_attempts_per_key: 5, ..RiskLimits::default() };
        let mut engine =
            RiskEngine::with_limits(rules(vec![("v", Outcome::Block, card_velocity(MINUTE_MS, 4))]), limits)
                .expect("valid");
        for i in 0..20 {
            // No user, device or IP: each attempt lives only in the card's history.
            let mut card_only = attempt("", Some("fp"), 100, i as i64);
            card_only.user.clear();
            let decision = engine.evaluate(i, &card_only);
            assert_eq!(decision.outcome, if i < 4 { Outcome::Allow } else { Outcome::Block });
        }
        assert_eq!(engine.remembered_attempts(), 5);
        assert!(!engine.record_outcome(0, PaymentResult::Declined), "the oldest went first");
        assert!(!engine.record_outcome(19, PaymentResult::Declined), "the newest is blocked, but remembered");
    }

    #[test]
    fn key_and_attempt_counts_are_capped_and_the_key_idle_longest_goes_first() {
        let limits = RiskLimits { max_keys: 100, max_attempts: 60, max_users: 10, ..RiskLimits::default() };
        let mut engine =
            RiskEngine::with_limits(rules(vec![("v", Outcome::Block, card_velocity(MINUTE_MS, 1))]), limits)
                .expect("valid");
        for i in 0..10_000u64 {
            let mut shopper = attempt(&format!("u{i}"), Some(&format!("fp{i}")), 100, i as i64);
            shopper.ip = Some(format!("ip{i}"));
            assert_eq!(engine.evaluate(i, &shopper).outcome, Outcome::Allow);
            engine.record_outcome(i, PaymentResult::Succeeded);
            assert!(engine.remembered_keys() <= 100);
            assert!(engine.remembered_attempts() <= 60);
            assert!(engine.remembered_users() <= 10);
        }
        // The newest card is still known: a second try on it is the second in the window.
        assert_eq!(engine.evaluate(10_000, &attempt("x", Some("fp9999"), 100, 10_000)).outcome, Outcome::Block);
        // The oldest card was forgotten.
        assert_eq!(engine.evaluate(10_001, &attempt("y", Some("fp0"), 100, 10_001)).outcome, Outcome::Allow);
    }

    #[test]
    fn history_older_than_the_horizon_is_forgotten_even_for_keys_never_seen_again() {
        let mut engine = engine(vec![("v", Outcome::Block, card_velocity(MINUTE_MS, 1))]);
        for i in 0..100u64 {
            engine.evaluate(i, &attempt(&format!("u{i}"), Some(&format!("fp{i}")), 100, i as i64));
        }
        assert_eq!(engine.remembered_attempts(), 100);
        // A long stream of new shoppers after the horizon sweeps the idle keys away.
        for i in 100..200u64 {
            let at_ms = OUTCOME_WAIT_MS + 1_000 + i as i64;
            engine.evaluate(i, &attempt(&format!("u{i}"), Some(&format!("fp{i}")), 100, at_ms));
        }
        assert_eq!(engine.remembered_attempts(), 100);
        assert!(!engine.record_outcome(0, PaymentResult::Succeeded));
        assert!(engine.record_outcome(150, PaymentResult::Succeeded));
    }

    #[test]
    fn a_key_keeps_an_attempt_while_a_rule_counts_it_and_a_pending_one_waits_for_its_outcome() {
        // By card: velocity over 10 minutes, card testing of amounts up to 5.00 over an hour.
        let testing = Condition::CardTesting { key: KeyKind::Card, window_ms: 60 * MINUTE_MS, min_attempts: 3, max_amount_minor: 500, min_decline_ratio_pct: 50 };
        let mut engine = engine(vec![("velocity", Outcome::Review, card_velocity(10 * MINUTE_MS, 50)), ("card-testing", Outcome::Block, testing)]);
        engine.evaluate(1, &attempt("u", Some("fp"), 50_000, 0));
        engine.evaluate(2, &attempt("u", Some("fp"), 300, 0));
        // 20 minutes on, no rule counts the large one: the card lets go of it. It still waits
        // for its outcome; the small one stays for the card-testing hour.
        engine.evaluate(3, &attempt("u", Some("fp"), 300, 20 * MINUTE_MS));
        assert!(engine.record_outcome(3, PaymentResult::Declined));
        assert_eq!((engine.remembered_attempts(), engine.remembered_users()), (3, 0));
        assert!(engine.record_outcome(1, PaymentResult::Succeeded), "a late success finds its attempt");
        assert_eq!((engine.remembered_attempts(), engine.remembered_users()), (2, 1), "and counts in the user's history");
        // Past the hour the small one leaves the card too, and waits for its outcome alone.
        engine.evaluate(4, &attempt("u", Some("fp"), 300, 61 * MINUTE_MS));
        assert!(engine.record_outcome(4, PaymentResult::Declined));
        assert_eq!(engine.remembered_attempts(), 3, "2 waiting; 3 and 4 in the card's hour");
        // Two hours after it, its outcome is no longer waited for.
        engine.evaluate(5, &attempt("w", Some("fp9"), 50_000, OUTCOME_WAIT_MS));
        assert!(!engine.record_outcome(2, PaymentResult::Succeeded));
        assert_eq!(engine.remembered_users(), 1);
        // A key no rule looks at keeps nothing: user, device and IP here.
        let mut by_user = attempt("x", Some("fp-x"), 50_000, OUTCOME_WAIT_MS);
        (by_user.device, by_user.ip) = (Some("phone".into()), Some("10.0.0.1".into()));
        engine.evaluate(6, &by_user);
        assert!(engine.record_outcome(6, PaymentResult::Succeeded));
        assert_eq!(engine.remembered_keys(), 3, "the cards fp, fp9 and fp-x only");
        // Eleven minutes on, cards seen once with a large attempt are let go like the rest, not
        // kept for the card-testing hour that small attempts on them would have needed.
        engine.evaluate(7, &attempt("y", Some("fp-y"), 50_000, OUTCOME_WAIT_MS + 11 * MINUTE_MS));
        assert_eq!(engine.remembered_keys(), 1, "fp-y only");
    }

    #[test]
    fn set_rules_replaces_the_rules_and_keeps_the_history() {
        let mut engine = engine(vec![("loose", Outcome::Block, card_velocity(MINUTE_MS, 5))]);
        engine.evaluate(1, &attempt("u", Some("fp"), 100, 0));
        engine.evaluate(2, &attempt("u", Some("fp"), 100, 1));
        assert_eq!(
            engine.set_rules(RiskRules { rules: vec![] }),
            Err(RulesError::Empty),
            "an invalid set leaves the old one in place"
        );
        engine.set_rules(rules(vec![("strict", Outcome::Block, card_velocity(MINUTE_MS, 2))])).expect("valid");
        assert_eq!(engine.evaluate(3, &attempt("u", Some("fp"), 100, 2)).rule.as_deref(), Some("strict"));
    }

    #[test]
    fn reasons_print_amounts_and_windows_in_readable_units() {
        assert_eq!(format_minor(0), "0.00");
        assert_eq!(format_minor(5), "0.05");
        assert_eq!(format_minor(-150_000), "-1500.00");
        assert_eq!(format_duration(3_600_000), "1 h");
        assert_eq!(format_duration(600_000), "10 min");
        assert_eq!(format_duration(90_000), "90 s");
        assert_eq!(format_duration(1_500), "1500 ms");
    }

    /// SplitMix64: a seeded stream for the simulation (the crate has no `rand`).
    struct Stream(u64);

    impl Stream {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }

        /// Uniform in `low..=high`.
        fn between(&mut self, low: i64, high: i64) -> i64 {
            low + (self.next() % (high - low + 1) as u64) as i64
        }

        fn chance_pct(&mut self, pct: u64) -> bool {
            self.next() % 100 < pct
        }
    }

    struct Simulated {
        at_ms: i64,
        attempt: PaymentAttempt,
        /// The channel declines it if the engine lets it through.
        declines: bool,
        fraud: bool,
    }

    /// One card tester and 1,000 shoppers over ten minutes, in time order.
    fn simulated_traffic(seed: u64) -> Vec<Simulated> {
        let mut stream = Stream(seed);
        let mut traffic = Vec::new();
        for shopper in 0..1_000i64 {
            let pays_by_card = stream.chance_pct(40);
            let mut at_ms = stream.between(0, 10 * MINUTE_MS);
            for _ in 0..stream.between(1, 3) {
                traffic.push(Simulated {
                    at_ms,
                    attempt: PaymentAttempt {
                        user: format!("shopper-{shopper}"),
                        device: Some(format!("phone-{shopper}")),
                        // Neighbours behind one router share an address.
                        ip: Some(format!("10.0.{}.{}", shopper / 512, (shopper / 2) % 256)),
                        card_fingerprint: pays_by_card.then(|| format!("card-{shopper}")),
                        channel: if pays_by_card { ChannelKind::Card } else { ChannelKind::Alipay },
                        amount_minor: stream.between(990, 200_000),
                        at_ms,
                    },
                    declines: stream.chance_pct(15),
                    fraud: false,
                });
                at_ms += stream.between(10 * SECOND_MS, 2 * MINUTE_MS);
            }
        }
        let mut at_ms = stream.between(0, 9 * MINUTE_MS);
        for guest in 0..40 {
            traffic.push(Simulated {
                at_ms,
                attempt: PaymentAttempt {
                    user: format!("guest-{guest}"),
                    device: Some("emulator-1".into()),
                    ip: Some("203.0.113.7".into()),
                    card_fingerprint: Some("fp-stolen".into()),
                    channel: ChannelKind::Card,
                    amount_minor: stream.between(100, 500),
                    at_ms,
                },
                declines: stream.chance_pct(80),
                fraud: true,
            });
            at_ms += stream.between(500, 1_400);
        }
        traffic.sort_by_key(|s| s.at_ms);
        traffic
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

        /// The acceptance scenario: 40 attempts of ¥1–5 on one card from one IP within a minute,
        /// 80% of them declined, among 1,000 shoppers making 1–3 normal attempts each.
        #[test]
        fn a_card_testing_burst_is_blocked_while_a_thousand_normal_shoppers_all_pass(seed in any::<u64>()) {
            let mut engine = RiskEngine::new(RiskRules::default_rules()).expect("defaults are valid");
            let card_rules = ["card-testing-by-card", "card-testing-by-device", "card-testing-by-ip", "velocity-by-card"];
            let mut fraud_decisions = Vec::new();
            for (id, simulated) in simulated_traffic(seed).into_iter().enumerate() {
                let id = id as u64;
                let decision = engine.evaluate(id, &simulated.attempt);
                if decision.outcome != Outcome::Block {
                    let result = if simulated.declines { PaymentResult::Declined } else { PaymentResult::Succeeded };
                    engine.record_outcome(id, result);
                }
                if simulated.fraud {
                    fraud_decisions.push(decision);
                } else {
                    prop_assert_eq!(decision.outcome, Outcome::Allow, "{}: {}", simulated.attempt.user, decision.reason);
                    prop_assert_eq!(decision.rule, None);
                }
            }
            prop_assert_eq!(fraud_decisions.len(), 40);
            for (index, decision) in fraud_decisions.iter().enumerate() {
                match decision.outcome {
                    Outcome::Block => {
                        let rule = decision.rule.as_deref().unwrap_or("none");
                        prop_assert!(card_rules.contains(&rule), "attempt {} blocked by {}", index, rule);
                    }
                    // Card velocity stops the eleventh attempt whatever the channel said so far.
                    _ => prop_assert!(index < 10, "attempt {} of the burst got through: {:?}", index, decision),
                }
            }
            let blocked = fraud_decisions.iter().filter(|d| d.outcome == Outcome::Block).count();
            prop_assert!(blocked >= 30, "only {} of 40 blocked", blocked);
        }
    }

    /// A step of the model-based test.
    #[derive(Debug, Clone)]
    enum Op {
        Evaluate {
            user: u8,
            device: Option<u8>,
            ip: u8,
            card: Option<u8>,
            amount_minor: i64,
            after_ms: i64,
        },
        Outcome {
            pick: usize,
            succeeded: bool,
        },
        /// The process dies; a new engine is restored from what the caller stored.
        Restart,
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            5 => (0u8..4, proptest::option::of(0u8..4), 0u8..3, proptest::option::of(0u8..3), 1i64..2_000, 0i64..3_000)
                .prop_map(|(user, device, ip, card, amount_minor, after_ms)| Op::Evaluate {
                    user, device, ip, card, amount_minor, after_ms
                }),
            4 => (any::<usize>(), any::<bool>()).prop_map(|(pick, succeeded)| Op::Outcome { pick, succeeded }),
            1 => Just(Op::Restart),
        ]
    }

    /// Rules with small numbers so that every kind matches now and then.
    fn busy_rules() -> RiskRules {
        rules(vec![
            (
                "blocked-device",
                Outcome::Block,
                Condition::Blocklist { key: KeyKind::Device, values: vec!["d3".into()] },
            ),
            (
                "testing-by-ip",
                Outcome::Block,
                Condition::CardTesting {
                    key: KeyKind::Ip,
                    window_ms: 10 * SECOND_MS,
                    min_attempts: 3,
                    max_amount_minor: 700,
                    min_decline_ratio_pct: 50,
                },
            ),
            ("card-velocity", Outcome::Block, card_velocity(6 * SECOND_MS, 3)),
            (
                "user-velocity",
                Outcome::Review,
                Condition::Velocity { key: KeyKind::User, window_ms: 5 * SECOND_MS, max_attempts: 2 },
            ),
            ("amount", Outcome::Review, Condition::AmountAboveHistory { multiple: 2, min_history: 2 }),
        ])
    }

    /// The rules evaluated the slow, obvious way over every attempt ever made.
    #[derive(Default)]
    struct Model {
        attempts: Vec<(u64, PaymentAttempt, AttemptStatus)>,
    }

    impl Model {
        fn evaluate(&mut self, rules: &RiskRules, id: u64, attempt: &PaymentAttempt) -> (Outcome, Option<String>) {
            self.attempts.push((id, attempt.clone(), AttemptStatus::Pending));
            let in_window = |key: KeyKind, window_ms: i64| {
                let value = attempt.key(key);
                self.attempts.iter().filter(move |(_, a, _)| {
                    value.is_some()
                        && a.key(key) == value
                        && a.at_ms > attempt.at_ms - window_ms
                        && a.at_ms <= attempt.at_ms
                })
            };
            let matched = rules.rules.iter().find(|rule| match &rule.condition {
                Condition::Velocity { key, window_ms, max_attempts } => {
                    in_window(*key, *window_ms).count() > *max_attempts as usize
                }
                Condition::CardTesting { key, window_ms, min_attempts, max_amount_minor, min_decline_ratio_pct } => {
                    let small: Vec<_> =
                        in_window(*key, *window_ms).filter(|(_, a, _)| a.amount_minor <= *max_amount_minor).collect();
                    let settled = small.iter().filter(|(_, _, s)| *s != AttemptStatus::Pending).count();
                    let declined = small
                        .iter()
                        .filter(|(_, _, s)| matches!(s, AttemptStatus::Declined | AttemptStatus::Blocked))
                        .count();
                    small.len() >= *min_attempts as usize
                        && (*min_decline_ratio_pct == 0
                            || (settled > 0 && declined * 100 >= *min_decline_ratio_pct as usize * settled))
                }
                Condition::AmountAboveHistory { multiple, min_history } => {
                    let paid: Vec<i64> = self
                        .attempts
                        .iter()
                        .filter(|(_, a, s)| a.user == attempt.user && *s == AttemptStatus::Succeeded)
                        .map(|(_, a, _)| a.amount_minor)
                        .collect();
                    paid.len() >= *min_history as usize
                        && attempt.amount_minor > paid.iter().max().copied().unwrap_or(0) * i64::from(*multiple)
                }
                Condition::Blocklist { key, values } => {
                    attempt.key(*key).is_some_and(|v| values.iter().any(|b| b == v))
                }
            });
            let decision = matched.map_or((Outcome::Allow, None), |rule| (rule.outcome, Some(rule.name.clone())));
            if decision.0 == Outcome::Block {
                if let Some(last) = self.attempts.last_mut() {
                    last.2 = AttemptStatus::Blocked;
                }
            }
            decision
        }

        fn record_outcome(&mut self, id: u64, result: PaymentResult) -> bool {
            match self.attempts.iter_mut().find(|(i, _, s)| *i == id && *s == AttemptStatus::Pending) {
                Some(found) => {
                    found.2 = result.into();
                    true
                }
                None => false,
            }
        }

        /// What the caller would have persisted.
        fn stored(&self) -> Vec<StoredAttempt> {
            self.attempts
                .iter()
                .map(|(attempt_id, attempt, status)| StoredAttempt {
                    attempt_id: *attempt_id,
                    attempt: attempt.clone(),
                    status: *status,
                })
                .collect()
        }
    }

    proptest! {
        /// The engine agrees with the obvious model on every step, and an engine restored after
        /// each `Restart` gives word for word the decisions of one that never stopped.
        #[test]
        fn the_engine_matches_a_naive_model_and_restoring_changes_no_decision(ops in proptest::collection::vec(op(), 1..120)) {
            let rules = busy_rules();
            let mut model = Model::default();
            let mut steady = RiskEngine::new(rules.clone()).expect("valid");
            let mut restarted = RiskEngine::new(rules.clone()).expect("valid");
            let mut at_ms = 1_700_000_000_000i64;
            let mut next_id = 0u64;
            for op in ops {
                match op {
                    Op::Evaluate { user, device, ip, card, amount_minor, after_ms } => {
                        at_ms += after_ms;
                        let attempt = PaymentAttempt {
                            user: format!("u{user}"),
                            device: device.map(|d| format!("d{d}")),
                            ip: Some(format!("ip{ip}")),
                            card_fingerprint: card.map(|c| format!("fp{c}")),
                            channel: if card.is_some() { ChannelKind::Card } else { ChannelKind::Wechat },
                            amount_minor,
                            at_ms,
                        };
                        let expected = model.evaluate(&rules, next_id, &attempt);
                        let decision = steady.evaluate(next_id, &attempt);
                        prop_assert_eq!((decision.outcome, decision.rule.clone()), expected);
                        prop_assert_eq!(restarted.evaluate(next_id, &attempt), decision);
                        next_id += 1;
                    }
                    Op::Outcome { pick, succeeded } => {
                        if next_id == 0 {
                            continue;
                        }
                        let id = pick as u64 % next_id;
                        let result = if succeeded { PaymentResult::Succeeded } else { PaymentResult::Declined };
                        let expected = model.record_outcome(id, result);
                        prop_assert_eq!(steady.record_outcome(id, result), expected);
                        prop_assert_eq!(restarted.record_outcome(id, result), expected);
                    }
                    Op::Restart => {
                        restarted = RiskEngine::restore(rules.clone(), model.stored()).expect("valid");
                    }
                }
            }
        }
    }
}
