//! What suppliers submit on their own API for a buyer to decide: a price list (new contract
//! terms for SKUs we carry) or an item (a product they offer that we do not carry yet).
//! Nothing a supplier submits takes effect until HQ accepts it: an accepted price list becomes
//! contract prices, an accepted item a draft SKU (under a model HQ names) with the supplier's
//! price for it. Pure rules here; the `sup_submission` table in `store.rs`; routes in `http.rs`.

use super::{check_terms, store, PriceTerms, SupplierError};
use crate::db::Tx;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tote_shared::{Gtin, Money, Sku};

/// Lines one price list may carry.
pub const MAX_PRICE_LINES: usize = 500;
/// Submissions a supplier may have waiting at once.
pub const MAX_PENDING: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PriceListLine {
    pub sku: Sku,
    pub terms: PriceTerms,
}

/// A product a supplier offers, as they describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OfferedItem {
    #[schema(value_type = tote_shared::openapi::Text200)]
    pub name: String,
    #[schema(value_type = tote_shared::openapi::Text100)]
    pub brand: String,
    pub gtin: Gtin,
    #[schema(value_type = tote_shared::openapi::Text20)]
    pub gender: String,
    #[schema(value_type = tote_shared::openapi::Text50)]
    pub colour: String,
    #[schema(value_type = tote_shared::openapi::Text20)]
    pub size: String,
    /// Values for the category's attribute set, if they know it (at most 30).
    #[serde(default)]
    #[schema(value_type = BTreeMap<String, tote_shared::openapi::Text100>)]
    pub attributes: BTreeMap<String, String>,
    /// What they would sell it to us for.
    pub terms: PriceTerms,
}

/// What was submitted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Submitted {
    PriceList {
        #[schema(max_items = 500)]
        lines: Vec<PriceListLine>,
    },
    Item {
        item: Box<OfferedItem>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubmissionState {
    Pending,
    Accepted,
    Rejected,
}
names!(SubmissionState { Pending => "pending", Accepted => "accepted", Rejected => "rejected" });

/// A submission as stored.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Submission {
    pub id: u64,
    pub supplier: String,
    /// The supplier's own reference for it (unique per supplier).
    pub reference: String,
    pub submitted: Submitted,
    pub state: SubmissionState,
    /// HQ's note on its decision.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// An accepted item's new SKU.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sku: Option<Sku>,
    pub created_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_ms: Option<i64>,
}

/// How HQ takes an item into the catalog: its SKU code, the model it belongs to, what we will
/// sell it for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Listing {
    pub sku: Sku,
    #[schema(pattern = "^[A-Za-z0-9-]{1,32}$")]
    pub spu_id: String,
    pub price: Money,
}

/// HQ's decision on a pending submission.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionDecision {
    pub accept: bool,
    #[schema(value_type = tote_shared::openapi::Text300)]
    pub note: String,
    /// For an item being accepted: how it is listed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listing: Option<Listing>,
}

/// Checks what a supplier submits (its shape; what it refers to is checked when HQ decides).
pub fn check(s: &Submitted) -> Result<(), SupplierError> {
    let refuse = |why: String| Err(SupplierError::Refused(why));
    match s {
        Submitted::PriceList { lines } => {
            if lines.is_empty() || lines.len() > MAX_PRICE_LINES {
                return refuse(format!("a price list has 1 to {MAX_PRICE_LINES} lines"));
            }
            for (i, line) in lines.iter().enumerate() {
                if lines[..i].iter().any(|l| l.sku == line.sku) {
                    return refuse(format!("SKU {} is on the list twice", line.sku));
                }
                check_terms(&line.terms).map_err(|e| SupplierError::Refused(format!("{}: {e}", line.sku)))?;
                text("supplier_sku", &line.terms.supplier_sku, 100)?;
            }
            Ok(())
        }
        Submitted::Item { item } => {
            text("name", &item.name, 200)?;
            text("brand", &item.brand, 100)?;
            text("gender", &item.gender, 20)?;
            text("colour", &item.colour, 50)?;
            text("size", &item.size, 20)?;
            text("supplier_sku", &item.terms.supplier_sku, 100)?;
            if item.attributes.len() > 30 {
                return refuse("at most 30 attributes".into());
            }
            for (name, value) in &item.attributes {
                text("attribute name", name, 32)?;
                text("attribute value", value, 100)?;
            }
            check_terms(&item.terms)
        }
    }
}

fn text(field: &str, value: &str, max: usize) -> Result<(), SupplierError> {
    tote_shared::text::check(field, value, max).map_err(|e| SupplierError::Refused(e.to_string()))
}

// Taking a submission in: what HQ's decision does.

/// Submits for HQ: refused when it does not check out, when the supplier has too many waiting
/// or has used the reference before (decided before anything is written).
pub fn submit(tx: &mut dyn Tx, supplier: &str, reference: &str, submitted: &Submitted, now_ms: i64) -> Result<Submission, SupplierError> {
    check(submitted)?;
    if store::submission_by_reference(tx, supplier, reference)?.is_some() {
        return Err(SupplierError::Duplicate(format!("submission {reference}")));
    }
    if store::pending_count(tx, supplier)? >= MAX_PENDING as i64 {
        return Err(SupplierError::Refused(format!("{MAX_PENDING} submissions are already waiting for HQ")));
    }
    let made = store::insert_submission(tx, supplier, reference, submitted, now_ms)?;
    crate::audit::store::append(tx, now_ms, &format!("supplier:{supplier}"), "supplier_submitted", &format!("submission:{}", made.id), &serde_json::json!({ "reference": reference }))?;
    Ok(made)
}

/// HQ decides a pending submission. Accepting a price list makes its lines contract prices
/// (every SKU must be ours); accepting an item creates a draft SKU as `listing` says, with the
/// supplier's price for it. Everything is checked before anything is written.
pub fn decide(tx: &mut dyn Tx, id: u64, d: &SubmissionDecision, now_ms: i64) -> Result<Submission, SupplierError> {
    let found = store::load_submission(tx, id)?.ok_or_else(|| SupplierError::NotFound(format!("submission {id}")))?;
    if found.state != SubmissionState::Pending {
        return Err(SupplierError::Refused(format!("submission {id} is {} already", found.state.as_str())));
    }
    let supplier = store::load(tx, &found.supplier, false)?.ok_or_else(|| SupplierError::NotFound(format!("supplier {}", found.supplier)))?;
    let mut sku = None;
    if d.accept {
        if supplier.state == super::SupplierState::Exited {
            return Err(SupplierError::Refused(format!("supplier {} has exited", supplier.id)));
        }
        match (&found.submitted, &d.listing) {
            (Submitted::PriceList { lines }, None) => accept_prices(tx, &supplier.id, lines, now_ms)?,
            (Submitted::Item { item }, Some(listing)) => sku = Some(accept_item(tx, &supplier.id, item, listing, now_ms)?),
            (Submitted::PriceList { .. }, Some(_)) => return Err(SupplierError::Refused("a price list is accepted without a listing".into())),
            (Submitted::Item { .. }, None) => return Err(SupplierError::Refused("an item is accepted with its listing: sku, spu_id and price".into())),
        }
    }
    let state = if d.accept { SubmissionState::Accepted } else { SubmissionState::Rejected };
    store::decide_submission(tx, id, state, &d.note, sku.as_ref(), now_ms)?;
    crate::audit::store::append(tx, now_ms, "admin", "supplier_submission_decided", &format!("submission:{id}"), &serde_json::json!({ "state": state.as_str(), "note": d.note }))?;
    Ok(Submission { state, note: Some(d.note.clone()), sku, decided_ms: Some(now_ms), ..found })
}

fn accept_prices(tx: &mut dyn Tx, supplier: &str, lines: &[PriceListLine], now_ms: i64) -> Result<(), SupplierError> {
    let skus: Vec<&Sku> = lines.iter().map(|l| &l.sku).collect();
    if let Some(i) = crate::catalog::store::listings(tx, &skus)?.iter().position(Option::is_none) {
        return Err(SupplierError::Refused(format!("SKU {} is not in the catalog", skus[i])));
    }
    for line in lines {
        store::insert_price(tx, supplier, &line.sku, &line.terms, now_ms)?;
    }
    Ok(())
}

fn accept_item(tx: &mut dyn Tx, supplier: &str, item: &OfferedItem, listing: &Listing, now_ms: i64) -> Result<Sku, SupplierError> {
    use crate::catalog::{store as catalog, CatalogError, SkuRecord, SkuState};
    let record = SkuRecord {
        sku: listing.sku.clone(),
        spu_id: listing.spu_id.clone(),
        gtin: item.gtin.clone(),
        gender: item.gender.clone(),
        colour: item.colour.clone(),
        size: item.size.clone(),
        price: listing.price,
        cost: item.terms.cost,
        name: String::new(),
        shipping: None,
        state: SkuState::Draft,
        attributes: item.attributes.clone(),
    };
    catalog::lock_master_data(tx)?;
    // Decided before writing: a failed insert would end a PostgreSQL transaction.
    if catalog::exists(tx, &record.sku)? || catalog::gtin_taken(tx, &record.gtin)? {
        return Err(SupplierError::Duplicate(format!("SKU {} or GTIN {}", record.sku, record.gtin)));
    }
    let warehouses = crate::edge_sync::commands::stream_warehouses(tx)?;
    catalog::create_sku(tx, &record, &warehouses, now_ms).map_err(|e| match e {
        CatalogError::NotFound(what) => SupplierError::NotFound(what),
        CatalogError::Duplicate(what) => SupplierError::Duplicate(what),
        CatalogError::Invalid(why) => SupplierError::Refused(why),
        CatalogError::Db(e) => SupplierError::Db(e),
    })?;
    store::insert_price(tx, supplier, &record.sku, &item.terms, now_ms)?;
    Ok(record.sku)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(cost: i64) -> PriceTerms {
        PriceTerms { supplier_sku: "DH4071".into(), cost: Money::parse(cost).expect("money"), moq: 6, lead_time_days: 7, breaks: vec![], valid_from_ms: 0, valid_until_ms: None }
    }

    #[test]
    fn a_price_list_names_each_sku_once_with_valid_terms() {
        let sku = Sku::parse("PEG39-M-WHT-42").expect("sku");
        let line = PriceListLine { sku: sku.clone(), terms: terms(39_000) };
        assert!(check(&Submitted::PriceList { lines: vec![line.clone()] }).is_ok());
        assert!(check(&Submitted::PriceList { lines: vec![] }).is_err());
        assert!(check(&Submitted::PriceList { lines: vec![line.clone(), line.clone()] }).is_err_and(|e| e.to_string().contains("twice")));
        let zero_moq = PriceListLine { sku, terms: PriceTerms { moq: 0, ..terms(1) } };
        assert!(check(&Submitted::PriceList { lines: vec![zero_moq] }).is_err_and(|e| e.to_string().contains("moq")));
    }
}
