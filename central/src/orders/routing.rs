//! Order routing: which warehouse serves an order. Pure: the store gathers the candidates.
//!
//! Rule today: the nearest warehouse (great-circle distance to the ship-to point) that can
//! serve every line from its sellable stock, leaving out those already tried. Orders are not
//! split across warehouses; a later issue can add splitting and cost-based choice here
//! without touching the store.

use tote_shared::geo::GeoPoint;
use tote_shared::stock::StockLevel;
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

/// A batch of one-line orders for one SKU, decided in arrival order against the levels of
/// every warehouse holding it (locked by the caller): each order gets the nearest warehouse
/// that still has its quantity and locks it there, or None. `levels` move as orders take
/// stock, so the batch can never sell what is not there. Returns, per order, the warehouse's
/// index and its level right after that lock.
pub fn allocate(warehouses: &[(WarehouseCode, GeoPoint)], levels: &mut [StockLevel], wants: &[(i64, GeoPoint)]) -> Vec<Option<(usize, StockLevel)>> {
    let mut out = Vec::with_capacity(wants.len());
    for (qty, destination) in wants {
        let candidates: Vec<Candidate> = warehouses
            .iter()
            .zip(levels.iter())
            .map(|((code, point), level)| Candidate { warehouse: code.clone(), point: *point, serves_all_lines: level.sellable() >= *qty })
            .collect();
        let chosen = choose_warehouse(&candidates, destination, &[]).and_then(|code| warehouses.iter().position(|(c, _)| c == code));
        out.push(chosen.and_then(|i| levels[i].lock(*qty).ok().map(|_| (i, levels[i]))));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tote_shared::geo::city_point;

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x0a11), ..Default::default() })]

        /// Whatever the stock and the orders, a batch never sells more than a warehouse has,
        /// refuses only an order no warehouse could take at its turn, and takes the nearest
        /// warehouse that could.
        #[test]
        fn a_batch_never_oversells_and_takes_the_nearest_warehouse_that_can(
            stock in proptest::collection::vec(0i64..6, 1..4),
            wants in proptest::collection::vec((1i64..4, 0usize..4), 0..40),
        ) {
            let cities = ["shanghai", "beijing", "hangzhou", "tianjin"];
            let codes = ["SH-01", "BJ-01", "HZ-01"];
            let warehouses: Vec<(WarehouseCode, GeoPoint)> = stock.iter().enumerate()
                .map(|(i, _)| (WarehouseCode::parse(codes[i]).expect("code"), city_point(cities[i]).expect("city")))
                .collect();
            let mut levels: Vec<StockLevel> = stock.iter().map(|&on_hand| StockLevel { on_hand, ..Default::default() }).collect();
            let wants: Vec<(i64, GeoPoint)> = wants.iter().map(|&(q, c)| (q, city_point(cities[c]).expect("city"))).collect();
            let mut before = levels.clone();
            let got = allocate(&warehouses, &mut levels, &wants);
            for ((qty, destination), outcome) in wants.iter().zip(&got) {
                let able: Vec<usize> = (0..before.len()).filter(|&i| before[i].sellable() >= *qty).collect();
                match outcome {
                    None => proptest::prop_assert!(able.is_empty(), "refused although {able:?} could serve"),
                    Some((i, after)) => {
                        let nearest = able.iter().copied().min_by(|&a, &b| {
                            warehouses[a].1.distance_km(destination).total_cmp(&warehouses[b].1.distance_km(destination))
                        });
                        proptest::prop_assert_eq!(Some(warehouses[*i].1.distance_km(destination)), nearest.map(|n| warehouses[n].1.distance_km(destination)));
                        before[*i].locked += qty;
                        proptest::prop_assert_eq!(*after, before[*i]);
                    }
                }
            }
            for (level, on_hand) in levels.iter().zip(&stock) {
                proptest::prop_assert!(level.sellable() >= 0 && level.on_hand == *on_hand);
            }
        }
    }

    #[test]
    fn a_batch_takes_the_nearest_stock_first_then_the_next_and_never_more_than_there_is() {
        let warehouses = vec![
            (WarehouseCode::parse("SH-01").expect("code"), city_point("shanghai").expect("city")),
            (WarehouseCode::parse("BJ-01").expect("code"), city_point("beijing").expect("city")),
        ];
        let mut levels = [StockLevel { on_hand: 2, ..Default::default() }, StockLevel { on_hand: 1, ..Default::default() }];
        let shanghai = city_point("shanghai").expect("city");
        let wants = vec![(1, shanghai); 5];
        let got = allocate(&warehouses, &mut levels, &wants);
        let places: Vec<Option<usize>> = got.iter().map(|g| g.map(|(i, _)| i)).collect();
        assert_eq!(places, vec![Some(0), Some(0), Some(1), None, None]);
        assert_eq!(got[1].map(|(_, l)| l.locked), Some(2), "the level right after the second lock");
        assert!(levels.iter().all(|l| l.sellable() == 0));
    }

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
