//! The income statement and the cash-flow statement (indirect) over a period, and the balance
//! sheet at its end, from account balances. Pure: the store sums each account's days, this
//! groups them by the chart of accounts.

use super::books::account as a;
use super::store::Balance;
use serde::Serialize;

/// Revenue and expenses over a period, in minor units (fen), each as a positive figure
/// (a negative expense is a gain). A period close's entries are left out.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IncomeStatement {
    /// Sales net of output VAT.
    pub revenue: i64,
    pub sales_returns: i64,
    pub net_revenue: i64,
    pub cost_of_goods_sold: i64,
    pub gross_profit: i64,
    /// Carriers taking parcels out.
    pub freight: i64,
    /// Carriers bringing returns back.
    pub return_freight: i64,
    /// What payment channels charged on settlement.
    pub payment_fees: i64,
    /// Loyalty points earned less those expired or released.
    pub marketing: i64,
    /// Supplier prices above the orders' on goods that never arrived or were never ordered.
    pub purchase_price_variance: i64,
    pub inventory_write_downs: i64,
    pub inventory_gains: i64,
    /// Expenses not named above.
    pub other_expenses: i64,
    pub net_income: i64,
}

/// What the company owns and owes at a moment, in minor units; earnings not yet closed into
/// retained earnings are shown apart.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceSheet {
    pub assets: i64,
    pub cash: i64,
    pub inventory: i64,
    /// Money payment channels and marketplaces hold for us.
    pub clearing: i64,
    pub input_vat: i64,
    pub liabilities: i64,
    pub customer_advances: i64,
    pub goods_received_not_invoiced: i64,
    /// Suppliers and carriers.
    pub payables: i64,
    pub output_vat: i64,
    pub loyalty_points: i64,
    pub equity: i64,
    pub retained_earnings: i64,
    pub current_earnings: i64,
    /// assets = liabilities + equity + current earnings (the books balance).
    pub balanced: bool,
}

/// One working-capital line of the cash-flow statement: how an account group's change moved
/// cash (an asset that grew used cash; a liability that grew kept it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CashFlowLine {
    pub item: String,
    pub amount: i64,
}

/// Cash flow over a period by the indirect method: net income, adjusted by the change of every
/// non-cash asset and liability. There are no investing or financing accounts yet, so all of
/// it is operating.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct CashFlowStatement {
    pub net_income: i64,
    pub adjustments: Vec<CashFlowLine>,
    pub operating: i64,
    /// The change of the cash accounts over the period.
    pub cash_change: i64,
    /// operating = cash change: every non-cash account is accounted for.
    pub ties: bool,
}

/// The balance of `prefix` and every account under it.
pub fn sum(balances: &[Balance], prefix: &str) -> i64 {
    balances.iter().filter(|b| under(&b.account, prefix)).map(|b| b.balance).sum()
}

/// Whether `account` is `prefix` or one of its sub-accounts (as beancount nests them).
pub fn under(account: &str, prefix: &str) -> bool {
    account == prefix || account.strip_prefix(prefix).is_some_and(|rest| rest.starts_with(':'))
}

/// From the balances of the period's lines (closing entries left out).
pub fn income_statement(period: &[Balance]) -> IncomeStatement {
    let revenue = -sum(period, a::SALES);
    let sales_returns = sum(period, a::SALES_RETURNS);
    let cost_of_goods_sold = sum(period, a::COGS);
    let net_revenue = revenue - sales_returns;
    let named = [a::COGS, a::FREIGHT, a::RETURN_FREIGHT, a::PAYMENT_FEES, a::POINTS_EXPENSE, a::PRICE_VARIANCE, a::WRITE_DOWNS];
    let other_expenses = sum(period, "Expenses") - named.iter().map(|n| sum(period, n)).sum::<i64>();
    // Everything under Income and Expenses, so an account added later is not left out.
    let net_income = -sum(period, "Income") - sum(period, "Expenses");
    IncomeStatement {
        revenue,
        sales_returns,
        net_revenue,
        cost_of_goods_sold,
        gross_profit: net_revenue - cost_of_goods_sold,
        freight: sum(period, a::FREIGHT),
        return_freight: sum(period, a::RETURN_FREIGHT),
        payment_fees: sum(period, a::PAYMENT_FEES),
        marketing: sum(period, a::POINTS_EXPENSE),
        purchase_price_variance: sum(period, a::PRICE_VARIANCE),
        inventory_write_downs: sum(period, a::WRITE_DOWNS),
        inventory_gains: -sum(period, a::INVENTORY_GAINS),
        other_expenses,
        net_income,
    }
}

/// From the balances of every line up to the moment.
pub fn balance_sheet(to_date: &[Balance]) -> BalanceSheet {
    let assets = sum(to_date, "Assets");
    let liabilities = -sum(to_date, "Liabilities");
    let equity = -sum(to_date, "Equity");
    let current_earnings = -sum(to_date, "Income") - sum(to_date, "Expenses");
    BalanceSheet {
        assets,
        cash: sum(to_date, a::BANK),
        inventory: sum(to_date, "Assets:Inventory"),
        clearing: sum(to_date, "Assets:Clearing"),
        input_vat: sum(to_date, a::INPUT_VAT),
        liabilities,
        customer_advances: -sum(to_date, a::ADVANCES),
        goods_received_not_invoiced: -sum(to_date, a::GRNI),
        payables: -sum(to_date, "Liabilities:Payable"),
        output_vat: -sum(to_date, "Liabilities:VAT"),
        loyalty_points: -sum(to_date, a::POINTS),
        equity,
        retained_earnings: -sum(to_date, a::EQUITY),
        current_earnings,
        balanced: assets == liabilities + equity + current_earnings,
    }
}

/// The working-capital groups of the cash-flow statement, in the order it shows them; an
/// account in none of them is shown under its own name.
const GROUPS: [(&str, &str); 8] = [
    ("inventory", "Assets:Inventory"),
    ("receivable from payment channels", "Assets:Clearing"),
    ("input VAT", "Assets:VAT"),
    ("goods received not invoiced", a::GRNI),
    ("payables", "Liabilities:Payable"),
    ("customer advances", a::ADVANCES),
    ("VAT owed", "Liabilities:VAT"),
    ("loyalty points owed", a::POINTS),
];

/// From the balances of the period's lines (closing entries left out): each is that account's
/// change over the period.
pub fn cash_flow(period: &[Balance]) -> CashFlowStatement {
    let net_income = -sum(period, "Income") - sum(period, "Expenses");
    let cash_change = sum(period, a::BANK);
    let mut adjustments: Vec<CashFlowLine> = GROUPS.iter().map(|(item, _)| CashFlowLine { item: (*item).to_owned(), amount: 0 }).collect();
    let working = period.iter().filter(|b| (under(&b.account, "Assets") || under(&b.account, "Liabilities") || under(&b.account, "Equity")) && !under(&b.account, a::BANK));
    for b in working {
        // More of an asset used cash; more of a liability (a credit) kept it: both are −change.
        match GROUPS.iter().position(|(_, prefix)| under(&b.account, prefix)) {
            Some(i) => adjustments[i].amount -= b.balance,
            None => adjustments.push(CashFlowLine { item: b.account.clone(), amount: -b.balance }),
        }
    }
    adjustments.retain(|l| l.amount != 0);
    let operating = net_income + adjustments.iter().map(|l| l.amount).sum::<i64>();
    CashFlowStatement { net_income, adjustments, operating, cash_change, ties: operating == cash_change }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(account: &str, balance: i64) -> Balance {
        Balance { account: account.into(), balance }
    }

    #[test]
    fn a_sale_shows_as_revenue_cost_and_profit_and_the_sheet_balances() {
        let books = [
            b("Assets:Clearing:Wechat", 89_900),
            b("Assets:Inventory:SH-01", 44_000 - 40_000),
            b("Liabilities:GoodsReceivedNotInvoiced", -44_000),
            b("Liabilities:VAT:Output", -10_342),
            b("Income:Sales", -79_558),
            b("Expenses:CostOfGoodsSold", 40_000),
        ];
        let income = income_statement(&books);
        assert_eq!((income.revenue, income.cost_of_goods_sold, income.gross_profit, income.net_income), (79_558, 40_000, 39_558, 39_558));
        let sheet = balance_sheet(&books);
        assert_eq!((sheet.assets, sheet.liabilities, sheet.current_earnings), (93_900, 54_342, 39_558));
        assert!(sheet.balanced);
        assert!(!balance_sheet(&books[1..]).balanced, "a missing line shows");
    }

    #[test]
    fn cash_flow_starts_from_net_income_and_ties_to_the_bank() {
        // A month: goods in on credit (¥440.00), one pair sold through WeChat Pay (¥899.00,
        // settled to the bank less ¥5.39 of fees), the supplier paid ¥440.00, freight owed.
        let month = [
            b("Assets:Bank", 89_900 - 539 - 44_000),
            b("Assets:Inventory:SH-01", 44_000 - 40_000),
            b("Liabilities:GoodsReceivedNotInvoiced", -44_000 + 44_000),
            b("Liabilities:Payable:Supplier:NIKECN", -44_000 + 44_000),
            b("Liabilities:Payable:Carrier:SF", -1_200),
            b("Liabilities:VAT:Output", -10_342),
            b("Income:Sales", -79_558),
            b("Expenses:CostOfGoodsSold", 40_000),
            b("Expenses:Freight", 1_200),
            b("Expenses:PaymentFees", 539),
        ];
        let flow = cash_flow(&month);
        assert_eq!(flow.net_income, 79_558 - 40_000 - 1_200 - 539);
        assert_eq!(flow.cash_change, 45_361);
        assert!(flow.ties, "{flow:?}");
        let item = |name: &str| flow.adjustments.iter().find(|l| l.item == name).map_or(0, |l| l.amount);
        assert_eq!((item("inventory"), item("payables"), item("VAT owed")), (-4_000, 1_200, 10_342));
        let income = income_statement(&month);
        assert_eq!((income.freight, income.payment_fees, income.other_expenses), (1_200, 539, 0));
        // A non-cash account the statement does not know still shows, by its name.
        let odd = [b("Assets:Bank", 100), b("Assets:Prepaid", -100)];
        let flow = cash_flow(&odd);
        assert!(flow.ties && flow.adjustments[0].item == "Assets:Prepaid");
    }
}
