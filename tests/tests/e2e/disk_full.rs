//! The edge's disk fills up during a burst of receipts (issue 20): each receipt is recorded
//! (and reaches central) or refused with 507 `storage-full` having changed nothing; once
//! space is freed the edge carries on by itself, the refused receipts go through when sent
//! again, and central ends up with exactly every unit.

use crate::helpers::*;
use anyhow::{bail, ensure, Context, Result};
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// A tmpfs of `size` mounted on a fresh directory, unmounted on drop.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Result<SmallDisk> {
        let dir = tempfile::tempdir()?;
        let mounted = Command::new("mount").args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"]).arg(dir.path()).status();
        if !matches!(mounted, Ok(s) if s.success()) {
            bail!("this test mounts a {size} tmpfs as the edge's disk and needs root (mount): run it through tests/run.sh as root, as CI does ({mounted:?})");
        }
        Ok(SmallDisk { dir })
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Fills the disk but for `room` bytes, so a burst fills the rest part-way through;
    /// returns the filler (delete it to free the space).
    fn fill_but(&self, room: u64) -> Result<PathBuf> {
        let filler = self.fill()?;
        let file = std::fs::OpenOptions::new().write(true).open(&filler)?;
        file.set_len(file.metadata()?.len().saturating_sub(room))?;
        Ok(filler)
    }

    /// Writes a file until the disk is full; returns it.
    fn fill(&self) -> Result<PathBuf> {
        let path = self.path().join("filler");
        let mut file = std::fs::File::create(&path)?;
        let chunk = vec![0u8; 64 * 1024];
        loop {
            if let Err(e) = file.write_all(&chunk).and_then(|_| file.sync_data()) {
                ensure!(e.raw_os_error() == Some(28), "filling the disk: {e}");
                // The last partial chunk may still fit byte by byte.
                while file.write_all(&[0]).and_then(|_| file.sync_data()).is_ok() {}
                return Ok(path);
            }
        }
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(self.dir.path()).status();
    }
}

/// The answer, and whether it carried `Retry-After`.
async fn receipt(sh: &Edge, key: &str) -> Result<(Reply, bool)> {
    let body = json!({"location": "A-01-01", "gtin": PEGASUS_GTIN, "qty": 1});
    let request = sh.http.post(sh.url("/api/v1/receipts")).bearer_auth(EDGE_API).header("Idempotency-Key", key).json(&body);
    let response = request.send().await?;
    let retry_after = response.headers().contains_key("retry-after");
    Ok((Reply::from(response).await?, retry_after))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_the_edge_refuses_receipts_cleanly_and_the_edge_recovers_once_space_returns() -> Result<()> {
    let disk = SmallDisk::mount("8m")?;
    let dir = tempfile::tempdir()?;
    let central = Central::start_with_config(dir.path(), Backend::Sqlite, 600_000, "")?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let config = edge_config(dir.path(), "SH-01", central.base_url())?;
    let on_disk = disk.path().join("edge.sqlite");
    let text = std::fs::read_to_string(&config)?.replacen(&dir.path().join("edge-SH-01.sqlite").display().to_string(), &on_disk.display().to_string(), 1);
    std::fs::write(&config, text)?;
    let sh = Edge::from_daemon(Daemon::spawn(Kind::Edge, config)?, "SH-01");
    sh.wait_for_skus(skus().len() as u64).await?;
    sh.add_location("A-01-01").await?;
    ensure!(on_disk.exists(), "the edge's database is on the small disk");

    let filler = disk.fill_but(384 * 1024)?;
    let mut refused = Vec::new();
    let mut recorded = 0;
    for n in 0..300 {
        let key = format!("burst-{n}");
        let (reply, retry_after) = receipt(&sh, &key).await?;
        match reply.status.as_u16() {
            200 | 201 => recorded += 1,
            // 507 for the receipt that met the full disk; 503 for one whose batch-mates did
            // (SQLite rolled their shared transaction back): nothing recorded either way.
            507 | 503 => {
                let kind = if reply.status.as_u16() == 507 { "storage-full" } else { "storage-error" };
                assert_eq!(reply.body["type"].as_str().map(|t| t.ends_with(kind)), Some(true), "{:?}", reply.body);
                assert!(retry_after, "Retry-After on a storage refusal");
                refused.push(key);
            }
            other => bail!("receipt {n} on a full disk answered {other}: {:?}", reply.body),
        }
    }
    ensure!(!refused.is_empty(), "the disk never filled: {recorded} receipts recorded");
    ensure!(recorded > 0, "the disk had room for some receipts before it filled");
    // Reads still work on a full disk.
    let stock: i64 = sh.get(&format!("/api/v1/stock?sku={PEGASUS}")).await?.ok()?.as_array().context("stock")?.iter().filter_map(|r| r["qty"].as_i64()).sum();
    assert_eq!(stock, recorded, "every recorded receipt is in stock, no refused one is");

    std::fs::remove_file(&filler)?;
    for key in &refused {
        let (reply, _) = receipt(&sh, key).await?;
        ensure!(reply.status.is_success(), "receipt {key} once space returned: {} {:?}", reply.status, reply.body);
    }
    sh.wait_synced(Duration::from_secs(60)).await?;
    let level = central.level(PEGASUS, "SH-01").await?;
    assert_eq!(level.0, 300, "central holds every unit once: {level:?} ({recorded} recorded before the disk filled, {} after)", refused.len());
    let written = sh.get("/api/v1/sync/status").await?.ok()?["events_written"].as_u64().context("written")?;
    assert_eq!(central.sync_row("SH-01").await?["events_high_water"].as_u64(), Some(written));
    eprintln!("disk full: {recorded} receipts recorded, {} refused (507/503) and recorded once space returned", refused.len());
    Ok(())
}

/// The same at central on SQLite: a burst of orders while its disk fills; each order is taken
/// or refused with 507/503 having written nothing; once space returns the refused ones go
/// through when resent, and the journal numbers every order once, without a gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_at_central_refuses_orders_cleanly_and_central_recovers_once_space_returns() -> Result<()> {
    let disk = SmallDisk::mount("48m")?;
    // Its log is on the full disk too: a log line that cannot be written must not take the
    // request that logged it down (it did, before logging's own error reports were turned off).
    let central = Central::start_with_config(disk.path(), Backend::Sqlite, 600_000, "")?;
    let dir = tempfile::tempdir()?;
    central.seed_catalog().await?;
    central.add_warehouse("SH-01", "Shanghai").await?;
    let sh = Edge::start(dir.path(), "SH-01", central.base_url())?;
    sh.wait_for_skus(skus().len() as u64).await?;
    sh.add_location("A-01-01").await?;
    sh.receive("A-01-01", PEGASUS_GTIN, 500).await?;
    sh.wait_synced(Duration::from_secs(30)).await?;

    let filler = disk.fill_but(256 * 1024)?;
    let body = order_body(PEGASUS, 1, "Shanghai");
    let (mut taken, mut refused) = (Vec::new(), Vec::new());
    for n in 0..300 {
        let key = format!("full-{n}");
        let reply = match central.create_order(&key, &body).await {
            Ok(reply) => reply,
            Err(e) => bail!("order {n}: {e}"),
        };
        match reply.status.as_u16() {
            201 => taken.push(reply.body["id"].as_u64().context("id")?),
            507 | 503 => refused.push(key),
            other => bail!("order {n} on a full disk answered {other}: {}", reply.body),
        }
    }
    ensure!(!refused.is_empty() && !taken.is_empty(), "the disk filled part-way: {} taken, {} refused", taken.len(), refused.len());
    // Reads still answer.
    central.order(taken[0]).await?;

    std::fs::remove_file(&filler)?;
    for key in &refused {
        let reply = central.create_order(key, &body).await?;
        ensure!(reply.status.as_u16() == 201, "order {key} once space returned: {} {}", reply.status, reply.body);
        taken.push(reply.body["id"].as_u64().context("id")?);
    }
    let distinct: std::collections::BTreeSet<u64> = taken.iter().copied().collect();
    assert_eq!(distinct.len(), 300, "each order once");
    assert_eq!(central.level(PEGASUS, "SH-01").await?, (500, 300, 0, 200));
    let events = crate::journal::check_journal(&central).await?;
    assert_eq!(events.iter().filter(|e| e.kind() == "order_created").count(), 300);
    eprintln!("central disk full: {} orders taken before the disk filled, {} refused and taken once space returned", 300 - refused.len(), refused.len());
    Ok(())
}
