//! E-invoices: one blue invoice per paid order, red-letter (credit) invoices for refunds, and
//! their JSON and XML exports.
//!
//! What it is: `issue_blue` builds an invoice from an order's lines, `issue_red` builds a credit
//! for part or all of what a blue invoice has left, `left_to_credit` says what that is, and
//! `to_json` / `to_xml` write the layout documented in `shared/docs/invoices.md`.
//!
//! What it is not: it does no I/O and keeps no state. It does not number invoices (the caller's
//! store hands out numbers and makes sure an order gets one blue invoice), and it is not a tax
//! authority's submission format: the exports are our own layout, for the finance system and
//! the customer's download.
//!
//! Money is integer minor units, prices are tax-inclusive, and every sum is checked: an
//! overflow is an error, never a panic or a wrapped number.

use crate::domain::{Money, Qty, Sku};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt::Write as _;

/// Most lines on one invoice.
pub const MAX_LINES: usize = 1_000;
/// Longest name, address or description, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Highest tax rate, in basis points (100%).
pub const MAX_TAX_RATE_BP: u32 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceKind {
    /// The invoice for a paid order: positive amounts.
    Blue,
    /// A credit against a blue invoice for a refund: negative amounts.
    Red,
}

impl InvoiceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceKind::Blue => "blue",
            InvoiceKind::Red => "red",
        }
    }
}

/// The seller (name, tax id and address all required) or the buyer (a name; a company buyer
/// adds its tax id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Party {
    pub name: String,
    pub tax_id: Option<String>,
    pub address: Option<String>,
}

/// One line. On a red invoice `qty`, the amounts and the tax are negative, `unit_price_minor`
/// stays positive (0 on an amount-only credit, which gives back no units), and
/// `original_line_no` names the blue line (counting from 1) it credits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceLine {
    pub sku: Sku,
    pub description: String,
    pub qty: i64,
    /// Tax-inclusive.
    pub unit_price_minor: i64,
    /// Tax-inclusive: `qty × unit_price_minor − discount_minor` on a blue line.
    pub amount_minor: i64,
    /// On a blue line, the discount the line was sold at (promotions, coupons): the invoice
    /// states the price net of it, as the tax rules want a discount on the same line.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub discount_minor: i64,
    /// 1300 = 13%.
    pub tax_rate_bp: u32,
    pub tax_minor: i64,
    /// `amount_minor − tax_minor`.
    pub net_minor: i64,
    pub original_line_no: Option<u32>,
}

/// Sums of the lines' columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Totals {
    pub amount_minor: i64,
    pub tax_minor: i64,
    pub net_minor: i64,
}

impl Totals {
    /// The checked sums of the lines.
    pub fn of(lines: &[InvoiceLine]) -> Result<Totals, InvoiceError> {
        lines.iter().try_fold(Totals::default(), |sum, line| {
            Ok(Totals {
                amount_minor: checked_add(sum.amount_minor, line.amount_minor, "the total amount")?,
                tax_minor: checked_add(sum.tax_minor, line.tax_minor, "the total tax")?,
                net_minor: checked_add(sum.net_minor, line.net_minor, "the total net amount")?,
            })
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Invoice {
    pub number: String,
    pub kind: InvoiceKind,
    /// The blue invoice a red one credits; `None` on a blue invoice.
    pub original_number: Option<String>,
    pub order_id: u64,
    pub issued_at_ms: i64,
    pub seller: Party,
    pub buyer: Party,
    pub lines: Vec<InvoiceLine>,
    pub totals: Totals,
}

/// One order line to invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoiceItem {
    pub sku: Sku,
    pub description: String,
    pub qty: Qty,
    /// Tax-inclusive.
    pub unit_price_minor: Money,
    /// What the line's promotions took off it, tax-inclusive.
    #[serde(default)]
    pub discount_minor: Money,
    pub tax_rate_bp: u32,
}

fn is_zero(n: &i64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlueInvoiceRequest {
    pub number: String,
    pub order_id: u64,
    pub issued_at_ms: i64,
    pub seller: Party,
    pub buyer: Party,
    pub items: Vec<InvoiceItem>,
}

/// What a refund gives back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Refund {
    /// Some units of some lines, at the line's unit price (goods returned).
    Quantities { lines: Vec<RefundQty> },
    /// A tax-inclusive amount with no goods returned (a price adjustment), spread over the
    /// lines in proportion to what each has left (largest remainder, so the parts add up to the
    /// cent; ties go to the earlier line).
    Amount { amount_minor: i64 },
    /// Everything the blue invoice has left. (Braces so that `deny_unknown_fields` holds for
    /// it too: `{"kind": "all", "qty": 1}` is refused, not read as a full refund.)
    All {},
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RefundQty {
    /// The blue invoice's line, counting from 1.
    pub line_no: u32,
    pub qty: Qty,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RedInvoiceRequest {
    pub number: String,
    pub issued_at_ms: i64,
    pub refund: Refund,
}

/// What one blue line has left after its credits: all four are ≥ 0 and
/// `amount_minor = tax_minor + net_minor`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineLeft {
    pub line_no: u32,
    pub qty: i64,
    pub amount_minor: i64,
    pub tax_minor: i64,
    pub net_minor: i64,
}

/// Why an invoice cannot be issued. The message is shown to API clients as-is; amounts are in
/// minor units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvoiceError {
    #[error("invoice number {0:?} is invalid: use 1-32 characters A-Z, a-z, 0-9 or '-'")]
    InvalidNumber(String),
    #[error("{field} is invalid: use 1-{max} characters and no control characters", max = MAX_TEXT_CHARS)]
    InvalidText { field: String },
    #[error("the {party}'s tax id {value:?} is invalid: use 15-20 characters A-Z or 0-9")]
    InvalidTaxId { party: &'static str, value: String },
    #[error("the seller's {0} is missing: it is printed on every invoice")]
    SellerIncomplete(&'static str),
    #[error("an invoice has 1 to {max} lines, not {count}", max = MAX_LINES)]
    LineCount { count: usize },
    #[error("line {line_no}: tax rate {rate_bp} bp is out of range: it must be between 0 and {max}", max = MAX_TAX_RATE_BP)]
    TaxRateOutOfRange { line_no: usize, rate_bp: u32 },
    #[error("{0} overflows")]
    Overflow(&'static str),
    #[error("invoice {0} is not a blue invoice: only a blue invoice can be credited")]
    NotBlue(String),
    #[error("invoice {number} cannot be used: {reason}")]
    Malformed { number: String, reason: String },
    #[error("invoice number {0} is already used by the blue invoice or one of its credits")]
    NumberInUse(String),
    #[error("the refund names no lines")]
    EmptyRefund,
    #[error("line {line_no} does not exist: invoice {blue} has lines 1 to {lines}")]
    NoSuchLine { blue: String, line_no: u32, lines: usize },
    #[error("line {line_no} is named twice in the refund")]
    DuplicateRefundLine { line_no: u32 },
    #[error("line {line_no}: {requested} units cannot be refunded, {left} are left")]
    QtyExceedsLeft { line_no: u32, requested: i64, left: i64 },
    #[error("line {line_no}: {requested_minor} cannot be refunded, {left_minor} is left")]
    LineAmountExceedsLeft { line_no: u32, requested_minor: i64, left_minor: i64 },
    #[error("{requested_minor} cannot be refunded, {left_minor} is left on invoice {blue}")]
    AmountExceedsLeft { blue: String, requested_minor: i64, left_minor: i64 },
    #[error("a refund amount must be positive, not {0}")]
    AmountNotPositive(i64),
    #[error("invoice {0} has nothing left to refund")]
    NothingLeft(String),
}

/// The tax inside a tax-inclusive amount: `amount × rate / (10000 + rate)`, rounded half up
/// (half away from zero: 0.5 fen → 1 fen, −0.5 → −1), the way tax is rounded per line on
/// Chinese invoices. Away from zero rather than to even so that a credit for a whole line
/// is exactly the negation of the line. Exact in 128 bits; the result is never larger than the
/// amount, so it always fits.
pub fn tax_of(amount_minor: i64, tax_rate_bp: u32) -> i64 {
    let numerator = i128::from(amount_minor) * i128::from(tax_rate_bp);
    let denominator = 10_000 + i128::from(tax_rate_bp);
    let quotient = numerator / denominator;
    let remainder = numerator % denominator;
    let rounded = if 2 * remainder.abs() >= denominator { quotient + numerator.signum() } else { quotient };
    // |rounded| ≤ |amount_minor| because rate / (10000 + rate) < 1.
    i64::try_from(rounded).unwrap_or(amount_minor)
}

/// The invoice for a paid order.
pub fn issue_blue(request: BlueInvoiceRequest) -> Result<Invoice, InvoiceError> {
    check_number(&request.number)?;
    check_party("seller", &request.seller)?;
    if request.seller.tax_id.is_none() {
        return Err(InvoiceError::SellerIncomplete("tax id"));
    }
    if request.seller.address.is_none() {
        return Err(InvoiceError::SellerIncomplete("address"));
    }
    check_party("buyer", &request.buyer)?;
    if !(1..=MAX_LINES).contains(&request.items.len()) {
        return Err(InvoiceError::LineCount { count: request.items.len() });
    }
    let mut lines = Vec::with_capacity(request.items.len());
    for (index, item) in request.items.into_iter().enumerate() {
        let line_no = index + 1;
        check_text(&item.description, || format!("line {line_no}: the description"))?;
        if item.tax_rate_bp > MAX_TAX_RATE_BP {
            return Err(InvoiceError::TaxRateOutOfRange { line_no, rate_bp: item.tax_rate_bp });
        }
        let unit_price_minor = item.unit_price_minor.minor();
        let discount_minor = item.discount_minor.minor();
        let amount_minor = item
            .qty
            .as_i64()
            .checked_mul(unit_price_minor)
            .and_then(|gross| gross.checked_sub(discount_minor))
            .filter(|amount| *amount >= 0)
            .ok_or(InvoiceError::Overflow("a line amount"))?;
        let tax_minor = tax_of(amount_minor, item.tax_rate_bp);
        lines.push(InvoiceLine {
            sku: item.sku,
            description: item.description,
            qty: item.qty.as_i64(),
            unit_price_minor,
            amount_minor,
            discount_minor,
            tax_rate_bp: item.tax_rate_bp,
            tax_minor,
            net_minor: amount_minor - tax_minor,
            original_line_no: None,
        });
    }
    let totals = Totals::of(&lines)?;
    Ok(Invoice {
        number: request.number,
        kind: InvoiceKind::Blue,
        original_number: None,
        order_id: request.order_id,
        issued_at_ms: request.issued_at_ms,
        seller: request.seller,
        buyer: request.buyer,
        lines,
        totals,
    })
}

/// What each line of `blue` has left once `earlier_reds` (every credit issued against it so
/// far) are taken off. Fails if those credits are not `blue`'s or already give back more than
/// it had.
pub fn left_to_credit(blue: &Invoice, earlier_reds: &[Invoice]) -> Result<Vec<LineLeft>, InvoiceError> {
    if blue.kind != InvoiceKind::Blue {
        return Err(InvoiceError::NotBlue(blue.number.clone()));
    }
    let malformed = |number: &str, reason: String| InvoiceError::Malformed { number: number.to_owned(), reason };
    let mut left = Vec::with_capacity(blue.lines.len());
    for (index, line) in blue.lines.iter().enumerate() {
        let line_no = u32::try_from(index + 1).map_err(|_| InvoiceError::LineCount { count: blue.lines.len() })?;
        let sound = line.qty >= 0
            && line.amount_minor >= 0
            && line.tax_minor >= 0
            && line.net_minor >= 0
            && line.amount_minor.checked_sub(line.tax_minor) == Some(line.net_minor);
        if !sound {
            return Err(malformed(&blue.number, format!("line {line_no} does not add up")));
        }
        left.push(LineLeft {
            line_no,
            qty: line.qty,
            amount_minor: line.amount_minor,
            tax_minor: line.tax_minor,
            net_minor: line.net_minor,
        });
    }
    let mut seen = HashSet::new();
    for red in earlier_reds {
        if red.kind != InvoiceKind::Red || red.original_number.as_deref() != Some(blue.number.as_str()) {
            return Err(malformed(&red.number, format!("it is not a credit of invoice {}", blue.number)));
        }
        if !seen.insert(red.number.as_str()) {
            return Err(malformed(&red.number, "it is listed twice".to_owned()));
        }
        for line in &red.lines {
            let Some(target) =
                line.original_line_no.and_then(|no| no.checked_sub(1)).and_then(|index| left.get_mut(index as usize))
            else {
                return Err(malformed(&red.number, "a line names no line of the blue invoice".to_owned()));
            };
            let after = take_credit(target, line);
            let positive = line.qty > 0 || line.amount_minor > 0 || line.tax_minor > 0 || line.net_minor > 0;
            match after {
                Some(after) if !positive && after.amount_minor == after.tax_minor + after.net_minor => *target = after,
                _ => {
                    return Err(malformed(
                        &red.number,
                        format!("it gives back more than line {} of invoice {} has", target.line_no, blue.number),
                    ))
                }
            }
        }
    }
    Ok(left)
}

/// What `qty` more units of blue line `line` are worth, with `left` of it not credited yet:
/// `qty × unit price` on a line sold at list price; on a discounted one, the units' exact
/// share of its amount (`crate::units_share`), so crediting it unit by unit gives back exactly
/// the line.
pub fn units_amount(line: &InvoiceLine, left: &LineLeft, qty: i64) -> Option<i64> {
    if line.discount_minor == 0 {
        return qty.checked_mul(line.unit_price_minor);
    }
    let before = line.qty.checked_sub(left.qty)?;
    (before + qty <= line.qty).then(|| crate::units_share(line.amount_minor, line.qty, before, qty))
}

/// What a line has left after one credit line, if that leaves nothing negative.
fn take_credit(left: &LineLeft, credit: &InvoiceLine) -> Option<LineLeft> {
    let give_back = |have: i64, credit: i64| have.checked_add(credit).filter(|v| *v >= 0);
    Some(LineLeft {
        line_no: left.line_no,
        qty: give_back(left.qty, credit.qty)?,
        amount_minor: give_back(left.amount_minor, credit.amount_minor)?,
        tax_minor: give_back(left.tax_minor, credit.tax_minor)?,
        net_minor: give_back(left.net_minor, credit.net_minor)?,
    })
}

/// A credit (red-letter invoice) against `blue` for a refund. `earlier_reds` are every credit
/// already issued against it: a credit never gives back more than they left.
///
/// Rounding is settled on the credits: a credit line never gives back more tax or more net
/// than its blue line has left, and the credit that empties a line gives back exactly what is
/// left, so a blue invoice and all its credits always add up to zero once everything is
/// refunded, to the fen, in every column.
pub fn issue_red(
    blue: &Invoice,
    earlier_reds: &[Invoice],
    request: RedInvoiceRequest,
) -> Result<Invoice, InvoiceError> {
    check_number(&request.number)?;
    let left = left_to_credit(blue, earlier_reds)?;
    if request.number == blue.number || earlier_reds.iter().any(|red| red.number == request.number) {
        return Err(InvoiceError::NumberInUse(request.number));
    }
    // (blue line index, units back, amount back), amounts ≥ 0.
    let mut credits: Vec<(usize, i64, i64)> = Vec::new();
    match &request.refund {
        Refund::Quantities { lines } => {
            if lines.is_empty() {
                return Err(InvoiceError::EmptyRefund);
            }
            let mut named = HashSet::new();
            for refund in lines {
                let index = (refund.line_no as usize)
                    .checked_sub(1)
                    .filter(|index| *index < blue.lines.len())
                    .ok_or_else(|| InvoiceError::NoSuchLine {
                        blue: blue.number.clone(),
                        line_no: refund.line_no,
                        lines: blue.lines.len(),
                    })?;
                if !named.insert(index) {
                    return Err(InvoiceError::DuplicateRefundLine { line_no: refund.line_no });
                }
                let line_left = &left[index];
                let qty = refund.qty.as_i64();
                if qty > line_left.qty {
                    return Err(InvoiceError::QtyExceedsLeft {
                        line_no: refund.line_no,
                        requested: qty,
                        left: line_left.qty,
                    });
                }
                let amount = units_amount(&blue.lines[index], line_left, qty).ok_or(InvoiceError::Overflow("a refund amount"))?;
                if amount > line_left.amount_minor {
                    return Err(InvoiceError::LineAmountExceedsLeft {
                        line_no: refund.line_no,
                        requested_minor: amount,
                        left_minor: line_left.amount_minor,
                    });
                }
                credits.push((index, qty, amount));
            }
        }
        Refund::Amount { amount_minor } => {
            if *amount_minor <= 0 {
                return Err(InvoiceError::AmountNotPositive(*amount_minor));
            }
            let total_left = left
                .iter()
                .try_fold(0i64, |sum, l| sum.checked_add(l.amount_minor))
                .ok_or(InvoiceError::Overflow("the amount left"))?;
            if *amount_minor > total_left {
                return Err(InvoiceError::AmountExceedsLeft {
                    blue: blue.number.clone(),
                    requested_minor: *amount_minor,
                    left_minor: total_left,
                });
            }
            let weights: Vec<i64> = left.iter().map(|l| l.amount_minor).collect();
            for (index, share) in apportion(*amount_minor, &weights).into_iter().enumerate() {
                if share > 0 {
                    credits.push((index, 0, share));
                }
            }
        }
        Refund::All {} => {
            for (index, line_left) in left.iter().enumerate() {
                if line_left.qty > 0 || line_left.amount_minor > 0 {
                    credits.push((index, line_left.qty, line_left.amount_minor));
                }
            }
            if credits.is_empty() {
                return Err(InvoiceError::NothingLeft(blue.number.clone()));
            }
        }
    }
    let lines: Vec<InvoiceLine> = credits
        .into_iter()
        .map(|(index, qty, amount)| {
            let original = &blue.lines[index];
            let line_left = &left[index];
            let (tax, net) = split_credit(amount, original.tax_rate_bp, line_left);
            InvoiceLine {
                sku: original.sku.clone(),
                description: original.description.clone(),
                qty: -qty,
                unit_price_minor: if qty == 0 { 0 } else { original.unit_price_minor },
                amount_minor: -amount,
                discount_minor: 0,
                tax_rate_bp: original.tax_rate_bp,
                tax_minor: -tax,
                net_minor: -net,
                original_line_no: Some(line_left.line_no),
            }
        })
        .collect();
    let totals = Totals::of(&lines)?;
    Ok(Invoice {
        number: request.number,
        kind: InvoiceKind::Red,
        original_number: Some(blue.number.clone()),
        order_id: blue.order_id,
        issued_at_ms: request.issued_at_ms,
        seller: blue.seller.clone(),
        buyer: blue.buyer.clone(),
        lines,
        totals,
    })
}

/// Tax and net of giving back `amount` (0 ≤ amount ≤ left) of a line: the formula, held within
/// what the line has left of each, and exactly what is left when the credit empties the line.
fn split_credit(amount: i64, tax_rate_bp: u32, left: &LineLeft) -> (i64, i64) {
    if amount == left.amount_minor {
        return (left.tax_minor, left.net_minor);
    }
    // amount ≤ left.tax + left.net and all are ≥ 0 (checked by `left_to_credit`), so
    // low ≤ high and nothing here can overflow.
    let low = (amount - left.net_minor).max(0);
    let high = amount.min(left.tax_minor);
    let tax = tax_of(amount, tax_rate_bp).max(low).min(high);
    (tax, amount - tax)
}

/// Splits `total` (0 ≤ total ≤ Σ weights, all ≥ 0) in proportion to `weights`: each part is
/// the floor of its exact share, and the units left over go to the largest remainders, earlier
/// parts first on a tie. The parts add up to `total` and none exceeds its weight.
fn apportion(total: i64, weights: &[i64]) -> Vec<i64> {
    let sum: i128 = weights.iter().map(|w| i128::from(*w)).sum();
    if sum == 0 {
        return vec![0; weights.len()];
    }
    let exact: Vec<(i128, i128)> = weights
        .iter()
        .map(|w| {
            let scaled = i128::from(total) * i128::from(*w);
            (scaled / sum, scaled % sum)
        })
        .collect();
    let floors: i128 = exact.iter().map(|(floor, _)| floor).sum();
    let mut order: Vec<usize> = (0..weights.len()).collect();
    order.sort_by(|a, b| exact[*b].1.cmp(&exact[*a].1).then(a.cmp(b)));
    let mut parts: Vec<i128> = exact.iter().map(|(floor, _)| *floor).collect();
    let extra = usize::try_from(i128::from(total) - floors).unwrap_or(0);
    for index in order.into_iter().take(extra) {
        parts[index] += 1;
    }
    // Each part is at most its weight, itself an i64.
    parts.into_iter().map(|p| i64::try_from(p).unwrap_or(0)).collect()
}

fn checked_add(a: i64, b: i64, what: &'static str) -> Result<i64, InvoiceError> {
    a.checked_add(b).ok_or(InvoiceError::Overflow(what))
}

fn check_number(number: &str) -> Result<(), InvoiceError> {
    let ok = (1..=32).contains(&number.len()) && number.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(InvoiceError::InvalidNumber(truncate(number)))
    }
}

fn check_text(text: &str, field: impl FnOnce() -> String) -> Result<(), InvoiceError> {
    let count = text.chars().count();
    // Control characters cannot be printed, and most cannot be written in XML 1.0 at all;
    // bidirectional overrides would make the invoice read otherwise than it is stored.
    if (1..=MAX_TEXT_CHARS).contains(&count) && crate::text::first_forbidden(text).is_none() {
        Ok(())
    } else {
        Err(InvoiceError::InvalidText { field: field() })
    }
}

fn check_party(party: &'static str, details: &Party) -> Result<(), InvoiceError> {
    check_text(&details.name, || format!("the {party}'s name"))?;
    if let Some(address) = &details.address {
        check_text(address, || format!("the {party}'s address"))?;
    }
    if let Some(tax_id) = &details.tax_id {
        // China's unified social credit code has 18; older registrations 15, 17 or 20.
        let ok =
            (15..=20).contains(&tax_id.len()) && tax_id.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
        if !ok {
            return Err(InvoiceError::InvalidTaxId { party, value: truncate(tax_id) });
        }
    }
    Ok(())
}

/// Error messages echo the bad input; keep them short whatever a client sent.
fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

/// The invoice as pretty-printed JSON in the documented layout: every field present, `null`
/// for an absent one, fields in declaration order.
pub fn to_json(invoice: &Invoice) -> String {
    // Plain structs with string keys: serde_json cannot fail on them.
    serde_json::to_string_pretty(invoice).unwrap_or_default()
}

/// The invoice as XML in the documented layout: UTF-8, elements only (no attributes), in a
/// fixed order, two-space indent, absent optional fields left out, integers in minor units.
pub fn to_xml(invoice: &Invoice) -> String {
    let mut xml = Xml { out: String::with_capacity(1_024 + 512 * invoice.lines.len()), depth: 0 };
    xml.out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    xml.open("invoice");
    xml.leaf("number", &invoice.number);
    xml.leaf("kind", invoice.kind.as_str());
    if let Some(original) = &invoice.original_number {
        xml.leaf("original_number", original);
    }
    xml.leaf("order_id", invoice.order_id);
    xml.leaf("issued_at_ms", invoice.issued_at_ms);
    for (element, party) in [("seller", &invoice.seller), ("buyer", &invoice.buyer)] {
        xml.open(element);
        xml.leaf("name", &party.name);
        if let Some(tax_id) = &party.tax_id {
            xml.leaf("tax_id", tax_id);
        }
        if let Some(address) = &party.address {
            xml.leaf("address", address);
        }
        xml.close(element);
    }
    xml.open("lines");
    for line in &invoice.lines {
        xml.open("line");
        xml.leaf("sku", &line.sku);
        xml.leaf("description", &line.description);
        xml.leaf("qty", line.qty);
        xml.leaf("unit_price_minor", line.unit_price_minor);
        xml.leaf("amount_minor", line.amount_minor);
        if line.discount_minor != 0 {
            xml.leaf("discount_minor", line.discount_minor);
        }
        xml.leaf("tax_rate_bp", line.tax_rate_bp);
        xml.leaf("tax_minor", line.tax_minor);
        xml.leaf("net_minor", line.net_minor);
        if let Some(original) = line.original_line_no {
            xml.leaf("original_line_no", original);
        }
        xml.close("line");
    }
    xml.close("lines");
    xml.open("totals");
    xml.leaf("amount_minor", invoice.totals.amount_minor);
    xml.leaf("tax_minor", invoice.totals.tax_minor);
    xml.leaf("net_minor", invoice.totals.net_minor);
    xml.close("totals");
    xml.close("invoice");
    xml.out
}

/// A tiny indenting writer: the layout is fixed, so no XML library is needed.
struct Xml {
    out: String,
    depth: usize,
}

impl Xml {
    fn indent(&mut self) {
        for _ in 0..self.depth {
            self.out.push_str("  ");
        }
    }

    fn open(&mut self, name: &str) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>");
        self.depth += 1;
    }

    fn close(&mut self, name: &str) {
        self.depth -= 1;
        self.indent();
        let _ = writeln!(self.out, "</{name}>");
    }

    fn leaf(&mut self, name: &str, value: impl std::fmt::Display) {
        self.indent();
        let _ = writeln!(self.out, "<{name}>{}</{name}>", escape_xml(&value.to_string()));
    }
}

/// Escapes text for XML element content or attribute values. Tab, newline and carriage return
/// become character references so that parsers keep them as they are; other control characters
/// and the non-characters U+FFFE/U+FFFF cannot be written in XML 1.0 at all and become U+FFFD
/// (issued invoices never contain them: `issue_*` refuse control characters).
fn escape_xml(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' => escaped.push_str("&#9;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            c if c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}' => escaped.push('\u{FFFD}'),
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn sku(raw: &str) -> Sku {
        Sku::parse(raw).expect("valid SKU")
    }

    fn item(code: &str, qty: i64, unit_price_minor: i64, tax_rate_bp: u32) -> InvoiceItem {
        InvoiceItem {
            sku: sku(code),
            description: format!("{code} description"),
            qty: Qty::parse(qty).expect("valid qty"),
            unit_price_minor: Money::parse(unit_price_minor).expect("valid price"),
            discount_minor: Money::ZERO,
            tax_rate_bp,
        }
    }

    fn seller() -> Party {
        Party {
            name: "Tote Retail (Shanghai) Co., Ltd.".into(),
            tax_id: Some("91310115MA1K4LXX3P".into()),
            address: Some("1 Example Road, Pudong, Shanghai".into()),
        }
    }

    fn blue_request(items: Vec<InvoiceItem>) -> BlueInvoiceRequest {
        BlueInvoiceRequest {
            number: "24310000000000000001".into(),
            order_id: 1042,
            issued_at_ms: 1_767_225_600_000,
            seller: seller(),
            buyer: Party { name: "Li Lei".into(), tax_id: None, address: None },
            items,
        }
    }

    fn blue(items: Vec<InvoiceItem>) -> Invoice {
        issue_blue(blue_request(items)).expect("valid blue invoice")
    }

    fn red_request(number: &str, refund: Refund) -> RedInvoiceRequest {
        RedInvoiceRequest { number: number.into(), issued_at_ms: 1_767_312_000_000, refund }
    }

    fn units(list: &[(u32, i64)]) -> Refund {
        Refund::Quantities {
            lines: list
                .iter()
                .map(|(line_no, qty)| RefundQty { line_no: *line_no, qty: Qty::parse(*qty).expect("valid qty") })
                .collect(),
        }
    }

    /// The example in shared/docs/invoices.md: a company buyer whose name needs escaping.
    fn example_blue() -> Invoice {
        issue_blue(BlueInvoiceRequest {
            number: "24310000000000000001".into(),
            order_id: 1042,
            issued_at_ms: 1_767_225_600_000,
            seller: seller(),
            buyer: Party {
                name: "Zhang & Li's \"Run\" Club <Shanghai>".into(),
                tax_id: Some("91310000MA1FL0XX9Q".into()),
                address: None,
            },
            items: vec![
                InvoiceItem {
                    sku: sku("PEG39-M-WHT-42"),
                    description: "Pegasus 39 running shoe, white, EU 42".into(),
                    qty: Qty::parse(1).expect("qty"),
                    unit_price_minor: Money::parse(89_900).expect("price"),
                    discount_minor: Money::ZERO,
                    tax_rate_bp: 1300,
                },
                InvoiceItem {
                    sku: sku("SOCK-RUN-L"),
                    description: "Running socks, 3-pack, size L".into(),
                    qty: Qty::parse(2).expect("qty"),
                    unit_price_minor: Money::parse(5_900).expect("price"),
                    discount_minor: Money::ZERO,
                    tax_rate_bp: 1300,
                },
                InvoiceItem {
                    sku: sku("SVC-GIFTWRAP"),
                    description: "Gift wrapping".into(),
                    qty: Qty::parse(1).expect("qty"),
                    unit_price_minor: Money::parse(1_000).expect("price"),
                    discount_minor: Money::ZERO,
                    tax_rate_bp: 600,
                },
            ],
        })
        .expect("valid example")
    }

    /// The credit in the documentation: one pack of socks came back.
    fn example_red() -> Invoice {
        issue_red(&example_blue(), &[], red_request("24310000000000000002", units(&[(2, 1)]))).expect("valid credit")
    }

    #[test]
    fn tax_is_taken_out_of_the_tax_inclusive_amount_and_rounded_half_away_from_zero() {
        // 113.00 at 13% holds exactly 13.00 of tax.
        assert_eq!(tax_of(11_300, 1300), 1_300);
        // 899.00 at 13%: 103.4247… → 103.42.
        assert_eq!(tax_of(89_900, 1300), 10_342);
        // At 100% the tax is half the amount: 0.5 fen rounds away from zero, both ways.
        assert_eq!(tax_of(1, 10_000), 1);
        assert_eq!(tax_of(-1, 10_000), -1);
        assert_eq!(tax_of(3, 10_000), 2);
        assert_eq!(tax_of(2, 10_000), 1);
        assert_eq!(tax_of(12_345, 0), 0);
        assert_eq!(tax_of(i64::MAX, MAX_TAX_RATE_BP), i64::MAX / 2 + 1);
        assert_eq!(tax_of(i64::MIN, MAX_TAX_RATE_BP), i64::MIN / 2);
    }

    #[test]
    fn a_blue_invoice_has_one_line_per_item_and_totals_that_are_their_sums() {
        let invoice = example_blue();
        assert_eq!(invoice.kind, InvoiceKind::Blue);
        assert_eq!(invoice.original_number, None);
        let socks = &invoice.lines[1];
        assert_eq!((socks.qty, socks.unit_price_minor, socks.amount_minor), (2, 5_900, 11_800));
        // 118.00 × 13 / 113 = 13.5752… → 13.58.
        assert_eq!((socks.tax_minor, socks.net_minor), (1_358, 10_442));
        assert_eq!(invoice.lines[2].tax_minor, 57, "10.00 at 6%: 0.566… → 0.57");
        assert_eq!(invoice.totals, Totals { amount_minor: 102_700, tax_minor: 11_757, net_minor: 90_943 });
    }

    #[test]
    fn issuing_refuses_bad_numbers_text_tax_ids_rates_and_line_counts() {
        let message = |request: BlueInvoiceRequest| issue_blue(request).expect_err("invalid").to_string();
        let good = || blue_request(vec![item("A-1", 1, 100, 1300)]);
        assert_eq!(
            message(BlueInvoiceRequest { number: "2431/0001".into(), ..good() }),
            "invoice number \"2431/0001\" is invalid: use 1-32 characters A-Z, a-z, 0-9 or '-'"
        );
        let mut no_tax_id = good();
        no_tax_id.seller.tax_id = None;
        assert_eq!(message(no_tax_id), "the seller's tax id is missing: it is printed on every invoice");
        let mut no_address = good();
        no_address.seller.address = None;
        assert_eq!(message(no_address), "the seller's address is missing: it is printed on every invoice");
        let mut bad_tax_id = good();
        bad_tax_id.buyer.tax_id = Some("9131-0000".into());
        assert_eq!(message(bad_tax_id), "the buyer's tax id \"9131-0000\" is invalid: use 15-20 characters A-Z or 0-9");
        let mut bad_name = good();
        bad_name.buyer.name = "Li\u{0}Lei".into();
        assert_eq!(message(bad_name), "the buyer's name is invalid: use 1-200 characters and no control characters");
        let mut bad_description = good();
        bad_description.items[0].description = String::new();
        assert_eq!(
            message(bad_description),
            "line 1: the description is invalid: use 1-200 characters and no control characters"
        );
        assert_eq!(
            message(blue_request(vec![item("A-1", 1, 100, 1300), item("A-2", 1, 100, 10_001)])),
            "line 2: tax rate 10001 bp is out of range: it must be between 0 and 10000"
        );
        assert_eq!(message(blue_request(vec![])), "an invoice has 1 to 1000 lines, not 0");
    }

    #[test]
    fn a_red_invoice_credits_the_refunded_units_with_negative_amounts() {
        let blue = example_blue();
        let red = example_red();
        assert_eq!(red.kind, InvoiceKind::Red);
        assert_eq!(red.original_number.as_deref(), Some(blue.number.as_str()));
        assert_eq!((red.order_id, &red.seller, &red.buyer), (blue.order_id, &blue.seller, &blue.buyer));
        assert_eq!(red.lines.len(), 1);
        let line = &red.lines[0];
        assert_eq!(line.sku, sku("SOCK-RUN-L"));
        assert_eq!((line.qty, line.unit_price_minor, line.amount_minor), (-1, 5_900, -5_900));
        // 59.00 × 13 / 113 = 6.7876… → 6.79.
        assert_eq!((line.tax_minor, line.net_minor, line.original_line_no), (-679, -5_221, Some(2)));
        assert_eq!(red.totals, Totals { amount_minor: -5_900, tax_minor: -679, net_minor: -5_221 });
        // The second pack takes what is left, rounding included: 13.58 − 6.79 = 6.79.
        let second = issue_red(&blue, &[red], red_request("R-2", units(&[(2, 1)]))).expect("one pack is left");
        assert_eq!((second.lines[0].tax_minor, second.lines[0].net_minor), (-679, -5_221));
    }

    #[test]
    fn credits_never_give_back_more_than_the_blue_invoice_has_left() {
        let blue = example_blue();
        let first = example_red();
        let message = |earlier: &[Invoice], refund: Refund| {
            issue_red(&blue, earlier, red_request("R-9", refund)).expect_err("too much").to_string()
        };
        assert_eq!(
            message(std::slice::from_ref(&first), units(&[(2, 2)])),
            "line 2: 2 units cannot be refunded, 1 are left"
        );
        assert_eq!(
            message(&[], units(&[(4, 1)])),
            "line 4 does not exist: invoice 24310000000000000001 has lines 1 to 3"
        );
        assert_eq!(message(&[], units(&[(1, 1), (1, 1)])), "line 1 is named twice in the refund");
        assert_eq!(message(&[], units(&[])), "the refund names no lines");
        assert_eq!(
            message(std::slice::from_ref(&first), Refund::Amount { amount_minor: 96_801 }),
            "96801 cannot be refunded, 96800 is left on invoice 24310000000000000001"
        );
        assert_eq!(message(&[], Refund::Amount { amount_minor: 0 }), "a refund amount must be positive, not 0");
        // After a price adjustment the shoe's full price is no longer there to give back.
        let adjustment =
            issue_red(&blue, &[], red_request("R-1", Refund::Amount { amount_minor: 50_000 })).expect("ok");
        assert_eq!(
            message(std::slice::from_ref(&adjustment), units(&[(1, 1)])),
            format!("line 1: 89900 cannot be refunded, {} is left", 89_900 + adjustment.lines[0].amount_minor)
        );
        let everything =
            issue_red(&blue, std::slice::from_ref(&first), red_request("R-2", Refund::All {})).expect("the rest");
        assert_eq!(
            message(&[first.clone(), everything], Refund::All {}),
            "invoice 24310000000000000001 has nothing left to refund"
        );
        assert_eq!(
            issue_red(&blue, std::slice::from_ref(&first), red_request(&first.number, units(&[(1, 1)]))),
            Err(InvoiceError::NumberInUse(first.number.clone()))
        );
    }

    #[test]
    fn an_amount_refund_is_spread_over_the_lines_in_proportion_and_adds_up_to_the_fen() {
        let blue = blue(vec![item("A-1", 1, 10_000, 1300), item("A-2", 1, 20_000, 900), item("A-3", 1, 1, 600)]);
        let red = issue_red(&blue, &[], red_request("R-1", Refund::Amount { amount_minor: 10_000 })).expect("ok");
        let amounts: Vec<i64> = red.lines.iter().map(|l| l.amount_minor).collect();
        // 10000 × (10000, 20000, 1) / 30001 = 3333.2, 6666.4, 0.33: the leftover fen goes to the
        // largest remainder (line 2).
        assert_eq!(amounts, vec![-3_333, -6_667]);
        assert_eq!(red.totals.amount_minor, -10_000);
        assert!(red.lines.iter().all(|l| l.qty == 0 && l.unit_price_minor == 0));
        assert_eq!(red.lines.iter().map(|l| l.original_line_no).collect::<Vec<_>>(), vec![Some(1), Some(2)]);
        assert_eq!(apportion(5, &[1, 1, 1]), vec![2, 2, 1], "ties go to the earlier line");
        assert_eq!(apportion(0, &[0, 0]), vec![0, 0]);
    }

    #[test]
    fn partial_credits_never_give_back_more_tax_than_the_line_has_left() {
        // 0.05 at 100% holds 0.025 of tax, printed as 0.03. Five credits of 0.01 would each
        // compute 0.01 of tax (0.005 rounds up): the fourth and fifth get none, as none is left.
        let blue = blue(vec![item("A-1", 1, 5, 10_000)]);
        assert_eq!((blue.lines[0].tax_minor, blue.lines[0].net_minor), (3, 2));
        let mut reds = Vec::new();
        for index in 0..5 {
            let red = issue_red(&blue, &reds, red_request(&format!("R-{index}"), Refund::Amount { amount_minor: 1 }))
                .expect("a fen is left");
            reds.push(red);
        }
        let taxes: Vec<i64> = reds.iter().map(|r| r.totals.tax_minor).collect();
        assert_eq!(taxes, vec![-1, -1, -1, 0, 0]);
        let left = left_to_credit(&blue, &reds).expect("sound");
        assert_eq!((left[0].amount_minor, left[0].tax_minor, left[0].net_minor), (0, 0, 0));
    }

    #[test]
    fn earlier_credits_must_be_this_invoices_and_must_add_up() {
        let blue = example_blue();
        let red = example_red();
        let refund = || red_request("R-9", units(&[(1, 1)]));
        assert_eq!(
            issue_red(&red, &[], refund()).expect_err("a credit of a credit").to_string(),
            "invoice 24310000000000000002 is not a blue invoice: only a blue invoice can be credited"
        );
        let mut foreign = red.clone();
        foreign.original_number = Some("OTHER-1".into());
        assert_eq!(
            issue_red(&blue, &[foreign], refund()).expect_err("foreign").to_string(),
            "invoice 24310000000000000002 cannot be used: it is not a credit of invoice 24310000000000000001"
        );
        assert_eq!(
            issue_red(&blue, &[red.clone(), red.clone()], refund()).expect_err("twice").to_string(),
            "invoice 24310000000000000002 cannot be used: it is listed twice"
        );
        // A stored credit that was tampered with is an error, not a panic or a wrapped sum.
        let mut huge = red.clone();
        huge.lines[0].amount_minor = i64::MIN;
        assert_eq!(
            issue_red(&blue, &[huge], refund()).expect_err("corrupt").to_string(),
            "invoice 24310000000000000002 cannot be used: it gives back more than line 2 of invoice \
             24310000000000000001 has"
        );
        let mut positive = red.clone();
        positive.lines[0].qty = 1;
        assert!(issue_red(&blue, &[positive], refund()).is_err());
        let mut unlinked = red;
        unlinked.lines[0].original_line_no = Some(0);
        assert_eq!(
            issue_red(&blue, &[unlinked], refund()).expect_err("unlinked").to_string(),
            "invoice 24310000000000000002 cannot be used: a line names no line of the blue invoice"
        );
        let mut unsound = blue.clone();
        unsound.lines[0].net_minor += 1;
        assert!(matches!(issue_red(&unsound, &[], refund()), Err(InvoiceError::Malformed { .. })));
    }

    #[test]
    fn xml_escapes_all_five_markup_characters_and_control_characters() {
        assert_eq!(escape_xml(r#"a & b < c > d " e ' f"#), "a &amp; b &lt; c &gt; d &quot; e &apos; f");
        assert_eq!(escape_xml("tab\tline\nret\r"), "tab&#9;line&#10;ret&#13;");
        assert_eq!(escape_xml("nul\u{0}bell\u{7}\u{FFFF}"), "nul\u{FFFD}bell\u{FFFD}\u{FFFD}");
        assert_eq!(escape_xml("中文 ¥"), "中文 ¥");
        let xml = to_xml(&example_blue());
        assert!(xml.contains("<name>Zhang &amp; Li&apos;s &quot;Run&quot; Club &lt;Shanghai&gt;</name>"));
        assert!(!xml.contains("original_number"), "absent fields are left out");
    }

    #[test]
    fn json_round_trips_and_unknown_fields_are_rejected() {
        for invoice in [example_blue(), example_red()] {
            let json = to_json(&invoice);
            assert_eq!(serde_json::from_str::<Invoice>(&json).expect("parses"), invoice);
        }
        let mut value: serde_json::Value = serde_json::from_str(&to_json(&example_blue())).expect("parses");
        value["colour"] = "blue".into();
        assert!(serde_json::from_value::<Invoice>(value).is_err());
        let refund: Refund = serde_json::from_str(r#"{"kind":"quantities","lines":[{"line_no":2,"qty":1}]}"#)
            .expect("a refund request parses");
        assert_eq!(refund, units(&[(2, 1)]));
        assert!(serde_json::from_str::<Refund>(r#"{"kind":"all","why":"x"}"#).is_err());
    }

    #[test]
    fn the_documented_examples_are_exactly_what_the_exports_produce() {
        let doc = include_str!("../../docs/invoices.md");
        let missing: Vec<String> = [
            ("blue JSON", to_json(&example_blue())),
            ("blue XML", to_xml(&example_blue())),
            ("red JSON", to_json(&example_red())),
            ("red XML", to_xml(&example_red())),
        ]
        .into_iter()
        .filter(|(_, text)| !doc.contains(text.trim_end()))
        .map(|(name, text)| format!("--- {name}\n{text}"))
        .collect();
        assert!(missing.is_empty(), "shared/docs/invoices.md lacks these examples:\n{}", missing.join("\n"));
    }

    fn items() -> impl Strategy<Value = Vec<InvoiceItem>> {
        let rate = prop_oneof![Just(0u32), Just(100), Just(300), Just(600), Just(900), Just(1300), 0..=MAX_TAX_RATE_BP];
        // Tiny prices too: that is where rounding on partial credits bites.
        let price = prop_oneof![0i64..=50, 0i64..=2_000_000];
        let one = (1i64..=500, price, rate).prop_map(|(qty, price, rate)| item("P-1", qty, price, rate));
        proptest::collection::vec(one, 1..12)
    }

    #[derive(Debug, Clone)]
    enum RefundOp {
        Units(Vec<(u32, i64)>),
        Amount(i64),
    }

    fn refund_op() -> impl Strategy<Value = RefundOp> {
        prop_oneof![
            3 => proptest::collection::vec((1u32..=12, 1i64..=200), 1..4).prop_map(RefundOp::Units),
            2 => prop_oneof![1i64..=30, 1i64..=5_000_000].prop_map(RefundOp::Amount),
        ]
    }

    proptest! {
        #[test]
        fn totals_are_always_the_exact_sums_of_the_lines_and_each_line_adds_up(items in items()) {
            let invoice = blue(items);
            let sum = |f: fn(&InvoiceLine) -> i64| invoice.lines.iter().map(f).sum::<i64>();
            prop_assert_eq!(invoice.totals.amount_minor, sum(|l| l.amount_minor));
            prop_assert_eq!(invoice.totals.tax_minor, sum(|l| l.tax_minor));
            prop_assert_eq!(invoice.totals.net_minor, sum(|l| l.net_minor));
            prop_assert_eq!(invoice.totals.amount_minor, invoice.totals.tax_minor + invoice.totals.net_minor);
            for line in &invoice.lines {
                prop_assert_eq!(line.amount_minor, line.qty * line.unit_price_minor);
                prop_assert_eq!(line.net_minor, line.amount_minor - line.tax_minor);
            }
        }

        #[test]
        fn tax_is_within_half_a_fen_of_the_exact_share_and_symmetric(amount in any::<i64>(), rate in 0..=MAX_TAX_RATE_BP) {
            let tax = tax_of(amount, rate);
            let denominator = 10_000 + i128::from(rate);
            let error = i128::from(tax) * denominator - i128::from(amount) * i128::from(rate);
            prop_assert!(2 * error.abs() <= denominator);
            prop_assert!(tax.unsigned_abs() <= amount.unsigned_abs());
            if amount != i64::MIN {
                prop_assert_eq!(tax_of(-amount, rate), -tax);
            }
        }

        /// Whatever partial refunds come in, in whatever order, no column of any line ever goes
        /// below zero, a refused refund is refused for having asked too much, and a final full
        /// credit brings every column of every line to exactly zero.
        #[test]
        fn refunds_never_exceed_the_blue_invoice_and_a_final_full_credit_leaves_exactly_zero(
            items in items(),
            ops in proptest::collection::vec(refund_op(), 0..16),
        ) {
            let blue = blue(items);
            let mut reds: Vec<Invoice> = Vec::new();
            for (index, op) in ops.into_iter().enumerate() {
                let refund = match op {
                    RefundOp::Units(list) => units(&list),
                    RefundOp::Amount(amount_minor) => Refund::Amount { amount_minor },
                };
                match issue_red(&blue, &reds, red_request(&format!("R-{index}"), refund)) {
                    Ok(red) => {
                        prop_assert_eq!(red.totals, Totals::of(&red.lines).expect("sums"));
                        prop_assert!(red.lines.iter().all(|l| l.amount_minor <= 0 && l.tax_minor <= 0 && l.net_minor <= 0 && l.qty <= 0));
                        reds.push(red);
                    }
                    Err(
                        InvoiceError::NoSuchLine { .. }
                        | InvoiceError::DuplicateRefundLine { .. }
                        | InvoiceError::QtyExceedsLeft { .. }
                        | InvoiceError::LineAmountExceedsLeft { .. }
                        | InvoiceError::AmountExceedsLeft { .. }
                        | InvoiceError::NothingLeft(_),
                    ) => {}
                    Err(other) => prop_assert!(false, "unexpected refusal: {}", other),
                }
                // Never negative: left_to_credit refuses credits that give back too much.
                left_to_credit(&blue, &reds).expect("credits stay within the blue invoice");
            }
            match issue_red(&blue, &reds, red_request("R-final", Refund::All {})) {
                Ok(last) => reds.push(last),
                Err(InvoiceError::NothingLeft(_)) => {}
                Err(other) => prop_assert!(false, "unexpected refusal: {}", other),
            }
            for line in left_to_credit(&blue, &reds).expect("sound") {
                prop_assert_eq!((line.qty, line.amount_minor, line.tax_minor, line.net_minor), (0, 0, 0, 0));
            }
            let mut all = vec![blue.totals];
            all.extend(reds.iter().map(|r| r.totals));
            prop_assert_eq!(all.iter().map(|t| t.amount_minor).sum::<i64>(), 0);
            prop_assert_eq!(all.iter().map(|t| t.tax_minor).sum::<i64>(), 0);
            prop_assert_eq!(all.iter().map(|t| t.net_minor).sum::<i64>(), 0);
        }
    }
}
