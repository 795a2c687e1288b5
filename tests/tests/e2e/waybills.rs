//! E-waybills across real daemons and the simulated carriers (issue 14, must-shows 3 and 4):
//! central fills SH-01's SF pool from the carrier's platform; with central *and* the carrier
//! down, SH-01 packs and labels 50 parcels on pool numbers — each label carrying its own
//! number and the destination code; once both are back every parcel is registered with the
//! carrier exactly once, subscribed to the aggregator, and tracked to delivered by its
//! signed pushes, and the order follows. No number serves two parcels.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use serde_json::json;
use std::collections::BTreeSet;
use std::time::Duration;

const PARCELS: usize = 50;

async fn outage(backend: Backend) -> Result<()> {
    let (world, sim) = World::start_with_carriers(backend, &[("SH-01", "shanghai")], "[logistics.pools]\nmin_free = 60\nmax_free = 1000").await?;
    let (central, sh) = (&world.central, world.edge("SH-01"));
    let before = sh.wait_for_pool("SF", 60).await?;
    sh.receive("A-01-01", PEGASUS_GTIN, PARCELS as i64 + 2).await?;
    sh.wait_synced(Duration::from_secs(20)).await?;
    let mut orders = Vec::new();
    for n in 0..PARCELS {
        let id = central.create_order(&format!("waybills-{n}"), &order_body(PEGASUS, 1, "上海市")).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        orders.push(id);
    }
    for id in &orders {
        let at_edge = sh.wait_for_order(*id, Duration::from_secs(30)).await?;
        ensure!(at_edge["ship_via"]["carrier"] == "SF", "HQ chose SF: {at_edge}");
    }

    // HQ and the carrier's platform go dark; the floor keeps shipping.
    sim.set_api_down(true);
    central.kill9();
    let mut waybills = BTreeSet::new();
    for id in &orders {
        let shipped = sh.fulfil_with(*id, json!({})).await?;
        let waybill = shipped["tracking_number"].as_str().context("a waybill")?.to_owned();
        ensure!(shipped["carrier"] == "SF" && waybill.starts_with("SF"), "{shipped}");
        waybills.insert(waybill);
    }
    ensure!(waybills.len() == PARCELS, "no number used twice: {} distinct of {PARCELS}", waybills.len());
    ensure!(sh.pool_free("SF").await? == before - PARCELS as u64, "each parcel took one number from the pool");
    let labels = sqlite_rows(&world.dir.path().join("edge-SH-01.sqlite"), "SELECT order_id, zpl FROM print_job ORDER BY order_id")?;
    ensure!(labels.len() == PARCELS, "a label per parcel: {}", labels.len());
    let shipped_with: BTreeSet<String> = labels
        .iter()
        .filter(|row| row[1].contains("^FD021^FS"))
        .filter_map(|row| waybills.iter().find(|w| row[1].contains(&format!("^FD{w}^FS"))).cloned())
        .collect();
    ensure!(shipped_with == waybills, "every label carries its own waybill barcode and Shanghai's destination code 021");
    let again = sh.post(&format!("/api/v1/orders/{}/ship", orders[0]), json!({})).await?;
    ensure!(again.status.as_u16() == 409, "a shipped order cannot take a second number: {} {}", again.status, again.body);

    // Both come back: the parcels reach HQ, are registered and subscribed once, and tracked.
    sim.set_api_down(false);
    central.restart()?;
    sh.wait_synced(Duration::from_secs(30)).await?;
    for id in &orders {
        let parcel = eventually(&format!("order {id} registered, subscribed and delivered"), Duration::from_secs(60), || async {
            let parcels = central.get(&format!("/api/v1/orders/{id}/tracking")).await?.ok()?;
            let p = parcels[0].clone();
            Ok((p["registration"] == "registered" && p["subscription"] == "subscribed" && p["state"] == "delivered").then_some(p))
        })
        .await?;
        ensure!(parcel["route_label"].as_str().is_some_and(|l| l.starts_with("021")), "the carrier's routing label: {parcel}");
        ensure!(parcel["events"].as_array().map_or(0, Vec::len) == 4, "picked up, in transit, out for delivery, delivered: {parcel}");
        let order = eventually("the order to follow its parcel", Duration::from_secs(20), || async {
            let order = central.order(*id).await?;
            Ok((order["state"] == "delivered").then_some(order))
        })
        .await?;
        ensure!(waybills.contains(order["tracking_number"].as_str().unwrap_or("")), "{order}");
    }
    let at_carrier: Vec<_> = sim.orders().into_iter().filter(|o| o.carrier == "SF").collect();
    ensure!(at_carrier.len() == PARCELS, "each parcel registered once: {} carrier orders", at_carrier.len());
    ensure!(at_carrier.iter().map(|o| o.waybill.clone()).collect::<BTreeSet<_>>() == waybills, "the carrier holds exactly our numbers");
    let used = central.rows("SELECT COUNT(*) FROM lg_waybill WHERE used_ms IS NOT NULL").await?;
    ensure!(used[0][0] == PARCELS.to_string(), "central saw each number used once: {used:?}");
    let accrued = central.rows("SELECT COUNT(*) FROM journal WHERE kind = 'freight_accrued'").await?;
    ensure!(accrued[0][0] == PARCELS.to_string(), "freight accrued once per parcel for finance: {accrued:?}");
    let pools = central.get("/api/v1/logistics/pools").await?.ok()?;
    let sf = pools.as_array().into_iter().flatten().find(|p| p["warehouse"] == "SH-01" && p["carrier"] == "SF").cloned().unwrap_or_default();
    let busiest = sf["busiest_hour"].as_u64().unwrap_or(0);
    ensure!(busiest > 0 && sf["target"] == (busiest * 12).clamp(60, 1000), "twelve of the busiest hour's parcels, within the bounds: {sf}");
    ensure!(sf["used"] == PARCELS && sf["connected"] == true, "HQ's view of SH-01's SF pool: {sf}");
    let late = post_admin(central, &format!("/api/v1/logistics/parcels/{}/cancel", at_carrier[0].waybill)).await?;
    ensure!(late.status.as_u16() == 409, "a parcel the carrier picked up cannot be cancelled: {} {}", late.status, late.body);
    let still = central.get(&format!("/api/v1/orders/{}/tracking", orders[0])).await?.ok()?;
    let kept = still.as_array().into_iter().flatten().find(|p| p["waybill"] == at_carrier[0].waybill.as_str()).cloned().unwrap_or_default();
    ensure!(kept["registration"] == "registered", "a refused cancel leaves the parcel registered: {kept}");
    let unknown = post_admin(central, "/api/v1/logistics/parcels/SF000000000000/cancel").await?;
    ensure!(unknown.status.as_u16() == 404, "{} {}", unknown.status, unknown.body);
    paper_waybills(central, sh, &sim).await?;
    // The pool is topped up again now that the carrier answers.
    sh.wait_for_pool("SF", 60).await?;
    digests_verify_in_python(&sim)
}

async fn post_admin(central: &Central, path: &str) -> Result<Reply> {
    Reply::from(central.http.post(central.url(path)).bearer_auth(ADMIN).send().await?).await
}

/// A packer may type a paper waybill's number, but never a pool number (the pool would hand
/// it out again) nor one another parcel left with; a typed parcel is tracked, not registered.
/// A pool parcel HQ cancels before it was registered never reaches the carrier.
async fn paper_waybills(central: &Central, sh: &Edge, sim: &CarrierSim) -> Result<()> {
    let mut ids = Vec::new();
    for n in 0..2 {
        let id = central.create_order(&format!("paper-{n}"), &order_body(PEGASUS, 1, "shanghai")).await?.ok()?["id"].as_u64().context("id")?;
        central.post(&format!("/api/v1/orders/{id}/pay"), json!({})).await?.ok()?;
        ids.push(id);
    }
    let pooled = central.rows("SELECT waybill FROM lg_waybill WHERE warehouse = 'SH-01' AND used_ms IS NULL ORDER BY granted_ms, waybill LIMIT 1").await?;
    let pooled = pooled[0][0].clone();
    let refused = sh.fulfil_with(ids[0], json!({"tracking_number": pooled})).await;
    ensure!(refused.as_ref().is_err_and(|e| e.to_string().contains("409")), "a pool number typed by hand: {refused:?}");
    let paper = sh.post(&format!("/api/v1/orders/{}/ship", ids[0]), json!({"tracking_number": "SFPAPER0001"})).await?.ok()?;
    ensure!(paper["tracking_number"] == "SFPAPER0001", "{paper}");
    let twice = sh.fulfil_with(ids[1], json!({"tracking_number": "SFPAPER0001"})).await;
    ensure!(twice.as_ref().is_err_and(|e| e.to_string().contains("already shipped order")), "a paper number used twice: {twice:?}");
    let parcel = eventually("the paper parcel subscribed", Duration::from_secs(30), || async {
        let parcels = central.get(&format!("/api/v1/orders/{}/tracking", ids[0])).await?.ok()?;
        Ok((parcels[0]["subscription"] == "subscribed").then(|| parcels[0].clone()))
    })
    .await?;
    ensure!(parcel["registration"] == "manual", "a typed number is the packer's, not ours to register: {parcel}");

    sim.set_api_down(true);
    let shipped = sh.post(&format!("/api/v1/orders/{}/ship", ids[1]), json!({})).await?.ok()?;
    let waybill = shipped["tracking_number"].as_str().context("waybill")?.to_owned();
    eventually("the parcel waiting to be registered", Duration::from_secs(30), || async {
        let parcels = central.get(&format!("/api/v1/orders/{}/tracking", ids[1])).await?.ok()?;
        Ok((parcels[0]["registration"] == "pending").then_some(()))
    })
    .await?;
    // The carrier cannot be asked now: the cancel waits, and no registration can slip past it.
    let asked = post_admin(central, &format!("/api/v1/logistics/parcels/{waybill}/cancel")).await?.ok()?;
    ensure!(asked["registration"] == "cancelling", "{asked}");
    sim.set_api_down(false);
    let path = format!("/api/v1/orders/{}/tracking", ids[1]);
    let cancelled = eventually("the carrier to confirm the cancel", Duration::from_secs(30), || async {
        let parcels = central.get(&path).await?.ok()?;
        Ok((parcels[0]["registration"] == "cancelled").then(|| parcels[0].clone()))
    })
    .await?;
    ensure!(cancelled["subscription"] == "none", "nothing to track: {cancelled}");
    ensure!(sim.orders().iter().all(|o| o.waybill != waybill || o.cancelled), "no live carrier order for a cancelled parcel");
    let reversed = central.rows("SELECT COUNT(*) FROM journal WHERE kind = 'freight_reversed'").await?;
    ensure!(reversed[0][0] == "1", "its accrued freight reversed for finance: {reversed:?}");
    let again = post_admin(central, &format!("/api/v1/logistics/parcels/{waybill}/cancel")).await?;
    ensure!(again.status.as_u16() == 409, "cancelled once: {} {}", again.status, again.body);
    Ok(())
}

/// Every request central sent the carrier's platform carries the msgDigest SF's rule gives,
/// computed by Python's own URL encoding, MD5 and base64 (tests/sf_digest.py); a request
/// changed by one byte does not verify.
fn digests_verify_in_python(sim: &CarrierSim) -> Result<()> {
    let checkword = |partner: &str| sim.config().partners.iter().find(|p| p.partner_id == partner).map(|p| p.checkword.clone()).unwrap_or_default();
    let forms = sim.received_forms();
    ensure!(forms.len() > PARCELS, "segments and registrations reached the platform: {}", forms.len());
    let line = |f: &tote_shared::carrier::sf::Form, data: &str| {
        json!({"msgData": data, "timestamp": f.timestamp, "checkword": checkword(&f.partner_id), "msgDigest": f.msg_digest}).to_string()
    };
    let all: Vec<String> = forms.iter().map(|f| line(f, &f.msg_data)).collect();
    let (ok, out) = sf_digest_py(&all.join("\n"))?;
    ensure!(ok && out.trim() == format!("ok {}", forms.len()), "python: {out}");
    let tampered = line(&forms[0], &format!("{} ", forms[0].msg_data));
    let (ok, out) = sf_digest_py(&tampered)?;
    ensure!(!ok && out.contains("does not verify"), "a changed request must not verify: {out}");
    Ok(())
}

fn sf_digest_py(input: &str) -> Result<(bool, String)> {
    use std::io::Write;
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("sf_digest.py");
    let mut child = std::process::Command::new("python3")
        .arg(script)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .context("python3 is missing: run `bash tests/run.sh`, which installs it")?;
    child.stdin.take().context("stdin")?.write_all(input.as_bytes())?;
    let out = child.wait_with_output()?;
    Ok((out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_central_and_the_carrier_down_an_edge_labels_fifty_parcels_on_pool_numbers_that_register_and_track_later_on_sqlite() -> Result<()> {
    outage(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_central_and_the_carrier_down_an_edge_labels_fifty_parcels_on_pool_numbers_that_register_and_track_later_on_postgres() -> Result<()> {
    outage(Backend::Postgres).await
}
