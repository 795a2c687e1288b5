//! Order routing: which warehouse serves an order. Pure: the store gathers the candidates.
//!
//! Rule today: the nearest warehouse (great-circle distance to the ship-to point) that can
//! serve every line from its sellable stock, leaving out those already tried. Orders are not
//! split across warehouses; a later issue can add splitting and cost-based choice here
//! without touching the store.

use tote_shared::geo::GeoPoint;
use tote_shared::WarehouseCode;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub warehouse: WarehouseCode,
    pub point: GeoPoint,
    /// True when this warehouse has sellable stock for every line.
    pub serves_all_lines: bool,
}

pub fn choose_warehouse<'a>(
    candidates: &'a [Candidate],
    destination: &GeoPoint,
    exclude: &[WarehouseCode],
) -> Option<&'a WarehouseCode> {
    candidates
        .iter()
        .filter(|c| c.serves_all_lines && !exclude.contains(&c.warehouse))
        .min_by(|a, b| {
            let da = a.point.distance_km(destination);
            let db = b.point.distance_km(destination);
            da.total_cmp(&db).then_with(|| a.warehouse.cmp(&b.warehouse))
        })
        .map(|c| &c.warehouse)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::geo::city_point;

    fn cand(code: &str, city: &str, ok: bool) -> Candidate {
        Candidate {
            warehouse: WarehouseCode::parse(code).expect("code"),
            point: city_point(city).expect("city"),
            serves_all_lines: ok,
        }
    }

    #[test]
    fn the_nearest_warehouse_with_stock_wins() {
        let c = vec![cand("SH-01", "shanghai", true), cand("BJ-01", "beijing", true)];
        let dest = city_point("hangzhou").expect("city");
        assert_eq!(choose_warehouse(&c, &dest, &[]).map(|w| w.as_str()), Some("SH-01"));
    }

    #[test]
    fn a_nearer_warehouse_without_stock_is_skipped() {
        let c = vec![cand("SH-01", "shanghai", false), cand("BJ-01", "beijing", true)];
        let dest = city_point("shanghai").expect("city");
        assert_eq!(choose_warehouse(&c, &dest, &[]).map(|w| w.as_str()), Some("BJ-01"));
        let excluded = WarehouseCode::parse("BJ-01").expect("code");
        assert_eq!(choose_warehouse(&c, &dest, &[excluded]), None);
    }
}
