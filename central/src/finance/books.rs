//! The posting rules, pure: a journal event and the books' state in, balanced entries out.
//! Inventory is costed FIFO per SKU and warehouse, layer by layer; what an issue takes from
//! each layer is on the entry, so the books can be checked lot by lot (the beancount export
//! books the same lots and must come to the same cost).

pub use super::costing::{Layer, Method};
use super::costing::{Move, MoveKind, Pile, Place, BACKDATED_MS};
use crate::journal::{BusinessEvent, EventLine, JournalEntry};
use std::collections::BTreeMap;
use tote_shared::payment::invoice::tax_of;
use tote_shared::{Sku, WarehouseCode};

/// VAT on sales (13 %, in basis points), taken out of tax-inclusive prices as the e-invoice does.
pub const OUTPUT_VAT_BP: u32 = 1300;
/// Input VAT reversed on goods lost or damaged (进项税额转出), on their cost.
pub const INPUT_VAT_BP: i64 = 1300;

/// The chart of accounts. Inventory and gateway clearing have one sub-account per warehouse
/// and per channel.
pub mod account {
    pub const GRNI: &str = "Liabilities:GoodsReceivedNotInvoiced";
    /// Goods received on no purchase order (at their standard cost): nothing will invoice them
    /// through a three-way match, so they are kept apart from what the orders' invoices clear.
    pub const GRNI_UNORDERED: &str = "Liabilities:GoodsReceivedNotInvoiced:Unordered";
    pub const ADVANCES: &str = "Liabilities:CustomerAdvances";
    pub const OUTPUT_VAT: &str = "Liabilities:VAT:Output";
    pub const SALES: &str = "Income:Sales";
    pub const SALES_RETURNS: &str = "Income:SalesReturns";
    pub const INVENTORY_GAINS: &str = "Income:InventoryGains";
    pub const COGS: &str = "Expenses:CostOfGoodsSold";
    pub const WRITE_DOWNS: &str = "Expenses:InventoryWriteDowns";
    pub const FREIGHT: &str = "Expenses:Freight";
    /// Carriers bringing after-sales returns back (reverse logistics).
    pub const RETURN_FREIGHT: &str = "Expenses:ReturnFreight";
    pub const EQUITY: &str = "Equity:RetainedEarnings";
    /// Points customers hold, at what they will take off orders: the cost of earning them is
    /// booked when they are earned; a redemption's discount uses it up.
    pub const POINTS: &str = "Liabilities:LoyaltyPoints";
    pub const POINTS_EXPENSE: &str = "Expenses:Marketing:LoyaltyPoints";
    /// What payment channels charge when they settle.
    pub const PAYMENT_FEES: &str = "Expenses:PaymentFees";
    /// The company's bank account: suppliers are paid from it, channels settle into it.
    pub const BANK: &str = "Assets:Bank";
    /// What suppliers invoiced above (or below) the purchase orders' costs of what arrived.
    pub const PRICE_VARIANCE: &str = "Expenses:PurchasePriceVariance";
    /// VAT suppliers charged on invoices, to be set off against output VAT.
    pub const INPUT_VAT: &str = "Assets:VAT:Input";
    /// Input VAT that may not be set off because its goods were lost or damaged.
    pub const INPUT_VAT_REVERSED: &str = "Liabilities:VAT:InputReversed";

    /// What we owe a supplier for invoices approved for payment.
    pub fn supplier_payable(supplier: &str) -> String {
        format!("Liabilities:Payable:Supplier:{}", component(supplier))
    }

    /// What we owe a carrier for parcels it carried, until its statement is paid.
    pub fn carrier_payable(carrier: &str) -> String {
        format!("Liabilities:Payable:Carrier:{}", component(carrier))
    }

    /// One account-name component made of outside text: letters and digits, a capital first
    /// (beancount's rule), at most 32.
    fn component(raw: &str) -> String {
        let mut name: String = raw.chars().filter(|c| c.is_ascii_alphanumeric()).take(32).collect();
        if let Some(first) = name.get_mut(0..1) {
            first.make_ascii_uppercase();
        }
        if name.is_empty() || !name.starts_with(|c: char| c.is_ascii_uppercase()) {
            name = format!("X{name}");
        }
        name
    }

    pub fn inventory(warehouse: &str) -> String {
        format!("Assets:Inventory:{warehouse}")
    }

    /// Money a payment channel holds for us until it settles to the bank.
    pub fn clearing(channel: &str) -> String {
        format!("Assets:Clearing:{}", component(channel))
    }
}

/// Units of a lot a line moves (positive in, negative out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lot {
    pub sku: Sku,
    pub qty: i64,
    pub unit_cost: i64,
    pub received_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub account: String,
    /// Minor units; debit positive, credit negative.
    pub amount: i64,
    pub lot: Option<Lot>,
}

/// One balanced entry, caused by one journal event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub event_seq: u64,
    /// The posting date: the event's own, or the open period's start when its month is closed.
    pub at_ms: i64,
    /// The event's own date.
    pub event_ms: i64,
    pub description: String,
    pub lines: Vec<Line>,
    /// A period close's entry (income and expenses to retained earnings): the income
    /// statement leaves it out.
    pub closing: bool,
}

impl Entry {
    pub fn balance(&self) -> i64 {
        self.lines.iter().map(|l| l.amount).sum()
    }
}

/// What finance knows about an order beyond its events.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrderFacts {
    /// A channel confirmed money for it (else a manual payment is posted at `order_paid`).
    pub channel_paid: bool,
    pub shipped: bool,
    /// The payment whose money paid the order (the last channel success before `order_paid`);
    /// other payments for it (late, duplicate) are refunded against advances, never as returns.
    pub paid_by: Option<u64>,
    /// The last channel success seen for the order.
    pub last_payment: Option<u64>,
    /// Gross and output VAT recognised at shipment, and what refunds gave back of them: a
    /// refund reverses VAT in proportion, the last one exactly what is left.
    pub sold_gross: i64,
    pub sold_vat: i64,
    pub returned_gross: i64,
    pub returned_vat: i64,
    /// Money owed back for parts of a split order a cancel stopped after others shipped: the
    /// refunds that pay it go against advances (nothing of it was sold), not as returns.
    pub unshipped_owed: i64,
    /// Per SKU, what shipped: a return comes back at its cost, a refund takes back its revenue.
    pub issued: BTreeMap<Sku, Issued>,
    /// Where the order came from, and the promotion (campaign coupon) it redeemed: the profit
    /// report's dimensions.
    pub channel: String,
    pub campaign: String,
}

/// Units of a SKU an order shipped, what they cost and their revenue net of VAT, and the
/// warehouse they last shipped from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Issued {
    pub qty: i64,
    pub cost: i64,
    pub revenue: i64,
    pub warehouse: Option<WarehouseCode>,
}

/// A refund's revenue (net of VAT) shared over the SKUs the order shipped, by their revenue.
fn refund_shares(facts: &OrderFacts, returned: i64) -> Vec<(Sku, WarehouseCode, i64)> {
    let sold: Vec<(&Sku, &Issued, &WarehouseCode)> = facts.issued.iter().filter(|(_, i)| i.revenue > 0).filter_map(|(sku, i)| Some((sku, i, i.warehouse.as_ref()?))).collect();
    let weights: Vec<i64> = sold.iter().map(|(_, i, _)| i.revenue).collect();
    let shares = tote_shared::domain::largest_remainder(returned.max(0), &weights);
    sold.into_iter().zip(shares).map(|((sku, _, warehouse), part)| (sku.clone(), warehouse.clone(), part)).collect()
}

/// One cell of the profit cube: a posting day, SKU, warehouse, channel and campaign (empty for
/// cost differences no sale caused).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProfitKey {
    pub day: i64,
    pub sku: Sku,
    pub warehouse: WarehouseCode,
    pub channel: String,
    pub campaign: String,
}

/// Units sold (less returned to stock), revenue net of VAT and returns, cost of goods sold.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProfitFigures {
    pub units: i64,
    pub revenue: i64,
    pub cogs: i64,
}

/// The state the rules read and change: the costing method, standard costs, each SKU ×
/// warehouse's pile, per-order facts. The consumer loads what a batch touches and writes back
/// what changed.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub method: Method,
    pub costs: BTreeMap<Sku, i64>,
    pub piles: BTreeMap<(Sku, WarehouseCode), Pile>,
    pub orders: BTreeMap<u64, OrderFacts>,
    /// The stock moves posted, for the store to keep (a back-dated move replays them).
    pub moves: Vec<(Sku, WarehouseCode, Move)>,
    /// Where the open period starts (the end of the last closed month; 0: none closed).
    pub open_from_ms: i64,
    /// For a `period_closed` event: the income and expense accounts' balances posted before
    /// the month's end, loaded by the consumer.
    pub closing: Option<Vec<(String, i64)>>,
    /// Months the batch closed: month, net income, when.
    pub closed: Vec<(String, i64, i64)>,
    /// What the batch added to the profit cube.
    pub profit: BTreeMap<ProfitKey, ProfitFigures>,
}

impl State {
    /// Adds to the profit cube on the posting day of `journal`.
    fn profit(&mut self, journal: &JournalEntry, sku: &Sku, warehouse: &WarehouseCode, order: Option<u64>, figures: ProfitFigures) {
        if figures == ProfitFigures::default() {
            return;
        }
        let facts = order.and_then(|o| self.orders.get(&o));
        let (channel, campaign) = facts.map_or((String::new(), String::new()), |f| (f.channel.clone(), f.campaign.clone()));
        let day = journal.at_ms.max(self.open_from_ms).div_euclid(tote_shared::calendar::DAY_MS);
        let key = ProfitKey { day, sku: sku.clone(), warehouse: warehouse.clone(), channel, campaign };
        let cell = self.profit.entry(key).or_default();
        cell.units += figures.units;
        cell.revenue += figures.revenue;
        cell.cogs += figures.cogs;
    }
}

/// The SKU × warehouse piles an event moves stock of.
pub fn stock_pairs(event: &BusinessEvent) -> Vec<(Sku, WarehouseCode)> {
    match event {
        BusinessEvent::StockReceived { sku, warehouse, .. } | BusinessEvent::StockAdjusted { sku, warehouse, .. } => vec![(sku.clone(), warehouse.clone())],
        BusinessEvent::OrderShipped { warehouse: Some(w), lines, .. } => lines.iter().map(|l| (l.sku.clone(), w.clone())).collect(),
        BusinessEvent::ReturnReceived { warehouse, lines, .. } => lines.iter().filter(|l| l.passed > 0).map(|l| (l.sku.clone(), warehouse.clone())).collect(),
        BusinessEvent::SupplierInvoiceApproved { warehouse: Some(w), late_costs, .. } | BusinessEvent::LandedCostAdded { warehouse: w, late_costs, .. } => {
            late_costs.iter().map(|l| (l.sku.clone(), w.clone())).collect()
        }
        _ => Vec::new(),
    }
}

/// The piles a batch moves back-dated (a move dated well before the pile's newest): their
/// history must be loaded before posting, for the replay.
pub fn back_dated(state: &State, entries: &[JournalEntry]) -> std::collections::BTreeSet<(Sku, WarehouseCode)> {
    let mut newest: BTreeMap<(Sku, WarehouseCode), i64> = BTreeMap::new();
    let mut found = std::collections::BTreeSet::new();
    for entry in entries {
        for pair in stock_pairs(&entry.event) {
            let last = newest.entry(pair.clone()).or_insert_with(|| state.piles.get(&pair).map_or(i64::MIN, |p| p.last_ms));
            if entry.at_ms < last.saturating_sub(BACKDATED_MS) {
                found.insert(pair);
            }
            *last = (*last).max(entry.at_ms);
        }
    }
    found
}

fn line(account: impl Into<String>, amount: i64) -> Line {
    Line { account: account.into(), amount, lot: None }
}

/// The entries one event posts (none for events that move no value).
pub fn post(state: &mut State, journal: &JournalEntry) -> Vec<Entry> {
    let (description, lines) = match &journal.event {
        BusinessEvent::SkuCreated { sku, cost, .. } => {
            state.costs.insert(sku.clone(), *cost);
            return Vec::new();
        }
        BusinessEvent::PeriodClosed { month, .. } => return close_period(state, journal, month),
        BusinessEvent::OrderCreated { order_id, channel, .. } => {
            state.orders.entry(*order_id).or_default().channel = channel.clone();
            return Vec::new();
        }
        BusinessEvent::CouponRedeemed { order_id, promotion, .. } => {
            let facts = state.orders.entry(*order_id).or_default();
            if facts.campaign.is_empty() {
                facts.campaign = promotion.clone();
            }
            return Vec::new();
        }
        BusinessEvent::StockReceived { sku, warehouse, qty, unit_cost } => {
            // On a purchase order: at its cost; otherwise at the SKU's standard cost.
            let cost = unit_cost.unwrap_or_else(|| state.costs.get(sku).copied().unwrap_or(0));
            let mut lines = stock_move(state, sku, warehouse, journal, MoveKind::In { qty: qty.as_i64(), unit_cost: cost });
            let owed_to = if unit_cost.is_some() { account::GRNI } else { account::GRNI_UNORDERED };
            lines.push(line(owed_to, -qty.as_i64() * cost));
            (format!("received {} × {sku} at {warehouse}", qty.as_i64()), lines)
        }
        BusinessEvent::SupplierInvoicePaid { invoice_id, supplier, amount, reference, .. } => {
            (format!("supplier invoice {invoice_id} paid ({reference})"), vec![line(account::supplier_payable(supplier), amount.minor()), line(account::BANK, -amount.minor())])
        }
        BusinessEvent::SupplierInvoiceApproved { invoice_id, po_id, supplier, total, received_value: Some(received), tax, warehouse, late_costs, .. } => {
            // The invoice turns what was received into what is owed, with the VAT it charges.
            // Received units priced above (or below) the order's cost carry a late cost: onto
            // those still on hand, the rest consumed. Units billed beyond receipts and SKUs
            // never ordered are a price variance.
            let owed = total.minor() + tax.minor();
            let mut lines = vec![line(account::GRNI, received.minor()), line(account::INPUT_VAT, tax.minor()), line(account::supplier_payable(supplier), -owed)];
            let late = match warehouse {
                Some(warehouse) => spread_late_costs(state, journal, warehouse, late_costs, &mut lines),
                None => 0,
            };
            let variance = total.minor() - received.minor() - late;
            if variance != 0 {
                lines.push(line(account::PRICE_VARIANCE, variance));
            }
            (format!("supplier invoice {invoice_id} for purchase order {po_id} approved"), lines)
        }
        BusinessEvent::LandedCostAdded { po_id, warehouse, payee, reference, amount, late_costs } => {
            // Freight in and duty are part of the goods' cost: onto the units still on hand,
            // the rest consumed; owed to whoever billed it.
            let mut lines = vec![line(account::carrier_payable(payee), -amount.minor())];
            let spread = spread_late_costs(state, journal, warehouse, late_costs, &mut lines);
            if spread != amount.minor() {
                lines.push(line(account::COGS, amount.minor() - spread));
            }
            (format!("landed cost {reference} of purchase order {po_id} from {payee}"), lines)
        }
        BusinessEvent::StockAdjusted { sku, warehouse, delta, reason } if *delta < 0 => {
            // A loss: its cost, and the input VAT on it that may no longer be set off.
            let mut lines = stock_move(state, sku, warehouse, journal, MoveKind::Out { qty: -delta });
            let cost: i64 = lines.iter().map(|l| -l.amount).sum();
            let vat = cost.max(0) * INPUT_VAT_BP / 10_000;
            lines.push(line(account::WRITE_DOWNS, cost + vat));
            lines.push(line(account::INPUT_VAT_REVERSED, -vat));
            (format!("{} × {sku} written off at {warehouse} ({reason})", -delta), lines)
        }
        BusinessEvent::StockAdjusted { sku, warehouse, delta, reason } if *delta > 0 => {
            let cost = state.costs.get(sku).copied().unwrap_or(0);
            let mut lines = stock_move(state, sku, warehouse, journal, MoveKind::In { qty: *delta, unit_cost: cost });
            lines.push(line(account::INVENTORY_GAINS, -delta * cost));
            (format!("{delta} × {sku} found at {warehouse} ({reason})"), lines)
        }
        BusinessEvent::PaymentSucceeded { payment_id, order_id, channel, amount, .. } => {
            let facts = state.orders.entry(*order_id).or_default();
            facts.channel_paid = true;
            facts.last_payment = Some(*payment_id);
            (format!("order {order_id} paid through {channel}"), vec![line(account::clearing(channel), *amount), line(account::ADVANCES, -amount)])
        }
        BusinessEvent::OrderPaid { order_id, total, collected_by, .. } => {
            let facts = state.orders.entry(*order_id).or_default();
            if facts.channel_paid {
                facts.paid_by = facts.last_payment;
                return Vec::new(); // the channel's money is posted at payment_succeeded
            }
            // A marketplace holds the buyer's money until it settles with us.
            let (source, what) = match collected_by {
                Some(marketplace) => (marketplace.as_str(), format!("order {order_id} paid at {marketplace}")),
                None => ("manual", format!("order {order_id} paid by hand")),
            };
            (what, vec![line(account::clearing(source), *total), line(account::ADVANCES, -total)])
        }
        BusinessEvent::ChannelSettled { channel, day, gross, fees } => (
            format!("{channel} settled its bill of {day}"),
            vec![line(account::BANK, gross - fees), line(account::PAYMENT_FEES, *fees), line(account::clearing(channel), -gross)],
        ),
        BusinessEvent::MarketplaceRefunded { order_id, marketplace, amount } => {
            (format!("order {order_id} refunded at {marketplace}"), vec![line(account::ADVANCES, *amount), line(account::clearing(marketplace), -amount)])
        }
        BusinessEvent::OrderShipped { order_id, warehouse: Some(warehouse), lines: sold, .. } => {
            let mut lines = sale(sold);
            let facts = state.orders.entry(*order_id).or_default();
            facts.shipped = true;
            facts.sold_gross += lines[0].amount;
            facts.sold_vat -= lines[2].amount;
            for l in sold {
                let taken = stock_move(state, &l.sku, warehouse, journal, MoveKind::Out { qty: l.qty.as_i64() });
                // All the lines: a replay's own (inventory against cost of goods sold) net to zero.
                let cost: i64 = -taken.iter().map(|t| t.amount).sum::<i64>();
                let revenue = l.amount() - tax_of(l.amount(), OUTPUT_VAT_BP);
                let issued = state.orders.entry(*order_id).or_default().issued.entry(l.sku.clone()).or_default();
                (issued.qty, issued.cost, issued.revenue) = (issued.qty + l.qty.as_i64(), issued.cost + cost, issued.revenue + revenue);
                issued.warehouse = Some(warehouse.clone());
                state.profit(journal, &l.sku, warehouse, Some(*order_id), ProfitFigures { units: l.qty.as_i64(), revenue, cogs: cost });
                lines.extend(taken);
                lines.push(line(account::COGS, cost));
            }
            (format!("order {order_id} shipped from {warehouse}"), lines)
        }
        BusinessEvent::ReturnReceived { request_id, order_id, warehouse, lines: returned, .. } => {
            // Units that passed QC go back into stock at the cost they left at, out of cost of
            // goods sold; units that failed stay expensed, as a write-down rather than a sale's
            // cost. (An order finance never saw ship comes back at the standard cost.)
            let mut lines = Vec::new();
            for r in returned {
                let issued = state.orders.get(order_id).and_then(|f| f.issued.get(&r.sku)).filter(|i| i.qty > 0).cloned();
                let cost = match issued {
                    Some(i) => super::costing::share(i.cost, 1, i.qty),
                    None => state.costs.get(&r.sku).copied().unwrap_or(0),
                };
                if r.passed > 0 {
                    lines.extend(stock_move(state, &r.sku, warehouse, journal, MoveKind::In { qty: r.passed, unit_cost: cost }));
                    lines.push(line(account::COGS, -r.passed * cost));
                }
                if r.failed > 0 {
                    lines.push(line(account::WRITE_DOWNS, r.failed * cost));
                    lines.push(line(account::COGS, -r.failed * cost));
                }
                let back = ProfitFigures { units: -r.passed, revenue: 0, cogs: -(r.passed + r.failed) * cost };
                state.profit(journal, &r.sku, warehouse, Some(*order_id), back);
            }
            (format!("return {request_id} of order {order_id} received at {warehouse}"), lines)
        }
        BusinessEvent::FreightAccrued { order_id, carrier, waybill, amount } => {
            (format!("freight for order {order_id} ({carrier} {waybill})"), vec![line(account::FREIGHT, *amount), line(account::carrier_payable(carrier), -amount)])
        }
        BusinessEvent::FreightReversed { order_id, carrier, waybill, amount } => (
            format!("freight reversed for order {order_id} ({carrier} {waybill} cancelled)"),
            vec![line(account::carrier_payable(carrier), *amount), line(account::FREIGHT, -amount)],
        ),
        BusinessEvent::ReturnFreightAccrued { request_id, order_id, carrier, waybill, amount } => (
            format!("return freight for request {request_id} of order {order_id} ({carrier} {waybill})"),
            vec![line(account::RETURN_FREIGHT, *amount), line(account::carrier_payable(carrier), -amount)],
        ),
        BusinessEvent::ReturnFreightReversed { request_id, order_id, carrier, waybill, amount } => (
            format!("return freight reversed for request {request_id} of order {order_id} ({carrier} {waybill} cancelled)"),
            vec![line(account::carrier_payable(carrier), *amount), line(account::RETURN_FREIGHT, -amount)],
        ),
        // Earning costs the points' value now; every other move releases or restores it. A
        // redeemed point's discount is in the sale already (lines are booked net of it), so
        // redeeming releases the cost booked when it was earned.
        BusinessEvent::PointsEarned { customer, order_id, points, value } => {
            (format!("{points} points earned by {customer} on order {order_id}"), vec![line(account::POINTS_EXPENSE, *value), line(account::POINTS, -value)])
        }
        BusinessEvent::PointsReturned { customer, order_id, points, value } => {
            (format!("{points} points back to {customer} from order {order_id}"), vec![line(account::POINTS_EXPENSE, *value), line(account::POINTS, -value)])
        }
        BusinessEvent::PointsRedeemed { customer, order_id, points, value } => {
            (format!("{points} points spent by {customer} on order {order_id}"), vec![line(account::POINTS, *value), line(account::POINTS_EXPENSE, -value)])
        }
        BusinessEvent::PointsClawedBack { customer, order_id, points, value } => {
            (format!("{points} points clawed back from {customer} for order {order_id}"), vec![line(account::POINTS, *value), line(account::POINTS_EXPENSE, -value)])
        }
        BusinessEvent::PointsExpired { customer, points, value } => {
            (format!("{points} points of {customer} expired"), vec![line(account::POINTS, *value), line(account::POINTS_EXPENSE, -value)])
        }
        BusinessEvent::OrderPartsCancelled { order_id, lines } => {
            let owed: i64 = lines.iter().map(EventLine::amount).sum();
            state.orders.entry(*order_id).or_default().unshipped_owed += owed;
            return Vec::new();
        }
        BusinessEvent::RefundSucceeded { payment_id, order_id, channel, amount, .. } => {
            let facts = state.orders.entry(*order_id).or_default();
            let returns = facts.shipped && facts.paid_by == Some(*payment_id);
            // What was never sold (parts a cancel stopped) goes back out of advances first.
            let unsold = if returns { (*amount).min(facts.unshipped_owed.max(0)) } else { 0 };
            facts.unshipped_owed -= unsold;
            let amount = &(amount - unsold);
            let mut shares = Vec::new();
            let mut lines = if returns && *amount == 0 {
                Vec::new()
            } else if returns {
                // After shipment, a refund of the money that paid the order gives back revenue
                // and the VAT on it: in proportion to what was recognised, and all that is left
                // when the order is refunded in full (so no fen of VAT stays behind).
                let left = facts.sold_gross - facts.returned_gross;
                let vat = if *amount >= left || left <= 0 {
                    facts.sold_vat - facts.returned_vat
                } else {
                    i64::try_from(i128::from(*amount) * i128::from(facts.sold_vat) / i128::from(facts.sold_gross.max(1))).unwrap_or(0)
                };
                facts.returned_gross += amount;
                facts.returned_vat += vat;
                let returned = amount - vat;
                shares = refund_shares(facts, returned);
                vec![line(account::SALES_RETURNS, returned), line(account::OUTPUT_VAT, vat), line(account::clearing(channel), -amount)]
            } else {
                vec![line(account::ADVANCES, *amount), line(account::clearing(channel), -amount)]
            };
            if unsold > 0 {
                lines.extend([line(account::ADVANCES, unsold), line(account::clearing(channel), -unsold)]);
            }
            for (sku, warehouse, part) in shares {
                state.profit(journal, &sku, &warehouse, Some(*order_id), ProfitFigures { units: 0, revenue: -part, cogs: 0 });
            }
            (format!("order {order_id} refunded through {channel}"), lines)
        }
        _ => return Vec::new(),
    };
    let lines: Vec<Line> = lines.into_iter().filter(|l| l.amount != 0 || l.lot.is_some()).collect();
    if lines.is_empty() {
        return Vec::new();
    }
    let at_ms = journal.at_ms.max(state.open_from_ms);
    vec![Entry { event_seq: journal.seq, at_ms, event_ms: journal.at_ms, description, lines, closing: false }]
}

/// A month's close: every income and expense account's balance before its end goes to
/// retained earnings, in an entry dated the month's last moment; later entries post after it.
fn close_period(state: &mut State, journal: &JournalEntry, month: &str) -> Vec<Entry> {
    let Some((_, end_ms)) = crate::procurement::scorecard::month_bounds(month) else { return Vec::new() };
    let balances = state.closing.take().unwrap_or_default();
    let net_income = -balances.iter().map(|(_, b)| b).sum::<i64>();
    state.open_from_ms = state.open_from_ms.max(end_ms);
    state.closed.push((month.to_owned(), net_income, journal.at_ms));
    let mut lines: Vec<Line> = balances.into_iter().filter(|(_, b)| *b != 0).map(|(account, b)| line(account, -b)).collect();
    if lines.is_empty() {
        return Vec::new();
    }
    lines.push(line(account::EQUITY, -net_income));
    let description = format!("{month} closed: income and expenses to retained earnings");
    vec![Entry { event_seq: journal.seq, at_ms: end_ms - 1, event_ms: end_ms - 1, description, lines, closing: true }]
}

/// Revenue and output VAT of shipped lines, out of the advances the customer paid. VAT per
/// line, as on the e-invoice.
fn sale(sold: &[EventLine]) -> Vec<Line> {
    // At what each line sold for: its discounts were never revenue.
    let gross: i64 = sold.iter().map(EventLine::amount).sum();
    let vat: i64 = sold.iter().map(|l| tax_of(l.amount(), OUTPUT_VAT_BP)).sum();
    vec![line(account::ADVANCES, gross), line(account::SALES, -(gross - vat)), line(account::OUTPUT_VAT, -vat)]
}

/// Puts each late cost onto its SKU's pile at `warehouse` (on hand, else consumed), adding the
/// lines; returns what was spread.
fn spread_late_costs(state: &mut State, journal: &JournalEntry, warehouse: &WarehouseCode, costs: &[crate::journal::LateCost], lines: &mut Vec<Line>) -> i64 {
    let mut spread = 0;
    for cost in costs.iter().filter(|c| c.units > 0) {
        spread += cost.amount;
        lines.extend(stock_move(state, &cost.sku, warehouse, journal, MoveKind::Late { units: cost.units, amount: cost.amount }));
    }
    spread
}

/// Moves stock of one pile by its costing method, remembers the move, and replays the pile
/// when the move is back-dated. Returns the inventory lines and any cost difference.
fn stock_move(state: &mut State, sku: &Sku, warehouse: &WarehouseCode, journal: &JournalEntry, kind: MoveKind) -> Vec<Line> {
    let place = Place { method: state.method, sku, warehouse, standard: state.costs.get(sku).copied().unwrap_or(0) };
    let pile = state.piles.entry((sku.clone(), warehouse.clone())).or_default();
    let back_dated = journal.at_ms < pile.last_ms.saturating_sub(BACKDATED_MS);
    let m = Move { at_ms: journal.at_ms, seq: journal.seq, kind };
    pile.remember(&m);
    let mut lines = match kind {
        MoveKind::In { qty, unit_cost } => pile.receive(&place, qty, unit_cost, journal.at_ms),
        MoveKind::Out { qty } => pile.issue(&place, qty, journal.at_ms),
        MoveKind::Late { units, amount } => pile.late_cost(&place, units, amount, journal.at_ms),
    };
    if back_dated && pile.history.is_some() {
        lines.extend(pile.replay(&place));
    }
    state.moves.push((sku.clone(), warehouse.clone(), m));
    // Cost differences (a debt settled, a late cost, a replay) are the SKU's cost of goods
    // sold with no sale of their own.
    let cogs = lines.iter().filter(|l| l.account == account::COGS).map(|l| l.amount).sum();
    state.profit(journal, sku, warehouse, None, ProfitFigures { cogs, ..ProfitFigures::default() });
    lines
}


#[cfg(test)]
mod tests {
    use super::*;

    /// The value of inventory lines (negative for an issue).
    fn inventory_value(lines: &[Line]) -> i64 {
        lines.iter().filter(|l| l.account.starts_with("Assets:Inventory:")).map(|l| l.amount).sum()
    }
    use tote_shared::{Money, Qty};

    fn sku() -> Sku {
        Sku::parse("PEG39-M-WHT-42").expect("sku")
    }

    fn wh() -> WarehouseCode {
        WarehouseCode::parse("SH-01").expect("warehouse")
    }

    fn at(seq: u64, event: BusinessEvent) -> JournalEntry {
        JournalEntry { seq, at_ms: 1_795_000_000_000 + seq as i64 * 1000, subject: String::new(), event }
    }

    fn qty(n: i64) -> Qty {
        Qty::parse(n).expect("qty")
    }

    #[test]
    fn a_return_puts_passed_units_back_at_cost_and_writes_failed_ones_down() {
        let mut state = State::default();
        post(&mut state, &at(1, BusinessEvent::SkuCreated { sku: sku(), spu_id: "PEG39".into(), price: 89_900, cost: 40_000 }));
        let lines = vec![crate::journal::ReturnedUnits { sku: sku(), passed: 2, failed: 1, unit_price: 89_900 }];
        let entries = post(&mut state, &at(2, BusinessEvent::ReturnReceived { request_id: 3, order_id: 7, warehouse: wh(), reason: "size".into(), lines }));
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].balance(), 0);
        let amount = |account: &str| entries[0].lines.iter().filter(|l| l.account == account).map(|l| l.amount).sum::<i64>();
        assert_eq!(amount(&account::inventory("SH-01")), 80_000, "two pairs back in stock at cost");
        assert_eq!(amount(account::WRITE_DOWNS), 40_000, "the failed pair written down");
        assert_eq!(amount(account::COGS), -120_000);
        assert_eq!(state.piles[&(sku(), wh())].layers.iter().map(|l| l.qty).sum::<i64>(), 2);
    }

    #[test]
    fn return_freight_is_its_own_expense_owed_to_the_carrier_until_the_return_is_cancelled() {
        let mut state = State::default();
        let event = |reversed: bool| {
            let (request_id, order_id, carrier, waybill, amount) = (4, 7, "JD".to_owned(), "JDV1".to_owned(), 1_400);
            if reversed {
                BusinessEvent::ReturnFreightReversed { request_id, order_id, carrier, waybill, amount }
            } else {
                BusinessEvent::ReturnFreightAccrued { request_id, order_id, carrier, waybill, amount }
            }
        };
        let accrued = post(&mut state, &at(1, event(false)));
        let reversed = post(&mut state, &at(2, event(true)));
        let lines = |e: &[Entry]| e.iter().flat_map(|e| e.lines.iter().map(|l| (l.account.clone(), l.amount))).collect::<Vec<_>>();
        assert_eq!(lines(&accrued), vec![(account::RETURN_FREIGHT.to_owned(), 1_400), ("Liabilities:Payable:Carrier:JD".to_owned(), -1_400)]);
        assert_eq!(lines(&reversed), vec![("Liabilities:Payable:Carrier:JD".to_owned(), 1_400), (account::RETURN_FREIGHT.to_owned(), -1_400)]);
    }

    #[test]
    fn freight_is_owed_to_its_carrier_when_a_parcel_leaves_and_not_once_its_order_is_cancelled() {
        let mut state = State::default();
        let accrued = post(&mut state, &at(1, BusinessEvent::FreightAccrued { order_id: 7, carrier: "SF".into(), waybill: "SF1".into(), amount: 2_250 }));
        let reversed = post(&mut state, &at(2, BusinessEvent::FreightReversed { order_id: 7, carrier: "SF".into(), waybill: "SF1".into(), amount: 2_250 }));
        let lines = |e: &[Entry]| e.iter().flat_map(|e| e.lines.iter().map(|l| (l.account.clone(), l.amount))).collect::<Vec<_>>();
        assert_eq!(lines(&accrued), vec![(account::FREIGHT.to_owned(), 2_250), ("Liabilities:Payable:Carrier:SF".to_owned(), -2_250)]);
        assert_eq!(lines(&reversed), vec![("Liabilities:Payable:Carrier:SF".to_owned(), 2_250), (account::FREIGHT.to_owned(), -2_250)]);
        assert_eq!(account::carrier_payable("zto"), "Liabilities:Payable:Carrier:Zto", "an account name starts with a capital");
        assert_eq!(account::carrier_payable("4PX"), "Liabilities:Payable:Carrier:X4PX");
    }

    #[test]
    fn a_purchase_is_received_at_its_order_cost_and_its_invoice_clears_goods_received_not_invoiced() {
        let mut state = State::default();
        post(&mut state, &at(1, BusinessEvent::SkuCreated { sku: sku(), spu_id: "PEG39".into(), price: 89_900, cost: 41_000 }));
        let on_order = post(&mut state, &at(2, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(11), unit_cost: Some(40_000) }));
        let plain = post(&mut state, &at(3, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(1), unit_cost: None }));
        let money = |m: i64| Money::parse(m).expect("money");
        let invoice = |received: Option<i64>, total: i64| BusinessEvent::SupplierInvoiceApproved {
            invoice_id: 5,
            po_id: 9,
            supplier: "NIKE-CN".into(),
            total: money(total),
            by_hand: received != Some(total),
            received_value: received.map(money),
            tax: Money::ZERO,
            warehouse: None,
            late_costs: vec![],
        };
        let matched = post(&mut state, &at(4, invoice(Some(440_000), 440_000)));
        let dearer = post(&mut state, &at(5, invoice(Some(440_000), 441_100)));
        let lines = |e: &[Entry]| e.iter().flat_map(|e| e.lines.iter().map(|l| (l.account.clone(), l.amount))).collect::<Vec<_>>();
        let payable = "Liabilities:Payable:Supplier:NIKECN".to_owned();
        assert_eq!(lines(&on_order), vec![("Assets:Inventory:SH-01".to_owned(), 440_000), (account::GRNI.to_owned(), -440_000)]);
        assert_eq!(lines(&plain), vec![("Assets:Inventory:SH-01".to_owned(), 41_000), (account::GRNI_UNORDERED.to_owned(), -41_000)], "a plain receipt at standard cost");
        assert_eq!(lines(&matched), vec![(account::GRNI.to_owned(), 440_000), (payable.clone(), -440_000)]);
        assert_eq!(lines(&dearer), vec![(account::GRNI.to_owned(), 440_000), (payable, -441_100), (account::PRICE_VARIANCE.to_owned(), 1_100)]);
        assert!(dearer.iter().all(|e| e.balance() == 0));
        assert!(post(&mut state, &at(6, invoice(None, 1))).is_empty(), "an approval from before received values were journalled posts nothing");
        let paid = post(&mut state, &at(7, BusinessEvent::SupplierInvoicePaid { invoice_id: 5, po_id: 9, supplier: "NIKE-CN".into(), amount: money(440_000), reference: "BOC-1".into() }));
        assert_eq!(lines(&paid), vec![("Liabilities:Payable:Supplier:NIKECN".to_owned(), 440_000), (account::BANK.to_owned(), -440_000)]);
    }

    #[test]
    fn every_entry_balances_and_fifo_takes_the_oldest_layer_first() {
        let mut state = State::default();
        let mut entries = Vec::new();
        let mut seq = 0;
        let mut run = |state: &mut State, event: BusinessEvent| {
            seq += 1;
            entries.extend(post(state, &at(seq, event)));
        };
        run(&mut state, BusinessEvent::SkuCreated { sku: sku(), spu_id: "PEG39".into(), price: 89_900, cost: 40_000 });
        run(&mut state, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(3), unit_cost: None });
        state.costs.insert(sku(), 42_000); // a later cost (a new purchase price)
        run(&mut state, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(2), unit_cost: None });
        run(&mut state, BusinessEvent::PaymentSucceeded { payment_id: 1, order_id: 7, channel: "wechat".into(), amount: 4 * 89_900, channel_ref: "w1".into() });
        run(&mut state, BusinessEvent::OrderPaid { order_id: 7, warehouse: Some(wh()), lines: vec![], total: 4 * 89_900, collected_by: None });
        let sold = vec![EventLine { sku: sku(), qty: qty(4), unit_price: 89_900, discount: 0 }];
        run(&mut state, BusinessEvent::OrderShipped { order_id: 7, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF1".into(), lines: sold });
        for e in &entries {
            assert_eq!(e.balance(), 0, "{e:?}");
        }
        assert_eq!(entries.len(), 4, "no entry for the SKU, none for order_paid after a channel's money: {entries:?}");
        let shipped = &entries[3];
        let cogs: i64 = shipped.lines.iter().filter(|l| l.account == account::COGS).map(|l| l.amount).sum();
        assert_eq!(cogs, 3 * 40_000 + 42_000, "three from the first layer, one from the second");
        let vat: i64 = shipped.lines.iter().filter(|l| l.account == account::OUTPUT_VAT).map(|l| l.amount).sum();
        assert_eq!(vat, -tax_of(4 * 89_900, OUTPUT_VAT_BP));
        let left = &state.piles[&(sku(), wh())].layers;
        assert_eq!(left.iter().map(|l| (l.qty, l.unit_cost)).collect::<Vec<_>>(), vec![(1, 42_000)]);
    }

    #[test]
    fn a_back_dated_shipment_replays_its_pile_and_its_entry_still_balances() {
        // Average cost: one pair at ¥1.00, one at ¥2.00 ten minutes later, and a shipment made
        // five minutes after the first that reaches the books last. By date it took the ¥1.00
        // pair; booked as it came it took the ¥1.50 average, and the replay gives back ¥0.50.
        let t = 1_795_000_000_000;
        let received = |seq: u64, at: i64, cost: i64| JournalEntry {
            seq,
            at_ms: t + at,
            subject: String::new(),
            event: BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(1), unit_cost: Some(cost) },
        };
        let sold = vec![EventLine { sku: sku(), qty: qty(1), unit_price: 500, discount: 0 }];
        let shipped = JournalEntry { seq: 3, at_ms: t + 300_000, subject: String::new(), event: BusinessEvent::OrderShipped { order_id: 1, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF1".into(), lines: sold } };
        let entries = crate::finance::replay(Method::Average, &[received(1, 0, 100), received(2, 600_000, 200), shipped]);
        assert!(entries.iter().all(|e| e.balance() == 0), "{entries:?}");
        let cogs: i64 = entries.iter().flat_map(|e| &e.lines).filter(|l| l.account == account::COGS).map(|l| l.amount).sum();
        let stock: i64 = entries.iter().flat_map(|e| &e.lines).filter(|l| l.account.starts_with("Assets:Inventory")).map(|l| l.amount).sum();
        assert_eq!((cogs, stock), (100, 200), "the ¥1.00 pair sold, the ¥2.00 one left");
    }

    #[test]
    fn a_discounted_line_is_revenue_at_what_it_sold_for() {
        // Two pairs at ¥899.00 less ¥80.00 of promotions: ¥1,718.00 of advances become sales
        // and VAT; the ¥80.00 was never revenue.
        let sold = vec![EventLine { sku: sku(), qty: qty(2), unit_price: 89_900, discount: 8_000 }];
        let lines = sale(&sold);
        let by = |account: &str| lines.iter().filter(|l| l.account == account).map(|l| l.amount).sum::<i64>();
        assert_eq!(by(account::ADVANCES), 171_800);
        assert_eq!(by(account::OUTPUT_VAT), -tax_of(171_800, OUTPUT_VAT_BP));
        assert_eq!(by(account::SALES) + by(account::OUTPUT_VAT), -171_800);
    }

    #[test]
    fn issuing_more_than_on_hand_leaves_a_debt_the_next_receipt_settles() {
        let mut state = State::default();
        state.costs.insert(sku(), 100);
        let sold = vec![EventLine { sku: sku(), qty: qty(5), unit_price: 200, discount: 0 }];
        let shipped = post(&mut state, &at(1, BusinessEvent::OrderShipped { order_id: 1, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF1".into(), lines: sold }));
        assert_eq!(inventory_value(&shipped[0].lines), -500);
        let received = post(&mut state, &at(2, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(8), unit_cost: Some(120) }));
        let cogs: i64 = received[0].lines.iter().filter(|l| l.account == account::COGS).map(|l| l.amount).sum();
        assert_eq!(cogs, 5 * 20, "the five issued at 100 cost 120");
        assert_eq!(inventory_value(&received[0].lines) + cogs, 8 * 120);
        assert_eq!(state.piles[&(sku(), wh())].layers.iter().map(|l| (l.qty, l.unit_cost)).collect::<Vec<_>>(), vec![(3, 120)]);
        assert_eq!(state.moves.len(), 2, "both moves kept for a replay");
    }

    #[test]
    fn an_invoice_charges_input_vat_and_its_price_difference_follows_the_goods() {
        let mut state = State::default();
        post(&mut state, &at(1, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(10), unit_cost: Some(40_000) }));
        let sold = vec![EventLine { sku: sku(), qty: qty(6), unit_price: 89_900, discount: 0 }];
        post(&mut state, &at(2, BusinessEvent::OrderShipped { order_id: 1, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF1".into(), lines: sold }));
        // Ten billed at ¥401.00 (¥10.00 over the order), plus 13 % VAT.
        let money = |m: i64| Money::parse(m).expect("money");
        let approved = BusinessEvent::SupplierInvoiceApproved {
            invoice_id: 3,
            po_id: 9,
            supplier: "NIKE-CN".into(),
            total: money(401_000),
            by_hand: false,
            received_value: Some(money(400_000)),
            tax: money(52_130),
            warehouse: Some(wh()),
            late_costs: vec![crate::journal::LateCost { sku: sku(), units: 10, amount: 1_000 }],
        };
        let entry = &post(&mut state, &at(3, approved))[0];
        let by = |account: &str| entry.lines.iter().filter(|l| l.account == account).map(|l| l.amount).sum::<i64>();
        assert_eq!(entry.balance(), 0);
        assert_eq!(by(account::INPUT_VAT), 52_130);
        assert_eq!(by("Liabilities:Payable:Supplier:NIKECN"), -453_130, "the supplier is owed the total and the VAT");
        assert_eq!(by(account::GRNI), 400_000);
        assert_eq!((by("Assets:Inventory:SH-01"), by(account::COGS)), (400, 600), "four pairs on hand take ¥4.00, six sold ¥6.00");
        assert_eq!(by(account::PRICE_VARIANCE), 0);
        let layers: Vec<(i64, i64)> = state.piles[&(sku(), wh())].layers.iter().map(|l| (l.qty, l.unit_cost)).collect();
        assert_eq!(layers, vec![(4, 40_100)]);
    }

    #[test]
    fn a_loss_reverses_the_input_vat_on_its_cost_and_a_return_comes_back_at_what_it_left_at() {
        let mut state = State::default();
        state.costs.insert(sku(), 30_000);
        post(&mut state, &at(1, BusinessEvent::StockReceived { sku: sku(), warehouse: wh(), qty: qty(2), unit_cost: Some(40_000) }));
        let lost = &post(&mut state, &at(2, BusinessEvent::StockAdjusted { sku: sku(), warehouse: wh(), delta: -1, reason: "damage".into() }))[0];
        let by = |e: &Entry, account: &str| e.lines.iter().filter(|l| l.account == account).map(|l| l.amount).sum::<i64>();
        assert_eq!((by(lost, account::WRITE_DOWNS), by(lost, account::INPUT_VAT_REVERSED)), (45_200, -5_200));
        let sold = vec![EventLine { sku: sku(), qty: qty(1), unit_price: 89_900, discount: 0 }];
        post(&mut state, &at(3, BusinessEvent::OrderShipped { order_id: 4, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF4".into(), lines: sold }));
        let lines = vec![crate::journal::ReturnedUnits { sku: sku(), passed: 1, failed: 0, unit_price: 89_900 }];
        let back = &post(&mut state, &at(4, BusinessEvent::ReturnReceived { request_id: 1, order_id: 4, warehouse: wh(), reason: "size".into(), lines }))[0];
        assert_eq!(by(back, "Assets:Inventory:SH-01"), 40_000, "at the ¥400.00 it was shipped at, not the standard ¥300.00");
    }

    #[test]
    fn a_refund_before_shipment_returns_advances_and_after_it_revenue_and_vat() {
        let mut state = State::default();
        let refund = |order_id| at(1, BusinessEvent::RefundSucceeded { refund_id: 1, payment_id: 1, order_id, channel: "alipay".into(), amount: 11_300 });
        let before = post(&mut state, &refund(1));
        assert_eq!(before[0].lines.iter().map(|l| (l.account.as_str(), l.amount)).collect::<Vec<_>>(), vec![(account::ADVANCES, 11_300), ("Assets:Clearing:Alipay", -11_300)]);
        state.orders.insert(2, OrderFacts { shipped: true, paid_by: Some(1), sold_gross: 11_300, sold_vat: 1_300, ..OrderFacts::default() });
        let after = post(&mut state, &refund(2));
        assert_eq!(after[0].balance(), 0);
        assert!(after[0].lines.iter().any(|l| l.account == account::OUTPUT_VAT && l.amount == 1_300));
        // A refund of another payment (late, duplicate) is money owed back, not a return.
        state.orders.insert(3, OrderFacts { shipped: true, paid_by: Some(9), sold_gross: 11_300, sold_vat: 1_300, ..OrderFacts::default() });
        let late = post(&mut state, &refund(3));
        assert_eq!(late[0].lines[0].account, account::ADVANCES);
    }

    #[test]
    fn a_refund_of_parts_a_cancel_stopped_comes_out_of_advances_not_sales() {
        let mut state = State::default();
        state.orders.insert(4, OrderFacts { shipped: true, paid_by: Some(1), sold_gross: 11_300, sold_vat: 1_300, ..OrderFacts::default() });
        let stopped = vec![EventLine { sku: sku(), qty: tote_shared::Qty::parse(1).expect("qty"), unit_price: 5_000, discount: 0 }];
        assert!(post(&mut state, &at(1, BusinessEvent::OrderPartsCancelled { order_id: 4, lines: stopped })).is_empty());
        let refund = at(2, BusinessEvent::RefundSucceeded { refund_id: 1, payment_id: 1, order_id: 4, channel: "alipay".into(), amount: 5_000 });
        let entry = post(&mut state, &refund);
        let lines: Vec<(&str, i64)> = entry[0].lines.iter().map(|l| (l.account.as_str(), l.amount)).collect();
        assert_eq!(lines, vec![(account::ADVANCES, 5_000), ("Assets:Clearing:Alipay", -5_000)], "the sale of the shipped part stands");
        let facts = &state.orders[&4];
        assert_eq!((facts.returned_gross, facts.unshipped_owed), (0, 0));
    }

    #[test]
    fn refunds_reverse_exactly_the_vat_the_sale_recognised() {
        let mut state = State::default();
        let sku = sku();
        // Two lines of 1.00: VAT 0.12 each, 0.24 in all (0.23 on the total).
        let sold = vec![EventLine { sku: sku.clone(), qty: qty(1), unit_price: 100, discount: 0 }, EventLine { sku, qty: qty(1), unit_price: 100, discount: 0 }];
        state.orders.insert(5, OrderFacts { channel_paid: true, last_payment: Some(4), paid_by: Some(4), ..OrderFacts::default() });
        post(&mut state, &at(1, BusinessEvent::OrderShipped { order_id: 5, warehouse: Some(wh()), carrier: "SF".into(), tracking_number: "SF5".into(), lines: sold }));
        let refund = |seq, amount| at(seq, BusinessEvent::RefundSucceeded { refund_id: seq, payment_id: 4, order_id: 5, channel: "card".into(), amount });
        let vat = |entries: Vec<Entry>| entries[0].lines.iter().filter(|l| l.account == account::OUTPUT_VAT).map(|l| l.amount).sum::<i64>();
        let first = vat(post(&mut state, &refund(2, 100)));
        let second = vat(post(&mut state, &refund(3, 100)));
        assert_eq!((first, first + second), (12, 24), "in proportion, then exactly what is left");
    }
}
