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
        let detail = format!(
            "the channel charged a fee of {}, we expected {}",
            Yuan(line.fee_minor),
            Yuan(record.expected_fee_minor)
        );
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payment::bill::{parse_wechat, write_wechat, BillDay};

    /// SplitMix64: a seeded generator, so that a failing day can be replayed.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }

        fn below(&mut self, n: u64) -> u64 {
            self.next() % n
        }

        fn shuffle<T>(&mut self, items: &mut [T]) {
            for i in (1..items.len()).rev() {
                items.swap(i, self.below(i as u64 + 1) as usize);
            }
        }
    }

    fn day() -> BillDay {
        BillDay::new(2024, 5, 1).expect("a real day")
    }

    /// 2024-05-01 00:00 in Beijing.
    const DAY_START_MS: i64 = 1_714_492_800_000;

    fn record_of(line: &BillLine, status: OurStatus) -> OurRecord {
        OurRecord {
            kind: line.kind,
            channel: line.channel,
            out_trade_no: line.out_trade_no.clone(),
            out_refund_no: line.out_refund_no.clone(),
            amount_minor: line.amount_minor,
            status,
            expected_fee_minor: line.fee_minor,
        }
    }

    /// A clean WeChat Pay day: each bill line with the record that matches it. About one payment
    /// in ten has a refund; a 0.6% fee, given back in proportion on refunds.
    fn clean_day(seed: u64, payments: usize) -> Vec<(BillLine, OurRecord)> {
        let mut rng = Rng(seed);
        let mut pairs = Vec::with_capacity(payments + payments / 8);
        for i in 0..payments {
            let amount_minor = 1 + rng.below(200_000) as i64;
            let paid = BillLine {
                channel: ChannelKind::Wechat,
                kind: BillKind::Payment,
                out_trade_no: format!("T{i:09}"),
                channel_trade_no: format!("4200{i:016}"),
                out_refund_no: None,
                amount_minor,
                fee_minor: amount_minor * 6 / 1000,
                status: BillStatus::Success,
                at_ms: DAY_START_MS + rng.below(86_400) as i64 * 1000,
            };
            if rng.below(10) == 0 {
                let refund_minor = 1 + rng.below(amount_minor as u64) as i64;
                let refunded = BillLine {
                    kind: BillKind::Refund,
                    out_refund_no: Some(format!("R{i:09}")),
                    amount_minor: refund_minor,
                    fee_minor: -(refund_minor * 6 / 1000),
                    ..paid.clone()
                };
                let status = if refund_minor == amount_minor { OurStatus::Refunded } else { OurStatus::Succeeded };
                pairs.push((paid.clone(), record_of(&paid, status)));
                pairs.push((refunded.clone(), record_of(&refunded, OurStatus::Succeeded)));
            } else {
                pairs.push((paid.clone(), record_of(&paid, OurStatus::Succeeded)));
            }
        }
        pairs
    }

    /// Payments that never moved money: the bill does not list them, and that is no difference.
    fn unpaid_records(count: usize) -> Vec<OurRecord> {
        (0..count)
            .map(|i| OurRecord {
                kind: BillKind::Payment,
                channel: ChannelKind::Wechat,
                out_trade_no: format!("U{i:09}"),
                out_refund_no: None,
                amount_minor: 100,
                status: if i % 2 == 0 { OurStatus::Pending } else { OurStatus::Closed },
                expected_fee_minor: 0,
            })
            .collect()
    }

    type Found = (DifferenceKind, String, Option<String>);

    fn found(reconciliation: &Reconciliation) -> Vec<Found> {
        reconciliation.differences.iter().map(|d| (d.kind, d.out_trade_no.clone(), d.out_refund_no.clone())).collect()
    }

    #[test]
    fn clean_day_reconciles_with_no_difference() {
        let pairs = clean_day(7, 2_000);
        let theirs: Vec<BillLine> = pairs.iter().map(|(line, _)| line.clone()).collect();
        let mut ours: Vec<OurRecord> = pairs.iter().map(|(_, record)| record.clone()).collect();
        ours.extend(unpaid_records(40));
        let result = reconcile(ChannelKind::Wechat, &theirs, &ours).expect("one channel");
        assert!(result.is_clean(), "{:?}", result.differences.first());
        assert_eq!(result.matched, pairs.len() as u64);
        assert_eq!(result.fee_total_minor, result.expected_fee_total_minor);
    }

    /// Plants one of each kind of difference in a seeded day, writes the bill as WeChat Pay would,
    /// parses it back and reconciles: exactly the planted differences must come out.
    fn planted_day(seed: u64) -> (Vec<BillLine>, Vec<OurRecord>, Vec<Found>, u64) {
        let mut pairs = clean_day(seed, 3_000);
        let mut rng = Rng(seed ^ 0xdead_beef);
        let mut payments: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].0.kind == BillKind::Payment).collect();
        let mut refunds: Vec<usize> = (0..pairs.len()).filter(|&i| pairs[i].0.kind == BillKind::Refund).collect();
        rng.shuffle(&mut payments);
        rng.shuffle(&mut refunds);
        let [no_record, not_on_bill, wrong_amount, wrong_status, twice_on_bill, twice_ours] =
            [payments[0], payments[1], payments[2], payments[3], payments[4], payments[5]];
        let wrong_fee = refunds[0];
        let key = |i: usize| (pairs[i].0.out_trade_no.clone(), pairs[i].0.out_refund_no.clone());
        let mut expected = vec![
            (DifferenceKind::MissingOurs, key(no_record)),
            (DifferenceKind::MissingTheirs, key(not_on_bill)),
            (DifferenceKind::Amount, key(wrong_amount)),
            (DifferenceKind::Status, key(wrong_status)),
            (DifferenceKind::Fee, key(wrong_fee)),
            (DifferenceKind::Duplicate, key(twice_on_bill)),
            (DifferenceKind::Duplicate, key(twice_ours)),
        ]
        .into_iter()
        .map(|(kind, (out_trade_no, out_refund_no))| (kind, out_trade_no, out_refund_no))
        .collect::<Vec<_>>();
        expected.sort();

        pairs[wrong_amount].0.amount_minor += 1;
        pairs[wrong_status].1.status = OurStatus::Pending;
        pairs[wrong_fee].0.fee_minor -= 1;
        let mut theirs = Vec::with_capacity(pairs.len() + 1);
        let mut ours = Vec::with_capacity(pairs.len() + 1);
        for (i, (line, record)) in pairs.iter().enumerate() {
            if i != not_on_bill {
                theirs.push(line.clone());
            }
            if i == twice_on_bill {
                theirs.push(line.clone());
            }
            if i != no_record {
                ours.push(record.clone());
            }
            if i == twice_ours {
                ours.push(record.clone());
            }
        }
        ours.extend(unpaid_records(30));
        // Every pair agrees but the five with a one-sided or differing line.
        let matched = pairs.len() as u64 - 5;
        (theirs, ours, expected, matched)
    }

    #[test]
    fn every_planted_difference_is_found_and_nothing_else() {
        for seed in [1, 2, 3, 0x5eed] {
            let (theirs, ours, expected, matched) = planted_day(seed);
            let bill = write_wechat(&theirs, day()).expect("writable");
            let parsed = parse_wechat(&bill).expect("readable");
            assert_eq!(parsed, theirs);
            let result = reconcile(ChannelKind::Wechat, &parsed, &ours).expect("one channel");
            let mut got = found(&result);
            // Reported by type, then key.
            assert!(got.windows(2).all(|w| (w[0].0, &w[0].1, &w[0].2) <= (w[1].0, &w[1].1, &w[1].2)), "seed {seed}");
            got.sort();
            assert_eq!(got, expected, "seed {seed}");
            assert_eq!(result.matched, matched, "seed {seed}");
            assert_eq!(result.fee_total_minor - result.expected_fee_total_minor, -1 + theirs_extra_fee(&result));
        }
    }

    /// The fee of the lines one side holds and the other does not, theirs minus ours.
    fn theirs_extra_fee(result: &Reconciliation) -> i64 {
        result
            .differences
            .iter()
            .map(|d| match d.kind {
                DifferenceKind::MissingOurs | DifferenceKind::Duplicate => {
                    d.theirs.as_ref().map_or(0, |l| l.fee_minor) - d.ours.as_ref().map_or(0, |r| r.expected_fee_minor)
                }
                DifferenceKind::MissingTheirs => -d.ours.as_ref().map_or(0, |r| r.expected_fee_minor),
                DifferenceKind::Amount | DifferenceKind::Status | DifferenceKind::Fee => 0,
            })
            .sum()
    }

    #[test]
    fn differences_do_not_depend_on_the_order_of_the_inputs() {
        let (mut theirs, mut ours, _, _) = planted_day(11);
        let before = reconcile(ChannelKind::Wechat, &theirs, &ours).expect("one channel");
        let mut rng = Rng(99);
        rng.shuffle(&mut theirs);
        rng.shuffle(&mut ours);
        let after = reconcile(ChannelKind::Wechat, &theirs, &ours).expect("one channel");
        assert_eq!(before, after);
    }

    #[test]
    fn one_line_that_differs_in_amount_status_and_fee_is_listed_three_times() {
        let line = &clean_day(3, 1)[0].0;
        let record = OurRecord {
            amount_minor: line.amount_minor + 5,
            status: OurStatus::Closed,
            expected_fee_minor: line.fee_minor + 1,
            ..record_of(line, OurStatus::Succeeded)
        };
        let result = reconcile(ChannelKind::Wechat, std::slice::from_ref(line), &[record]).expect("one channel");
        let kinds: Vec<DifferenceKind> = result.differences.iter().map(|d| d.kind).collect();
        assert_eq!(kinds, vec![DifferenceKind::Amount, DifferenceKind::Status, DifferenceKind::Fee]);
        assert_eq!(result.matched, 0);
        assert!(result.differences.iter().all(|d| d.ours.is_some() && d.theirs.is_some()));
    }

    #[test]
    fn records_that_moved_no_money_may_be_missing_from_the_bill() {
        let paid = OurRecord {
            kind: BillKind::Payment,
            channel: ChannelKind::Wechat,
            out_trade_no: "T1".into(),
            out_refund_no: None,
            amount_minor: 100,
            status: OurStatus::Succeeded,
            expected_fee_minor: 1,
        };
        let pending_refund = OurRecord {
            kind: BillKind::Refund,
            out_refund_no: Some("R1".into()),
            status: OurStatus::Pending,
            ..paid.clone()
        };
        let failed_refund =
            OurRecord { out_refund_no: Some("R2".into()), status: OurStatus::Failed, ..pending_refund.clone() };
        let closed = OurRecord { out_trade_no: "T2".into(), status: OurStatus::Closed, ..paid.clone() };
        let result =
            reconcile(ChannelKind::Wechat, &[], &[pending_refund, failed_refund, closed]).expect("one channel");
        assert!(result.is_clean());
        let result = reconcile(ChannelKind::Wechat, &[], std::slice::from_ref(&paid)).expect("one channel");
        assert_eq!(found(&result), vec![(DifferenceKind::MissingTheirs, "T1".to_owned(), None)]);
        assert_eq!(result.differences[0].ours.as_ref(), Some(&paid));
    }

    #[test]
    fn statuses_agree_only_where_both_sides_say_the_same() {
        use BillKind::{Payment, Refund};
        assert!(statuses_agree(Payment, BillStatus::Success, OurStatus::Refunded));
        assert!(!statuses_agree(Refund, BillStatus::Success, OurStatus::Refunded));
        assert!(statuses_agree(Refund, BillStatus::Processing, OurStatus::Pending));
        assert!(statuses_agree(Payment, BillStatus::Revoked, OurStatus::Closed));
        assert!(statuses_agree(Refund, BillStatus::Failed, OurStatus::Failed));
        // Paid at the channel while we still wait, or after we closed: money we must act on.
        assert!(!statuses_agree(Payment, BillStatus::Success, OurStatus::Pending));
        assert!(!statuses_agree(Payment, BillStatus::Success, OurStatus::Closed));
        assert!(!statuses_agree(Refund, BillStatus::Processing, OurStatus::Succeeded));
    }

    #[test]
    fn bill_line_of_another_channel_is_refused_and_our_other_channels_are_skipped() {
        let pairs = clean_day(5, 3);
        let theirs: Vec<BillLine> = pairs.iter().map(|(l, _)| l.clone()).collect();
        let mut ours: Vec<OurRecord> = pairs.iter().map(|(_, r)| r.clone()).collect();
        ours.push(OurRecord { channel: ChannelKind::Alipay, out_trade_no: "A1".into(), ..ours[0].clone() });
        let result = reconcile(ChannelKind::Wechat, &theirs, &ours).expect("one channel");
        assert!(result.is_clean());
        assert_eq!(
            reconcile(ChannelKind::Alipay, &theirs, &ours),
            Err(ReconcileError::ForeignLine { index: 0, found: "wechat", expected: "alipay" })
        );
    }

    #[test]
    fn names_round_trip() {
        for s in OurStatus::ALL {
            assert_eq!(OurStatus::parse(s.as_str()), Some(s));
        }
        for s in BillStatus::ALL {
            assert_eq!(BillStatus::parse(s.as_str()), Some(s));
        }
        for k in [BillKind::Payment, BillKind::Refund] {
            assert_eq!(BillKind::parse(k.as_str()), Some(k));
        }
    }
}
