//! The books in beancount's text format (https://beancount.github.io/docs/), pure. Inventory
//! accounts book FIFO; a receipt is a lot `{unit cost, date}` of the SKU as a commodity, an
//! issue reduces with an empty cost `{}` — beancount picks the lots itself, so a transaction
//! balances only if our FIFO cost of goods sold equals beancount's.

use super::store::LedgerLine;
use std::collections::BTreeMap;
use std::fmt::Write;
use tote_shared::calendar::utc_day;

pub const CURRENCY: &str = "CNY";

/// A beancount commodity for a SKU: the SKU itself where beancount's rule allows it (a capital
/// letter first, a letter or digit last, at most 24 characters), else `SKU` and a hash.
pub fn commodity(sku: &str) -> String {
    let allowed = |c: char| c.is_ascii_uppercase() || c.is_ascii_digit() || "'._-".contains(c);
    let ok = (1..=24).contains(&sku.len())
        && sku.starts_with(|c: char| c.is_ascii_uppercase())
        && sku.ends_with(|c: char| c.is_ascii_uppercase() || c.is_ascii_digit())
        && sku.chars().all(allowed);
    if ok {
        return sku.to_owned();
    }
    let hash = sku.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3));
    format!("SKU{hash:016X}")
}

fn money(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.unsigned_abs() / 100, minor.unsigned_abs() % 100)
}

fn quoted(text: &str) -> String {
    let clean: String = text.chars().filter(|c| !c.is_control()).map(|c| if c == '"' { '\'' } else { c }).collect();
    format!("\"{}\"", clean.replace('\\', "/"))
}

/// The header, the accounts (opened on the day of their first use) and the commodities.
pub fn header(accounts: &BTreeMap<String, i64>, skus: &BTreeMap<String, i64>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "option \"title\" \"Tote books\"\noption \"operating_currency\" \"{CURRENCY}\"\n");
    for (sku, first_ms) in skus {
        let _ = writeln!(out, "{} commodity {}\n  sku: {}", utc_day(*first_ms), commodity(sku), quoted(sku));
    }
    for (account, opened_ms) in accounts {
        let booking = if account.starts_with("Assets:Inventory:") { " \"FIFO\"" } else { "" };
        let _ = writeln!(out, "{} open {account}{booking}", utc_day(*opened_ms));
    }
    out.push('\n');
    out
}

/// One ledger entry's lines as a transaction dated `at_ms`. An issue of a SKU from one account
/// is one reduction of its total quantity. Each lot carries a label naming the line that made
/// it, so two lots of one day and cost stay two (beancount would merge them, and its FIFO order
/// would no longer be ours).
pub fn transaction(at_ms: i64, lines: &[LedgerLine]) -> String {
    let Some(first) = lines.first() else { return String::new() };
    let mut out = format!("{} * {} ^event-{}\n", utc_day(at_ms), quoted(&first.description), first.event_seq);
    let mut issues: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for (n, line) in lines.iter().enumerate() {
        match &line.lot {
            Some((sku, qty, unit_cost, lot_ms)) if *qty > 0 => {
                let (cost, day, entry) = (money(*unit_cost), utc_day(*lot_ms), line.entry_id);
                let _ = writeln!(out, "  {}  {qty} {} {{{cost} {CURRENCY}, {day}, \"e{entry}-{n}\"}}", line.account, commodity(sku));
            }
            Some((sku, qty, _, _)) => *issues.entry((line.account.as_str(), sku.as_str())).or_default() += qty,
            None => {
                let _ = writeln!(out, "  {}  {} {CURRENCY}", line.account, money(line.amount));
            }
        }
    }
    for ((account, sku), qty) in issues {
        let _ = writeln!(out, "  {account}  {qty} {} {{}}", commodity(sku));
    }
    out.push('\n');
    out
}

/// Balance assertions on `day_ms`'s day (after the last entry) for every account: its yuan
/// (lines without a lot) and, in inventory accounts, the units of each SKU its lots hold. So
/// beancount checks each account's running total against ours, not only the grand totals.
pub fn balances(day_ms: i64, lines: &[LedgerLine]) -> String {
    let mut yuan: BTreeMap<&str, i64> = BTreeMap::new();
    let mut units: BTreeMap<(&str, &str), i64> = BTreeMap::new();
    for line in lines {
        match &line.lot {
            Some((sku, qty, _, _)) => *units.entry((line.account.as_str(), sku.as_str())).or_default() += qty,
            None => *yuan.entry(line.account.as_str()).or_default() += line.amount,
        }
    }
    // Beancount's balance of an account includes its sub-accounts'.
    use super::statements::under;
    let day = utc_day(day_ms);
    let mut out = String::new();
    for account in yuan.keys() {
        let amount: i64 = yuan.iter().filter(|(a, _)| under(a, account)).map(|(_, v)| v).sum();
        let _ = writeln!(out, "{day} balance {account}  {} {CURRENCY}", money(amount));
    }
    for (account, sku) in units.keys() {
        let qty: i64 = units.iter().filter(|((a, s), _)| s == sku && under(a, account)).map(|(_, q)| q).sum();
        let _ = writeln!(out, "{day} balance {account}  {qty} {}", commodity(sku));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skus_beancount_cannot_name_get_a_stable_name_it_can() {
        assert_eq!(commodity("PEG39-M-WHT-42"), "PEG39-M-WHT-42");
        for odd in ["42-PEG", "PEG-", "A-VERY-LONG-SKU-THAT-BEANCOUNT-REFUSES"] {
            let name = commodity(odd);
            assert!(name.starts_with("SKU") && name.len() == 19, "{odd} → {name}");
            assert_eq!(name, commodity(odd));
        }
        assert_ne!(commodity("42-PEG"), commodity("43-PEG"));
    }

    #[test]
    fn each_account_gets_its_yuan_and_each_sku_its_units_asserted() {
        let line = |account: &str, amount: i64, lot: Option<(String, i64, i64, i64)>| LedgerLine {
            entry_id: 1,
            event_seq: 1,
            at_ms: 0,
            description: String::new(),
            account: account.into(),
            amount,
            lot,
        };
        let text = balances(86_400_000, &[
            line("Assets:Inventory:SH-01", 300, Some(("PEG".into(), 3, 100, 0))),
            line("Assets:Inventory:SH-01", -100, Some(("PEG".into(), -1, 100, 0))),
            line("Assets:Inventory:SH-01", -50, None),
            line("Liabilities:GoodsReceivedNotInvoiced", -300, None),
            line("Liabilities:GoodsReceivedNotInvoiced:Unordered", -20, None),
        ]);
        assert_eq!(
            text,
            "1970-01-02 balance Assets:Inventory:SH-01  -0.50 CNY\n1970-01-02 balance Liabilities:GoodsReceivedNotInvoiced  -3.20 CNY\n\
             1970-01-02 balance Liabilities:GoodsReceivedNotInvoiced:Unordered  -0.20 CNY\n1970-01-02 balance Assets:Inventory:SH-01  2 PEG\n",
            "a parent's balance holds its sub-accounts'"
        );
    }

    #[test]
    fn amounts_are_written_in_yuan_with_two_decimals() {
        assert_eq!(money(89_900), "899.00");
        assert_eq!(money(-5), "-0.05");
        assert_eq!(money(0), "0.00");
    }

    #[test]
    fn an_issue_is_one_reduction_with_an_empty_cost() {
        let line = |account: &str, amount: i64, lot: Option<(String, i64, i64, i64)>| LedgerLine {
            entry_id: 1,
            event_seq: 9,
            at_ms: 0,
            description: "order 7 \"shipped\"".into(),
            account: account.into(),
            amount,
            lot,
        };
        let text = transaction(0, &[
            line("Assets:Inventory:SH-01", -300, Some(("PEG".into(), -3, 100, 0))),
            line("Assets:Inventory:SH-01", -120, Some(("PEG".into(), -1, 120, 0))),
            line("Expenses:CostOfGoodsSold", 420, None),
        ]);
        assert_eq!(text, "1970-01-01 * \"order 7 'shipped'\" ^event-9\n  Expenses:CostOfGoodsSold  4.20 CNY\n  Assets:Inventory:SH-01  -4 PEG {}\n\n");
    }
}
