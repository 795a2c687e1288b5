//! SKUs to and from CSV, pure: every good row becomes a SKU record, every bad row is named by
//! its line and field and imports nothing of itself. Prices are yuan as a clerk types them
//! ("899", "899.5", "899.00"); the five shipping columns are all empty or all given.

use super::{valid_spu_id, ShippingSpec, SkuRecord};
use crate::csv_rows::{read, FileError, Parsed};
use std::collections::HashSet;
use tote_shared::payment::alipay::parse_yuan;
use tote_shared::{Gtin, Money, Sku};

pub const SKU_HEADER: [&str; 13] = ["sku", "spu_id", "gtin", "gender", "colour", "size", "price", "cost", "weight_g", "length_mm", "width_mm", "height_mm", "fragile"];

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
    read(bytes, &SKU_HEADER, |line, record| {
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
    let [sku, spu_id, gtin, gender, colour, size, price, cost, weight, length, width, height, fragile] = record else {
        unreachable!("the header fixed the width")
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
    })
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
    let _ = out.write_record(SKU_HEADER);
    let yuan = |m: Money| format!("{}.{:02}", m.minor() / 100, m.minor() % 100);
    for s in skus {
        let ship = s.shipping.map_or([String::new(), String::new(), String::new(), String::new(), String::new()], |p| {
            [p.weight_g.to_string(), p.length_mm.to_string(), p.width_mm.to_string(), p.height_mm.to_string(), p.fragile.to_string()]
        });
        let row = [s.sku.to_string(), s.spu_id.clone(), s.gtin.to_string(), s.gender.clone(), s.colour.clone(), s.size.clone(), yuan(s.price), yuan(s.cost)];
        let _ = out.write_record(row.iter().chain(ship.iter()));
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
    fn a_wrong_header_imports_nothing() {
        assert!(matches!(skus(b"sku,spu\nA,B\n"), Err(FileError::Header { .. })));
    }
}
