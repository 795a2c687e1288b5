//! Catalog import, on both backends: rows/s of `POST /api/v1/skus/import` for a file of `rows`
//! SKUs (parsed, checked against the catalog and the model's attribute set, created with their
//! first price and taught to two warehouses' edges in one transaction), beside the same central
//! creating SKUs one `POST /api/v1/skus` at a time (the reference: what a clerk's script would
//! do without the import).

use crate::bench::{central_config_with, edge_token, spawn, ADMIN};
use crate::client::Api;
use anyhow::{ensure, Result};
use serde_json::json;
use std::time::Instant;
use tote_central::db::testing::TestDatabase;
use tote_shared::Gtin;

/// SKUs created one request at a time for the reference.
const ONE_BY_ONE: usize = 1_000;

pub async fn import(rows: usize) -> Result<()> {
    for postgres in [false, true] {
        let dir = tempfile::tempdir()?;
        let db = postgres.then(TestDatabase::create);
        let database = match &db {
            Some(db) => format!("backend = \"postgres\"\nurl = \"{}\"\npool_size = 8", db.url),
            None => format!("path = \"{}\"", dir.path().join("central.sqlite").display()),
        };
        let central = spawn("tote-central", &central_config_with(dir.path(), "127.0.0.1:0", &database)?)?;
        let hq = Api::new(central.url.clone(), Some(ADMIN.into()));
        hq.post("/api/v1/spus", &json!({"id": "BENCH", "name": "Bench shoe", "brand": "Tote", "category": "Shoes"})).await?;
        for (code, city) in [("SH-01", "Shanghai"), ("BJ-01", "Beijing")] {
            hq.post("/api/v1/warehouses", &json!({"code": code, "name": code, "city": city, "edge_token": edge_token(code)})).await?;
        }
        let file = csv(rows, 0);
        let started = Instant::now();
        let report = hq.post_csv("/api/v1/skus/import", &file).await?;
        let import = rows as f64 / started.elapsed().as_secs_f64();
        ensure!(report["imported"] == rows && report["refused"] == 0, "{report}");
        let started = Instant::now();
        for n in 0..ONE_BY_ONE {
            let gtin = Gtin::from_body13(800_000_000_000 + n as u64);
            let body = json!({"sku": format!("ONE-{n:07}"), "spu_id": "BENCH", "gtin": gtin, "gender": "unisex", "colour": "black", "size": "42", "price": 50_000, "cost": 20_000});
            hq.post("/api/v1/skus", &body).await?;
        }
        let single = ONE_BY_ONE as f64 / started.elapsed().as_secs_f64();
        println!(
            "catalog import {:<8} {rows} rows: {import:>8.0} rows/s; one POST /skus at a time (reference, {ONE_BY_ONE}): {single:>6.0} SKUs/s; ratio {:.1}",
            if postgres { "postgres" } else { "sqlite" },
            import / single
        );
        drop(central);
    }
    Ok(())
}

/// A catalog file of `rows` good SKUs numbered from `first`.
fn csv(rows: usize, first: usize) -> String {
    let mut out = String::from("sku,spu_id,gtin,gender,colour,size,price,cost,weight_g,length_mm,width_mm,height_mm,fragile\n");
    for n in first..first + rows {
        let gtin = Gtin::from_body13(700_000_000_000 + n as u64);
        out.push_str(&format!("IMP-{n:07},BENCH,{gtin},unisex,black,42,500.00,200.00,800,330,210,120,false\n"));
    }
    out
}
