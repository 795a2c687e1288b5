//! After-sales: a customer asks for units of an order back — a return with a refund, a
//! refund without a return (the parcel never came, or came damaged), or an exchange for
//! another size or colour of the same product. A rule approves it or HQ reviews it; the
//! goods are announced to the warehouse they come back to (an RMA number on the return slip);
//! QC there ends it: a refund through the channel that was paid, the replacement released
//! (its stock was locked at approval), or a refusal saying why.
//!
//! The rules are pure and here: `check_lines` (what may be asked for), `decide_approval`
//! (which rule approves, or why HQ must look), `decide_outcome` (what QC's result does).
//! `flow.rs` carries them out in the caller's transaction; `store.rs` owns `as_request`,
//! `as_request_line` and `as_policy`; `http.rs` the routes; `ClosingConsumer` ends requests
//! when their refund settles or their replacement ships.

pub mod flow;
pub mod http;
pub mod store;

use crate::db::DbError;
use serde::{Deserialize, Serialize};
use tote_shared::order::OrderState;
use tote_shared::{Qty, Sku, WarehouseCode};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// The goods come back; the money for what passes QC goes back.
    ReturnRefund,
    /// Money back without a return (not received, damaged in transit, a price promise).
    RefundOnly,
    /// The goods come back; another SKU of the same product goes out; no money moves.
    Exchange,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    Size,
    ChangedMind,
    Defective,
    WrongItem,
    NotAsDescribed,
    NotReceived,
    DamagedInTransit,
    Other,
}

/// How the goods of a return or exchange come back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnMethod {
    /// The customer sends it with a carrier of their choice, at their cost.
    #[default]
    DropOff,
    /// A courier we book collects it from the customer's address; we pay.
    Pickup,
    /// We book a prepaid label; the customer hands the parcel in at the carrier's point.
    Label,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RequestState {
    /// No rule approved it: HQ decides.
    Review,
    Rejected,
    /// Approved; the warehouse expects the goods under the RMA number.
    AwaitingReturn,
    /// A refund was asked of the payment channel.
    Refunding,
    /// The returned item passed; the replacement is on its way out.
    Replacing,
    /// Refund settled or replacement shipped.
    Completed,
    /// QC failed: nothing refunded, the customer told why.
    Refused,
    /// The goods came back but their refund or replacement could not be made (HQ refunded by
    /// hand meanwhile, the channel refused, the replacement was cancelled): HQ settles it.
    Attention,
    /// HQ withdrew an approved return whose goods never came.
    Withdrawn,
}

names!(Kind { ReturnRefund => "return_refund", RefundOnly => "refund_only", Exchange => "exchange" });
names!(Reason {
    Size => "size", ChangedMind => "changed_mind", Defective => "defective", WrongItem => "wrong_item",
    NotAsDescribed => "not_as_described", NotReceived => "not_received", DamagedInTransit => "damaged_in_transit", Other => "other",
});
names!(ReturnMethod { DropOff => "drop_off", Pickup => "pickup", Label => "label" });
names!(RequestState {
    Review => "review", Rejected => "rejected", AwaitingReturn => "awaiting_return", Refunding => "refunding",
    Replacing => "replacing", Completed => "completed", Refused => "refused", Attention => "attention",
    Withdrawn => "withdrawn",
});

impl Kind {
    pub fn returns_goods(self) -> bool {
        self != Kind::RefundOnly
    }
}

impl RequestState {
    /// Whether the request's units still count against the order line (a rejected one does not).
    pub fn holds_units(self) -> bool {
        !matches!(self, RequestState::Rejected | RequestState::Withdrawn)
    }
}

/// One line of a request: units of an order line, at the price paid, and what QC found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AfterSalesLine {
    pub sku: Sku,
    pub qty: Qty,
    /// Paid per unit, minor units.
    pub unit_price: i64,
    /// An exchange: the SKU that goes out instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exchange_sku: Option<Sku>,
    /// An exchange: per unit, what the SKU going out costs more (the customer pays it before
    /// it ships) or, negative, less (refunded) than the one coming back, by the catalog's
    /// prices when asked; minor units.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub price_difference: i64,
    pub passed: i64,
    pub failed: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub fail_reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AfterSalesRequest {
    pub id: u64,
    pub order_id: u64,
    pub kind: Kind,
    pub reason: Reason,
    pub note: String,
    /// Photo URLs the customer sent.
    pub evidence: Vec<String>,
    pub state: RequestState,
    /// `rule:<name>` or `hq`; none while in review.
    pub decided_by: Option<String>,
    /// Why it is where it is: the rule, what HQ must look at, what QC found.
    pub decision_note: String,
    /// Where the goods come back to.
    pub warehouse: Option<WarehouseCode>,
    /// On the return slip; the warehouse scans it.
    pub rma: Option<String>,
    pub replacement_order: Option<u64>,
    pub refund_id: Option<u64>,
    /// The asked-for units at the prices paid, minor units.
    pub amount_minor: i64,
    /// An exchange's price difference over its lines: paid by the customer (positive) or
    /// refunded (negative) once the return passes QC; 0 moves no money.
    pub price_difference_minor: i64,
    pub customer: Option<String>,
    pub lines: Vec<AfterSalesLine>,
    /// How the goods come back.
    pub return_method: ReturnMethod,
    /// The carrier booked for a pickup or a label (logistics'); none for a drop-off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub return_shipment: Option<crate::logistics::returns::ReturnShipment>,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// A rule that approves a request without HQ: every condition must hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalRule {
    pub name: String,
    pub kinds: Vec<Kind>,
    pub reasons: Vec<Reason>,
    /// Days since delivery (since shipment while tracking has not said delivered).
    pub within_days: u32,
    /// The request's amount at the prices paid, at most this (minor units).
    pub max_amount_minor: i64,
    /// The customer's returned share of the units they bought, in percent, at most this; a
    /// rule with it never approves a customer it cannot tell.
    #[serde(default)]
    pub max_return_rate_pct: Option<u32>,
}

/// The return policy and the approval rules, as HQ sets them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnPolicy {
    /// No request after this many days from delivery (or shipment), by any rule or by HQ.
    #[schema(minimum = 1, maximum = 365)]
    pub window_days: u32,
    /// Tried in order; the first that holds approves.
    pub rules: Vec<ApprovalRule>,
    /// An approved return whose goods have not reached the warehouse this many days after
    /// approval is withdrawn, as HQ would (0: never, HQ withdraws by hand).
    /// A policy saved before this setting existed keeps returns open (0).
    #[serde(default)]
    #[schema(maximum = 365)]
    pub return_by_days: u32,
    /// How much of the price paid a returned unit that failed QC still gets back, by the
    /// request's reason (0 % for a reason not named: refused, the customer told why).
    #[serde(default)]
    pub failed_qc_refunds: Vec<FailedQcRefund>,
    /// Reasons whose returns we bring back at our cost (a pickup or a prepaid label, as the
    /// customer chooses); for any other reason the customer drops the parcel off. A policy
    /// saved before this setting existed prepays faulty goods.
    #[serde(default = "faulty_reasons")]
    #[schema(max_items = 8)]
    pub prepaid_returns: Vec<Reason>,
    /// Hours a customer has to pay a dearer exchange's difference once the return passed QC;
    /// unpaid, the replacement is not sent and the returned units are refunded instead.
    #[serde(default = "default_balance_due_hours")]
    #[schema(minimum = 1, maximum = 720)]
    pub balance_due_hours: u32,
}

fn default_balance_due_hours() -> u32 {
    48
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

fn faulty_reasons() -> Vec<Reason> {
    vec![
        Reason::Defective,
        Reason::WrongItem,
        Reason::NotAsDescribed,
        Reason::DamagedInTransit,
    ]
}

/// A share of the price refunded for units that failed QC, for requests with this reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FailedQcRefund {
    pub reason: Reason,
    #[schema(maximum = 100)]
    pub refund_pct: u32,
}

fn default_return_by_days() -> u32 {
    14
}

impl ReturnPolicy {
    /// China's seven-day no-reason return for size and change of mind, and a longer window for
    /// faulty goods; refunds without a return always go to HQ.
    pub fn default_policy() -> ReturnPolicy {
        ReturnPolicy {
            window_days: 15,
            rules: vec![
                ApprovalRule {
                    name: "seven-day-no-reason".into(),
                    kinds: vec![Kind::ReturnRefund, Kind::Exchange],
                    reasons: vec![Reason::Size, Reason::ChangedMind],
                    within_days: 7,
                    max_amount_minor: 200_000,
                    max_return_rate_pct: Some(30),
                },
                ApprovalRule {
                    name: "faulty-goods".into(),
                    kinds: vec![Kind::ReturnRefund, Kind::Exchange],
                    reasons: vec![Reason::Defective, Reason::WrongItem, Reason::NotAsDescribed],
                    within_days: 15,
                    max_amount_minor: 500_000,
                    max_return_rate_pct: None,
                },
            ],
            return_by_days: default_return_by_days(),
            failed_qc_refunds: Vec::new(),
            prepaid_returns: faulty_reasons(),
            balance_due_hours: default_balance_due_hours(),
        }
    }

    /// The share of the price a unit that failed QC gets back on a request with `reason`.
    pub fn failed_qc_pct(&self, reason: Reason) -> u32 {
        self.failed_qc_refunds
            .iter()
            .find(|f| f.reason == reason)
            .map_or(0, |f| f.refund_pct)
    }

    /// The limits HQ's policy must keep.
    pub fn check(&self) -> Result<(), String> {
        if !(1..=365).contains(&self.window_days) {
            return Err("window_days must be 1 to 365".into());
        }
        if !(1..=720).contains(&self.balance_due_hours) {
            return Err("balance_due_hours must be 1 to 720".into());
        }
        if self.return_by_days > 365 {
            return Err("return_by_days must be 0 (never) to 365".into());
        }
        for (i, f) in self.failed_qc_refunds.iter().enumerate() {
            if f.refund_pct > 100
                || self.failed_qc_refunds[..i]
                    .iter()
                    .any(|g| g.reason == f.reason)
            {
                return Err(format!(
                    "failed_qc_refunds: one share per reason, 0 to 100 % ({})",
                    f.reason.as_str()
                ));
            }
        }
        if let Some((i, twice)) = self
            .prepaid_returns
            .iter()
            .enumerate()
            .find(|(i, r)| self.prepaid_returns[..*i].contains(r))
        {
            return Err(format!(
                "prepaid_returns names {} twice (entry {})",
                twice.as_str(),
                i + 1
            ));
        }
        if self.rules.len() > 50 {
            return Err("at most 50 rules".into());
        }
        for rule in &self.rules {
            if rule.name.is_empty()
                || rule.name.len() > 40
                || !rule
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            {
                return Err(format!(
                    "rule name {:?}: 1 to 40 letters, digits, '-' or '_'",
                    rule.name
                ));
            }
            if rule.kinds.is_empty() || rule.reasons.is_empty() {
                return Err(format!(
                    "rule {}: kinds and reasons may not be empty",
                    rule.name
                ));
            }
            if rule.within_days > self.window_days {
                return Err(format!(
                    "rule {}: within_days {} is beyond the window of {}",
                    rule.name, rule.within_days, self.window_days
                ));
            }
            if !(0..=tote_shared::Money::MAX_MINOR).contains(&rule.max_amount_minor)
                || rule.max_return_rate_pct.is_some_and(|p| p > 100)
            {
                return Err(format!(
                    "rule {}: max_amount_minor 0 to 10000000000, max_return_rate_pct 0 to 100",
                    rule.name
                ));
            }
        }
        Ok(())
    }
}

/// What the rules weigh.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Facts {
    pub kind: Kind,
    pub reason: Reason,
    pub amount_minor: i64,
    pub days_since: u32,
    /// None: the customer is unknown or has bought nothing shipped yet.
    pub return_rate_pct: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Approval {
    Approved { rule: String },
    Review { why: String },
}

/// The first rule that holds approves; otherwise HQ reviews, told why each rule did not.
pub fn decide_approval(policy: &ReturnPolicy, facts: &Facts) -> Approval {
    let mut why_not = Vec::new();
    for rule in &policy.rules {
        match rule_fails(rule, facts) {
            None => {
                return Approval::Approved {
                    rule: rule.name.clone(),
                }
            }
            Some(why) => why_not.push(format!("{}: {why}", rule.name)),
        }
    }
    if why_not.is_empty() {
        return Approval::Review {
            why: "no approval rules are set".into(),
        };
    }
    Approval::Review {
        why: format!("no rule approves it ({})", why_not.join("; ")),
    }
}

fn rule_fails(rule: &ApprovalRule, f: &Facts) -> Option<String> {
    if !rule.kinds.contains(&f.kind) {
        return Some(format!("not for {}", f.kind.as_str()));
    }
    if !rule.reasons.contains(&f.reason) {
        return Some(format!("not for reason {}", f.reason.as_str()));
    }
    if f.days_since > rule.within_days {
        return Some(format!(
            "{} days since delivery, at most {}",
            f.days_since, rule.within_days
        ));
    }
    if f.amount_minor > rule.max_amount_minor {
        return Some(format!(
            "amount {} above {}",
            f.amount_minor, rule.max_amount_minor
        ));
    }
    match (rule.max_return_rate_pct, f.return_rate_pct) {
        (Some(_), None) => Some("the customer's return rate is unknown".into()),
        (Some(max), Some(rate)) if rate > max => Some(format!(
            "the customer returns {rate}% of units, at most {max}%"
        )),
        _ => None,
    }
}

/// One order line as paid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ordered {
    pub sku: Sku,
    pub qty: i64,
    pub unit_price: i64,
}

/// One asked-for line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AskedLine {
    pub sku: Sku,
    pub qty: Qty,
    /// Exchanges only: the SKU (same product) that goes out instead.
    #[serde(default)]
    pub exchange_sku: Option<Sku>,
}

/// What may be asked for: a shipped order (or a partly shipped one, whose shipped lines are
/// `ordered`), inside the window, each line on the order once, never more units than were
/// bought less those other requests hold (`held`: SKU and units).
pub fn check_lines(
    order_state: OrderState,
    kind: Kind,
    days_since: u32,
    window_days: u32,
    ordered: &[Ordered],
    held: &[(Sku, i64)],
    asked: &[AskedLine],
) -> Result<Vec<AfterSalesLine>, AfterSalesError> {
    let refuse = |why: String| Err(AfterSalesError::Refused(why));
    if order_state == OrderState::Completed {
        return refuse("the order is completed: its return window closed".into());
    }
    if !matches!(
        order_state,
        OrderState::Shipped | OrderState::PartlyShipped | OrderState::Delivered
    ) {
        let hint = if matches!(
            order_state,
            OrderState::AwaitingShipment
                | OrderState::Picked
                | OrderState::Packed
                | OrderState::Backordered
                | OrderState::Grouping
        ) {
            ": cancel the order instead"
        } else {
            ""
        };
        return refuse(format!(
            "the order is {}, after-sales starts once it has shipped{hint}",
            order_state.as_str()
        ));
    }
    if days_since > window_days {
        return refuse(format!(
            "{days_since} days since delivery: the return window is {window_days} days"
        ));
    }
    if asked.is_empty() || asked.len() > ordered.len() {
        return refuse(format!("a request needs 1 to {} lines", ordered.len()));
    }
    let mut lines: Vec<AfterSalesLine> = Vec::with_capacity(asked.len());
    for a in asked {
        let Some(line) = ordered.iter().find(|o| o.sku == a.sku) else {
            return refuse(format!("SKU {} is not on the order", a.sku));
        };
        if lines.iter().any(|l| l.sku == a.sku) {
            return refuse(format!(
                "SKU {} is asked for twice; put the units in one line",
                a.sku
            ));
        }
        let before: i64 = held
            .iter()
            .filter(|(sku, _)| sku == &a.sku)
            .map(|(_, n)| n)
            .sum();
        if before + a.qty.as_i64() > line.qty {
            return refuse(format!(
                "SKU {}: {} asked, {} bought, {before} in other requests",
                a.sku,
                a.qty.get(),
                line.qty
            ));
        }
        match (kind, &a.exchange_sku) {
            (Kind::Exchange, None) => {
                return refuse(format!(
                    "SKU {}: an exchange names the exchange_sku that goes out",
                    a.sku
                ))
            }
            (Kind::Exchange, Some(to)) if to == &a.sku => {
                return refuse(format!("SKU {}: an exchange needs another SKU", a.sku))
            }
            (Kind::ReturnRefund | Kind::RefundOnly, Some(_)) => {
                return refuse(format!("SKU {}: exchange_sku is for exchanges only", a.sku))
            }
            _ => {}
        }
        lines.push(AfterSalesLine {
            sku: a.sku.clone(),
            qty: a.qty,
            unit_price: line.unit_price,
            exchange_sku: a.exchange_sku.clone(),
            price_difference: 0,
            passed: 0,
            failed: 0,
            fail_reason: String::new(),
        });
    }
    Ok(lines)
}

/// How the goods may come back: a refund without a return sends nothing; a pickup or a
/// prepaid label is ours to pay, so only for the reasons the policy prepays (the customer
/// drops the others off).
pub fn check_method(
    policy: &ReturnPolicy,
    kind: Kind,
    reason: Reason,
    method: ReturnMethod,
) -> Result<(), AfterSalesError> {
    if method == ReturnMethod::DropOff {
        return Ok(());
    }
    if !kind.returns_goods() {
        return Err(AfterSalesError::Refused(format!("a refund without a return sends nothing back: return_method {} is for returns and exchanges", method.as_str())));
    }
    if !policy.prepaid_returns.contains(&reason) {
        let prepaid: Vec<&str> = policy.prepaid_returns.iter().map(|r| r.as_str()).collect();
        let which = if prepaid.is_empty() {
            "no reason".to_owned()
        } else {
            prepaid.join(", ")
        };
        return Err(AfterSalesError::Refused(format!(
            "returns for {} are sent by the customer (drop_off); a {} at our cost is for {which}",
            reason.as_str(),
            method.as_str()
        )));
    }
    Ok(())
}

/// An exchange's price difference over its lines (see `AfterSalesLine::price_difference`).
pub fn difference(lines: &[AfterSalesLine]) -> i64 {
    lines
        .iter()
        .map(|l| l.price_difference.saturating_mul(l.qty.as_i64()))
        .fold(0, i64::saturating_add)
}

/// Per unit, what the exchange's SKU costs more (or, negative, less) than the returned one,
/// by their catalog prices; all of a request's lines one way (a request that would both
/// charge and refund is asked as two).
pub fn price_differences(prices: &[(i64, i64)]) -> Result<Vec<i64>, AfterSalesError> {
    let differences: Vec<i64> = prices.iter().map(|(from, to)| to - from).collect();
    if differences.iter().any(|d| *d > 0) && differences.iter().any(|d| *d < 0) {
        return Err(AfterSalesError::Refused(
            "some exchanges cost more and some less: ask for them in two requests".into(),
        ));
    }
    Ok(differences)
}

/// The amount of the lines at the prices paid.
pub fn amount(lines: &[AfterSalesLine]) -> i64 {
    lines
        .iter()
        .map(|l| l.unit_price.saturating_mul(l.qty.as_i64()))
        .fold(0, i64::saturating_add)
}

/// What QC found at the warehouse for one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checked {
    pub sku: Sku,
    pub passed: i64,
    pub failed: i64,
    pub fail_reason: String,
}

/// What the returned goods do to the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// Units refunded, each at a percentage of the price paid.
    pub refund: Vec<(Sku, i64, u32)>,
    /// The exchange's replacement ships.
    pub release_replacement: bool,
    /// The exchange's replacement is not sent: its lock is released.
    pub cancel_replacement: bool,
    pub state: RequestState,
    /// What the customer is told.
    pub note: String,
}

/// QC's result, per line, checked against the request: passed and failed never more than
/// asked. A return refunds what passed; an exchange ships its replacement only when every
/// unit passed, else the passed units are refunded and the replacement is not sent; units
/// that failed are refunded at `failed_pct` % of their price (the policy's for the request's
/// reason; 0: not at all), units that never came are not, and the note says why.
pub fn decide_outcome(
    kind: Kind,
    lines: &[AfterSalesLine],
    checked: &[Checked],
    failed_pct: u32,
) -> Result<Outcome, AfterSalesError> {
    let mut refund = Vec::new();
    let mut shortfalls = Vec::new();
    for line in lines {
        let c = checked.iter().find(|c| c.sku == line.sku);
        let (passed, failed) = c.map_or((0, 0), |c| (c.passed, c.failed));
        if passed < 0 || failed < 0 || passed + failed > line.qty.as_i64() {
            return Err(AfterSalesError::Refused(format!(
                "SKU {}: {passed} passed and {failed} failed of {} returned",
                line.sku,
                line.qty.get()
            )));
        }
        if passed > 0 {
            refund.push((line.sku.clone(), passed, 100));
        }
        if failed > 0 {
            let why = c
                .map(|c| c.fail_reason.as_str())
                .filter(|r| !r.is_empty())
                .unwrap_or("no reason given");
            if failed_pct > 0 && line.unit_price > 0 {
                refund.push((line.sku.clone(), failed, failed_pct.min(100)));
                shortfalls.push(format!(
                    "{failed} × {} failed QC ({why}): refunded at {} %",
                    line.sku,
                    failed_pct.min(100)
                ));
            } else {
                shortfalls.push(format!("{failed} × {} failed QC ({why})", line.sku));
            }
        }
        let missing = line.qty.as_i64() - passed - failed;
        if missing > 0 {
            shortfalls.push(format!("{missing} × {} did not come back", line.sku));
        }
    }
    if let Some((n, twice)) = checked
        .iter()
        .enumerate()
        .find(|(n, c)| checked[..*n].iter().any(|d| d.sku == c.sku))
    {
        return Err(AfterSalesError::Refused(format!(
            "SKU {} is reported twice (line {})",
            twice.sku,
            n + 1
        )));
    }
    if let Some(stray) = checked
        .iter()
        .find(|c| !lines.iter().any(|l| l.sku == c.sku))
    {
        return Err(AfterSalesError::Refused(format!(
            "SKU {} is not on the request",
            stray.sku
        )));
    }
    let all_passed = shortfalls.is_empty();
    let note = |done: &str| {
        if all_passed {
            done.to_owned()
        } else {
            format!("{done}; {}", shortfalls.join(", "))
        }
    };
    Ok(match kind {
        Kind::Exchange if all_passed => Outcome {
            refund: vec![],
            release_replacement: true,
            cancel_replacement: false,
            state: RequestState::Replacing,
            note: "the return passed QC; the replacement ships".into(),
        },
        _ if refund.is_empty() => Outcome {
            refund,
            release_replacement: false,
            cancel_replacement: kind == Kind::Exchange,
            state: RequestState::Refused,
            note: note("nothing refunded"),
        },
        _ => Outcome {
            refund,
            release_replacement: false,
            cancel_replacement: kind == Kind::Exchange,
            state: RequestState::Refunding,
            note: note("the units that passed QC are refunded"),
        },
    })
}

/// Whole days from `since_ms` to `now_ms` (0 if not later).
pub fn days_between(since_ms: i64, now_ms: i64) -> u32 {
    u32::try_from((now_ms - since_ms).max(0) / 86_400_000).unwrap_or(u32::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum AfterSalesError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 422: the request may not be made or the step not taken, and why.
    #[error("{0}")]
    Refused(String),
    /// 409: the replacement is not in stock anywhere.
    #[error("{0}")]
    OutOfStock(String),
    #[error(transparent)]
    Payment(crate::payment::PaymentError),
    #[error(transparent)]
    Orders(crate::orders::OrdersError),
    #[error(transparent)]
    Db(#[from] DbError),
}

impl From<crate::orders::OrdersError> for AfterSalesError {
    fn from(e: crate::orders::OrdersError) -> Self {
        match e {
            crate::orders::OrdersError::Db(e) => AfterSalesError::Db(e),
            other => AfterSalesError::Orders(other),
        }
    }
}

impl From<crate::payment::PaymentError> for AfterSalesError {
    fn from(e: crate::payment::PaymentError) -> Self {
        match e {
            crate::payment::PaymentError::Db(e) => AfterSalesError::Db(e),
            other => AfterSalesError::Payment(other),
        }
    }
}

impl From<crate::inventory::InventoryError> for AfterSalesError {
    fn from(e: crate::inventory::InventoryError) -> Self {
        match e {
            crate::inventory::InventoryError::Db(e) => AfterSalesError::Db(e),
            rule => AfterSalesError::Refused(rule.to_string()),
        }
    }
}

impl From<crate::edge_sync::commands::StreamError> for AfterSalesError {
    fn from(e: crate::edge_sync::commands::StreamError) -> Self {
        crate::orders::OrdersError::from(e).into()
    }
}

#[cfg(test)]
mod tests;
