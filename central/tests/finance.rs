//! Period close and costing, through the ledger consumer on both backends: a November of
//! receipts, a sale and freight is posted, HQ closes November on 2 December, and a shipment
//! dated 20 November that reaches the books only then posts into December with its own date
//! kept. The closed month's net income is what retained earnings got; the statements of
//! November and December split the year's income between them.

mod common;

use common::{seeded, sku, warehouse, Backend, Place};
use std::sync::Arc;
use tote_central::db::{Database, DbError};
use tote_central::finance::costing::Method;
use tote_central::finance::alerts::{self, AlertPolicy};
use tote_central::finance::periods::{self, FinanceError};
use tote_central::finance::statements::income_statement;
use tote_central::finance::{self, store, LedgerConsumer};
use tote_central::journal::consumer::{run_once, sequence_once, Consumer};
use tote_central::journal::{BusinessEvent, EventLine};
use tote_shared::calendar::{parse_day, DAY_MS};
use tote_shared::Qty;

fn ms(day: &str) -> i64 {
    parse_day(day).expect("day") * DAY_MS + 10 * 3_600_000
}

async fn journal(db: &Database, at_ms: i64, event: BusinessEvent) {
    db.write(move |tx| tote_central::journal::store::append(tx, &event, at_ms)).await.expect("journalled");
}

/// Numbers and posts everything journalled so far.
async fn post_all(db: &Database) {
    let ledger: Arc<dyn Consumer> = Arc::new(LedgerConsumer);
    while sequence_once(db, 1000).await.expect("sequenced") > 0 {}
    while run_once(db, ledger.clone(), 0).await.expect("posted") > 0 {}
}

fn shipped(order_id: u64, qty: i64, tracking: &str) -> BusinessEvent {
    let lines = vec![EventLine { sku: sku(), qty: Qty::parse(qty).expect("qty"), unit_price: 89_900, discount: 0 }];
    BusinessEvent::OrderShipped { order_id, warehouse: Some(warehouse()), carrier: "SF".into(), tracking_number: tracking.into(), lines }
}

fn paid(order_id: u64, amount: i64) -> BusinessEvent {
    BusinessEvent::OrderPaid { order_id, warehouse: Some(warehouse()), lines: vec![], total: amount, collected_by: None }
}

async fn a_closed_month_keeps_its_income_and_a_late_event_posts_into_the_open_one(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    journal(&db, ms("2026-11-03"), BusinessEvent::StockReceived { sku: sku(), warehouse: warehouse(), qty: Qty::parse(10).expect("qty"), unit_cost: Some(40_000) }).await;
    journal(&db, ms("2026-11-09"), paid(1, 2 * 89_900)).await;
    journal(&db, ms("2026-11-10"), shipped(1, 2, "SF1")).await;
    journal(&db, ms("2026-11-10"), BusinessEvent::FreightAccrued { order_id: 1, carrier: "SF".into(), waybill: "SF1".into(), amount: 1_200 }).await;
    journal(&db, ms("2026-11-19"), paid(2, 89_900)).await;
    post_all(&db).await;

    // November: two pairs sold at ¥899.00 (VAT out), two at ¥400.00 cost, ¥12.00 of freight.
    let november_net = (2 * 89_900 - tote_shared::payment::invoice::tax_of(2 * 89_900, 1300)) - 2 * 40_000 - 1_200;
    let refused = |r: Result<periods::Period, FinanceError>| matches!(r, Err(FinanceError::Refused(_)));
    assert!(refused(db.write(|tx| periods::close(tx, "2026-12", "hq", ms("2026-12-02"))).await), "December is not over");
    assert!(refused(db.write(|tx| periods::close(tx, "2026-11-01", "hq", ms("2026-12-02"))).await), "not a month");
    assert!(refused(db.write(|tx| periods::close(tx, "2026-+1", "hq", ms("2026-12-02"))).await), "not a month either");
    assert!(refused(db.write(|tx| periods::close(tx, "2026-10", "hq", ms("2026-12-02"))).await), "the books begin in November");
    let asked = db.write(|tx| periods::close(tx, "2026-11", "hq", ms("2026-12-02"))).await.expect("closing");
    assert_eq!((asked.month.as_str(), asked.closed_ms), ("2026-11", None), "the ledger has not posted it yet");
    assert!(matches!(db.write(|tx| periods::close(tx, "2026-11", "hq", ms("2026-12-02"))).await, Err(FinanceError::Closed(_))));
    assert!(refused(db.write(|tx| periods::close(tx, "2027-01", "hq", ms("2027-02-02"))).await), "months close in order");

    // The second order's shipment, made on 20 November, reaches central after the close.
    journal(&db, ms("2026-11-20"), shipped(2, 1, "SF2")).await;
    post_all(&db).await;

    let closed = db.read(|tx| periods::load(tx, "2026-11")).await.expect("period").expect("asked");
    assert_eq!(closed.net_income, Some(november_net), "{closed:?}");
    let (november, december, all, late) = db
        .read(|tx| -> Result<_, DbError> {
            let day = |d: &str| parse_day(d).expect("day");
            let late = tx.query_one("SELECT at_ms, event_ms FROM gl_entry WHERE description LIKE 'order 2 shipped%'", &[])?;
            Ok((
                store::day_balances(tx, day("2026-11-01"), day("2026-12-01"), false)?,
                store::day_balances(tx, day("2026-12-01"), day("2027-01-01"), false)?,
                store::trial_balance(tx)?,
                (late.int(0)?, late.int(1)?),
            ))
        })
        .await
        .expect("balances");
    assert_eq!(income_statement(&november).net_income, november_net, "the close's own entry is not income");
    let december_net = income_statement(&december).net_income;
    assert_eq!(december_net, (89_900 - tote_shared::payment::invoice::tax_of(89_900, 1300)) - 40_000, "the late shipment's sale is December's");
    assert_eq!(late, (ms("2026-12-01") - 10 * 3_600_000, ms("2026-11-20")), "posted on 1 December, dated 20 November");
    let retained = -all.iter().find(|b| b.account == "Equity:RetainedEarnings").map_or(0, |b| b.balance);
    assert_eq!(retained, november_net);
    let income_left: i64 = all.iter().filter(|b| b.account.starts_with("Income") || b.account.starts_with("Expenses")).map(|b| b.balance).sum();
    assert_eq!(-income_left, december_net, "only December's earnings are still open");

    // The books posted again from zero, closes included, come to the same.
    let events = db.read(|tx| tote_central::journal::store::read_after(tx, 0, 1000)).await.expect("journal");
    let mut replayed = std::collections::BTreeMap::<String, i64>::new();
    for line in finance::replay(Method::Fifo, &events).into_iter().flat_map(|e| e.lines) {
        *replayed.entry(line.account).or_default() += line.amount;
    }
    replayed.retain(|_, v| *v != 0);
    let ours: std::collections::BTreeMap<String, i64> = all.iter().filter(|b| b.balance != 0).map(|b| (b.account.clone(), b.balance)).collect();
    assert_eq!(replayed, ours);

    // Profit by category and the threshold alerts over the 30 days to 2 December: Shoes sold
    // three pairs at a margin near 50 %; the bank is empty with carriers to pay, so the days of
    // cash are none. A 60 % margin floor raises Shoes; lowering it again clears that alert.
    let now = ms("2026-12-02");
    let (rows, total) = db.read(|tx| store::profit(tx, store::ProfitBy::Category, 0, i64::MAX, 10)).await.expect("profit");
    assert_eq!((rows.len(), rows[0].key.as_str(), rows[0].units), (1, "Shoes", 3));
    let revenue = income_statement(&november).net_revenue + income_statement(&december).net_revenue;
    assert_eq!((total.revenue, total.cost_of_goods_sold), (revenue, 3 * 40_000), "the cube ties to both months' statements");
    let (opening, flows, sales) = db.read(move |tx| finance::cashflow::gather(tx, now, 13)).await.expect("forecast inputs");
    let forecast = finance::cashflow::project(opening, now, 13, &flows, sales);
    assert_eq!((forecast.opening, forecast.weeks[4].by_kind.get("carrier").copied()), (0, Some(-1_200)), "{forecast:?}");
    let scan = |policy: AlertPolicy| {
        let db = db.clone();
        async move {
            db.write(move |tx| -> Result<_, FinanceError> {
                alerts::set_policy(tx, &policy, now)?;
                alerts::scan(tx, now)
            })
            .await
            .expect("scan")
        }
    };
    let strict = scan(AlertPolicy { min_gross_margin_bp: 6_000, ..AlertPolicy::default() }).await;
    let raised: Vec<(&str, &str)> = strict.raised.iter().map(|f| (f.kind.as_str(), f.key.as_str())).collect();
    assert_eq!(raised, vec![("gross_margin", "Shoes"), ("days_of_cash", "")]);
    let calm = scan(AlertPolicy::default()).await;
    assert_eq!((calm.raised.len(), calm.cleared.len(), calm.open), (0, 1, 1), "Shoes cleared, days of cash still open");
    let open = db.read(|tx| alerts::list(tx, true, 10)).await.expect("alerts");
    assert_eq!(open.iter().map(|a| a.kind.as_str()).collect::<Vec<_>>(), vec!["days_of_cash"]);

    // The costing method stays the one the books were costed by.
    let pinned = db.write(|tx| store::pin_costing(tx, Method::Average, 0)).await.expect("pin");
    assert_eq!(pinned, Err(Method::Fifo));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_month_keeps_its_income_and_a_late_event_posts_into_the_open_one_on_sqlite() {
    a_closed_month_keeps_its_income_and_a_late_event_posts_into_the_open_one(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_month_keeps_its_income_and_a_late_event_posts_into_the_open_one_on_postgres() {
    a_closed_month_keeps_its_income_and_a_late_event_posts_into_the_open_one(Backend::Postgres).await;
}
