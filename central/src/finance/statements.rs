//! The income statement over a period and the balance sheet at its end, from account balances.
//! Pure: the store sums the lines, this groups them by the chart of accounts.

use super::store::Balance;
use serde::Serialize;

/// Revenue and expenses over a period, in minor units (fen), each as a positive figure.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct IncomeStatement {
    /// Sales net of output VAT.
    pub revenue: i64,
    pub sales_returns: i64,
    pub net_revenue: i64,
    pub cost_of_goods_sold: i64,
    pub gross_profit: i64,
    pub inventory_write_downs: i64,
    pub inventory_gains: i64,
    pub net_income: i64,
}

/// What the company owns and owes at a moment, in minor units; earnings of the open period
/// are shown apart until a period close moves them to retained earnings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct BalanceSheet {
    pub assets: i64,
    pub inventory: i64,
    pub clearing: i64,
    pub liabilities: i64,
    pub customer_advances: i64,
    pub goods_received_not_invoiced: i64,
    pub output_vat: i64,
    pub equity: i64,
    pub current_earnings: i64,
    /// assets = liabilities + equity + current earnings (the books balance).
    pub balanced: bool,
}

fn sum(balances: &[Balance], prefix: &str) -> i64 {
    balances.iter().filter(|b| b.account == prefix || b.account.starts_with(&format!("{prefix}:"))).map(|b| b.balance).sum()
}

/// From the balances of the period's lines.
pub fn income_statement(period: &[Balance]) -> IncomeStatement {
    use super::books::account as a;
    let revenue = -sum(period, a::SALES);
    let sales_returns = sum(period, a::SALES_RETURNS);
    let cost_of_goods_sold = sum(period, a::COGS);
    let inventory_write_downs = sum(period, a::WRITE_DOWNS);
    let inventory_gains = -sum(period, a::INVENTORY_GAINS);
    let net_revenue = revenue - sales_returns;
    let gross_profit = net_revenue - cost_of_goods_sold;
    // Everything under Income and Expenses, so an account added later is not left out.
    let net_income = -sum(period, "Income") - sum(period, "Expenses");
    IncomeStatement { revenue, sales_returns, net_revenue, cost_of_goods_sold, gross_profit, inventory_write_downs, inventory_gains, net_income }
}

/// From the balances of every line up to the moment.
pub fn balance_sheet(to_date: &[Balance]) -> BalanceSheet {
    use super::books::account as a;
    let assets = sum(to_date, "Assets");
    let liabilities = -sum(to_date, "Liabilities");
    let equity = -sum(to_date, "Equity");
    let current_earnings = -sum(to_date, "Income") - sum(to_date, "Expenses");
    BalanceSheet {
        assets,
        inventory: sum(to_date, "Assets:Inventory"),
        clearing: sum(to_date, "Assets:Clearing"),
        liabilities,
        customer_advances: -sum(to_date, a::ADVANCES),
        goods_received_not_invoiced: -sum(to_date, a::GRNI),
        output_vat: -sum(to_date, a::OUTPUT_VAT),
        equity,
        current_earnings,
        balanced: assets == liabilities + equity + current_earnings,
    }
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
}
