//! The catalog in bulk: a 10,000-row CSV with 7 bad rows imports 9,993 and names the 7 (by
//! line and field), on both backends; the export reads back; the edges learn the new SKUs.

use crate::helpers::*;
use anyhow::{ensure, Context, Result};
use std::time::{Duration, Instant};
use tote_shared::Gtin;

const HEAD: &str = "sku,spu_id,gtin,gender,colour,size,price,cost,weight_g,length_mm,width_mm,height_mm,fragile\n";

async fn import(backend: Backend) -> Result<()> {
    let world = World::start_on(backend, &[("SH-01", "Shanghai")]).await?;
    let central = &world.central;
    let mut file = String::from(HEAD);
    // The 7 bad rows, at known lines (the header is line 1).
    let bad_at = [1_001usize, 2_002, 3_003, 4_004, 5_005, 6_006, 7_007];
    for n in 0..10_000usize {
        let line = n + 2;
        let gtin = Gtin::from_body13(500_000_000_000 + n as u64);
        let row = match bad_at.iter().position(|b| *b == line) {
            Some(0) => format!("imp-{n:05},PEG39,{gtin},men,white,EU 42,899.00,400,,,,,"),
            Some(1) => format!("IMP-{n:05},NO-SUCH-SPU,{gtin},men,white,EU 42,899.00,400,,,,,"),
            Some(2) => format!("IMP-{n:05},PEG39,1958661377385,men,white,EU 42,899.00,400,,,,,"),
            Some(3) => format!("IMP-{n:05},PEG39,{gtin},men,white,EU 42,-899,400,,,,,"),
            Some(4) => format!("IMP-00000,PEG39,{gtin},men,white,EU 42,899.00,400,,,,,"),
            Some(5) => format!("IMP-{n:05},PEG39,{PEGASUS_GTIN},men,white,EU 42,899.00,400,,,,,"),
            Some(_) => format!("IMP-{n:05},PEG39,{gtin},men,white,EU 42,899.00,400,0,300,120,110,no"),
            None => format!("IMP-{n:05},PEG39,{gtin},men,white,EU 42,899.00,400,300,300,120,110,no"),
        };
        file.push_str(&row);
        file.push('\n');
    }
    let started = Instant::now();
    let response = central.http.post(central.url("/api/v1/skus/import")).bearer_auth(ADMIN).header("content-type", "text/csv").body(file).send().await?;
    let report = Reply::from(response).await?.ok()?;
    let took = started.elapsed();
    println!("catalog import ({backend:?}, debug build): 10,000 rows in {:.2} s, {:.0} rows/s", took.as_secs_f64(), 10_000.0 / took.as_secs_f64());
    ensure!(report["imported"] == 9_993 && report["refused"] == 7, "{report}");
    let named: Vec<(u64, String)> = report["errors"].as_array().context("errors")?.iter().map(|e| (e["line"].as_u64().unwrap_or(0), e["field"].as_str().unwrap_or("").to_owned())).collect();
    let expected: Vec<(u64, String)> = bad_at.iter().zip(["sku", "spu_id", "gtin", "price", "sku", "gtin", "weight_g"]).map(|(l, f)| (*l as u64, f.to_owned())).collect();
    ensure!(named == expected, "named {named:?}, expected {expected:?}");
    // Nothing of a bad row: the lowercase SKU, the unknown SPU's, the negative price's do not exist.
    for absent in ["IMP-02000", "IMP-04002", "IMP-06004", "IMP-07005"] {
        let reply = central.get(&format!("/api/v1/skus/{absent}")).await?;
        ensure!(reply.status == 404, "{absent}: {reply:?}");
    }
    let one = central.get("/api/v1/skus/IMP-00042").await?.ok()?;
    ensure!(one["price"] == 89_900 && one["shipping"]["weight_g"] == 300, "{one}");
    // The export has every SKU and reads back as the same file shape.
    let exported = central.http.get(central.url("/api/v1/skus.csv")).bearer_auth(READER).send().await?.text().await?;
    ensure!(exported.starts_with(HEAD.trim_end()) && exported.lines().count() == 1 + 9_993 + skus().len(), "{} lines", exported.lines().count());
    // A file refused as a whole (its header) imports nothing.
    let wrong = central.http.post(central.url("/api/v1/skus/import")).bearer_auth(ADMIN).header("content-type", "text/csv").body("sku,spu\nA,B\n").send().await?;
    ensure!(wrong.status() == 422, "{}", wrong.status());
    // The edge learns them (master data down the stream).
    let edge = world.edge("SH-01");
    eventually("the edge to know the imported SKUs", Duration::from_secs(60), || async {
        let stock = edge.get("/api/v1/sync/status").await?.ok()?;
        Ok((stock["command_cursor"].as_u64().unwrap_or(0) >= 9_993).then_some(()))
    })
    .await?;
    crate::journal::check_journal(central).await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_with_seven_bad_import_9993_and_name_the_7_on_sqlite() -> Result<()> {
    import(Backend::Sqlite).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_rows_with_seven_bad_import_9993_and_name_the_7_on_postgres() -> Result<()> {
    import(Backend::Postgres).await
}
