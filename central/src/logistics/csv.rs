//! Rate cards from CSV, pure: every good row becomes a lane (or remote area), every bad row is
//! named by its line and field and imports nothing of itself. Prices are yuan as a clerk types
//! them ("12", "12.5", "12.50"), read exactly into fen; weights are grams; dates `YYYY-MM-DD`.

use super::statement::Billed;
use super::rates::{Lane, RemoteArea, Service, MAX_LANE_PRICE, MAX_PARCEL_WEIGHT_G};
pub use crate::csv_rows::{read, FileError, Parsed, RowError, MAX_LISTED_ERRORS, MAX_ROWS};
use std::collections::HashSet;
use tote_shared::calendar::DAY_MS;
use tote_shared::payment::alipay::parse_yuan;
use tote_shared::payment::bill::BillDay;

/// Longest promised transit on a lane.
pub const MAX_TRANSIT_DAYS: u32 = 60;

pub const LANE_HEADER: [&str; 11] =
    ["carrier", "service", "origin", "province", "first_weight_g", "first_price", "step_g", "step_price", "transit_days", "valid_from", "valid_to"];
pub const REMOTE_HEADER: [&str; 4] = ["carrier", "province", "city", "surcharge"];
pub const STATEMENT_HEADER: [&str; 5] = ["waybill", "ship_date", "weight_g", "freight", "total"];

/// What a lane row is checked against.
pub struct Known<'a> {
    pub carriers: &'a HashSet<String>,
    pub warehouses: &'a HashSet<String>,
}

/// Reads a rate card: one lane per row.
pub fn lanes(bytes: &[u8], known: &Known<'_>) -> Result<Parsed<Lane>, FileError> {
    let mut seen = HashSet::new();
    read(bytes, &LANE_HEADER, |_, record| {
        let lane = lane(record, known)?;
        let key = (lane.carrier.clone(), lane.service, lane.origin.clone(), lane.province.clone(), lane.valid_from);
        if !seen.insert(key) {
            return Err(("valid_from", "an earlier row has the same carrier, service, origin, province and valid_from".into()));
        }
        Ok(lane)
    })
}

/// Reads remote-area surcharges: one (carrier, province, city or `*`) per row.
pub fn remote_areas(bytes: &[u8], carriers: &HashSet<String>) -> Result<Parsed<RemoteArea>, FileError> {
    let mut seen = HashSet::new();
    read(bytes, &REMOTE_HEADER, |_, record| {
        let [carrier, province, city, surcharge] = record else { unreachable!("the header fixed the width") };
        let area = RemoteArea {
            carrier: known_carrier(carrier, carriers)?,
            province: province_code(province)?,
            city: remote_city(city)?,
            surcharge: price("surcharge", surcharge)?,
        };
        if !seen.insert((area.carrier.clone(), area.province.clone(), area.city.clone())) {
            return Err(("city", "an earlier row names the same carrier, province and city".into()));
        }
        Ok(area)
    })
}

/// Reads a carrier's statement: one billed parcel per row (a waybill may repeat: that is a
/// difference for the reconciliation to name, not a bad row).
pub fn statement(bytes: &[u8]) -> Result<Parsed<Billed>, FileError> {
    read(bytes, &STATEMENT_HEADER, |line, record| {
        let [waybill, ship_date, weight, freight, total] = record else { unreachable!("the header fixed the width") };
        let plain = !waybill.is_empty() && waybill.len() <= 40 && waybill.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !plain {
            return Err(("waybill", "must be 1 to 40 letters, digits, '-' or '_'".into()));
        }
        day("ship_date", ship_date)?;
        Ok(Billed {
            line,
            waybill: (*waybill).to_owned(),
            weight_g: grams("weight_g", weight)?,
            freight: amount("freight", freight)?,
            total: amount("total", total)?,
        })
    })
}

fn lane(record: &[&str], known: &Known<'_>) -> Result<Lane, (&'static str, String)> {
    let [carrier, service, origin, province, first_g, first, step_g, step, days, from, to] = record else {
        unreachable!("the header fixed the width")
    };
    let lane = Lane {
        carrier: known_carrier(carrier, known.carriers)?,
        service: Service::parse(service).ok_or(("service", "must be standard, express or next_day".to_owned()))?,
        origin: known.warehouses.get(*origin).cloned().ok_or(("origin", format!("{origin:?} is not a known warehouse")))?,
        province: province_code(province)?,
        first_weight_g: grams("first_weight_g", first_g)?,
        first_price: price("first_price", first)?,
        step_g: grams("step_g", step_g)?,
        step_price: price("step_price", step)?,
        transit_days: days.parse::<u32>().ok().filter(|d| *d <= MAX_TRANSIT_DAYS).ok_or(("transit_days", format!("must be 0 to {MAX_TRANSIT_DAYS}")))?,
        valid_from: day("valid_from", from)?,
        valid_to: if to.is_empty() { None } else { Some(day("valid_to", to)?) },
    };
    if lane.valid_to.is_some_and(|to| to < lane.valid_from) {
        return Err(("valid_to", "is before valid_from".into()));
    }
    Ok(lane)
}

fn known_carrier(code: &str, carriers: &HashSet<String>) -> Result<String, (&'static str, String)> {
    carriers.get(code).cloned().ok_or(("carrier", format!("{:?} is not a known carrier", truncate(code))))
}

fn province_code(raw: &str) -> Result<String, (&'static str, String)> {
    tote_shared::geo::province(raw).map(str::to_owned).ok_or(("province", format!("{:?} is not a mainland province", truncate(raw))))
}

/// A city name as the ship-to address gives it (canonical when the city table knows it), or `*`.
fn remote_city(raw: &str) -> Result<String, (&'static str, String)> {
    if raw == "*" {
        return Ok(raw.to_owned());
    }
    if let Some((canonical, _)) = tote_shared::geo::city_province(raw) {
        return Ok(canonical.to_owned());
    }
    let plain = !raw.is_empty() && raw.chars().count() <= 100 && tote_shared::text::check("city", raw, 100).is_ok();
    if plain {
        Ok(raw.to_lowercase())
    } else {
        Err(("city", "must be a city name (1 to 100 characters) or *".into()))
    }
}

fn grams(field: &'static str, raw: &str) -> Result<u64, (&'static str, String)> {
    raw.parse::<u64>().ok().filter(|g| (1..=MAX_PARCEL_WEIGHT_G).contains(g)).ok_or((field, format!("must be 1 to {MAX_PARCEL_WEIGHT_G} grams")))
}

fn price(field: &'static str, raw: &str) -> Result<i64, (&'static str, String)> {
    parse_yuan(raw).filter(|p| *p <= MAX_LANE_PRICE).ok_or((field, format!("must be yuan with at most two decimals, up to {}", MAX_LANE_PRICE / 100)))
}

/// Any amount a bill may carry, in yuan.
fn amount(field: &'static str, raw: &str) -> Result<i64, (&'static str, String)> {
    parse_yuan(raw).filter(|p| *p <= tote_shared::Money::MAX_MINOR).ok_or((field, "must be yuan with at most two decimals".to_owned()))
}

fn day(field: &'static str, raw: &str) -> Result<i64, (&'static str, String)> {
    let d = BillDay::parse(raw).ok_or((field, "must be a date YYYY-MM-DD".to_owned()))?;
    Ok(d.start_ms(0).div_euclid(DAY_MS))
}

fn truncate(raw: &str) -> String {
    raw.chars().take(40).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> (HashSet<String>, HashSet<String>) {
        (["SF".to_owned(), "ZTO".to_owned()].into(), ["SH-01".to_owned()].into())
    }

    #[test]
    fn good_rows_import_and_each_bad_row_is_named_by_line_and_field() {
        let (carriers, warehouses) = known();
        let file = "carrier,service,origin,province,first_weight_g,first_price,step_g,step_price,transit_days,valid_from,valid_to\n\
            SF,standard,SH-01,zhejiang,1000,12,1000,2.00,2,2026-01-01,\n\
            SF,express,SH-01,浙江,1000,12.5,500,3,1,2026-01-01,2026-12-31\n\
            DHL,standard,SH-01,zhejiang,1000,12,1000,2,2,2026-01-01,\n\
            SF,standard,SH-01,zhejiang,1000,12.001,1000,2,2,2026-02-01,\n\
            SF,standard,SH-01,atlantis,1000,12,1000,2,2,2026-01-01,\n\
            SF,standard,SH-01,zhejiang,1000,12,1000,2,2,2026-01-01,\n\
            \"ZTO\",standard,SH-01,jiangsu,0,8,1000,1.5,3,2026-01-01,\n\
            ZTO,standard,SH-01,jiangsu,1000,8,1000,1.5,3,2026-03-01,2026-02-01\n\
            ZTO,standard,SH-01\n";
        let parsed = lanes(file.as_bytes(), &Known { carriers: &carriers, warehouses: &warehouses }).expect("readable");
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[1].province, "zhejiang");
        assert_eq!((parsed.rows[1].first_price, parsed.rows[1].step_price), (1_250, 300));
        let named: Vec<(u64, &str)> = parsed.errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(
            named,
            vec![(4, "carrier"), (5, "first_price"), (6, "province"), (7, "valid_from"), (8, "first_weight_g"), (9, "valid_to"), (10, "")]
        );
        assert_eq!(parsed.error_count, 7);
    }

    #[test]
    fn a_wrong_header_imports_nothing() {
        let (carriers, warehouses) = known();
        let got = lanes(b"carrier,price\nSF,12\n", &Known { carriers: &carriers, warehouses: &warehouses });
        assert!(matches!(got, Err(FileError::Header { .. })));
        let got = remote_areas(b"", &carriers);
        assert!(matches!(got, Err(FileError::Header { .. })), "{got:?}");
    }

    #[test]
    fn remote_areas_take_a_city_or_the_whole_province() {
        let (carriers, _) = known();
        let file = "carrier,province,city,surcharge\nSF,xizang,*,15\nSF,西藏,拉萨,20\nSF,xizang,*,10\nZTO,xizang,a\u{202e}b,5\n";
        let parsed = remote_areas(file.as_bytes(), &carriers).expect("readable");
        assert_eq!(parsed.rows.iter().map(|r| (r.city.as_str(), r.surcharge)).collect::<Vec<_>>(), vec![("*", 1_500), ("lhasa", 2_000)]);
        assert_eq!(parsed.errors.iter().map(|e| (e.line, e.field.as_str())).collect::<Vec<_>>(), vec![(4, "city"), (5, "city")]);
    }
}
