//! Suppliers: who we buy from, how far their onboarding has come, the documents it rests on,
//! their contract prices per SKU (cost, MOQ, price breaks, lead time, validity, with history)
//! and the credential their own systems use on the supplier API.
//!
//! Rules here are pure (which state may follow which, what a submission needs, which price a
//! quantity gets); `store.rs` owns the `sup_` tables; `http.rs` HQ's routes.

pub mod http;
pub mod store;
pub mod submissions;

use crate::db::Tx;
use crate::journal::{self, BusinessEvent};

use crate::db::DbError;
use serde::{Deserialize, Serialize};
use tote_shared::{Money, Sku};

/// Onboarding: `draft` (HQ is entering it) → `pending` (documents submitted, awaiting approval)
/// → `approved` (may receive purchase orders) ⇄ `suspended` (no new orders; open ones finish)
/// → `exited` (no orders, no credential).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupplierState {
    Draft,
    Pending,
    Approved,
    Suspended,
    Exited,
}
names!(SupplierState { Draft => "draft", Pending => "pending", Approved => "approved", Suspended => "suspended", Exited => "exited" });

/// What HQ does to a supplier's onboarding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SupplierStep {
    /// Draft → pending: the documents are complete.
    Submit,
    /// Pending → approved.
    Approve,
    /// Pending → draft: the documents need another look (say why).
    SendBack,
    /// Approved → suspended (say why): no new purchase orders.
    Suspend,
    /// Suspended → approved.
    Reinstate,
    /// Any state but exited → exited (say why): the credential stops working.
    Exit,
}
names!(SupplierStep { Submit => "submit", Approve => "approve", SendBack => "send_back", Suspend => "suspend", Reinstate => "reinstate", Exit => "exit" });

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DocumentKind {
    BusinessLicence,
    TaxRegistration,
    BankAccount,
    QualityCertificate,
    Other,
}

/// A document the onboarding rests on: what it is, its number, and when it expires (ms; None
/// for documents that do not).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Document {
    pub kind: DocumentKind,
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub reference: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub expires_ms: Option<i64>,
}

/// The documents a supplier must have, unexpired, to be submitted for approval.
pub const REQUIRED_DOCUMENTS: [DocumentKind; 2] = [DocumentKind::BusinessLicence, DocumentKind::BankAccount];
/// Most documents one supplier may carry.
pub const MAX_DOCUMENTS: usize = 20;

#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Supplier {
    /// Code, e.g. `NIKE-CN`.
    pub id: String,
    pub name: String,
    /// Who to call, as HQ wrote it.
    pub contact: String,
    pub state: SupplierState,
    pub documents: Vec<Document>,
    /// Why it was last sent back, suspended or exited.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether a supplier-API credential is set (the credential itself is never shown).
    pub has_credential: bool,
    /// Days from an invoice's approval to its payment date (the cash-flow forecast pays it
    /// then).
    pub payment_terms_days: u32,
    pub created_ms: i64,
    pub updated_ms: i64,
}

/// One price break: from `min_qty` units on one purchase order line, this unit cost.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceBreak {
    #[schema(minimum = 1, maximum = 100000)]
    pub min_qty: u32,
    pub cost: Money,
}

/// A supplier's contract terms for one SKU, valid from a time until another (or open-ended).
/// A newer entry overrides an older one from its start; old ones stay as history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceTerms {
    /// The supplier's own code for the item (on their documents).
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub supplier_sku: String,
    /// Unit cost below the first break.
    pub cost: Money,
    /// Fewest units one purchase order line may ask for.
    #[schema(minimum = 1, maximum = 100000)]
    pub moq: u32,
    /// Days from a confirmed order to delivery, as agreed.
    #[schema(minimum = 0, maximum = 365)]
    pub lead_time_days: u32,
    #[serde(default)]
    #[schema(max_items = 10)]
    pub breaks: Vec<PriceBreak>,
    #[schema(minimum = 0)]
    pub valid_from_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(minimum = 0)]
    pub valid_until_ms: Option<i64>,
}

/// A price entry as stored, with its SKU and when HQ entered it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SupplierPrice {
    pub id: u64,
    pub supplier: String,
    pub sku: Sku,
    pub terms: PriceTerms,
    pub created_ms: i64,
}

/// Takes an onboarding step (its rules in `next_state`): saved, audited and journalled;
/// exiting also ends the API credential. Returns the supplier as it is now.
pub fn take_step(tx: &mut dyn Tx, id: &str, step: SupplierStep, reason: Option<&str>, now_ms: i64) -> Result<Supplier, SupplierError> {
    let mut s = store::load(tx, id, true)?.ok_or_else(|| SupplierError::NotFound(format!("supplier {id}")))?;
    let from = s.state;
    s.state = next_state(from, step, &s.documents, reason, now_ms)?;
    if let Some(reason) = reason {
        s.reason = Some(reason.to_owned());
    }
    store::save(tx, &s, now_ms)?;
    if s.state == SupplierState::Exited {
        store::set_token(tx, id, None, now_ms)?;
    }
    let detail = serde_json::json!({ "from": from.as_str(), "to": s.state.as_str(), "reason": reason });
    crate::audit::store::append(tx, now_ms, "admin", &format!("supplier_{}", step.as_str()), &format!("supplier:{id}"), &detail)?;
    let event = BusinessEvent::SupplierStateChanged { supplier: id.to_owned(), from: from.as_str().into(), to: s.state.as_str().into() };
    journal::store::append(tx, &event, now_ms)?;
    store::load(tx, id, false)?.ok_or_else(|| SupplierError::NotFound(format!("supplier {id}")))
}

#[derive(Debug, thiserror::Error)]
pub enum SupplierError {
    /// 404
    #[error("{0} not found")]
    NotFound(String),
    /// 409
    #[error("{0} already exists")]
    Duplicate(String),
    /// 422: the step or terms break a rule.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A supplier code: 2 to 32 capital letters, digits or '-'.
pub fn valid_id(id: &str) -> bool {
    (2..=32).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'-')
}

/// The state `step` leads to from `from`, or why it cannot be taken. Submitting needs the
/// required documents, unexpired at `now_ms`; sending back, suspending and exiting need a reason.
pub fn next_state(from: SupplierState, step: SupplierStep, documents: &[Document], reason: Option<&str>, now_ms: i64) -> Result<SupplierState, SupplierError> {
    use SupplierState as S;
    let needs_reason = matches!(step, SupplierStep::SendBack | SupplierStep::Suspend | SupplierStep::Exit);
    if needs_reason && reason.is_none_or(|r| r.trim().is_empty()) {
        return Err(SupplierError::Refused(format!("{}: say why (reason)", step.as_str())));
    }
    let to = match (from, step) {
        (S::Draft, SupplierStep::Submit) => {
            let missing = missing_documents(documents, now_ms);
            if !missing.is_empty() {
                return Err(SupplierError::Refused(format!("submit: missing or expired documents: {}", missing.join(", "))));
            }
            S::Pending
        }
        (S::Pending, SupplierStep::Approve) => {
            // The documents may have been edited since they were submitted.
            let missing = missing_documents(documents, now_ms);
            if !missing.is_empty() {
                return Err(SupplierError::Refused(format!("approve: missing or expired documents: {}", missing.join(", "))));
            }
            S::Approved
        }
        (S::Pending, SupplierStep::SendBack) => S::Draft,
        (S::Approved, SupplierStep::Suspend) => S::Suspended,
        (S::Suspended, SupplierStep::Reinstate) => S::Approved,
        (from, SupplierStep::Exit) if from != S::Exited => S::Exited,
        (from, step) => return Err(SupplierError::Refused(format!("a {} supplier cannot {}", from.as_str(), step.as_str()))),
    };
    Ok(to)
}

/// The required documents a supplier lacks, or has only expired, at `now_ms`.
pub fn missing_documents(documents: &[Document], now_ms: i64) -> Vec<&'static str> {
    REQUIRED_DOCUMENTS
        .iter()
        .filter(|kind| !documents.iter().any(|d| d.kind == **kind && d.expires_ms.is_none_or(|e| e > now_ms)))
        .map(|kind| match kind {
            DocumentKind::BusinessLicence => "business_licence",
            DocumentKind::BankAccount => "bank_account",
            DocumentKind::TaxRegistration => "tax_registration",
            DocumentKind::QualityCertificate => "quality_certificate",
            DocumentKind::Other => "other",
        })
        .collect()
}

/// Whether a supplier in `state` may be sent new purchase orders.
pub fn may_order(state: SupplierState) -> bool {
    state == SupplierState::Approved
}

/// Whether a supplier in `state` may use the supplier API (a suspended one finishes its open
/// orders; a draft or pending one has nothing to do there yet).
pub fn may_use_api(state: SupplierState) -> bool {
    matches!(state, SupplierState::Approved | SupplierState::Suspended)
}

/// Terms that can be stored: a cost and breaks that fall as the quantity rises, a window that
/// is not empty.
pub fn check_terms(t: &PriceTerms) -> Result<(), SupplierError> {
    let refuse = |why: &str| Err(SupplierError::Refused(why.to_owned()));
    if t.moq == 0 || t.moq > tote_shared::Qty::MAX {
        return refuse("moq must be 1 to 100000");
    }
    if t.lead_time_days > 365 {
        return refuse("lead_time_days must be at most 365");
    }
    if t.breaks.len() > 10 {
        return refuse("at most 10 price breaks");
    }
    if t.valid_until_ms.is_some_and(|until| until <= t.valid_from_ms) || t.valid_from_ms < 0 {
        return refuse("valid_until_ms must be after valid_from_ms");
    }
    let mut last = (0u32, t.cost);
    for b in &t.breaks {
        if b.min_qty <= last.0 || b.min_qty > tote_shared::Qty::MAX {
            return refuse("price breaks must rise in min_qty (at most 100000)");
        }
        if b.cost > last.1 {
            return refuse("a price break cannot cost more than the one below it");
        }
        last = (b.min_qty, b.cost);
    }
    Ok(())
}

/// The unit cost of `qty` units under `terms`: the highest break the quantity reaches.
pub fn unit_cost(terms: &PriceTerms, qty: u32) -> Money {
    terms.breaks.iter().rev().find(|b| qty >= b.min_qty).map_or(terms.cost, |b| b.cost)
}

/// Whether `terms` are in force at `at_ms`.
pub fn in_force(terms: &PriceTerms, at_ms: i64) -> bool {
    terms.valid_from_ms <= at_ms && terms.valid_until_ms.is_none_or(|until| at_ms < until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn money(minor: i64) -> Money {
        Money::parse(minor).expect("money")
    }

    fn terms() -> PriceTerms {
        PriceTerms {
            supplier_sku: "DH4071-100-42".into(),
            cost: money(40000),
            moq: 6,
            lead_time_days: 7,
            breaks: vec![PriceBreak { min_qty: 24, cost: money(38000) }, PriceBreak { min_qty: 100, cost: money(36000) }],
            valid_from_ms: 1000,
            valid_until_ms: Some(5000),
        }
    }

    #[test]
    fn the_highest_break_a_quantity_reaches_sets_its_cost() {
        let t = terms();
        assert_eq!(unit_cost(&t, 6), money(40000));
        assert_eq!(unit_cost(&t, 23), money(40000));
        assert_eq!(unit_cost(&t, 24), money(38000));
        assert_eq!(unit_cost(&t, 500), money(36000));
        assert!(check_terms(&t).is_ok());
        assert!(in_force(&t, 1000) && in_force(&t, 4999) && !in_force(&t, 5000) && !in_force(&t, 999));
    }

    #[test]
    fn breaks_must_fall_in_cost_and_rise_in_quantity() {
        let mut t = terms();
        t.breaks[1].cost = money(39000);
        assert!(check_terms(&t).is_err(), "a dearer break");
        let mut t = terms();
        t.breaks[1].min_qty = 24;
        assert!(check_terms(&t).is_err(), "a repeated break");
        let mut t = terms();
        t.valid_until_ms = Some(1000);
        assert!(check_terms(&t).is_err(), "an empty window");
        let mut t = terms();
        t.moq = 0;
        assert!(check_terms(&t).is_err(), "no moq");
    }

    #[test]
    fn onboarding_needs_unexpired_documents_and_reasons() {
        use SupplierState as S;
        let licence = Document { kind: DocumentKind::BusinessLicence, reference: "91310000".into(), expires_ms: Some(10_000) };
        let bank = Document { kind: DocumentKind::BankAccount, reference: "6222".into(), expires_ms: None };
        assert!(next_state(S::Draft, SupplierStep::Submit, std::slice::from_ref(&licence), None, 0).is_err(), "no bank account");
        assert!(next_state(S::Draft, SupplierStep::Submit, &[licence.clone(), bank.clone()], None, 10_000).is_err(), "the licence expired");
        assert_eq!(next_state(S::Draft, SupplierStep::Submit, &[licence.clone(), bank.clone()], None, 0).expect("submit"), S::Pending);
        assert!(next_state(S::Pending, SupplierStep::Approve, &[], None, 0).is_err(), "documents removed after submitting");
        assert_eq!(next_state(S::Pending, SupplierStep::Approve, &[licence.clone(), bank.clone()], None, 0).expect("approve"), S::Approved);
        assert!(next_state(S::Approved, SupplierStep::Suspend, &[], None, 0).is_err(), "no reason");
        assert_eq!(next_state(S::Approved, SupplierStep::Suspend, &[], Some("late twice"), 0).expect("suspend"), S::Suspended);
        assert_eq!(next_state(S::Suspended, SupplierStep::Reinstate, &[], None, 0).expect("reinstate"), S::Approved);
        assert!(next_state(S::Draft, SupplierStep::Approve, &[], None, 0).is_err(), "approval skips nothing");
        assert_eq!(next_state(S::Draft, SupplierStep::Exit, &[], Some("never signed"), 0).expect("exit"), S::Exited);
        assert!(next_state(S::Exited, SupplierStep::Exit, &[], Some("again"), 0).is_err());
        assert!(may_order(S::Approved) && !may_order(S::Suspended) && may_use_api(S::Suspended) && !may_use_api(S::Exited));
    }
}
