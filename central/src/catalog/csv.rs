//! SKUs to and from CSV, pure: every good row becomes a SKU record, every bad row is named by
//! its line and field and imports nothing of itself. Prices are yuan as a clerk types them
//! ("899", "899.5", "899.00"); the five shipping columns are all empty or all given. Two more
//! columns are optional (a file has both or neither): `state` (`draft` or `listed`, empty for
//! listed) and `attributes` (`size_eu=42;width=regular`), which the export writes.

use super::{valid_spu_id, ShippingSpec, SkuRecord, SkuState};
use std::collections::BTreeMap;
use crate::csv_rows::{read, FileError, Parsed};
use std::collections::HashSet;
use tote_shared::payment::alipay::parse_yuan;
use tote_shared::{Gtin, Money, Sku};

pub const SKU_HEADER: [&str; 13] = ["sku", "spu_id", "gtin", "gender", "colour", "size", "price", "cost", "weight_g", "length_mm", "width_mm", "height_mm", "fragile"];
/// The header with the lifecycle state and the attributes.
pub const SKU_HEADER_FULL: [&str; 15] =
    ["sku", "spu_id", "gtin", "gender", "colour", "size", "price", "cost", "weight_g", "length_mm", "width_mm", "height_mm", "fragile", "state", "attributes"];

/// A row that read well, with its line (for the checks against the database).
#[derive(Debug, Clone)]
pub struct SkuRow {
    pub line: u64,
    pub record: SkuRecord,
}

type Bad = (&'static str, String);

/// Reads a catalog file: one SKU per row; a SKU or GTIN an earlier row has is refused.
pub fn skus(bytes: &[u8]) -> Result<Parsed<SkuRow>, FileError> {
    let (mut skus, mut gtins) = (HashSet::new(), HashSet::new());
    let first = bytes.split(|b| *b == b'\n').next().unwrap_or_default();
    let header: &[&str] = if first.trim_ascii_end().ends_with(b",attributes") { &SKU_HEADER_FULL } else { &SKU_HEADER };
    read(bytes, header, |line, record| {
        let record = sku_record(record)?;
        if !skus.insert(record.sku.clone()) {
            return Err(("sku", format!("{} is on an earlier row", record.sku)));
        }
        if !gtins.insert(record.gtin.clone()) {
            return Err(("gtin", format!("{} is on an earlier row", record.gtin)));
        }
        Ok(SkuRow { line, record })
    })
}

fn sku_record(record: &[&str]) -> Result<SkuRecord, Bad> {
    let (basic, extra) = record.split_at(13.min(record.len()));
    let [sku, spu_id, gtin, gender, colour, size, price, cost, weight, length, width, height, fragile] = basic else {
        unreachable!("the header fixed the width")
    };
    let (state, attributes) = match extra {
        [state, attributes] => (lifecycle(state)?, attribute_pairs(attributes)?),
        _ => (SkuState::Listed, BTreeMap::new()),
    };
    if !valid_spu_id(spu_id) {
        return Err(("spu_id", "must be 1 to 32 letters, digits or '-'".into()));
    }
    Ok(SkuRecord {
        sku: Sku::parse(sku).map_err(|e| ("sku", e.to_string()))?,
        spu_id: (*spu_id).to_owned(),
        gtin: Gtin::parse(gtin).map_err(|e| ("gtin", e.to_string()))?,
        gender: text("gender", gender, 20)?,
        colour: text("colour", colour, 50)?,
        size: text("size", size, 20)?,
        price: yuan("price", price)?,
        cost: yuan("cost", cost)?,
        name: String::new(),
        shipping: shipping([weight, length, width, height], fragile)?,
        state,
        attributes,
    })
}

fn lifecycle(value: &str) -> Result<SkuState, Bad> {
    match value {
        "" | "listed" => Ok(SkuState::Listed),
        "draft" => Ok(SkuState::Draft),
        other => Err(("state", format!("{other:?}: a new SKU is draft or listed"))),
    }
}

/// `name=value;name=value` (names as the category defines them; the set is checked later).
fn attribute_pairs(value: &str) -> Result<BTreeMap<String, String>, Bad> {
    let mut out = BTreeMap::new();
    for pair in value.split(';').filter(|p| !p.trim().is_empty()) {
        let Some((name, v)) = pair.split_once('=') else {
            return Err(("attributes", format!("{pair:?}: write name=value, pairs apart by ';'")));
        };
        let (name, v) = (name.trim(), v.trim());
        tote_shared::text::check("attributes", v, 100).map_err(|e| ("attributes", e.to_string()))?;
        if out.insert(name.to_owned(), v.to_owned()).is_some() {
            return Err(("attributes", format!("{name} given twice")));
        }
    }
    Ok(out)
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, Bad> {
    tote_shared::text::check(field, value, max).map_err(|e| (field, e.to_string()))?;
    Ok(value.to_owned())
}

fn yuan(field: &'static str, value: &str) -> Result<Money, Bad> {
    let fen = parse_yuan(value).ok_or((field, format!("{value:?} is not an amount in yuan (e.g. 899 or 899.00)")))?;
    Money::parse(fen).map_err(|e| (field, e.to_string()))
}

fn shipping(sizes: [&&str; 4], fragile: &str) -> Result<Option<ShippingSpec>, Bad> {
    if sizes.iter().all(|s| s.is_empty()) && fragile.is_empty() {
        return Ok(None);
    }
    let number = |field: &'static str, value: &str| value.parse::<u32>().map_err(|_| (field, format!("{value:?} is not a whole number")));
    let fragile = match fragile {
        "" | "0" | "false" | "no" => false,
        "1" | "true" | "yes" => true,
        other => return Err(("fragile", format!("{other:?}: write true or false"))),
    };
    let spec = ShippingSpec {
        weight_g: number("weight_g", sizes[0])?,
        length_mm: number("length_mm", sizes[1])?,
        width_mm: number("width_mm", sizes[2])?,
        height_mm: number("height_mm", sizes[3])?,
        fragile,
    };
    if !spec.is_valid() {
        return Err(("weight_g", "weight_g must be 1 to 1000000 and each side 1 to 10000 mm".into()));
    }
    Ok(Some(spec))
}

/// The catalog as a file the import reads back.
pub fn write(skus: &[SkuRecord]) -> String {
    let mut out = csv::Writer::from_writer(Vec::new());
    let _ = out.write_record(SKU_HEADER_FULL);
    let yuan = |m: Money| format!("{}.{:02}", m.minor() / 100, m.minor() % 100);
    for s in skus {
        let ship = s.shipping.map_or([String::new(), String::new(), String::new(), String::new(), String::new()], |p| {
            [p.weight_g.to_string(), p.length_mm.to_string(), p.width_mm.to_string(), p.height_mm.to_string(), p.fragile.to_string()]
        });
        let row = [s.sku.to_string(), s.spu_id.clone(), s.gtin.to_string(), s.gender.clone(), s.colour.clone(), s.size.clone(), yuan(s.price), yuan(s.cost)];
        let attributes = s.attributes.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
        let tail = [s.state.as_str().to_owned(), attributes];
        let _ = out.write_record(row.iter().chain(ship.iter()).chain(tail.iter()));
    }
    String::from_utf8(out.into_inner().unwrap_or_default()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "sku,spu_id,gtin,gender,colour,size,price,cost,weight_g,length_mm,width_mm,height_mm,fragile\n";

    fn row(n: u64) -> String {
        format!("IMP-{n:05},PEG39,{},men,white,EU 42,899.00,400,,,,,\n", Gtin::from_body13(500_000_000_000 + n))
    }

    #[test]
    fn bad_rows_are_named_by_line_and_field_and_good_ones_read() {
        let mut file = String::from(HEAD);
        for n in 0..5 {
            file.push_str(&row(n));
        }
        file.push_str("imp-lower,PEG39,1958661377384,men,white,42,1,1,,,,,\n");
        file.push_str(&row(0));
        file.push_str(&format!("IMP-90001,PEG39,{},men,white,42,-1,1,,,,,\n", Gtin::from_body13(600_000_000_001)));
        file.push_str(&format!("IMP-90002,PEG39,{},men,white,42,1,1,0,10,10,10,no\n", Gtin::from_body13(600_000_000_002)));
        file.push_str("IMP-90003,PEG39,1958661377385,men,white,42,1,1,,,,,\n");
        file.push_str(&format!("IMP-90004,PEG39,{},men,white,42,1.5,1,300,300,120,110,true\n", Gtin::from_body13(600_000_000_004)));
        let parsed = skus(file.as_bytes()).expect("reads");
        let named: Vec<(u64, &str)> = parsed.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(named, vec![(7, "sku"), (8, "sku"), (9, "price"), (10, "weight_g"), (11, "gtin")]);
        assert_eq!(parsed.rows.len(), 6);
        let last = &parsed.rows[5].record;
        assert_eq!((last.price.minor(), last.shipping.map(|s| s.fragile)), (150, Some(true)));
        let again = skus(write(&parsed.rows.iter().map(|r| r.record.clone()).collect::<Vec<_>>()).as_bytes()).expect("reads back");
        assert_eq!((again.rows.len(), again.error_count), (6, 0), "the export reads back: {:?}", again.errors);
    }

    #[test]
    fn the_full_header_carries_state_and_attributes() {
        let head = HEAD.trim_end().to_owned() + ",state,attributes\n";
        let g = |n: u64| Gtin::from_body13(700_000_000_000 + n);
        let file = format!(
            "{head}A-1,PEG39,{},men,white,42,1,1,,,,,,draft,size_eu=42;width=wide\nA-2,PEG39,{},men,white,42,1,1,,,,,,retired,\nA-3,PEG39,{},men,white,42,1,1,,,,,,,size_eu\n",
            g(1),
            g(2),
            g(3)
        );
        let parsed = skus(file.as_bytes()).expect("reads");
        assert_eq!(parsed.errors.iter().map(|e| (e.line, e.field.as_str())).collect::<Vec<_>>(), vec![(3, "state"), (4, "attributes")]);
        let first = &parsed.rows[0].record;
        assert_eq!((first.state, first.attributes.get("width").map(String::as_str)), (SkuState::Draft, Some("wide")));
        let again = skus(write(std::slice::from_ref(first)).as_bytes()).expect("reads back");
        assert_eq!(again.rows[0].record.attributes, first.attributes);
    }

    #[test]
    fn a_wrong_header_imports_nothing() {
        assert!(matches!(skus(b"sku,spu\nA,B\n"), Err(FileError::Header { .. })));
    }
}
