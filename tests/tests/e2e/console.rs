//! The HQ console and its people: named users with roles, sessions, the access table, the
//! audit log — over the API (lockout, CSRF, TOTP, tokens) and in headless Chromium at
//! 1440 × 900 (a finance clerk resolves a planted reconciliation difference and drills from the
//! books to one order's postings; a merchandiser is refused the books, page and API; a
//! merchandiser publishes a campaign and watches its return move; a buyer orders from a
//! suggestion and refuses an invoice the three-way match held; a customer-service agent
//! approves a return and sees its refund land). An admin then opens every page in English and
//! in Chinese: the screenshots are kept in `target/screenshots/console/`.

use crate::helpers::*;
use crate::payment::{bill_day, paid_orders, reconcile, PaymentWorld};
use anyhow::{ensure, Context, Result};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::time::Duration;
use tote_sim::browser::Browser;
use tote_sim::payment::bills::Plant;
use tote_sim::payment::ChannelKind;

const PASSWORD: &str = "correct horse battery";

/// Makes a user with `roles` (as the configured admin token).
async fn user(central: &Central, id: &str, roles: &[&str]) -> Result<()> {
    central
        .post(
            "/api/v1/staff/users",
            json!({"id": id, "name": id, "password": PASSWORD, "roles": roles}),
        )
        .await?
        .ok()?;
    Ok(())
}

/// Signs in over the API; the session's answer (token, csrf).
async fn sign_in(
    central: &Central,
    id: &str,
    password: &str,
    totp: Option<&str>,
) -> Result<reqwest::Response> {
    let mut body = json!({"user": id, "password": password});
    if let Some(code) = totp {
        body["totp"] = json!(code);
    }
    Ok(central
        .http
        .post(central.url("/api/v1/session"))
        .json(&body)
        .send()
        .await?)
}

async fn token_of(central: &Central, id: &str) -> Result<String> {
    let response = sign_in(central, id, PASSWORD, None).await?;
    ensure!(
        response.status() == StatusCode::CREATED,
        "sign-in of {id}: {}",
        response.status()
    );
    let body: Value = response.json().await?;
    Ok(body["token"].as_str().context("token")?.to_owned())
}

async fn as_bearer(
    central: &Central,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> Result<StatusCode> {
    let mut request = central
        .http
        .request(method, central.url(path))
        .bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    Ok(request.send().await?.status())
}

async fn audit(central: &Central, actor: &str) -> Result<Vec<Value>> {
    let entries = central
        .get(&format!("/api/v1/audit?actor={actor}&limit=1000"))
        .await?
        .ok()?;
    Ok(entries.as_array().cloned().unwrap_or_default())
}

#[tokio::test]
async fn roles_sessions_lockout_csrf_totp_and_tokens_on_sqlite() -> Result<()> {
    people(Backend::Sqlite).await
}

#[tokio::test]
async fn roles_sessions_lockout_csrf_totp_and_tokens_on_postgres() -> Result<()> {
    people(Backend::Postgres).await
}

async fn people(backend: Backend) -> Result<()> {
    let world = World::start_with(backend, &[("SH-01", "Shanghai")], 600_000, "").await?;
    let central = &world.central;
    user(central, "mei", &["merchandiser"]).await?;
    user(central, "fang", &["finance"]).await?;
    let weak = central
        .post(
            "/api/v1/staff/users",
            json!({"id": "x", "name": "x", "password": "short", "roles": ["buyer"]}),
        )
        .await?;
    ensure!(
        weak.status == 422,
        "a short password is refused: {}",
        weak.body
    );

    // Each role is refused what is not theirs, with the role it would need.
    let mei = token_of(central, "mei").await?;
    ensure!(
        as_bearer(
            central,
            &mei,
            reqwest::Method::GET,
            "/api/v1/finance/statements",
            None
        )
        .await?
            == StatusCode::FORBIDDEN
    );
    ensure!(
        as_bearer(central, &mei, reqwest::Method::GET, "/api/v1/audit", None).await?
            == StatusCode::FORBIDDEN
    );
    ensure!(
        as_bearer(
            central,
            &mei,
            reqwest::Method::POST,
            "/api/v1/suppliers",
            Some(json!({}))
        )
        .await?
            == StatusCode::FORBIDDEN
    );
    ensure!(
        as_bearer(
            central,
            &mei,
            reqwest::Method::GET,
            "/api/v1/purchase-orders",
            None
        )
        .await?
            == StatusCode::OK,
        "the business is open to read"
    );
    let made = as_bearer(
        central,
        &mei,
        reqwest::Method::POST,
        "/api/v1/categories",
        Some(json!({})),
    )
    .await?;
    ensure!(
        made != StatusCode::FORBIDDEN && made != StatusCode::UNAUTHORIZED,
        "a merchandiser may change the catalog (this body is refused as a body): {made}"
    );
    let fang = token_of(central, "fang").await?;
    ensure!(
        as_bearer(
            central,
            &fang,
            reqwest::Method::GET,
            "/api/v1/finance/statements",
            None
        )
        .await?
            == StatusCode::OK
    );
    ensure!(
        as_bearer(
            central,
            &fang,
            reqwest::Method::POST,
            "/api/v1/staff/users",
            Some(json!({}))
        )
        .await?
            == StatusCode::FORBIDDEN
    );

    // Lockout that cannot be raced: 12 wrong passwords at once spend the five tries, and then
    // the right one is refused too, with the same answer.
    let mut wrong = tokio::task::JoinSet::new();
    for _ in 0..12 {
        let (http, url) = (central.http.clone(), central.url("/api/v1/session"));
        wrong.spawn(async move {
            http.post(url)
                .json(&json!({"user": "fang", "password": "not the password!"}))
                .send()
                .await
                .map(|r| r.status())
        });
    }
    while let Some(status) = wrong.join_next().await {
        ensure!(status?? == StatusCode::UNAUTHORIZED);
    }
    let locked = sign_in(central, "fang", PASSWORD, None).await?;
    ensure!(
        locked.status() == StatusCode::UNAUTHORIZED,
        "locked out: {}",
        locked.status()
    );
    let fang_user = central
        .http
        .get(central.url("/api/v1/staff/users"))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .json::<Value>()
        .await?;
    let until = fang_user
        .as_array()
        .and_then(|u| u.iter().find(|u| u["id"] == "fang"))
        .map(|u| u["locked_until_ms"].as_i64().unwrap_or(0))
        .unwrap_or(0);
    ensure!(until > 0, "the lock is recorded: {fang_user}");
    // An admin lifts it by taking her off and on.
    for active in [false, true] {
        central
            .http
            .put(central.url("/api/v1/staff/users/fang"))
            .bearer_auth(ADMIN)
            .json(&json!({"active": active}))
            .send()
            .await?
            .error_for_status()?;
    }
    ensure!(
        as_bearer(
            central,
            &fang,
            reqwest::Method::GET,
            "/api/v1/finance/statements",
            None
        )
        .await?
            == StatusCode::UNAUTHORIZED,
        "taking a user off ended her sessions"
    );

    // The cookie: a change needs the session's CSRF token; the bearer needs none.
    let response = sign_in(central, "mei", PASSWORD, None).await?;
    let cookie = response
        .headers()
        .get("set-cookie")
        .context("cookie")?
        .to_str()?
        .to_owned();
    ensure!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let session: Value = response.json().await?;
    let pair = cookie.split(';').next().context("cookie pair")?.to_owned();
    let csrf = session["csrf"].as_str().context("csrf")?;
    let price = json!({"price_minor": 12_900});
    let without = central
        .http
        .post(central.url(&format!("/api/v1/skus/{PEGASUS}/prices")))
        .header("cookie", &pair)
        .json(&price)
        .send()
        .await?;
    ensure!(
        without.status() == StatusCode::FORBIDDEN,
        "no CSRF token: {}",
        without.status()
    );
    let with = central
        .http
        .post(central.url(&format!("/api/v1/skus/{PEGASUS}/prices")))
        .header("cookie", &pair)
        .header("x-csrf-token", csrf)
        .json(&price)
        .send()
        .await?;
    ensure!(
        with.status() != StatusCode::FORBIDDEN && with.status() != StatusCode::UNAUTHORIZED,
        "with the CSRF token the cookie may change things: {}",
        with.status()
    );
    let read = central
        .http
        .get(central.url("/api/v1/session"))
        .header("cookie", &pair)
        .send()
        .await?
        .json::<Value>()
        .await?;
    ensure!(read["user"] == "mei" && read["csrf"] == csrf, "{read}");

    // TOTP: enrol, confirm, then sign-in needs a fresh code, and no code works twice.
    let begun: Value = central
        .http
        .post(central.url("/api/v1/staff/me/totp"))
        .bearer_auth(&mei)
        .send()
        .await?
        .json()
        .await?;
    let secret = base32_decode(begun["secret"].as_str().context("secret")?);
    let now_step = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64)
            / 30_000
    };
    let code = |step: i64| format!("{:06}", tote_central::staff::totp::code(&secret, step, 6));
    let confirmed = central
        .http
        .post(central.url("/api/v1/staff/me/totp/confirm"))
        .bearer_auth(&mei)
        .json(&json!({"code": code(now_step())}))
        .send()
        .await?;
    ensure!(
        confirmed.status() == StatusCode::NO_CONTENT,
        "{}",
        confirmed.status()
    );
    ensure!(
        sign_in(central, "mei", PASSWORD, None).await?.status() == StatusCode::UNAUTHORIZED,
        "the password alone no longer does"
    );
    let step = now_step() + 1;
    ensure!(
        sign_in(central, "mei", PASSWORD, Some(&code(step)))
            .await?
            .status()
            == StatusCode::CREATED
    );
    ensure!(
        sign_in(central, "mei", PASSWORD, Some(&code(step)))
            .await?
            .status()
            == StatusCode::UNAUTHORIZED,
        "a code used once is spent"
    );

    // API tokens: scoped, shown once, revocable at once.
    let made: Value = central
        .http
        .post(central.url("/api/v1/staff/tokens"))
        .bearer_auth(ADMIN)
        .json(&json!({"id": "erp", "scopes": ["buyer"]}))
        .send()
        .await?
        .json()
        .await?;
    let erp = made["secret"].as_str().context("secret")?.to_owned();
    ensure!(
        as_bearer(
            central,
            &erp,
            reqwest::Method::GET,
            "/api/v1/purchase-orders",
            None
        )
        .await?
            == StatusCode::OK
    );
    ensure!(
        as_bearer(
            central,
            &erp,
            reqwest::Method::POST,
            "/api/v1/categories",
            Some(json!({}))
        )
        .await?
            == StatusCode::FORBIDDEN
    );
    central
        .http
        .delete(central.url("/api/v1/staff/tokens/erp"))
        .bearer_auth(ADMIN)
        .send()
        .await?
        .error_for_status()?;
    ensure!(
        as_bearer(
            central,
            &erp,
            reqwest::Method::GET,
            "/api/v1/purchase-orders",
            None
        )
        .await?
            == StatusCode::UNAUTHORIZED
    );

    // The audit log names who did each change, and from where; secrets never reach it.
    let by_admin = audit(central, "admin").await?;
    ensure!(
        by_admin
            .iter()
            .any(|e| e["action"] == "POST /api/v1/staff/users"
                && e["detail"]["body"]["id"] == "fang"
                && e["detail"]["body"]["password"] == "***"),
        "{by_admin:#?}"
    );
    ensure!(
        by_admin.iter().any(
            |e| e["action"] == "DELETE /api/v1/staff/tokens/{id}" && e["origin"] == "127.0.0.1"
        ),
        "{by_admin:#?}"
    );
    let by_mei = audit(central, "user:mei").await?;
    ensure!(
        by_mei.iter().any(|e| e["action"] == "signed_in"),
        "{by_mei:#?}"
    );
    ensure!(
        by_mei
            .iter()
            .any(|e| e["action"] == "POST /api/v1/staff/me/totp/confirm"
                && e["detail"]["body"]["code"] == "***"),
        "{by_mei:#?}"
    );
    let everything = central
        .get("/api/v1/audit?limit=1000")
        .await?
        .ok()?
        .to_string();
    ensure!(
        !everything.contains(PASSWORD) && !everything.contains(&erp),
        "no secret in the audit log"
    );
    Ok(())
}

fn base32_decode(text: &str) -> Vec<u8> {
    let (mut buffer, mut bits, mut out) = (0u32, 0u32, Vec::new());
    for c in text.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'2'..=b'7' => c - b'2' + 26,
            _ => continue,
        };
        buffer = (buffer << 5) | u32::from(v);
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
        }
    }
    out
}

/// The finance clerk and the merchandiser in the browser.
#[tokio::test]
async fn the_finance_clerk_resolves_a_difference_and_drills_into_an_order_and_the_merchandiser_is_refused_the_books(
) -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 11).await?;
    let central = w.central();
    user(central, "fang", &["finance"]).await?;
    user(central, "mei", &["merchandiser"]).await?;
    // Three paid orders; the channel's bill says 1 yuan more for one of them.
    let channel = ChannelKind::Wechat;
    let orders = paid_orders(&w, channel, 3).await?;
    let day = bill_day(&w, channel, &orders[0].1)?;
    w.sim.plant(
        channel,
        Plant::Amount {
            out_trade_no: orders[1].1.clone(),
            delta_minor: 100,
        },
    );
    let (_, items) = reconcile(&w, channel, day).await?;
    let item = items
        .iter()
        .find(|i| i["kind"] == "amount")
        .context("the planted difference")?
        .clone();
    let item_id = item["id"].as_u64().context("item id")?;
    // The dashboard's rollup has caught up with the orders.
    let counted = eventually(
        "the dashboard to count the orders",
        Duration::from_secs(30),
        || async {
            let d = central
                .get("/api/v1/console/dashboard?days=7")
                .await?
                .ok()?;
            let sum = |field: &str| -> Result<i64> {
                Ok(d["days"]
                    .as_array()
                    .context("days")?
                    .iter()
                    .map(|x| x[field].as_i64().unwrap_or(0))
                    .sum())
            };
            // Three orders placed, three payments that succeeded and none that did not.
            let ends = (sum("orders")?, sum("payments_succeeded")?, sum("payments_failed")? + sum("payments_closed")?);
            Ok((ends == (3, 3, 0)).then_some(()))
        },
    )
    .await;
    w.explained(counted)?;

    let shots =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/console");
    let b = Browser::start_desktop(shots).await?;
    let outcome = browse(&b, central, item_id, orders[1].0).await;
    w.explained(b.finish(outcome).await)?;

    // What the clerk did is in the books of the audit log, with her name.
    let item_after = central
        .get(&format!(
            "/api/v1/payments/reconciliation/runs/{}/items",
            item["run_id"]
        ))
        .await?
        .ok()?;
    let resolved = item_after
        .as_array()
        .and_then(|a| a.iter().find(|i| i["id"] == item_id))
        .cloned()
        .context("item")?;
    ensure!(
        resolved["state"] == "resolved"
            && resolved["resolution"] == "bill corrected by the channel",
        "{resolved}"
    );
    let by_fang = audit(central, "user:fang").await?;
    ensure!(
        by_fang.iter().any(|e| e["action"]
            == "POST /api/v1/payments/reconciliation/items/{id}/resolve"
            && e["subject"] == format!("/api/v1/payments/reconciliation/items/{item_id}/resolve")),
        "{by_fang:#?}"
    );
    Ok(())
}

async fn signed_in(b: &Browser, central: &Central, user: &str) -> Result<()> {
    b.goto(&central.url("/console")).await?;
    b.find("body[data-screen='signin']").await?;
    b.clear("#user").await?;
    b.type_into("#user", user).await?;
    b.type_into("#password", PASSWORD).await?;
    b.click("#signin-button").await?;
    b.find("body[data-screen='dashboard']").await?;
    Ok(())
}

async fn wait_js(b: &Browser, what: &str, script: &str) -> Result<Value> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let value = b.exec(script).await?;
        if value.as_bool() != Some(false) && !value.is_null() {
            return Ok(value);
        }
        ensure!(std::time::Instant::now() < deadline, "{what}: {value}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn browse(b: &Browser, central: &Central, item_id: u64, order_id: u64) -> Result<()> {
    b.goto(&central.url("/console")).await?;
    b.find("body[data-screen='signin']").await?;
    b.screenshot("01-signin").await?;
    // A wrong password says so and signs nobody in.
    b.type_into("#user", "fang").await?;
    b.type_into("#password", "wrong password!!").await?;
    b.click("#signin-button").await?;
    b.expect_msg("unknown user, wrong password", Some("err"))
        .await?;
    b.clear("#password").await?;
    b.clear("#user").await?;
    signed_in(b, central, "fang").await?;
    // The dashboard draws its charts (uPlot canvases) from the orders.
    wait_js(
        b,
        "four charts",
        "return document.querySelectorAll('#dashboard canvas').length >= 4",
    )
    .await?;
    let tiles = b.text("#tiles").await?;
    ensure!(tiles.contains("Orders") && tiles.contains('3'), "{tiles}");
    b.screenshot("02-dashboard-finance").await?;
    // The planted difference waits in her queue, with why; she resolves it in place.
    b.goto(&central.url("/console#queues")).await?;
    b.find(&format!("#recon-{item_id}")).await?;
    b.screenshot("03-queues-finance").await?;
    b.type_into(
        &format!("#resolution-{item_id}"),
        "bill corrected by the channel",
    )
    .await?;
    b.click(&format!("#resolve-{item_id}")).await?;
    b.expect_msg("Done.", Some("ok")).await?;
    wait_js(
        b,
        "the difference to leave the queue",
        &format!("return !document.getElementById('recon-{item_id}')"),
    )
    .await?;
    // The income statement, then one order's postings with the events behind them.
    b.goto(&central.url("/console#finance")).await?;
    b.find("body[data-screen='finance'] #income tr.link")
        .await?;
    b.type_into("#fin-subject", &format!("order:{order_id}"))
        .await?;
    b.click("#fin-drill").await?;
    let entries = wait_js(b, "the order's postings", "const t = document.getElementById('entries').textContent; return t.includes('(event') ? t : false").await?;
    let entries = entries.as_str().unwrap_or("");
    ensure!(
        entries.contains("payment_succeeded")
            && entries.contains("Assets:")
            && entries.contains("Liabilities:CustomerAdvances"),
        "the payment's entry, whole: {entries}"
    );
    b.screenshot("04-finance-drilldown").await?;
    // A balance-sheet line drills into everything posted to it up to the period's end: the
    // customers' advances are the three payments.
    b.exec("const row = [...document.querySelectorAll('#balance tr.link')].find((r) => r.cells[0].textContent === 'customer advances'); row.click(); return true").await?;
    let advances = wait_js(b, "the advances' entries", "const t = document.getElementById('entries-title').textContent; return t.includes('Liabilities:CustomerAdvances') ? document.getElementById('entries').textContent : false").await?;
    let advances = advances.as_str().unwrap_or("");
    ensure!(
        advances.contains("payment_succeeded")
            && advances.matches("Liabilities:CustomerAdvances").count() == 3,
        "the three payments: {advances}"
    );
    b.screenshot("04b-balance-drilldown").await?;
    // The same in Chinese.
    b.click("#lang").await?;
    wait_js(b, "Chinese", "return document.documentElement.lang === 'zh-CN' && document.body.textContent.includes('利润表')").await?;
    b.screenshot("05-finance-zh").await?;
    b.goto(&central.url("/console#dashboard")).await?;
    wait_js(b, "the dashboard in Chinese", "return document.body.dataset.screen === 'dashboard' && document.body.textContent.includes('仪表盘') && document.querySelectorAll('#dashboard canvas').length >= 4").await?;
    b.screenshot("06-dashboard-zh").await?;
    b.goto(&central.url("/console#audit")).await?;
    b.find("body[data-screen='refused']").await?;
    b.click("#lang").await?;
    b.click("#signout").await?;
    b.find("body[data-screen='signin']").await?;

    // The merchandiser: no books in her menu, and the page refuses her if she goes there.
    signed_in(b, central, "mei").await?;
    let menu = b.text("#nav").await?;
    ensure!(
        menu.contains("Dashboard") && !menu.contains("Finance") && !menu.contains("Audit"),
        "{menu}"
    );
    b.goto(&central.url("/console#finance")).await?;
    b.find("body[data-screen='refused']").await?;
    b.screenshot("07-finance-refused-merchandiser").await?;
    // Her browser's own request for the books is refused by the API too.
    let status = b
        .exec("return fetch('/api/v1/finance/statements').then(r => r.status)")
        .await?;
    ensure!(status.as_u64() == Some(403), "{status}");
    Ok(())
}

/// Past sales of the Pegasus at SH-01 for two years, written where the daily rollup keeps
/// them: replenishment forecasts from days before today, and central stamps the journal with
/// its own clock (the same history `central/tests/replenishment.rs` uses).
async fn sales_history(world: &World) -> Result<()> {
    let path = world.dir.path().join("central.sqlite");
    tokio::task::spawn_blocking(move || -> Result<()> {
        let mut db = rusqlite::Connection::open(path)?;
        db.busy_timeout(Duration::from_secs(5))?;
        let tx = db.transaction()?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis() as i64;
        let week = [10, 9, 10, 11, 13, 17, 18];
        for d in 1..=730i64 {
            let day = tote_shared::calendar::utc_day(now - d * 86_400_000);
            tx.execute(
                "INSERT INTO an_returns_daily (day, sku, warehouse, reason, shipped) VALUES (?1, ?2, 'SH-01', '', ?3)",
                rusqlite::params![day, PEGASUS, week[(d % 7) as usize] + (d % 3) - 1],
            )?;
        }
        tx.commit()?;
        Ok(())
    })
    .await?
}

/// The buyer turns a replenishment suggestion into a purchase order and sends it; the
/// customer-service agent approves a return, the pair comes back and she sees the refund land
/// on the order's page; the supplier bills more than arrived and the buyer refuses the held
/// invoice from her queue. Each is refused the other's work.
#[tokio::test]
async fn the_buyer_orders_from_a_suggestion_and_the_agent_sees_an_approved_refund_land(
) -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 41).await?;
    let central = w.central();
    user(central, "bo", &["buyer"]).await?;
    user(central, "ke", &["customer_service"]).await?;
    crate::procurement::onboard(central, "NIKE-CN", crate::procurement::NIKE).await?;
    let terms = json!({"sku": PEGASUS, "terms": {"supplier_sku": "DH4071-100-42", "cost": 40000, "moq": 6, "lead_time_days": 7, "breaks": [], "valid_from_ms": 0}});
    central
        .post("/api/v1/suppliers/NIKE-CN/prices", terms)
        .await?
        .ok()?;
    sales_history(&w.world).await?;
    let suggested = central
        .get("/api/v1/replenishment/suggestions?warehouse=SH-01")
        .await?
        .ok()?;
    ensure!(
        suggested.as_array().is_some_and(|s| !s.is_empty()),
        "a suggestion to act on: {suggested}"
    );
    // A shipped order whose customer returns the pair for a reason no rule approves: HQ
    // reviews it.
    let (order_id, trade) = crate::after_sales::shipped_order(
        &w,
        "console-o-1",
        "cust-1",
        PEGASUS,
        ChannelKind::Alipay,
    )
    .await?;
    let asked = crate::after_sales::ask(central, order_id, "console-as-1", json!({"kind": "return_refund", "reason": "other", "note": "the colour is not as I expected", "lines": [{"sku": PEGASUS, "qty": 1}]})).await?;
    ensure!(
        asked.status == 201 && asked.body["state"] == "review",
        "{}",
        asked.body
    );
    let request = asked.body["id"].as_u64().context("request id")?;

    let shots =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/console");
    let b = Browser::start_desktop(shots).await?;
    let outcome = async {
        let po = buyer(&b, central).await?;
        agent(&b, &w, request, order_id).await?;
        let invoice = billed_before_received(&w, po).await?;
        refuse_invoice(&b, central, invoice).await?;
        Ok::<_, anyhow::Error>(po)
    }
    .await;
    if outcome.is_err() {
        let _ = b.screenshot("failure-buyer-agent").await;
    }
    b.quit().await;
    let po = w.explained(outcome)?;

    // What each did, as the data and the audit log say.
    let sent = central
        .get(&format!("/api/v1/purchase-orders/{po}"))
        .await?
        .ok()?;
    ensure!(
        sent["sent_ms"].as_i64().is_some()
            && sent["state"] == "receiving"
            && sent["supplier"] == "NIKE-CN",
        "{sent}"
    );
    w.wait_refund_state(order_id, "succeeded").await?;
    ensure!(
        w.sim.refunded_minor(ChannelKind::Alipay, &trade) > 0,
        "the channel refunded"
    );
    let by_bo = audit(central, "user:bo").await?;
    for action in [
        "POST /api/v1/replenishment/drafts",
        "POST /api/v1/purchase-orders/{id}/approve",
        "POST /api/v1/supplier-invoices/{id}/decision",
    ] {
        ensure!(
            by_bo.iter().any(|e| e["action"] == action),
            "{action}: {by_bo:#?}"
        );
    }
    // An order the agent places by hand is hers in the audit log too (people take the ordinary
    // path, not the shop front's batched intake).
    let ke = token_of(central, "ke").await?;
    let placed = central
        .http
        .post(central.url("/api/v1/orders"))
        .bearer_auth(&ke)
        .header("Idempotency-Key", "console-by-hand")
        .json(&order_body(PEGASUS, 1, "Shanghai"))
        .send()
        .await?;
    ensure!(
        placed.status() == StatusCode::CREATED,
        "{}",
        placed.status()
    );
    let by_ke = audit(central, "user:ke").await?;
    ensure!(
        by_ke.iter().any(|e| e["action"] == "POST /api/v1/orders"),
        "{by_ke:#?}"
    );
    ensure!(
        by_ke
            .iter()
            .any(|e| e["action"] == "POST /api/v1/after-sales/{id}/review"
                && e["detail"]["body"]["approve"] == true),
        "{by_ke:#?}"
    );
    Ok(())
}

/// The buyer's part; the purchase order sent.
async fn buyer(b: &Browser, central: &Central) -> Result<u64> {
    signed_in(b, central, "bo").await?;
    b.goto(&central.url("/console#queues")).await?;
    b.find("#rep-SH-01").await?;
    b.screenshot("08-queues-buyer").await?;
    b.click("#make-pos-SH-01").await?;
    b.expect_msg("Done.", Some("ok")).await?;
    let draft = wait_js(
        b,
        "a draft to approve",
        "const d = document.querySelector('#q-drafts .item'); return d ? d.id : false",
    )
    .await?;
    let po: u64 = draft
        .as_str()
        .and_then(|id| id.strip_prefix("draft-"))
        .and_then(|id| id.parse().ok())
        .context("draft id")?;
    b.click(&format!("#approve-po-{po}")).await?;
    b.expect_msg("Done.", Some("ok")).await?;
    b.find(&format!("#po-{po}")).await?;
    b.screenshot("09-po-sent-buyer").await?;
    // Not the buyer's: the books (page and API) and refunds.
    let refused = b
        .exec("return fetch('/api/v1/finance/statements').then(r => r.status)")
        .await?;
    ensure!(refused.as_u64() == Some(403), "{refused}");
    b.goto(&central.url("/console#finance")).await?;
    b.find("body[data-screen='refused']").await?;
    refused_write(b, "/api/v1/orders/1/refunds").await?;
    b.click("#signout").await?;
    b.find("body[data-screen='signin']").await?;
    Ok(po)
}

/// NIKE-CN confirms and ships the buyer's order, SH-01 receives two pairs of it, and the
/// supplier bills the whole order: the three-way match holds the invoice. Its id.
async fn billed_before_received(w: &PaymentWorld, po: u64) -> Result<u64> {
    use crate::procurement::{call, NIKE};
    use reqwest::Method;
    let central = w.central();
    let order = central
        .get(&format!("/api/v1/purchase-orders/{po}"))
        .await?
        .ok()?;
    let (qty, cost) = (
        order["lines"][0]["qty"].as_i64().context("qty")?,
        order["lines"][0]["unit_cost"].as_i64().context("unit cost")?,
    );
    let path = format!("/api/v1/supplier/purchase-orders/{po}/confirm");
    call(central, Method::POST, &path, NIKE, None, Some(json!({"promised_ms": 4_102_444_800_000_i64})))
        .await?
        .ok()?;
    let asn = json!({"po": po, "reference": "NK-SHP-C1", "shipped_ms": 1, "eta_ms": 2,
        "lines": [{"sku": PEGASUS, "qty": qty, "lot": "LOT42", "expiry": "271231", "carton": "C1"}]});
    let shipped = call(central, Method::POST, "/api/v1/supplier/asns", NIKE, Some("console-asn"), Some(asn))
        .await?
        .ok()?;
    let delivery = shipped["delivery"].as_str().context("delivery")?.to_owned();
    let edge = w.world.edge("SH-01");
    eventually("the edge to expect the delivery", Duration::from_secs(20), || async {
        let open = edge.get("/api/v1/deliveries?state=open").await?.ok()?;
        Ok(open.as_array().into_iter().flatten().any(|d| d["id"] == delivery.as_str()).then_some(()))
    })
    .await?;
    let received = edge
        .post("/api/v1/receipts", json!({"location": "RCV", "gtin": PEGASUS_GTIN, "qty": 2, "lot": "LOT42", "delivery": delivery}))
        .await?;
    ensure!(received.status == 201, "{}", received.body);
    edge.wait_synced(Duration::from_secs(30)).await?;
    let invoice = json!({"po": po, "reference": "NK-INV-C1", "lines": [{"sku": PEGASUS, "qty": qty, "unit_cost": cost}], "total": qty * cost});
    let held = call(central, Method::POST, "/api/v1/supplier/invoices", NIKE, Some("console-inv"), Some(invoice))
        .await?
        .ok()?;
    ensure!(held["state"] == "held", "{held}");
    held["id"].as_u64().context("invoice id")
}

/// The buyer finds the held invoice in her queue, with why, and refuses it in place.
async fn refuse_invoice(b: &Browser, central: &Central, invoice: u64) -> Result<()> {
    b.click("#signout").await?;
    b.find("body[data-screen='signin']").await?;
    signed_in(b, central, "bo").await?;
    b.goto(&central.url("/console#queues")).await?;
    let why = b.text(&format!("#invoice-{invoice}")).await?;
    ensure!(why.contains("quantity") && why.contains("NK-INV-C1"), "{why}");
    b.screenshot("16-queues-three-way-match").await?;
    // A decision without a note is refused on the page, and nothing changes.
    b.click(&format!("#refuse-{invoice}")).await?;
    b.expect_msg("Note (required)", Some("err")).await?;
    b.type_into(&format!("#match-note-{invoice}"), "2 pairs received; bill what arrived")
        .await?;
    b.click(&format!("#refuse-{invoice}")).await?;
    b.expect_msg("Done.", Some("ok")).await?;
    wait_js(
        b,
        "the invoice to leave the queue",
        &format!("return !document.getElementById('invoice-{invoice}')"),
    )
    .await?;
    let decided = central
        .get("/api/v1/supplier-invoices?state=rejected")
        .await?
        .ok()?;
    ensure!(
        decided.as_array().is_some_and(|l| l.iter().any(|i| i["id"] == invoice && i["note"] == "2 pairs received; bill what arrived")),
        "{decided}"
    );
    b.click("#signout").await?;
    b.find("body[data-screen='signin']").await?;
    Ok(())
}

/// The customer-service agent's part.
async fn agent(b: &Browser, w: &PaymentWorld, request: u64, order_id: u64) -> Result<()> {
    let central = w.central();
    signed_in(b, central, "ke").await?;
    b.goto(&central.url("/console#queues")).await?;
    b.find(&format!("#as-{request}")).await?;
    b.screenshot("10-queues-service").await?;
    b.click(&format!("#approve-{request}")).await?;
    b.expect_msg("Done.", Some("ok")).await?;
    // The pair comes back to SH-01 and passes QC.
    let approved = central
        .get(&format!("/api/v1/after-sales/{request}"))
        .await?
        .ok()?;
    let rma = approved["rma"].as_str().context("the return's RMA")?;
    crate::after_sales::check_in(w.world.edge("SH-01"), rma, &[(PEGASUS_GTIN, true, "")])
        .await?;
    // The refund lands: the order's page shows it once the channel has paid it back.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for k in 0.. {
        b.goto(&central.url(&format!("/console?look={k}#order/{order_id}")))
            .await?;
        b.find("body[data-screen='order']").await?;
        if b.text("#order-payments")
            .await?
            .contains("refund succeeded")
        {
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the refund did not land on the order's page"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // The order's whole life: its parcel with the carrier, its events in the journal.
    let parcels = b.text("#order-parcels").await?;
    ensure!(parcels.contains(&format!("SF{order_id}")), "{parcels}");
    let events = b.text("#order-events").await?;
    ensure!(
        ["order_created", "order_paid", "order_shipped"].iter().all(|k| events.contains(k)),
        "{events}"
    );
    ensure!(
        b.exec("return document.getElementById('order-postings-card').hidden").await? == Value::Bool(true),
        "the agent does not see the books"
    );
    // The journal answers her about the order, not about a customer's points or a payment.
    for (subject, status) in [(format!("order:{order_id}"), 200), ("customer:cust-1".to_owned(), 403), ("payment:1".to_owned(), 403)] {
        let got = b
            .exec(&format!("return fetch('/api/v1/events?subject={subject}').then(r => r.status)"))
            .await?;
        ensure!(got.as_u64() == Some(status), "{subject}: {got}");
    }
    b.screenshot("11-order-refunded").await?;
    b.click("#lang").await?;
    wait_js(
        b,
        "Chinese",
        "return document.documentElement.lang === 'zh-CN' && document.body.textContent.includes('支付与退款')",
    )
    .await?;
    b.screenshot("11-order-refunded-zh").await?;
    b.goto(&central.url("/console#queues")).await?;
    b.find("body[data-screen='queues']").await?;
    b.screenshot("12-queues-service-zh").await?;
    b.click("#lang").await?;
    refused_write(b, "/api/v1/replenishment/drafts").await?;
    // Nor the audit log, page or API.
    b.goto(&central.url("/console#audit")).await?;
    b.find("body[data-screen='refused']").await?;
    let audit = b
        .exec("return fetch('/api/v1/audit').then(r => r.status)")
        .await?;
    ensure!(audit.as_u64() == Some(403), "{audit}");
    Ok(())
}

/// The merchandiser publishes a campaign in the console — a coupon sent to a segment — and
/// watches its return move as an order takes the code and ships. Then an admin opens every
/// page, in English and in Chinese, for the screenshots.
#[tokio::test]
async fn the_merchandiser_publishes_a_campaign_and_sees_its_return_move() -> Result<()> {
    let w = PaymentWorld::start(Backend::Sqlite, 23).await?;
    let central = w.central();
    user(central, "mei", &["merchandiser"]).await?;
    user(central, "root", &["admin"]).await?;
    crate::procurement::onboard(central, "NIKE-CN", crate::procurement::NIKE).await?;
    // Runners who bought the Pegasus in EU 42: one so far.
    let (first, _) = crate::after_sales::shipped_order(
        &w,
        "first-pair",
        "runner-7",
        PEGASUS,
        ChannelKind::Wechat,
    )
    .await?;
    let segment = central
        .http
        .put(central.url("/api/v1/marketing/segments/pegasus-42"))
        .bearer_auth(ADMIN)
        .json(&json!({"bought_spu": "PEG39", "size": "EU 42"}))
        .send()
        .await?;
    ensure!(segment.status().is_success(), "{}", segment.status());
    eventually("runner-7 in the segment", Duration::from_secs(20), || async {
        let m = Reply::from(
            central
                .http
                .get(central.url("/api/v1/marketing/segments/pegasus-42/members"))
                .bearer_auth(ADMIN)
                .send()
                .await?,
        )
        .await?
        .ok()?;
        Ok((m == json!(["runner-7"])).then_some(()))
    })
    .await?;

    let shots =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/console");
    let b = Browser::start_desktop(shots).await?;
    let outcome = async {
        let code = publish(&b, central).await?;
        let order = coupon_order(&w, &code).await?;
        watch_return(&b, central).await?;
        b.click("#signout").await?;
        b.find("body[data-screen='signin']").await?;
        every_page(&b, central, order, first).await?;
        Ok::<_, anyhow::Error>(order)
    }
    .await;
    if outcome.is_err() {
        let _ = b.screenshot("failure-merchandiser").await;
    }
    b.quit().await;
    let order = w.explained(outcome)?;

    // The campaign's figures as the API sums them, and her hand in the audit log.
    let roi = central
        .get("/api/v1/marketing/campaigns/spring-runners")
        .await?
        .ok()?;
    let paid = central.order(order).await?["total"].as_i64().context("total")?;
    ensure!(
        roi["sent"] == 1
            && roi["total"]["redemptions"] == 1
            && roi["total"]["discount"] == 2_000
            && roi["total"]["revenue"].as_i64() == Some(paid),
        "{roi}"
    );
    let by_mei = audit(central, "user:mei").await?;
    for action in [
        "PUT /api/v1/marketing/promotions/{id}",
        "PUT /api/v1/marketing/campaigns/{id}",
        "POST /api/v1/marketing/campaigns/{id}/send",
    ] {
        ensure!(
            by_mei.iter().any(|e| e["action"] == action),
            "{action}: {by_mei:#?}"
        );
    }
    Ok(())
}

/// Mei publishes the campaign; the code it sent runner-7.
async fn publish(b: &Browser, central: &Central) -> Result<String> {
    signed_in(b, central, "mei").await?;
    b.goto(&central.url("/console#campaigns")).await?;
    b.find("body[data-screen='campaigns'] #cp-segment option[value='pegasus-42']")
        .await?;
    // A coupon without a name is refused on the page, and nothing is published.
    b.type_into("#cp-id", "spring-runners").await?;
    b.click("#cp-publish").await?;
    b.expect_msg("a name", Some("err")).await?;
    b.type_into("#cp-name", "Spring runners: ¥20 off the next pair")
        .await?;
    b.screenshot("13-campaign-publish").await?;
    b.click("#cp-publish").await?;
    b.find("body[data-screen='campaign']").await?;
    b.expect_msg("Sent to 1 customer", Some("ok")).await?;
    let before = wait_js(b, "the return chart", "return window.toteRoi || false").await?;
    ensure!(
        before["total"]["revenue"] == 0 && before["total"]["redemptions"] == 0,
        "nothing earned yet: {before}"
    );
    b.screenshot("14-campaign-published").await?;
    // Publishing again under the same id is refused on the page: nothing is replaced or resent.
    b.exec("location.hash = 'campaigns'; return true").await?;
    b.find("body[data-screen='campaigns'] #campaign-link-spring-runners")
        .await?;
    b.click("#cp-publish").await?;
    b.expect_msg("this id is taken", Some("err")).await?;
    let sent = Reply::from(
        central
            .http
            .get(central.url("/api/v1/marketing/campaigns/spring-runners/sends"))
            .bearer_auth(ADMIN)
            .send()
            .await?,
    )
    .await?
    .ok()?;
    ensure!(sent[0]["customer"] == "runner-7", "{sent}");
    Ok(sent[0]["code"].as_str().context("code")?.to_owned())
}

/// Runner-7 orders two pairs with the code; the order is paid and shipped.
async fn coupon_order(w: &PaymentWorld, code: &str) -> Result<u64> {
    let mut body = order_body(PEGASUS, 2, "Shanghai");
    body["customer"] = json!("runner-7");
    body["coupons"] = json!([code]);
    let order = w.central().create_order("spring-order", &body).await?.ok()?;
    let order_id = order["id"].as_u64().context("id")?;
    ensure!(
        order["lines"][0]["discount"].as_i64() >= Some(2_000),
        "the code took ¥20 off: {order}"
    );
    let payment = w.start_payment(order_id, ChannelKind::Alipay).await?.ok()?;
    let trade = payment["out_trade_no"].as_str().context("out_trade_no")?;
    w.sim.pay(ChannelKind::Alipay, trade)?;
    w.ship(order_id).await?;
    Ok(order_id)
}

/// The campaign's page, looked at again until the shipped order is in its chart.
async fn watch_return(b: &Browser, central: &Central) -> Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    for k in 0.. {
        b.goto(&central.url(&format!("/console?look={k}#campaign/spring-runners")))
            .await?;
        b.find("body[data-screen='campaign']").await?;
        let roi = wait_js(b, "the return chart", "return window.toteRoi || false").await?;
        let drawn = roi["revenue"]
            .as_array()
            .is_some_and(|days| days.iter().any(|v| v.as_i64() > Some(0)));
        if drawn && roi["total"]["revenue"].as_i64() > Some(0) {
            ensure!(
                roi["total"]["redemptions"] == 1
                    && roi["margin"]
                        .as_array()
                        .and_then(|m| m.last())
                        .and_then(Value::as_i64)
                        == roi["total"]["margin"].as_i64(),
                "the chart ends at the campaign's margin to date: {roi}"
            );
            break;
        }
        ensure!(
            std::time::Instant::now() < deadline,
            "the order's revenue never reached the campaign's chart: {roi}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let tiles = b.text("#campaign-tiles").await?;
    ensure!(tiles.contains("¥20.00"), "the discount given: {tiles}");
    b.screenshot("15-campaign-return").await?;
    // Not hers: the books and the buyer's orders.
    let books = b
        .exec("return fetch('/api/v1/finance/statements').then(r => r.status)")
        .await?;
    ensure!(books.as_u64() == Some(403), "{books}");
    refused_write(b, "/api/v1/replenishment/drafts").await?;
    Ok(())
}

/// A change the signed-in user's role may not make, sent from her page with her session and
/// its CSRF token: refused for the role (not for the token), and nothing done.
async fn refused_write(b: &Browser, path: &str) -> Result<()> {
    let answer = b
        .exec(&format!("return fetch('{path}', {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': me.csrf, 'Idempotency-Key': 'refused-' + Date.now()}}, body: '{{}}'}}).then(async (r) => r.status + ' ' + await r.text())"))
        .await?;
    let answer = answer.as_str().unwrap_or("");
    ensure!(
        answer.starts_with("403 ") && answer.contains("needs the role"),
        "POST {path}: {answer}"
    );
    Ok(())
}

/// An admin opens every page of the console, in English and in Chinese.
async fn every_page(b: &Browser, central: &Central, order: u64, first: u64) -> Result<()> {
    // SH-01 has shipped both orders: the warehouse's figures count them, each once.
    let kpis = eventually("SH-01's fulfilment figures", Duration::from_secs(20), || async {
        let d = central.get("/api/v1/console/dashboard?days=1").await?.ok()?;
        let sh = d["warehouses"].as_array().and_then(|w| w.iter().find(|k| k["warehouse"] == "SH-01")).cloned();
        Ok(sh.filter(|k| k["orders_shipped"] == 2))
    })
    .await?;
    ensure!(kpis["units_shipped"] == 3 && kpis["within_promise"] == 1.0, "{kpis}");
    signed_in(b, central, "root").await?;
    let pages = [
        ("dashboard", "dashboard".to_owned()),
        ("queues", "queues".to_owned()),
        ("campaigns", "campaigns".to_owned()),
        ("campaign", "campaign/spring-runners".to_owned()),
        ("skus", "skus".to_owned()),
        ("sku", format!("sku/{PEGASUS}")),
        ("suppliers", "suppliers".to_owned()),
        ("supplier", "supplier/NIKE-CN".to_owned()),
        ("warehouses", "warehouses".to_owned()),
        ("warehouse", "warehouse/SH-01".to_owned()),
        ("finance", "finance".to_owned()),
        ("order", format!("order/{order}")),
        ("audit", "audit".to_owned()),
    ];
    for lang in ["en", "zh"] {
        for (n, (screen, hash)) in pages.iter().enumerate() {
            b.goto(&central.url(&format!("/console?tour={lang}{n}#{hash}")))
                .await?;
            b.find(&format!("body[data-screen='{screen}']")).await?;
            let msg = b.text("#msg").await?;
            ensure!(msg.is_empty(), "{hash} in {lang} said: {msg}");
            if *screen == "order" {
                // The admin sees the order's postings: its sale recognised as it shipped.
                let postings = wait_js(b, "the order's postings", "const t = document.getElementById('order-postings').textContent; return t.includes('Income:Sales') ? t : false").await?;
                ensure!(postings.as_str().is_some_and(|p| p.contains("order_shipped")), "{postings}");
            }
            b.screenshot(&format!("tour-{lang}-{n:02}-{screen}")).await?;
        }
        if lang == "en" {
            b.click("#lang").await?;
            wait_js(b, "Chinese", "return document.documentElement.lang === 'zh-CN'").await?;
        }
    }
    // The first order's page in Chinese names its lines' SKUs as links to their pages.
    b.goto(&central.url(&format!("/console?tour=last#order/{first}")))
        .await?;
    b.find(&format!("#order-lines a[href='#sku/{PEGASUS}']")).await?;
    b.click("#lang").await?;
    b.click("#signout").await?;
    b.find("body[data-screen='signin']").await?;
    b.screenshot("tour-zh-signin").await?;
    Ok(())
}
