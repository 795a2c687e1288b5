//! The dashboard's rollups over the real journal and consumers. Fulfilment: an order counts
//! once, at its first parcel, with its payment-to-parcel time (from its release when it waited
//! for stock); a later parcel adds units only; an order cancelled after payment never counts.
//! Payments: an attempt counts once by how it ended; money after a failure or a close moves it
//! to succeeded.

mod common;

use common::{Backend, Place};
use std::sync::Arc;
use tote_central::analytics::fulfilment::FulfilmentConsumer;
use tote_central::analytics::payments::PaymentsConsumer;
use tote_central::db::DbError;
use tote_central::journal::{consumer, store, BusinessEvent as E, EventLine};
use tote_shared::{Qty, Sku, WarehouseCode};

const HOUR: i64 = 3_600_000;
const DAY0: i64 = 20_000 * 86_400_000;

fn line(qty: u32) -> Vec<EventLine> {
    vec![EventLine { sku: Sku::parse("PEG39-M-WHT-42").expect("sku"), qty: Qty::parse(i64::from(qty)).expect("qty"), unit_price: 89_900, discount: 0 }]
}

fn paid(order_id: u64) -> E {
    E::OrderPaid { order_id, warehouse: Some(WarehouseCode::parse("SH-01").expect("code")), lines: line(1), total: 89_900, collected_by: None }
}

fn shipped(order_id: u64, qty: u32) -> E {
    let warehouse = Some(WarehouseCode::parse("SH-01").expect("code"));
    E::OrderShipped { order_id, warehouse, carrier: "SF".into(), tracking_number: format!("SF{order_id}-{qty}"), lines: line(qty) }
}

/// (day, orders, units, cycle ms, within the promise) of one row.
type Day = (i64, i64, i64, i64, i64);

async fn rollup_counts_each_order_once(backend: Backend) {
    let place = Place::new(backend);
    let db = place.open().await;
    let append = |events: Vec<E>, at: i64| {
        let db = db.clone();
        async move { db.write(move |tx| store::append_many(tx, &events, at)).await.expect("append") }
    };
    append(vec![paid(1), paid(2), paid(3), paid(4)], DAY0).await;
    // Order 4 waited for stock: SH-01 had it from its allocation, 2 h before its parcel.
    let sh = WarehouseCode::parse("SH-01").expect("code");
    append(vec![E::OrderAllocated { order_id: 4, warehouse: sh }], DAY0 + 20 * HOUR).await;
    append(vec![shipped(4, 1)], DAY0 + 22 * HOUR).await;
    append(vec![shipped(1, 2)], DAY0 + 5 * HOUR).await;
    append(vec![shipped(2, 1)], DAY0 + 30 * HOUR).await;
    append(vec![shipped(2, 1)], DAY0 + 31 * HOUR).await;
    append(vec![E::OrderCancelled { order_id: 3, lines: line(1), was_paid: true }], DAY0 + HOUR).await;
    while consumer::sequence_once(&db, 1_000).await.expect("sequence") > 0 {}
    while consumer::run_once(&db, Arc::new(FulfilmentConsumer), DAY0 + 40 * HOUR).await.expect("consume") > 0 {}
    let rows = db
        .read(|tx| -> Result<Vec<Day>, DbError> {
            tx.query("SELECT day, orders, units, cycle_ms, within_promise FROM an_fulfilment_daily WHERE warehouse = 'SH-01' ORDER BY day", &[])?
                .iter()
                .map(|r| Ok((r.int(0)?, r.int(1)?, r.int(2)?, r.int(3)?, r.int(4)?)))
                .collect()
        })
        .await
        .expect("rows");
    // Day 0: order 1 in 5 h, order 4 in 2 h. Day 1: order 2 in 30 h (late) and its second
    // parcel's unit.
    assert_eq!(rows, vec![(20_000, 2, 3, 7 * HOUR, 2), (20_001, 1, 2, 30 * HOUR, 0)]);
    let waiting = db.read(|tx| -> Result<i64, DbError> { tx.query_one("SELECT COUNT(*) FROM an_order_paid", &[])?.int(0) }).await.expect("waiting");
    assert_eq!(waiting, 0, "shipped and cancelled orders leave nothing waiting");
}

#[tokio::test]
async fn sqlite_rollup_counts_each_order_once() {
    rollup_counts_each_order_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_rollup_counts_each_order_once() {
    rollup_counts_each_order_once(Backend::Postgres).await;
}

async fn attempts_count_once(backend: Backend) {
    let place = Place::new(backend);
    let db = place.open().await;
    let ok = |p: u64| E::PaymentSucceeded { payment_id: p, order_id: p, channel: "wechat".into(), amount: 100, channel_ref: format!("w{p}") };
    let failed = |p: u64| E::PaymentFailed { payment_id: p, order_id: p, channel: "wechat".into(), reason: "declined".into() };
    let closed = |p: u64| E::PaymentClosed { payment_id: p, order_id: p, channel: "wechat".into() };
    // 1 declined then closed with its order; 2 paid; 3 closed, then its money came after all.
    let events = vec![failed(1), closed(1), ok(2), closed(3), ok(3)];
    db.write(move |tx| store::append_many(tx, &events, DAY0)).await.expect("append");
    while consumer::sequence_once(&db, 1_000).await.expect("sequence") > 0 {}
    while consumer::run_once(&db, Arc::new(PaymentsConsumer), DAY0).await.expect("consume") > 0 {}
    let row = db
        .read(|tx| -> Result<(i64, i64, i64), DbError> {
            let r = tx.query_one("SELECT succeeded, failed, closed FROM an_payments_daily WHERE day = 20000 AND channel = 'wechat'", &[])?;
            Ok((r.int(0)?, r.int(1)?, r.int(2)?))
        })
        .await
        .expect("row");
    assert_eq!(row, (2, 1, 0), "three attempts, each counted once by how it ended");
}

#[tokio::test]
async fn sqlite_payment_attempts_count_once() {
    attempts_count_once(Backend::Sqlite).await;
}

#[tokio::test]
async fn postgres_payment_attempts_count_once() {
    attempts_count_once(Backend::Postgres).await;
}
