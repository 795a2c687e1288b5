//! Product depth on both backends: a category tree whose attribute sets new SKUs must fit, a
//! SKU's lifecycle, and selling prices with windows and history — a scheduled two-week price
//! drop starts and ends on the minute pass, a clearance price holds only while the SKU is in
//! clearance, and every change of the price checkout charges is journalled.

mod common;

use common::{seeded, sku, Backend, Place};
use std::collections::BTreeMap;
use tote_central::catalog::categories::{AttributeDef, AttributeKind, NewCategory};
use tote_central::catalog::store::{self, NewSellingPrice};
use tote_central::catalog::{prices::PriceKind, CatalogError, SkuRecord, SkuState, Spu};
use tote_central::db::Database;
use tote_central::journal::{self, BusinessEvent};
use tote_shared::{Gtin, Money, Sku};

const T0: i64 = 1_800_000_000_000;
const DAY: i64 = 86_400_000;

fn def(name: &str, kind: AttributeKind, values: &[&str], required: bool) -> AttributeDef {
    AttributeDef { name: name.into(), kind, values: values.iter().map(|v| v.to_string()).collect(), required }
}

fn yuan(n: i64) -> Money {
    Money::parse(n * 100).expect("money")
}

async fn price_now(db: &Database) -> i64 {
    db.read(|tx| store::get_sku(tx, &sku())).await.expect("sku").price.minor() / 100
}

async fn pass(db: &Database, at: i64) -> u32 {
    db.write(move |tx| store::apply_due_prices(tx, at)).await.expect("pass")
}

async fn categories_lifecycle_and_prices(backend: Backend) {
    let place = Place::new(backend);
    let db = seeded(&place).await;
    db.write(|tx| -> Result<(), CatalogError> {
        let shoes = NewCategory { id: "SHOES".into(), parent: None, name: "Shoes".into(), attributes: vec![def("gender", AttributeKind::Choice, &["men", "women"], true)] };
        store::create_category(tx, &shoes, T0)?;
        let running = NewCategory {
            id: "RUNNING".into(),
            parent: Some("SHOES".into()),
            name: "Running".into(),
            attributes: vec![def("size_eu", AttributeKind::Number, &[], true), def("width", AttributeKind::Choice, &["regular", "wide"], false)],
        };
        let made = store::create_category(tx, &running, T0)?;
        assert_eq!(made.path, "Shoes › Running");
        let orphan = NewCategory { id: "TRAIL".into(), parent: Some("NOPE".into()), name: "Trail".into(), attributes: vec![] };
        assert!(matches!(store::create_category(tx, &orphan, T0), Err(CatalogError::NotFound(_))));
        assert!(matches!(store::create_category(tx, &running, T0), Err(CatalogError::Duplicate(_))));
        Ok(())
    })
    .await
    .expect("tree");

    // Once there is a tree, a model sits in it; its SKUs carry its set.
    let new_sku = |code: &str, body: u64, attributes: &[(&str, &str)], state: SkuState| SkuRecord {
        sku: Sku::parse(code).expect("sku"),
        spu_id: "VOMERO".into(),
        gtin: Gtin::from_body13(body),
        gender: "men".into(),
        colour: "black".into(),
        size: "EU 42".into(),
        price: yuan(999),
        cost: yuan(450),
        name: String::new(),
        shipping: None,
        state,
        attributes: attributes.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>(),
    };
    let outcome = db
        .write(move |tx| -> Result<Vec<String>, CatalogError> {
            let loose = Spu { id: "LOOSE".into(), name: "Loose".into(), brand: "Nike".into(), category: "Shoes".into(), lot_tracked: false };
            let refused = store::create_spu(tx, &loose, T0).err().map(|e| e.to_string()).unwrap_or_default();
            let vomero = Spu { id: "VOMERO".into(), name: "Vomero 17".into(), brand: "Nike".into(), category: "RUNNING".into(), lot_tracked: false };
            store::create_spu(tx, &vomero, T0)?;
            let mut out = vec![refused];
            for (code, body, attrs, state) in [
                ("VOM-42", 1, vec![("gender", "men"), ("size_eu", "42")], SkuState::Draft),
                ("VOM-43", 2, vec![("gender", "men")], SkuState::Listed),
                ("VOM-44", 3, vec![("gender", "men"), ("size_eu", "44"), ("width", "narrow")], SkuState::Listed),
                ("VOM-45", 4, vec![("gender", "men"), ("size_eu", "45")], SkuState::Retired),
            ] {
                out.push(match store::create_sku(tx, &new_sku(code, body, &attrs, state), &[], T0) {
                    Ok(r) => format!("{} {}", r.sku, r.state.as_str()),
                    Err(e) => e.to_string(),
                });
            }
            Ok(out)
        })
        .await
        .expect("models");
    assert_eq!(
        outcome,
        [
            "category \"Shoes\" is not in the category tree",
            "VOM-42 draft",
            "attribute size_eu is required",
            "attribute width is \"narrow\", not one of regular, wide",
            "a new SKU is draft or listed, not retired",
        ]
    );

    // The lifecycle: forward, clearance and back, never out of retired.
    let vom = Sku::parse("VOM-42").expect("sku");
    let steps = db
        .write(move |tx| -> Result<Vec<String>, CatalogError> {
            let mut out = Vec::new();
            for to in [SkuState::Clearance, SkuState::Listed, SkuState::Retired, SkuState::Listed] {
                out.push(match store::set_state(tx, &vom, to, "range review", T0) {
                    Ok(r) => r.state.as_str().to_owned(),
                    Err(e) => e.to_string(),
                });
            }
            Ok(out)
        })
        .await
        .expect("steps");
    assert_eq!(steps, ["SKU VOM-42 is draft: it cannot become clearance", "listed", "retired", "SKU VOM-42 is retired: it cannot become listed"]);

    // Prices: the Pegasus (created at 899) gets a two-week drop to 799
    // from day 10, and a clearance price of 499 from now.
    let drop = NewSellingPrice { kind: PriceKind::Base, price: yuan(799), valid_from_ms: T0 + 10 * DAY, valid_until_ms: Some(T0 + 24 * DAY), reason: "spring drop".into() };
    let clearance = NewSellingPrice { kind: PriceKind::Clearance, price: yuan(499), valid_from_ms: T0, valid_until_ms: None, reason: "end of line".into() };
    let history = db
        .write(move |tx| -> Result<_, CatalogError> {
            store::add_price(tx, &sku(), &drop, T0)?;
            store::add_price(tx, &sku(), &clearance, T0)
        })
        .await
        .expect("prices");
    assert_eq!(history.len(), 3, "the price it was created at, the drop, the clearance price: {history:?}");
    assert_eq!(price_now(&db).await, 899, "the drop has not started; the SKU is not in clearance");
    assert_eq!(pass(&db, T0 + DAY).await, 0, "the first pass looks at everything: nothing due");
    assert_eq!(price_now(&db).await, 899);
    assert_eq!(pass(&db, T0 + 10 * DAY).await, 1);
    assert_eq!(price_now(&db).await, 799, "the drop started");
    db.write(|tx| store::set_state(tx, &sku(), SkuState::Clearance, "end of line", T0 + 11 * DAY)).await.expect("clearance");
    assert_eq!(price_now(&db).await, 499);
    assert_eq!(pass(&db, T0 + 24 * DAY).await, 0, "the drop ended, but the clearance price rules");
    db.write(|tx| store::set_state(tx, &sku(), SkuState::Listed, "sold through", T0 + 25 * DAY)).await.expect("listed");
    assert_eq!(price_now(&db).await, 899, "back to the everyday price");
    assert_eq!(pass(&db, T0 + 25 * DAY).await, 0, "a pass at the same moment does nothing");

    journal::consumer::sequence_once(&db, 10_000).await.expect("sequenced");
    let entries = db.read(|tx| journal::store::read_after(tx, 0, 10_000)).await.expect("journal");
    let changes: Vec<(i64, i64, String)> = entries
        .iter()
        .filter_map(|e| match &e.event {
            BusinessEvent::SkuPriceChanged { sku: s, from, to, kind, .. } if *s == sku() => Some((from / 100, to / 100, kind.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(changes, [(899, 799, "base".into()), (799, 499, "clearance".into()), (499, 899, "base".into())]);
    let states = entries.iter().filter(|e| matches!(e.event, BusinessEvent::SkuStateChanged { .. })).count();
    assert_eq!(states, 4, "VOM-42 listed and retired, the Pegasus into clearance and back");
}

#[tokio::test]
async fn categories_lifecycle_and_prices_on_sqlite() {
    categories_lifecycle_and_prices(Backend::Sqlite).await;
}

#[tokio::test]
async fn categories_lifecycle_and_prices_on_postgres() {
    categories_lifecycle_and_prices(Backend::Postgres).await;
}
