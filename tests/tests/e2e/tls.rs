//! Issue 11, finding 8: edge ↔ central travelled in clear text. Central now serves HTTPS itself
//! (rustls) and the edge verifies it against a configured CA; the story test syncs over TLS.
//! Here: what must not work does not — plain HTTP on the TLS port, a client trusting another
//! CA, an edge that does not trust central's certificate (it stays offline and says so, and
//! catches up once it is given the right CA).

use crate::helpers::*;
use anyhow::Result;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn central_over_https_refuses_plain_http_and_strangers_certificates_and_an_untrusting_edge_stays_offline() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let pki = Pki::create(&dir.path().join("pki"))?;
    let other = Pki::create(&dir.path().join("other"))?;
    let central = Central::start_tls(dir.path(), Backend::Sqlite, &pki)?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let health = central.get("/health").await?.ok()?;
    assert_eq!(health["status"], "ok");

    // Plain HTTP on the HTTPS port gets no answer; neither does a client trusting another CA.
    let plain = client().get(central.base_url().replacen("https://", "http://", 1) + "/health").send().await;
    assert!(plain.is_err() || !plain.is_ok_and(|r| r.status().is_success()), "plain HTTP must not be served");
    let stranger = other.client()?.get(central.url("/health")).send().await;
    let why = format!("{:?}", stranger.err());
    assert!(why.contains("certificate") || why.contains("Certificate"), "a client trusting another CA is refused: {why}");

    // An edge given the wrong CA cannot sync: it says central is unreachable, and keeps working.
    let edge = Edge::start_trusting(dir.path(), "SH-01", central.base_url(), &other.ca)?;
    let status = eventually("the edge to report a failed pull", Duration::from_secs(20), || async {
        let s = edge.get("/api/v1/sync/status").await?.ok()?;
        Ok((s["central_reachable"] == false && s["command_cursor"] == 0 && s["last_pull_ok_ms"].is_null()).then_some(s))
    })
    .await?;
    assert!(status["last_error"].as_str().is_some_and(|e| e.contains("central unreachable")), "{status}");
    edge.add_location("A-01-01").await?;
    let log = lock(&edge.daemon).log();
    drop(edge);

    // Given the right CA, the same edge (same database) catches up.
    let edge = Edge::start_trusting(dir.path(), "SH-01", central.base_url(), &pki.ca)?;
    edge.wait_for_skus(skus().len() as u64).await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 3).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (3, 0, 0, 3), "central applied the edge's receipt over TLS; earlier edge log:\n{log}");
    Ok(())
}
