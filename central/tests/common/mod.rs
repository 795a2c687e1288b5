//! Test helpers shared by central's store tests: a database on either backend with the
//! Pegasus SKU and SH-01, that can be closed and opened again from the same file/database.

#![allow(dead_code)]

use std::path::PathBuf;
use tote_central::catalog::{self, SkuRecord, Spu};
use tote_central::config::DatabaseSettings;
use tote_central::db::testing::TestDatabase;
use tote_central::db::{Database, DbError};
use tote_central::warehouses::{self, NewWarehouse};
use tote_shared::geo::city_point;
use tote_shared::{Gtin, Money, Sku, WarehouseCode};

#[derive(Debug, Clone, Copy)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Where a test's data lives; dropping it removes it.
pub enum Place {
    Sqlite(tempfile::TempDir),
    Postgres(TestDatabase),
}

impl Place {
    pub fn new(backend: Backend) -> Place {
        match backend {
            Backend::Sqlite => Place::Sqlite(tempfile::tempdir().expect("tempdir")),
            Backend::Postgres => Place::Postgres(TestDatabase::create()),
        }
    }

    pub fn settings(&self) -> DatabaseSettings {
        match self {
            Place::Sqlite(dir) => {
                let mut s = DatabaseSettings::sqlite_file(dir.path().join("central.sqlite"));
                (s.write_queue, s.max_batch, s.max_readers) = (64, 16, 2);
                s
            }
            Place::Postgres(db) => DatabaseSettings::postgres(&db.url, 4),
        }
    }

    pub async fn open(&self) -> Database {
        Database::open(&self.settings()).await.expect("open the database")
    }

    pub fn sqlite_path(&self) -> Option<PathBuf> {
        match self {
            Place::Sqlite(dir) => Some(dir.path().join("central.sqlite")),
            Place::Postgres(_) => None,
        }
    }
}

pub fn sku() -> Sku {
    Sku::parse("PEG39-M-WHT-42").expect("sku")
}

pub fn warehouse() -> WarehouseCode {
    WarehouseCode::parse("SH-01").expect("code")
}

/// Opens the place's database and seeds the Pegasus SKU and SH-01.
pub async fn seeded(place: &Place) -> Database {
    let db = place.open().await;
    let spu = Spu { id: "PEG39".into(), name: "Pegasus 39".into(), brand: "Nike".into(), category: "Shoes".into(), lot_tracked: false };
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
        shipping: None,
        state: tote_central::catalog::SkuState::Listed,
        attributes: Default::default(),
    };
    let point = city_point("shanghai").expect("city");
    let new = NewWarehouse { code: warehouse(), name: "SH".into(), point, token_hash: "h".into() };
    db.write(move |tx| -> Result<(), DbError> {
        catalog::store::create_spu(tx, &spu, 0).map_err(db_error)?;
        warehouses::store::create(tx, &new, 0).map_err(|e| DbError::corrupt(e.to_string()))?;
        catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(db_error)?;
        Ok(())
    })
    .await
    .expect("seed");
    db
}

fn db_error(e: catalog::CatalogError) -> DbError {
    DbError::corrupt(e.to_string())
}
