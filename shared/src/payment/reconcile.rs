//! Matching one channel's daily bill against our own records of the same day (对账).
//!
//! What it is: [`reconcile`] takes the channel's lines (from `bill`) and our payments and refunds,
//! pairs them by key — kind, `out_trade_no`, and for refunds `out_refund_no` — and lists every
//! difference by type: a line we have no record of, a record the channel does not list, a
//! different amount, status or fee, and a key listed twice. A clean day gives no difference.
//! The order of the differences depends only on the inputs: by type, then key.
//!
//! What it is not: it decides nothing about a difference (whether to re-query the channel,
//! refund, or book a fee adjustment is central's payment system's business) and reads nothing:
//! both sides come in as slices. It is built for a million-line bill: one hash map keyed by
//! borrowed strings, no allocation per matched line.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::bill::{BillKind, BillLine, BillStatus, Yuan};
use super::ChannelKind;

/// Where our own records say a payment or refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OurStatus {
    /// Created and sent; no final answer from the channel yet.
    Pending,
    /// The customer paid, or the refund reached the customer.
    Succeeded,
    /// A payment that was paid and has since been refunded in full (the refund is its own record).
    Refunded,
    /// Closed before any money moved.
    Closed,
    /// A refund the channel refused or could not deliver.
    Failed,
}

impl OurStatus {
    pub const ALL: [OurStatus; 5] =
        [OurStatus::Pending, OurStatus::Succeeded, OurStatus::Refunded, OurStatus::Closed, OurStatus::Failed];

    pub fn as_str(self) -> &'static str {
        match self {
            OurStatus::Pending => "pending",
            OurStatus::Succeeded => "succeeded",
            OurStatus::Refunded => "refunded",
            OurStatus::Closed => "closed",
            OurStatus::Failed => "failed",
        }
    }

    pub fn parse(raw: &str) -> Option<OurStatus> {
        OurStatus::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

/// One of our payments or refunds, as central's payment system stores it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OurRecord {
    pub kind: BillKind,
    pub channel: ChannelKind,
    pub out_trade_no: String,
    /// Set on refunds; ignored on payments.
    pub out_refund_no: Option<String>,
    pub amount_minor: i64,
    pub status: OurStatus,
    /// The fee our contract with the channel says this line costs (negative when a refund
    /// gives a fee back).
    pub expected_fee_minor: i64,
}

impl OurRecord {
    /// Whether the channel's bill must list this record: money moved as far as we know. A
    /// pending or closed payment, or a refund not finished, may be absent without a difference.
    pub fn expects_bill_line(&self) -> bool {
        match self.kind {
            BillKind::Payment => matches!(self.status, OurStatus::Succeeded | OurStatus::Refunded),
            BillKind::Refund => self.status == OurStatus::Succeeded,
        }
    }
}

/// What kind of disagreement a difference is. The order is the order of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DifferenceKind {
    /// The bill lists a payment or refund we have no record of.
    MissingOurs,
    /// We have a payment or refund that moved money, and the bill does not list it.
    MissingTheirs,
    /// Both list it, with different amounts.
    Amount,
    /// Both list it, and the statuses disagree (e.g. paid on the bill, pending with us).
    Status,
    /// The channel charged another fee than our contract says.
    Fee,
    /// The same key appears twice on one side; `theirs` or `ours` holds the repeat.
    Duplicate,
}

impl DifferenceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DifferenceKind::MissingOurs => "missing_ours",
            DifferenceKind::MissingTheirs => "missing_theirs",
            DifferenceKind::Amount => "amount",
            DifferenceKind::Status => "status",
            DifferenceKind::Fee => "fee",
            DifferenceKind::Duplicate => "duplicate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Difference {
    pub kind: DifferenceKind,
    pub out_trade_no: String,
    pub out_refund_no: Option<String>,
    pub ours: Option<OurRecord>,
    pub theirs: Option<BillLine>,
    /// One sentence for the finance team.
    pub detail: String,
}

/// The outcome of one channel's day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub channel: ChannelKind,
    /// Keys on both sides that agree in amount, status and fee.
    pub matched: u64,
    pub differences: Vec<Difference>,
    /// The fees on the bill.
    pub fee_total_minor: i64,
    /// The fees our records of this channel expect, listed on the bill or not.
    pub expected_fee_total_minor: i64,
}

impl Reconciliation {
    pub fn is_clean(&self) -> bool {
        self.differences.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReconcileError {
    /// A bill is one channel's; a line of another means the caller mixed bills up.
    #[error("bill line {index} belongs to the {found} channel, not {expected}")]
    ForeignLine { index: usize, found: &'static str, expected: &'static str },
    #[error("the fee totals overflow")]
    Overflow,
}

type Key<'a> = (BillKind, &'a str, Option<&'a str>);

fn key<'a>(kind: BillKind, out_trade_no: &'a str, out_refund_no: Option<&'a str>) -> Key<'a> {
    // A payment's key has no refund number, whatever a record carries by mistake.
    (kind, out_trade_no, if kind == BillKind::Refund { out_refund_no } else { None })
}

/// What the map knows about a key: the first bill line with it, and whether a record claimed it.
struct Slot {
    theirs: Option<usize>,
    ours: bool,
}

/// How each bill line ended up, so that unclaimed ones are found without hashing again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum LineState {
    Unclaimed,
    Claimed,
    Repeat,
}

/// Reconciles `channel`'s bill for one day with our records of that day. Our records of other
/// channels are skipped, so the caller may pass all of the day's; a bill line of another channel
/// is an error.
pub fn reconcile(
    channel: ChannelKind,
    theirs: &[BillLine],
    ours: &[OurRecord],
) -> Result<Reconciliation, ReconcileError> {
    let mut differences = Vec::new();
    let mut slots: HashMap<Key<'_>, Slot> = HashMap::with_capacity(theirs.len());
    let mut states = vec![LineState::Unclaimed; theirs.len()];
    let mut fee_total_minor: i64 = 0;
    for (index, line) in theirs.iter().enumerate() {
        if line.channel != channel {
            return Err(ReconcileError::ForeignLine {
                index,
                found: line.channel.as_str(),
                expected: channel.as_str(),
            });
        }
        fee_total_minor = fee_total_minor.checked_add(line.fee_minor).ok_or(ReconcileError::Overflow)?;
        match slots.entry(key(line.kind, &line.out_trade_no, line.out_refund_no.as_deref())) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot { theirs: Some(index), ours: false });
            }
            Entry::Occupied(_) => {
                states[index] = LineState::Repeat;
                differences.push(theirs_only(DifferenceKind::Duplicate, line, "the bill lists it more than once"));
            }
        }
    }

    let mut matched: u64 = 0;
    let mut expected_fee_total_minor: i64 = 0;
    for record in ours.iter().filter(|r| r.channel == channel) {
        expected_fee_total_minor =
            expected_fee_total_minor.checked_add(record.expected_fee_minor).ok_or(ReconcileError::Overflow)?;
        match slots.entry(key(record.kind, &record.out_trade_no, record.out_refund_no.as_deref())) {
            Entry::Vacant(vacant) => {
                vacant.insert(Slot { theirs: None, ours: true });
                if record.expects_bill_line() {
                    let detail = format!(
                        "we have a {} {} of {}, and the bill does not list it",
                        record.status.as_str(),
                        record.kind.as_str(),
                        Yuan(record.amount_minor)
                    );
                    differences.push(ours_only(DifferenceKind::MissingTheirs, record, detail));
                }
            }
            Entry::Occupied(mut occupied) => {
                let slot = occupied.get_mut();
                if slot.ours {
                    let detail = "our records hold it more than once".to_owned();
                    differences.push(ours_only(DifferenceKind::Duplicate, record, detail));
                    continue;
                }
                slot.ours = true;
                if let Some(index) = slot.theirs {
                    states[index] = LineState::Claimed;
                    let before = differences.len();
                    compare(&theirs[index], record, &mut differences);
                    if differences.len() == before {
                        matched += 1;
                    }
                }
            }
        }
    }

    for (line, state) in theirs.iter().zip(&states) {
        if *state == LineState::Unclaimed {
            let detail = format!(
                "the bill lists a {} {} of {}, and we have no record of it",
                line.status.as_str(),
                line.kind.as_str(),
                Yuan(line.amount_minor)
            );
            differences.push(theirs_only(DifferenceKind::MissingOurs, line, &detail));
        }
    }

    // Stable: repeats of one key keep their input order, the bill's before ours.
    differences.sort_by(|a, b| {
        (a.kind, &a.out_trade_no, &a.out_refund_no, a.ours.is_some()).cmp(&(
            b.kind,
            &b.out_trade_no,
            &b.out_refund_no,
            b.ours.is_some(),
        ))
    });
    Ok(Reconciliation { channel, matched, differences, fee_total_minor, expected_fee_total_minor })
}

/// Whether the channel's status and ours say the same thing about a line.
fn statuses_agree(kind: BillKind, theirs: BillStatus, ours: OurStatus) -> bool {
    match (theirs, ours) {
        (BillStatus::Success, OurStatus::Succeeded) => true,
        // The bill shows the payment as paid that day; its refund is a line of its own.
        (BillStatus::Success, OurStatus::Refunded) => kind == BillKind::Payment,
        (BillStatus::Processing, OurStatus::Pending) => true,
        (BillStatus::Closed | BillStatus::Revoked | BillStatus::Failed, OurStatus::Closed | OurStatus::Failed) => true,
        _ => false,
    }
}

fn compare(line: &BillLine, record: &OurRecord, differences: &mut Vec<Difference>) {
    if line.amount_minor != record.amount_minor {
        let detail = format!("the bill says {}, we have {}", Yuan(line.amount_minor), Yuan(record.amount_minor));
        differences.push(both(DifferenceKind::Amount, line, record, detail));
    }
    if !statuses_agree(line.kind, line.status, record.status) {
        let detail = format!("the bill says {}, we have {}", line.status.as_str(), record.status.as_str());
        differences.push(both(DifferenceKind::Status, line, record, detail));
    }
    if line.fee_minor != record.expected_fee_minor {
        let detail =
            format!("the channel charged a fee of {}, we expected {}", Yuan(line.fee_minor), Yuan(record.expected_fee_minor));
        differences.push(both(DifferenceKind::Fee, line, record, detail));
    }
}

fn theirs_only(kind: DifferenceKind, line: &BillLine, detail: &str) -> Difference {
    Difference {
        kind,
        out_trade_no: line.out_trade_no.clone(),
        out_refund_no: line.out_refund_no.clone(),
        ours: None,
        theirs: Some(line.clone()),
        detail: detail.to_owned(),
    }
}

fn ours_only(kind: DifferenceKind, record: &OurRecord, detail: String) -> Difference {
    Difference {
        kind,
        out_trade_no: record.out_trade_no.clone(),
        out_refund_no: refund_no(record),
        ours: Some(record.clone()),
        theirs: None,
        detail,
    }
}

fn both(kind: DifferenceKind, line: &BillLine, record: &OurRecord, detail: String) -> Difference {
    Difference {
        kind,
        out_trade_no: record.out_trade_no.clone(),
        out_refund_no: refund_no(record),
        ours: Some(record.clone()),
        theirs: Some(line.clone()),
        detail,
    }
}

fn refund_no(record: &OurRecord) -> Option<String> {
    match record.kind {
        BillKind::Payment => None,
        BillKind::Refund => record.out_refund_no.clone(),
    }
}
