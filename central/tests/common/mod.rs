//! Test helpers shared by central's store tests: a store with the Pegasus SKU and SH-01.

use std::path::Path;
use tote_central::store::sqlite::SqliteStore;
use tote_central::store::{NewWarehouse, Repository, SkuRecord, Spu};
use tote_shared::geo::city_point;
use tote_shared::runtime::settings::DatabaseSettings;
use tote_shared::{Gtin, Money, Sku, WarehouseCode};

pub fn settings(path: &Path) -> DatabaseSettings {
    DatabaseSettings { path: path.to_owned(), write_queue: 64, max_batch: 16, max_readers: 2 }
}

pub fn sku() -> Sku {
    Sku::parse("PEG39-M-WHT-42").expect("sku")
}

pub fn warehouse() -> WarehouseCode {
    WarehouseCode::parse("SH-01").expect("code")
}

pub async fn seeded(path: &Path) -> SqliteStore {
    let store = SqliteStore::open(&settings(path)).expect("open");
    let spu = Spu { id: "PEG39".into(), name: "Pegasus 39".into(), brand: "Nike".into(), category: "Shoes".into() };
    store.create_spu(spu).await.expect("spu");
    let record = SkuRecord {
        sku: sku(),
        spu_id: "PEG39".into(),
        gtin: Gtin::parse("1958661377384").expect("gtin"),
        gender: "men".into(),
        colour: "white".into(),
        size: "EU 42".into(),
        price: Money::parse(89_900).expect("money"),
        cost: Money::parse(41_000).expect("money"),
        name: String::new(),
    };
    store.create_sku(record, 0).await.expect("sku");
    let point = city_point("shanghai").expect("city");
    store.create_warehouse(NewWarehouse { code: warehouse(), name: "SH".into(), point, token_hash: "h".into() }, 0).await.expect("wh");
    store
}

