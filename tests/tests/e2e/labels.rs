//! Shipping labels go to the packing station's network printer. A printer that refuses
//! connections for a while delays them; every label still prints exactly once.

use crate::helpers::*;
use anyhow::{Context, Result};
use serde_json::json;
use std::time::Duration;
use tote_sim::printer::Printer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn labels_wait_for_an_absent_printer_and_then_print_exactly_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    // A port where nothing listens yet: the printer is "off".
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let central = Central::start(dir.path())?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let printing = format!("[printing]\nprinter = \"127.0.0.1:{port}\"\ngs1_company_prefix = \"0614141\"\nsender = \"Tote SH-01\"");
    let config = edge_config_full(dir.path(), "SH-01", central.base_url(), None, &printing)?;
    let edge = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    edge.wait_for_skus(3).await?;
    edge.add_location("A-01-01").await?;
    edge.receive("A-01-01", PEGASUS_GTIN, 5).await?;
    edge.wait_synced(Duration::from_secs(20)).await?;
    let mut trackings = Vec::new();
    for n in 0..3 {
        let id = central.create_order(&format!("label-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        let tracking = format!("SF-LABEL-{n}");
        edge.fulfil(id, &tracking).await?;
        trackings.push(tracking);
    }
    eventually("failed attempts to show on the queue", Duration::from_secs(20), || async {
        let jobs = edge.get("/api/v1/print-jobs?state=queued").await?.ok()?;
        let waiting = jobs.as_array().map(|a| a.len()) == Some(3);
        let tried = jobs[0]["attempts"].as_u64().unwrap_or(0) >= 1 && jobs[0]["last_error"].is_string();
        Ok((waiting && tried).then_some(()))
    })
    .await?;

    // The printer comes on.
    let spool = dir.path().join("spool");
    std::fs::create_dir_all(&spool)?;
    let printer = Printer::start(format!("127.0.0.1:{port}").parse()?, spool.clone()).await?;
    eventually("every label printed", Duration::from_secs(30), || async {
        let printed = edge.get("/api/v1/print-jobs?state=printed").await?.ok()?;
        Ok((printed.as_array().map(|a| a.len()) == Some(3)).then_some(()))
    })
    .await?;
    // The edge counts a label printed once its bytes are sent; the printer files the job when
    // it has read to the end, a moment later.
    eventually("the printer to file every job", Duration::from_secs(10), || async { Ok((printer.jobs().len() >= 3).then_some(())) }).await?;
    let jobs = printer.jobs();
    assert_eq!(jobs.len(), 3, "exactly one print per label");
    for tracking in &trackings {
        assert_eq!(jobs.iter().filter(|j| j.contains(&format!("^FD{tracking}^FS"))).count(), 1, "{tracking} printed once");
    }
    let printed = edge.get("/api/v1/print-jobs?state=printed").await?.ok()?;
    for job in printed.as_array().context("jobs")? {
        let sscc = job["sscc"].as_str().context("sscc")?;
        assert!(jobs.iter().any(|j| j.contains(&format!("^FD(00){sscc}^FS"))), "SSCC {sscc} on its label");
        assert!(tote_shared::scan::parse(&format!("]C100{sscc}"), 2026).is_ok(), "a valid SSCC");
    }
    assert_eq!(std::fs::read_dir(&spool)?.count(), 3);
    Ok(())
}
