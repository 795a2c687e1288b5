//! The CSV files HQ imports into central: the catalog, carriers' rate cards and remote-area
//! surcharges, and carriers' statements. Any bytes read to good rows and named bad rows, or a
//! refusal of the whole file — never a panic, never a hang; bad rows are counted exactly. The
//! catalog export reads back to the same SKUs (what central writes, it can import again).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use tote_central::catalog::csv::{skus, write};
use tote_central::logistics::csv::{lanes, remote_areas, statement, Known};

fuzz_target!(|data: &[u8]| {
    if let Ok(parsed) = skus(data) {
        assert!(parsed.errors.len() <= parsed.error_count);
        let records: Vec<_> = parsed.rows.iter().map(|r| r.record.clone()).collect();
        let again = skus(write(&records).as_bytes()).expect("the export has the full header");
        assert_eq!(again.error_count, 0, "the export of good rows reads back without errors: {:?}", again.errors);
        let json = |r: &[tote_central::catalog::SkuRecord]| serde_json::to_value(r).expect("encodes");
        let back: Vec<_> = again.rows.into_iter().map(|r| r.record).collect();
        assert_eq!(json(&back), json(&records), "the export reads back to the same SKUs");
    }
    let carriers: HashSet<String> = ["SF", "JD", "ZTO"].map(String::from).into();
    let warehouses: HashSet<String> = ["SH-01", "BJ-01"].map(String::from).into();
    if let Ok(parsed) = lanes(data, &Known { carriers: &carriers, warehouses: &warehouses }) {
        assert!(parsed.errors.len() <= parsed.error_count);
        for lane in &parsed.rows {
            assert!(carriers.contains(&lane.carrier) && warehouses.contains(&lane.origin), "{lane:?}");
        }
    }
    if let Ok(parsed) = remote_areas(data, &carriers) {
        assert!(parsed.rows.iter().all(|a| carriers.contains(&a.carrier)));
    }
    if let Ok(parsed) = statement(data) {
        assert!(parsed.errors.len() <= parsed.error_count);
    }
});
