//! Issue 11, finding 10, point by point against the real daemons. Postmortem: both daemons
//! stored names and addresses with NUL, other control characters and bidirectional overrides
//! (a ship-to line that prints reversed on the label, a worker name that reads as another);
//! the handheld page had no Content-Security-Policy or X-Frame-Options (an injected script
//! would run with the worker's session, and any site could frame the page); the session
//! cookie could not be marked `Secure` for TLS deployments; 401s came without
//! `WWW-Authenticate`; and `/metrics` could not be protected. Each test is one of these,
//! shown to fail now.

use crate::helpers::*;
use anyhow::{Context, Result};
use reqwest::header::{HeaderMap, SET_COOKIE, WWW_AUTHENTICATE};
use serde_json::{json, Value};
use std::time::Duration;

/// Nothing listens here: an edge that needs no central.
const NO_CENTRAL: &str = "http://127.0.0.1:9";

fn header(headers: &HeaderMap, name: &str) -> String {
    headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_bidi_characters_in_free_text_are_refused_naming_the_field_on_sqlite() -> Result<()> {
    free_text(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn control_and_bidi_characters_in_free_text_are_refused_naming_the_field_on_postgres() -> Result<()> {
    free_text(Backend::Postgres).await
}

async fn free_text(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    sh.wait_synced(Duration::from_secs(20)).await?;
    let edge_db = world.dir.path().join("edge-SH-01.sqlite");
    let before = (central.data_checksum().await?, db_checksum(&edge_db)?);

    let order = |ship_to: Value| json!({"channel": "app", "lines": [{"sku": PEGASUS, "qty": 1}], "ship_to": ship_to});
    let address = json!({"name": "Li Wei", "line1": "88 Century Avenue", "city": "Shanghai", "postcode": "200120"});
    let with = |field: &str, value: &str| {
        let mut a = address.clone();
        a[field] = json!(value);
        order(a)
    };
    let http = reqwest::Client::new();
    let admin = |path: &str, body: Value, key: &str| http.post(central.url(path)).bearer_auth(ADMIN).header("Idempotency-Key", key).json(&body);
    let edge = |path: &str, body: Value| sh.http.post(sh.url(path)).json(&body);
    let cases = vec![
        ("central: warehouse name with U+202E", admin("/api/v1/warehouses", json!({"code": "GZ-01", "name": "Guangzhou \u{202E}1 esuoheraW", "city": "Guangzhou", "edge_token": "edge-secret-GZ-01-0123456789abcdef"}), "t1"), "name", "U+202E"),
        ("central: warehouse city with U+200F", admin("/api/v1/warehouses", json!({"code": "GZ-01", "name": "Guangzhou 1", "city": "Guang\u{200F}zhou", "edge_token": "edge-secret-GZ-01-0123456789abcdef"}), "t2"), "city", "U+200F"),
        ("central: SPU name with NUL", admin("/api/v1/spus", json!({"id": "VOM17", "name": "Vomero\u{0}17", "brand": "Nike", "category": "Shoes > Running"}), "t3"), "name", "U+0000"),
        ("central: ship-to line with C1 NEL", admin("/api/v1/orders", with("line1", "88 Century\u{85}Avenue"), "t4"), "ship_to.line1", "U+0085"),
        ("central: ship-to name with an isolate", admin("/api/v1/orders", with("name", "Li \u{2066}Wei\u{2069}"), "t5"), "ship_to.name", "U+2066"),
        ("central: postcode with a line separator", admin("/api/v1/orders", with("postcode", "200\u{2028}120"), "t6"), "ship_to.postcode", "U+2028"),
        ("central: order channel with a tab", admin("/api/v1/orders", json!({"channel": "app\tweb", "lines": [{"sku": PEGASUS, "qty": 1}], "ship_to": address}), "t7"), "channel", "U+0009"),
        ("edge: worker name with U+202E", edge("/api/v1/workers", json!({"id": "li", "name": "Li \u{202E}ieW", "pin": "1357", "roles": ["picker"]})), "name", "U+202E"),
        ("edge: supplier with NUL", edge("/api/v1/deliveries", json!({"id": "ASN-1", "supplier": "Nike\u{0}China", "lines": [{"sku": PEGASUS, "qty": 1}]})), "supplier", "U+0000"),
        ("edge: receipt's delivery with U+2028", edge("/api/v1/receipts", json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 1, "delivery": "ASN\u{2028}1"})), "delivery", "U+2028"),
        ("edge: move reason with an escape", edge("/api/v1/moves", json!({"from": "A-01-01", "to": "A-01-02", "code": PEGASUS_GTIN, "qty": 1, "reason": "bin \u{1b}[31mfull"})), "reason", "U+001B"),
        ("edge: short-pick reason with U+202D", edge("/api/v1/pick-tasks/999999/short", json!({"found": 0, "reason": "empty \u{202D}bin"})), "reason", "U+202D"),
    ];
    let mut failures = Vec::new();
    for (name, request, field, code_point) in cases {
        let response = request.send().await?;
        let status = response.status().as_u16();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        let detail = body["detail"].as_str().unwrap_or("");
        let precise = body["type"].as_str().is_some_and(|t| t.ends_with("/invalid-field")) && body["field"] == field && detail.contains(code_point);
        if status != 422 || !precise {
            failures.push(format!("{name}: {status} {body}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!((central.data_checksum().await?, db_checksum(&edge_db)?), before, "refused text changed a database");

    // Names in any script (and an emoji with its joiner) still pass.
    let fine = json!({"code": "GZ-01", "name": "广州一号仓 👩‍🔧", "city": "Guangzhou", "edge_token": "edge-secret-GZ-01-0123456789abcdef"});
    central.post("/api/v1/warehouses", fine).await?.ok()?;
    sh.post("/api/v1/workers", json!({"id": "zhang", "name": "张敏 Zoë", "pin": "2468", "roles": ["picker"]})).await?.ok()?;

    // An edge event whose free text breaks the rule is kept aside, never stored as a fact.
    let mark = central.sync_row("SH-01").await?["events_high_water"].as_u64().context("mark")?;
    let shipped = json!({"seq": mark + 1, "at_ms": 1, "kind": {"type": "order_shipped", "order_id": 1, "carrier": "SF\u{202E}", "tracking_number": "SF1", "lines": []}});
    let pushed = http.post(central.url("/api/v1/sync/events")).bearer_auth(edge_token("SH-01")).json(&json!({"warehouse": "SH-01", "events": [shipped]})).send().await?;
    assert_eq!(pushed.status(), 200);
    let rejects = central.get("/api/v1/sync/rejects").await?.ok()?;
    assert!(rejects[0]["reason"].as_str().is_some_and(|r| r.starts_with("carrier must not contain")), "{rejects}");
    Ok(())
}

/// Postmortem: no page or API answer carried a Content-Security-Policy, X-Frame-Options,
/// X-Content-Type-Options or Referrer-Policy. Now every answer of both daemons does; the pages'
/// policy allows only their own inline script and style (by hash), and in Chromium the
/// handheld page still runs and is styled while a script injected into it does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answer_has_security_headers_and_the_pages_a_csp_that_blocks_injected_script() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    let edge = Edge::start(dir.path(), "SH-01", NO_CENTRAL)?;
    let http = reqwest::Client::new();
    let answers = [
        ("central /health", http.get(central.url("/health")).send().await?),
        ("central API", http.get(central.url("/api/v1/warehouses")).bearer_auth(READER).send().await?),
        ("central 401", http.get(central.url("/api/v1/warehouses")).send().await?),
        ("central 404", http.get(central.url("/nope")).send().await?),
        ("edge API", edge.http.get(edge.url("/api/v1/stock")).send().await?),
        ("edge 401", http.get(edge.url("/api/v1/stock")).send().await?),
        ("edge handheld page", http.get(edge.url("/")).send().await?),
        ("edge floor page", http.get(edge.url("/floor")).send().await?),
    ];
    for (name, answer) in &answers {
        let h = answer.headers();
        assert_eq!(header(h, "x-content-type-options"), "nosniff", "{name}");
        assert_eq!(header(h, "x-frame-options"), "DENY", "{name}");
        assert_eq!(header(h, "referrer-policy"), "no-referrer", "{name}");
        let csp = header(h, "content-security-policy");
        assert!(csp.starts_with("default-src 'none'") && csp.contains("frame-ancestors 'none'"), "{name}: {csp}");
        assert!(!csp.contains("unsafe"), "{name}: {csp}");
        if name.ends_with("page") {
            assert!(csp.contains("script-src 'sha256-") && csp.contains("style-src 'sha256-") && csp.contains("connect-src 'self'"), "{name}: {csp}");
        } else {
            assert!(!csp.contains("script-src"), "{name}: an API answer runs nothing: {csp}");
        }
    }

    let shots = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/screenshots/hardening");
    let browser = tote_sim::browser::Browser::start(shots).await?;
    let outcome = async {
        // Reports of what the policy blocked, including those before this script ran.
        browser.goto(&edge.url("/")).await?;
        eventually("the handheld page to draw its sign-in screen", Duration::from_secs(10), || async {
            Ok(browser.exec("return document.getElementById('view').children.length").await?.as_u64().filter(|n| *n > 0))
        })
        .await?;
        browser
            .exec("window.__blocked=[];new ReportingObserver(r=>r.forEach(x=>window.__blocked.push(x.body.effectiveDirective+' '+x.body.blockedURL)),{types:['csp-violation'],buffered:true}).observe();return true")
            .await?;
        // The page's own script ran (it drew the sign-in screen) and its stylesheet applies.
        let page = browser.exec("const b=getComputedStyle(document.body),l=getComputedStyle(document.getElementById('lang'));return [document.getElementById('view').children.length, b.backgroundColor, l.minHeight]").await?;
        assert!(page[0].as_u64().is_some_and(|n| n > 0), "the page's script drew nothing: {page}");
        assert_eq!((page[1].as_str(), page[2].as_str()), (Some("rgb(0, 0, 0)"), Some("40px")), "the page's styles apply: {page}");
        // The attack: script that got into the page (as an XSS would put it) does not run.
        let injected = browser
            .exec("const s=document.createElement('script');s.textContent='window.__owned=1';document.head.appendChild(s);document.getElementById('view').insertAdjacentHTML('beforeend','<img src=x onerror=\"window.__owned=2\">');return window.__owned||null")
            .await?;
        assert!(injected.is_null(), "an injected script ran: {injected}");
        tokio::time::sleep(Duration::from_millis(500)).await;
        let blocked = browser.exec("return [window.__owned||null, window.__blocked]").await?;
        assert!(blocked[0].is_null(), "an injected handler ran: {blocked}");
        let reports: Vec<String> = blocked[1].as_array().into_iter().flatten().filter_map(|r| r.as_str().map(str::to_owned)).collect();
        assert!(reports.iter().any(|r| r.starts_with("script-src")), "the injection was blocked by the policy: {reports:?}");
        assert!(reports.iter().all(|r| r.starts_with("script-src") || r.starts_with("img-src")), "only the injection was blocked, nothing of the page: {reports:?}");
        anyhow::Ok(())
    }
    .await;
    browser.finish(outcome).await
}

/// Postmortem: the session cookie was `HttpOnly; SameSite=Strict` but never `Secure`, so a
/// handheld on a TLS deployment could still send it in clear to an http:// URL. With
/// `http.secure_cookies` (here from the environment) sign-in and sign-out mark it `Secure`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_cookie_is_secure_when_the_edge_is_served_over_tls() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let plain = Edge::start(dir.path(), "SH-01", NO_CENTRAL)?;
    let tls_dir = tempfile::tempdir()?;
    let config = edge_config(tls_dir.path(), "SH-02", NO_CENTRAL)?;
    let tls = Edge::from_daemon(Daemon::spawn_with_env(Kind::Edge, config, &[("TOTE_EDGE__HTTP__SECURE_COOKIES", "true")])?, "SH-02");
    let http = reqwest::Client::new();
    let mut cookies = Vec::new();
    for edge in [&plain, &tls] {
        edge.post("/api/v1/workers", json!({"id": "li", "name": "Li Wei", "pin": "1357", "roles": ["picker"]})).await?.ok()?;
        let signed_in = http.post(edge.url("/api/v1/session")).json(&json!({"worker": "li", "pin": "1357"})).send().await?;
        assert_eq!(signed_in.status(), 201);
        let cookie = header(signed_in.headers(), SET_COOKIE.as_str());
        let token = signed_in.json::<Value>().await?["token"].as_str().context("token")?.to_owned();
        let signed_out = http.delete(edge.url("/api/v1/session")).bearer_auth(&token).send().await?;
        cookies.push((cookie, header(signed_out.headers(), SET_COOKIE.as_str())));
    }
    let secure = |c: &str| c.split(';').any(|part| part.trim() == "Secure");
    assert!(!secure(&cookies[0].0) && !secure(&cookies[0].1), "plain HTTP by default: {cookies:?}");
    assert!(secure(&cookies[1].0) && secure(&cookies[1].1), "Secure with http.secure_cookies: {cookies:?}");
    assert!(cookies[1].0.contains("HttpOnly") && cookies[1].0.contains("SameSite=Strict"));
    Ok(())
}

/// Postmortem: 401s carried no `WWW-Authenticate`, which RFC 9110 requires (clients and
/// proxies cannot tell how to authenticate). Now every 401 of both daemons has a Bearer
/// challenge (RFC 6750): without an error code when no token was sent, `invalid_token` when
/// one was and it was refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_401_carries_a_bearer_challenge() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let central = Central::start(dir.path())?;
    let edge = Edge::start(dir.path(), "SH-01", NO_CENTRAL)?;
    let http = reqwest::Client::new();
    let push = json!({"warehouse": "SH-01", "events": []});
    let cases = [
        ("central, no token", http.get(central.url("/api/v1/warehouses")), "tote-central", false),
        ("central, unknown token", http.get(central.url("/api/v1/warehouses")).bearer_auth("not-a-token-at-all-0123"), "tote-central", true),
        ("central sync, unknown edge token", http.post(central.url("/api/v1/sync/events")).bearer_auth("edge-secret-XX-00-0123456789abcdef").json(&push), "tote-central", true),
        ("edge, no session", http.get(edge.url("/api/v1/stock")), "tote-edge", false),
        ("edge, expired or forged session", http.get(edge.url("/api/v1/stock")).bearer_auth("00ff00ff"), "tote-edge", true),
        ("edge, wrong PIN", http.post(edge.url("/api/v1/session")).json(&json!({"worker": "nobody", "pin": "0000"})), "tote-edge", false),
    ];
    for (name, request, realm, token_sent) in cases {
        let answer = request.send().await?;
        assert_eq!(answer.status(), 401, "{name}");
        let challenge = header(answer.headers(), WWW_AUTHENTICATE.as_str());
        assert!(challenge.starts_with(&format!("Bearer realm=\"{realm}\"")), "{name}: {challenge:?}");
        assert_eq!(challenge.contains("error=\"invalid_token\""), token_sent, "{name}: {challenge:?}");
    }
    Ok(())
}

/// Postmortem: `/metrics` (order counts by state, payment volumes, sign-in refusals, sync
/// positions) was open to anyone who could reach the port, with no way to close it. With a
/// metrics token configured (here from the environment) it needs that token; `/health` stays
/// open; without one it is open as before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_need_the_metrics_token_once_one_is_configured() -> Result<()> {
    const CENTRAL_METRICS: &str = "central-metrics-token-0123456789";
    const EDGE_METRICS: &str = "edge-metrics-token-0123456789abc";
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_env(dir.path(), Backend::Sqlite, 600_000, &[("TOTE_CENTRAL__AUTH__METRICS_TOKEN", CENTRAL_METRICS)])?;
    let config = edge_config(dir.path(), "SH-01", NO_CENTRAL)?;
    let edge = Edge::from_daemon(Daemon::spawn_with_env(Kind::Edge, config, &[("TOTE_EDGE__AUTH__METRICS_TOKEN", EDGE_METRICS)])?, "SH-01");
    let http = reqwest::Client::new();
    for (name, url, health, token, other) in [
        ("central", central.url("/metrics"), central.url("/health"), CENTRAL_METRICS, ADMIN),
        ("edge", edge.url("/metrics"), edge.url("/health"), EDGE_METRICS, EDGE_API),
    ] {
        let anonymous = http.get(&url).send().await?;
        assert_eq!(anonymous.status(), 401, "{name}: /metrics without a token");
        assert!(header(anonymous.headers(), WWW_AUTHENTICATE.as_str()).starts_with("Bearer realm="), "{name}");
        assert_eq!(http.get(&url).bearer_auth(other).send().await?.status(), 401, "{name}: another token is not the metrics token");
        let scraped = http.get(&url).bearer_auth(token).send().await?;
        assert_eq!(scraped.status(), 200, "{name}");
        assert!(scraped.text().await?.contains("# TYPE"), "{name}");
        assert_eq!(http.get(&health).send().await?.status(), 200, "{name}: /health stays open");
    }
    // Without the setting /metrics is open, as before.
    let open_dir = tempfile::tempdir()?;
    let open = Edge::start(open_dir.path(), "SH-02", NO_CENTRAL)?;
    assert_eq!(http.get(open.url("/metrics")).send().await?.status(), 200);
    Ok(())
}
