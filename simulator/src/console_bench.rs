//! `bench console`: the HQ dashboard with a year of history. `orders` orders' journal events
//! (created, paid, received stock, shipped) are spread over the last 365 days and posted by the
//! real consumers (the hourly orders rollup, finance's ledger and its profit cube); then the
//! dashboard's reads are timed in-process for 30 and 365 days, and in headless Chromium at
//! 1440 × 900 from navigation to four drawn charts, with the page's weight. In the same run
//! the reference: one `SELECT COUNT(*)` over the orders' rollup rows (what any read of them
//! costs at the least).

use anyhow::{ensure, Context, Result};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tote_central::journal::consumer::{self, Consumer};
use tote_central::journal::{BusinessEvent as E, EventLine};
use tote_shared::calendar::DAY_MS;
use tote_sim::browser::Browser;

const CHANNELS: [&str; 4] = ["app", "web", "tmall", "jd"];
const WAREHOUSES: [&str; 3] = ["SH-01", "BJ-01", "GZ-01"];
const SKUS: usize = 1_000;
const ADMIN: &str = "bench-admin";
const PASSWORD: &str = "bench-password-not-secret";

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs.get(xs.len() / 2).copied().unwrap_or(f64::NAN)
}

/// One order's events: its stock received, created, paid, shipped.
fn order_events(o: usize) -> Vec<E> {
    let sku = |k: usize| tote_shared::Sku::parse(&format!("BENCH-{:04}", k % SKUS)).expect("sku");
    let qty = |n: i64| tote_shared::Qty::parse(n).expect("qty");
    let wh =
        tote_shared::WarehouseCode::parse(WAREHOUSES[o % WAREHOUSES.len()]).expect("warehouse");
    let lines = vec![
        EventLine {
            sku: sku(o * 13),
            qty: qty(1),
            unit_price: 19_900,
            discount: 0,
        },
        EventLine {
            sku: sku(o * 7 + 3),
            qty: qty(2),
            unit_price: 9_900,
            discount: 0,
        },
    ];
    let total = 19_900 + 2 * 9_900;
    let id = o as u64 + 1;
    let mut events: Vec<E> = lines
        .iter()
        .map(|l| E::StockReceived {
            sku: l.sku.clone(),
            warehouse: wh.clone(),
            qty: l.qty,
            unit_cost: None,
        })
        .collect();
    events.push(E::OrderCreated {
        order_id: id,
        channel: CHANNELS[o % CHANNELS.len()].into(),
        warehouse: wh.clone(),
        lines: lines.clone(),
        total,
        customer: None,
    });
    events.push(E::PaymentSucceeded {
        payment_id: id,
        order_id: id,
        channel: "wechat".into(),
        amount: total,
        channel_ref: format!("w{id}"),
    });
    events.push(E::OrderPaid {
        order_id: id,
        warehouse: Some(wh.clone()),
        lines: lines.clone(),
        total,
        collected_by: None,
    });
    events.push(E::OrderShipped {
        order_id: id,
        warehouse: Some(wh),
        carrier: "SF".into(),
        tracking_number: format!("SF{id}"),
        lines,
    });
    events
}

pub async fn console(orders: usize, runs: usize) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("central.sqlite");
    let settings: tote_central::config::DatabaseSettings =
        toml::from_str(&format!("path = \"{}\"", path.display()))?;
    let db = tote_central::db::Database::open(&settings).await?;
    // The year's events, day by day, each day's orders spread over its hours.
    let today = tote_shared::runtime::system::now_ms().div_euclid(DAY_MS);
    let first = today - 364;
    let skus: Vec<E> = (0..SKUS)
        .map(|k| E::SkuCreated {
            sku: tote_shared::Sku::parse(&format!("BENCH-{k:04}")).expect("sku"),
            spu_id: "BENCH".into(),
            price: 19_900,
            cost: 8_000 + k as i64,
        })
        .collect();
    db.write(move |tx| tote_central::journal::store::append_many(tx, &skus, first * DAY_MS))
        .await?;
    let per_day = orders.div_ceil(365);
    let started = Instant::now();
    let mut made = 0;
    for day in 0..365 {
        let todays = per_day.min(orders - made);
        for hour in 0..24usize {
            let (from, to) = (made + todays * hour / 24, made + todays * (hour + 1) / 24);
            if from == to {
                continue;
            }
            let events: Vec<E> = (from..to).flat_map(order_events).collect();
            let at = (first + day as i64) * DAY_MS + hour as i64 * 3_600_000 + 60_000;
            db.write(move |tx| tote_central::journal::store::append_many(tx, &events, at))
                .await?;
        }
        made += todays;
    }
    while consumer::sequence_once(&db, 10_000).await? > 0 {}
    let appended = started.elapsed().as_secs_f64();
    let mut posted = Vec::new();
    for c in [
        Arc::new(tote_central::analytics::orders::OrdersConsumer) as Arc<dyn Consumer>,
        Arc::new(tote_central::analytics::fulfilment::FulfilmentConsumer),
        Arc::new(tote_central::analytics::payments::PaymentsConsumer),
        Arc::new(tote_central::finance::LedgerConsumer),
    ] {
        let started = Instant::now();
        let mut applied = 0usize;
        loop {
            let n =
                consumer::run_once(&db, c.clone(), tote_shared::runtime::system::now_ms()).await?;
            if n == 0 {
                break;
            }
            applied += n as usize;
        }
        posted.push(format!(
            "{} {:.0} events/s",
            c.name(),
            applied as f64 / started.elapsed().as_secs_f64()
        ));
    }
    let (rollup, cube) = db
        .read(|tx| {
            Ok::<_, tote_central::db::DbError>((
                tx.query_one("SELECT COUNT(*) FROM an_orders_hourly", &[])?
                    .int(0)?,
                tx.query_one("SELECT COUNT(*) FROM fin_profit", &[])?
                    .int(0)?,
            ))
        })
        .await?;
    println!("history  orders={made} over 365 days: appended in {appended:.1} s; {}; rollup rows {rollup}, profit cube rows {cube}", posted.join(", "));

    // The dashboard's reads, as GET /console/dashboard makes them, against the reference scan.
    for days in [30i64, 365] {
        let mut times = Vec::new();
        let mut reference = Vec::new();
        for _ in 0..runs {
            let from = today - days + 1;
            let started = Instant::now();
            let counted = db
                .read(move |tx| {
                    let rows = tote_central::console::store::days(tx, from, today)?;
                    tote_central::console::store::by_hour(tx, from, today)?;
                    tote_central::console::store::shares(tx, true, from, today)?;
                    tote_central::console::store::shares(tx, false, from, today)?;
                    tote_central::console::store::top_skus(tx, from, today, 10)?;
                    tote_central::console::store::campaign_days(tx, from, today)?;
                    tote_central::console::store::fulfilment(tx, from, today)?;
                    Ok::<_, tote_central::db::DbError>(rows.values().map(|d| d.orders).sum::<i64>())
                })
                .await?;
            times.push(started.elapsed().as_secs_f64() * 1000.0);
            ensure!(counted > 0, "the window holds orders");
            let started = Instant::now();
            db.read(|tx| {
                tx.query_one("SELECT COUNT(*) FROM an_orders_hourly", &[])?
                    .int(0)
            })
            .await?;
            reference.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        println!("reads    days={days:<3} dashboard {:.1} ms (median of {runs})   reference COUNT(*) over the rollup {:.2} ms", median(times), median(reference));
    }
    // Central's other consumers (invoicing, payments, marketing …) would find no orders behind
    // the synthetic events and fail on each: they start past the history instead.
    let now = tote_shared::runtime::system::now_ms();
    db.write(move |tx| {
        let (last, _) = tote_central::journal::store::head(tx)?;
        for name in ["after-sales", "invoicing", "marketing", "marketplace", "order-deliveries", "payment", "returns", "risk", "sales"] {
            tote_central::journal::store::lock_position(tx, name, now)?;
            tote_central::journal::store::set_position(tx, name, last, now)?;
        }
        Ok::<_, tote_central::db::DbError>(())
    })
    .await?;
    drop(db);

    // The page in Chromium, served by a real central on this database.
    let mut settings: tote_central::config::Settings = toml::from_str(&format!(
        "log = \"off\"\n[http]\nlisten = \"127.0.0.1:0\"\nmax_body_bytes = 65536\nmax_connections = 256\nmax_in_flight = 256\n\
         [database]\npath = \"{}\"\n[orders]\npayment_timeout_ms = 3600000\nsweep_interval_ms = 1000\nmax_lines = 50\n\
         [auth]\nadmin_token = \"bench-admin-token-0123456789\"\nread_token = \"bench-read-token-0123456789\"\n",
        path.display()
    ))?;
    settings.auth.bootstrap_admin = Some(ADMIN.into());
    settings.auth.bootstrap_password = Some(secrecy::SecretString::from(PASSWORD.to_owned()));
    let central = tote_central::startup::App::build(settings).await?;
    let url = format!("http://{}", central.local_addr()?);
    tokio::spawn(central.run_until_stopped(std::future::pending()));
    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../target/screenshots/bench-console");
    let b = Browser::start_desktop(shots).await?;
    let outcome = in_browser(&b, &url, runs).await;
    b.quit().await;
    outcome
}

async fn in_browser(b: &Browser, url: &str, runs: usize) -> Result<()> {
    b.goto(&format!("{url}/console")).await?;
    b.find("body[data-screen='signin']").await?;
    b.type_into("#user", ADMIN).await?;
    b.type_into("#password", PASSWORD).await?;
    b.click("#signin-button").await?;
    b.find("body[data-screen='dashboard']").await?;
    for days in [30, 365] {
        let mut drawn = Vec::new();
        let mut weight = 0.0;
        for run in 0..runs {
            // A fresh load each time (the query string makes it one); the session cookie stays.
            b.goto(&format!("{url}/console?days={days}&run={run}#dashboard"))
                .await?;
            let deadline = Instant::now() + Duration::from_secs(30);
            let at = loop {
                let v = b.exec("return window.toteChartsAt || null").await?;
                if let Some(ms) = v.as_f64() {
                    break ms;
                }
                ensure!(Instant::now() < deadline, "the dashboard did not draw");
                tokio::time::sleep(Duration::from_millis(20)).await;
            };
            drawn.push(at);
            weight = b
                .exec("return performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource')).reduce((a, e) => a + (e.encodedBodySize || 0), 0)")
                .await?
                .as_f64()
                .context("weight")?;
        }
        let shown = b.text("#tiles").await?;
        b.screenshot(&format!("dashboard-{days}-days")).await?;
        println!("browser  days={days:<3} navigation to the dashboard drawn (eight charts) {:.0} ms (median of {runs}); page weight {:.0} KB; tiles: {}", median(drawn), weight / 1024.0, shown.replace('\n', " "));
    }
    Ok(())
}
