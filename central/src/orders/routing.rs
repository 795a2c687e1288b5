//! Order routing: which warehouse serves an order. Pure: the store gathers the candidates.
//!
//! Rule: the nearest warehouse (great-circle distance to the ship-to point) that can serve
//! every line from its sellable stock, leaving out those excluded. When none can, the order
//! is split (`plan`): fewest parcels first, then the least distance, each line whole from one
//! warehouse.

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

/// A warehouse as the planner sees it: where it is and what it can sell of each line.
#[derive(Debug, Clone)]
pub struct Site {
    pub warehouse: WarehouseCode,
    pub point: GeoPoint,
    /// Sellable units of each of the order's lines, in line order.
    pub sellable: Vec<i64>,
}

/// One parcel of a plan: the site (an index into the sites given) and the lines it serves.
pub type Part = (usize, Vec<usize>);

/// Sites searched exhaustively for a split (nearest first); beyond them the plan is greedy.
const EXHAUSTIVE_SITES: usize = 12;
/// Most parcels searched exhaustively.
const EXHAUSTIVE_PARTS: usize = 4;

/// Where each line of an order ships from: the nearest single site that serves every line;
/// else the fewest sites that together serve every line (each line whole from one site),
/// least total distance among those, each line from the nearest of them that has it. Sites in
/// `exclude` take no part; `max_parts` 1 forbids a split. None when no plan serves every line.
/// Parts come nearest site first.
pub fn plan(sites: &[Site], wants: &[i64], destination: &GeoPoint, exclude: &[WarehouseCode], max_parts: usize) -> Option<Vec<Part>> {
    let serves = |s: usize, line: usize| sites[s].sellable.get(line).is_some_and(|&have| have >= wants[line]);
    let mut usable: Vec<(f64, usize)> = (0..sites.len())
        .filter(|&s| !exclude.contains(&sites[s].warehouse) && (0..wants.len()).any(|l| serves(s, l)))
        .map(|s| (sites[s].point.distance_km(destination), s))
        .collect();
    usable.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| sites[a.1].warehouse.cmp(&sites[b.1].warehouse)));
    if wants.is_empty() || usable.is_empty() {
        return None;
    }
    let covers = |chosen: &[usize]| (0..wants.len()).all(|l| chosen.iter().any(|&s| serves(s, l)));
    // One parcel from the nearest that has everything, however many warehouses there are.
    if let Some(&(_, whole)) = usable.iter().find(|(_, s)| covers(&[*s])) {
        return Some(vec![(whole, (0..wants.len()).collect())]);
    }
    let near: Vec<(f64, usize)> = usable.iter().take(EXHAUSTIVE_SITES).copied().collect();
    let mut found = None;
    for k in 2..=max_parts.min(EXHAUSTIVE_PARTS).min(wants.len()).min(near.len()) {
        // `near` is sorted, so the first of equal distance is the nearer-first choice.
        let mut best: Option<(f64, Vec<usize>)> = None;
        for idx in combinations(near.len(), k) {
            let distance: f64 = idx.iter().map(|&i| near[i].0).sum();
            if best.as_ref().is_some_and(|(d, _)| *d <= distance) {
                continue;
            }
            let chosen: Vec<usize> = idx.iter().map(|&i| near[i].1).collect();
            if covers(&chosen) {
                best = Some((distance, chosen));
            }
        }
        if let Some((_, chosen)) = best {
            found = Some(chosen);
            break;
        }
    }
    let mut chosen = match found {
        Some(chosen) => chosen,
        None if max_parts > EXHAUSTIVE_PARTS.min(wants.len()) || usable.len() > EXHAUSTIVE_SITES => greedy(&usable, wants.len(), &serves, max_parts)?,
        None => return None,
    };
    // Nearest first (a greedy pick is in order of gain).
    chosen.sort_by_key(|s| usable.iter().position(|(_, u)| u == s));
    Some(assign(&chosen, wants.len(), &serves))
}

/// Each line to the first (nearest) chosen site that serves it; sites left with no line drop.
fn assign(chosen: &[usize], lines: usize, serves: &dyn Fn(usize, usize) -> bool) -> Vec<Part> {
    let mut parts: Vec<Part> = chosen.iter().map(|&s| (s, Vec::new())).collect();
    for line in 0..lines {
        if let Some(part) = parts.iter_mut().find(|(s, _)| serves(*s, line)) {
            part.1.push(line);
        }
    }
    parts.retain(|(_, lines)| !lines.is_empty());
    parts
}

/// Set cover the greedy way (the site serving most uncovered lines, nearest on a tie), for
/// orders too wide to search exhaustively.
fn greedy(usable: &[(f64, usize)], lines: usize, serves: &dyn Fn(usize, usize) -> bool, max_parts: usize) -> Option<Vec<usize>> {
    let mut covered = vec![false; lines];
    let mut chosen = Vec::new();
    while covered.iter().any(|c| !c) && chosen.len() < max_parts {
        let gain = |s: usize| (0..lines).filter(|&l| !covered[l] && serves(s, l)).count();
        let (_, best) = usable.iter().filter(|(_, s)| !chosen.contains(s)).max_by(|a, b| gain(a.1).cmp(&gain(b.1)).then_with(|| b.0.total_cmp(&a.0)))?;
        if gain(*best) == 0 {
            return None;
        }
        for (l, c) in covered.iter_mut().enumerate() {
            *c |= serves(*best, l);
        }
        chosen.push(*best);
    }
    covered.iter().all(|c| *c).then_some(chosen)
}

/// Every k-subset of 0..n as sorted index lists, in lexicographic order.
fn combinations(n: usize, k: usize) -> impl Iterator<Item = Vec<usize>> {
    let mut next = (k <= n).then(|| (0..k).collect::<Vec<usize>>());
    std::iter::from_fn(move || {
        let current = next.take()?;
        let mut idx = current.clone();
        if let Some(i) = (0..k).rev().find(|&i| idx[i] < n - k + i) {
            idx[i] += 1;
            for j in i + 1..k {
                idx[j] = idx[j - 1] + 1;
            }
            next = Some(idx);
        }
        Some(current)
    })
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

    fn site(code: &str, city: &str, sellable: &[i64]) -> Site {
        Site { warehouse: WarehouseCode::parse(code).expect("code"), point: city_point(city).expect("city"), sellable: sellable.to_vec() }
    }

    #[test]
    fn one_warehouse_with_everything_takes_the_whole_order() {
        let sites = vec![site("SH-01", "shanghai", &[1, 0]), site("BJ-01", "beijing", &[1, 1])];
        let to = city_point("shanghai").expect("city");
        assert_eq!(plan(&sites, &[1, 1], &to, &[], 4), Some(vec![(1, vec![0, 1])]), "one parcel from afar beats two");
        assert_eq!(plan(&sites, &[1, 1], &to, &[], 1), Some(vec![(1, vec![0, 1])]));
    }

    #[test]
    fn an_order_no_warehouse_can_serve_alone_is_split_nearest_first() {
        let sites = vec![site("BJ-01", "beijing", &[0, 2]), site("SH-01", "shanghai", &[1, 0]), site("GZ-01", "guangzhou", &[0, 2])];
        let to = city_point("tianjin").expect("city");
        assert_eq!(plan(&sites, &[1, 2], &to, &[], 4), Some(vec![(0, vec![1]), (1, vec![0])]), "Beijing's line (nearer than Guangzhou), then Shanghai");
        assert_eq!(plan(&sites, &[1, 2], &to, &[], 1), None, "no split allowed");
        let bj = WarehouseCode::parse("BJ-01").expect("code");
        assert_eq!(plan(&sites, &[1, 2], &to, &[bj], 4), Some(vec![(1, vec![0]), (2, vec![1])]), "without Beijing, Guangzhou serves");
        assert_eq!(plan(&sites, &[2, 2], &to, &[], 4), None, "nobody has two of the first line");
    }

    #[test]
    fn a_far_warehouse_with_everything_beats_a_split_among_many_near_ones() {
        let cities = ["shanghai", "hangzhou", "suzhou", "nanjing", "hefei", "qingdao", "wuhan"];
        let mut sites: Vec<Site> = (0..13).map(|i| site(&format!("N{}-01", (b'A' + i as u8) as char), cities[i % cities.len()], if i % 2 == 0 { &[1, 0] } else { &[0, 1] })).collect();
        sites.push(site("BJ-01", "beijing", &[1, 1]));
        let to = city_point("shanghai").expect("city");
        assert_eq!(plan(&sites, &[1, 1], &to, &[], 4), Some(vec![(13, vec![0, 1])]), "one parcel from Beijing, past 13 nearer warehouses");
    }

    #[test]
    fn combinations_are_every_subset_once() {
        let all: Vec<Vec<usize>> = combinations(4, 2).collect();
        assert_eq!(all, vec![vec![0, 1], vec![0, 2], vec![0, 3], vec![1, 2], vec![1, 3], vec![2, 3]]);
        assert_eq!(combinations(3, 3).count(), 1);
        assert_eq!(combinations(2, 3).count(), 0);
        assert_eq!(combinations(10, 5).count(), 252);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 256, rng_seed: proptest::test_runner::RngSeed::Fixed(0x5b17), ..Default::default() })]

        /// Any stock: a plan serves every line exactly once from a site that has it, uses no
        /// more parcels than any other cover of at most four (checked by brute force), and is
        /// None only when some line has no site at all.
        #[test]
        fn a_plan_is_a_smallest_cover(stock in proptest::collection::vec(proptest::collection::vec(0i64..3, 5), 1..7), wants in proptest::collection::vec(1i64..3, 1..5)) {
            let cities = ["shanghai", "beijing", "hangzhou", "tianjin", "guangzhou", "chengdu", "wuhan"];
            let codes = ["SH-01", "BJ-01", "HZ-01", "TJ-01", "GZ-01", "CD-01", "WH-01"];
            let sites: Vec<Site> = stock.iter().enumerate().map(|(i, s)| site(codes[i], cities[i], &s[..wants.len()])).collect();
            let to = city_point("nanjing").expect("city");
            let serves = |s: usize, l: usize| sites[s].sellable[l] >= wants[l];
            let feasible = (0..wants.len()).all(|l| (0..sites.len()).any(|s| serves(s, l)));
            match plan(&sites, &wants, &to, &[], 4) {
                None => proptest::prop_assert!(!feasible),
                Some(parts) => {
                    let mut lines: Vec<usize> = parts.iter().flat_map(|(_, l)| l.clone()).collect();
                    lines.sort_unstable();
                    proptest::prop_assert_eq!(lines, (0..wants.len()).collect::<Vec<_>>());
                    for (s, ls) in &parts {
                        proptest::prop_assert!(ls.iter().all(|&l| serves(*s, l)));
                    }
                    let smallest = (1..=sites.len()).find(|&k| combinations(sites.len(), k).any(|c| (0..wants.len()).all(|l| c.iter().any(|&s| serves(s, l)))));
                    proptest::prop_assert_eq!(Some(parts.len()), smallest);
                }
            }
        }
    }
}
