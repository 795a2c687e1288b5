//! Pick paths: the order a picker visits a batch's locations so the walk is short, on a floor of
//! parallel aisles joined by a front and a back cross-aisle (a single-block warehouse, the
//! common shelf layout), with the depot (where a walk starts and ends: packing) on the front
//! cross-aisle. Pure.
//!
//! - `s_shape` and `largest_gap` are the textbook routing heuristics (Hall 1993; de Koster
//!   et al. 2007), as walks a picker can follow.
//! - `plan` is what the handheld uses: exact (Held-Karp over the floor's walking distances) up
//!   to `EXACT_STOPS` stops, else the better heuristic's order improved by 2-opt and or-opt
//!   moves. Never longer than either heuristic: it starts from their order, walks only shortest
//!   paths between stops, and keeps a change only when the walk gets shorter.
//! - `batches` groups orders into picking batches (a cart of totes, one per order, or one tote
//!   of single-unit orders) by where their locations lie, so one walk serves many orders.

use serde::{Deserialize, Serialize};

/// Up to this many stops `plan` is exact (2^12 × 12 states: well under a millisecond).
pub const EXACT_STOPS: usize = 12;
/// Most stops one walk is planned for (a cart of totes is far smaller).
pub const MAX_STOPS: usize = 2_000;

/// A picker floor: `aisles` parallel aisles of `bays` bays, numbered from 1; bay 0 is the front
/// cross-aisle and bay `bays + 1` the back one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WalkFloor {
    pub aisles: u32,
    pub bays: u32,
    /// Metres between neighbouring aisles' centre lines.
    pub aisle_pitch_m: f64,
    /// Metres per bay along an aisle (each cross-aisle counts as one bay deep).
    pub bay_m: f64,
    /// The aisle whose front end the depot faces.
    pub depot_aisle: u32,
}

/// A place on the floor: an aisle and a bay in it (bay 0: the front cross-aisle).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Stop {
    pub aisle: u32,
    pub bay: u32,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum WalkError {
    #[error("a picker floor needs 1 to 500 aisles of 1 to 1,000 bays, positive distances and its depot at one of its aisles")]
    Floor,
    #[error("stop at aisle {aisle}, bay {bay} is not on this floor")]
    OffFloor { aisle: u32, bay: u32 },
    #[error("{0} stops in one walk; at most {MAX_STOPS}")]
    TooMany(usize),
}

/// A walk through a batch's stops: `order` indexes the stops given, `metres` is the whole walk
/// from the depot and back.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    pub order: Vec<usize>,
    pub metres: f64,
}

impl WalkFloor {
    pub fn validate(&self) -> Result<(), WalkError> {
        let ok = (1..=500).contains(&self.aisles)
            && (1..=1000).contains(&self.bays)
            && self.aisle_pitch_m > 0.0
            && self.bay_m > 0.0
            && self.aisle_pitch_m.is_finite()
            && self.bay_m.is_finite()
            && (1..=self.aisles).contains(&self.depot_aisle);
        if ok {
            Ok(())
        } else {
            Err(WalkError::Floor)
        }
    }

    pub fn depot(&self) -> Stop {
        Stop { aisle: self.depot_aisle, bay: 0 }
    }

    fn back(&self) -> u32 {
        self.bays + 1
    }

    /// Where a location code `ZONE-AA-BB[-…]` is: aisle AA, bay BB (None when it does not
    /// follow that pattern or lies off this floor).
    pub fn stop_of(&self, code: &str) -> Option<Stop> {
        let mut parts = code.split('-');
        let (_zone, aisle, bay) = (parts.next()?, parts.next()?, parts.next()?);
        let stop = Stop { aisle: aisle.parse().ok()?, bay: bay.parse().ok()? };
        self.check(stop).ok()?;
        Some(stop)
    }

    fn check(&self, s: Stop) -> Result<(), WalkError> {
        if (1..=self.aisles).contains(&s.aisle) && s.bay <= self.bays {
            Ok(())
        } else {
            Err(WalkError::OffFloor { aisle: s.aisle, bay: s.bay })
        }
    }

    /// The shortest walk between two places: along the aisle when both are in it, else out of
    /// one aisle and into the other through the nearer of the two cross-aisles.
    pub fn distance(&self, a: Stop, b: Stop) -> f64 {
        let across = f64::from(a.aisle.abs_diff(b.aisle)) * self.aisle_pitch_m;
        if a.aisle == b.aisle {
            return f64::from(a.bay.abs_diff(b.bay)) * self.bay_m;
        }
        let front = a.bay + b.bay;
        let back = 2 * self.back() - a.bay - b.bay;
        f64::from(front.min(back)) * self.bay_m + across
    }

    /// The walk from the depot through `stops` in `order` and back, on shortest paths.
    pub fn length(&self, stops: &[Stop], order: &[usize]) -> f64 {
        let mut at = self.depot();
        let mut metres = 0.0;
        for &i in order {
            metres += self.distance(at, stops[i]);
            at = stops[i];
        }
        metres + self.distance(at, self.depot())
    }
}

/// The stops of each aisle with any, by aisle, each aisle's bays ascending (indices into
/// `stops`).
fn by_aisle(stops: &[Stop]) -> Vec<(u32, Vec<usize>)> {
    let mut sorted: Vec<usize> = (0..stops.len()).collect();
    sorted.sort_by_key(|&i| (stops[i].aisle, stops[i].bay, i));
    let mut out: Vec<(u32, Vec<usize>)> = Vec::new();
    for i in sorted {
        match out.last_mut() {
            Some((aisle, list)) if *aisle == stops[i].aisle => list.push(i),
            _ => out.push((stops[i].aisle, vec![i])),
        }
    }
    out
}

/// S-shape (traversal): every aisle with picks is walked end to end, in turn from the leftmost,
/// one up and the next down; with an odd number of them the last is entered from the front and
/// left the same way. The walk a picker following it makes.
pub fn s_shape(floor: &WalkFloor, stops: &[Stop]) -> Route {
    let aisles = by_aisle(stops);
    let Some((first, last)) = aisles.first().map(|a| a.0).zip(aisles.last().map(|a| a.0)) else {
        return Route { order: Vec::new(), metres: 0.0 };
    };
    let mut order = Vec::with_capacity(stops.len());
    let mut vertical = 0.0;
    let odd = aisles.len() % 2 == 1;
    for (k, (_, list)) in aisles.iter().enumerate() {
        let up = k % 2 == 0;
        if odd && k + 1 == aisles.len() {
            // The last of an odd count: in from the front to the farthest pick and back out.
            let deepest = list.iter().map(|&i| stops[i].bay).max().unwrap_or(0);
            vertical += 2.0 * f64::from(deepest) * floor.bay_m;
            order.extend(list.iter().copied());
        } else {
            vertical += f64::from(floor.back()) * floor.bay_m;
            if up {
                order.extend(list.iter().copied());
            } else {
                order.extend(list.iter().rev().copied());
            }
        }
    }
    Route { order, metres: vertical + sweep(floor, first, last) }
}

/// Along the cross-aisles: from the depot to the leftmost aisle with picks, across to the
/// rightmost, and back to the depot.
fn sweep(floor: &WalkFloor, first: u32, last: u32) -> f64 {
    let d = floor.depot_aisle;
    let aisles = f64::from(d.abs_diff(first)) + f64::from(last - first) + f64::from(last.abs_diff(d));
    aisles * floor.aisle_pitch_m
}

/// Largest gap: up the leftmost aisle with picks, along the back visiting each middle aisle
/// from the back as far as its largest gap, down the rightmost aisle, then back along the
/// front visiting each middle aisle from the front as far as its largest gap. One aisle alone
/// is entered from the front to its farthest pick.
pub fn largest_gap(floor: &WalkFloor, stops: &[Stop]) -> Route {
    let aisles = by_aisle(stops);
    match aisles.len() {
        0 => return Route { order: Vec::new(), metres: 0.0 },
        1 => return s_shape(floor, stops),
        _ => {}
    }
    let (first, last) = (aisles[0].0, aisles[aisles.len() - 1].0);
    let back = floor.back();
    let mut order: Vec<usize> = aisles[0].1.clone();
    let mut vertical = 2.0 * f64::from(back) * floor.bay_m;
    let middle = &aisles[1..aisles.len() - 1];
    let mut fronts = Vec::with_capacity(middle.len());
    for (_, list) in middle {
        // Gaps between front (0), each pick, and back; the largest is never walked.
        let bays: Vec<u32> = list.iter().map(|&i| stops[i].bay).collect();
        let mut edges = vec![0];
        edges.extend(bays.iter().copied());
        edges.push(back);
        let (gap, _) = edges.windows(2).enumerate().max_by_key(|(k, w)| (w[1] - w[0], std::cmp::Reverse(*k))).unwrap_or((0, &[0, 0][..]));
        // Picks 0..gap come from the front, gap.. from the back.
        let (from_front, from_back) = list.split_at(gap);
        let front_depth = from_front.last().map_or(0, |&i| stops[i].bay);
        let back_depth = from_back.first().map_or(0, |&i| back - stops[i].bay);
        vertical += 2.0 * f64::from(front_depth + back_depth) * floor.bay_m;
        order.extend(from_back.iter().rev().copied());
        fronts.push(from_front.to_vec());
    }
    order.extend(aisles[aisles.len() - 1].1.iter().rev().copied());
    for list in fronts.iter().rev() {
        order.extend(list.iter().copied());
    }
    // Depot → leftmost (front), across the back, across the front again, → depot.
    let d = floor.depot_aisle;
    let across = f64::from(d.abs_diff(first)) + 2.0 * f64::from(last - first) + f64::from(first.abs_diff(d));
    Route { order, metres: vertical + across * floor.aisle_pitch_m }
}

/// The walk the handheld gives: exact up to `EXACT_STOPS` stops, else the better heuristic's
/// order improved. Never longer than `s_shape` or `largest_gap`.
pub fn plan(floor: &WalkFloor, stops: &[Stop]) -> Result<Route, WalkError> {
    floor.validate()?;
    if stops.len() > MAX_STOPS {
        return Err(WalkError::TooMany(stops.len()));
    }
    for s in stops {
        floor.check(*s)?;
    }
    if stops.len() <= EXACT_STOPS {
        return Ok(exact(floor, stops));
    }
    Ok(improved(floor, stops))
}

/// The better heuristic's order, improved by 2-opt and or-opt moves until none shortens the
/// walk (public for the bench and the tests, which compare it with the exact walk).
pub fn improved(floor: &WalkFloor, stops: &[Stop]) -> Route {
    let (s, g) = (s_shape(floor, stops), largest_gap(floor, stops));
    let start = if floor.length(stops, &s.order) <= floor.length(stops, &g.order) { s.order } else { g.order };
    // The tour with the depot as node 0 and stop i as node i + 1.
    let mut points = vec![floor.depot()];
    points.extend_from_slice(stops);
    let d = |a: usize, b: usize| floor.distance(points[a], points[b]);
    let mut tour: Vec<usize> = std::iter::once(0).chain(start.iter().map(|i| i + 1)).collect();
    let n = tour.len();
    let next = |k: usize| (k + 1) % n;
    const EPS: f64 = 1e-9;
    // Bounded: each pass that changes something shortens the walk; a pathological input still
    // stops after this many passes.
    for _ in 0..100 {
        let mut better = false;
        // 2-opt: reverse tour[i+1..=j].
        for i in 0..n - 1 {
            for j in i + 2..n {
                let (a, b, c, e) = (tour[i], tour[i + 1], tour[j], tour[next(j)]);
                if d(a, c) + d(b, e) + EPS < d(a, b) + d(c, e) {
                    tour[i + 1..=j].reverse();
                    better = true;
                }
            }
        }
        // Or-opt: move a run of 1 to 3 stops elsewhere (either way round).
        for len in 1..=3usize {
            let mut i = 1;
            while i + len <= n {
                if let Some(moved) = or_move(&tour, i, len, &d) {
                    tour = moved;
                    better = true;
                }
                i += 1;
            }
        }
        if !better {
            break;
        }
    }
    let at = tour.iter().position(|&p| p == 0).unwrap_or(0);
    tour.rotate_left(at);
    let order: Vec<usize> = tour[1..].iter().map(|p| p - 1).collect();
    Route { metres: floor.length(stops, &order), order }
}

/// The tour with the run `tour[i..i + len]` moved to the best other place, when that shortens
/// it (the depot, node 0 at index 0, never moves).
fn or_move(tour: &[usize], i: usize, len: usize, d: &impl Fn(usize, usize) -> f64) -> Option<Vec<usize>> {
    let n = tour.len();
    let (prev, next) = (tour[i - 1], tour[(i + len) % n]);
    let (first, last) = (tour[i], tour[i + len - 1]);
    let gain = d(prev, first) + d(last, next) - d(prev, next);
    let rest: Vec<usize> = tour[..i].iter().chain(&tour[i + len..]).copied().collect();
    let mut best: Option<(f64, usize, bool)> = None;
    for k in 0..rest.len() {
        let (a, b) = (rest[k], rest[(k + 1) % rest.len()]);
        for reversed in [false, true] {
            let (x, y) = if reversed { (last, first) } else { (first, last) };
            let cost = d(a, x) + d(y, b) - d(a, b);
            if cost + 1e-9 < gain && best.is_none_or(|(c, _, _)| cost < c) {
                best = Some((cost, k, reversed));
            }
        }
    }
    let (_, k, reversed) = best?;
    let mut run: Vec<usize> = tour[i..i + len].to_vec();
    if reversed {
        run.reverse();
    }
    let mut out = rest;
    out.splice(k + 1..k + 1, run);
    Some(out)
}

/// The shortest walk through at most `EXACT_STOPS` stops (Held-Karp over the floor's walking
/// distances, which are shortest paths: so it is the shortest walk there is).
fn exact(floor: &WalkFloor, stops: &[Stop]) -> Route {
    let n = stops.len();
    if n == 0 {
        return Route { order: Vec::new(), metres: 0.0 };
    }
    let depot = floor.depot();
    let full = (1usize << n) - 1;
    // best[set][last]: the shortest walk from the depot through `set`, ending at `last`.
    let mut best = vec![f64::INFINITY; (full + 1) * n];
    let mut from = vec![usize::MAX; (full + 1) * n];
    for (i, s) in stops.iter().enumerate() {
        best[(1 << i) * n + i] = floor.distance(depot, *s);
    }
    for set in 1..=full {
        for last in 0..n {
            let here = best[set * n + last];
            if set & (1 << last) == 0 || !here.is_finite() {
                continue;
            }
            for next in 0..n {
                if set & (1 << next) != 0 {
                    continue;
                }
                let to = (set | (1 << next)) * n + next;
                let cost = here + floor.distance(stops[last], stops[next]);
                if cost < best[to] {
                    best[to] = cost;
                    from[to] = last;
                }
            }
        }
    }
    let end = (0..n).min_by(|&a, &b| (best[full * n + a] + floor.distance(stops[a], depot)).total_cmp(&(best[full * n + b] + floor.distance(stops[b], depot))));
    let mut last = end.unwrap_or(0);
    let mut set = full;
    let mut order = Vec::with_capacity(n);
    while last != usize::MAX {
        order.push(last);
        let prev = from[set * n + last];
        set &= !(1 << last);
        last = prev;
    }
    order.reverse();
    Route { metres: floor.length(stops, &order), order }
}

/// Groups orders (each its stops) into batches of at most `capacity` orders that lie close
/// together: orders sorted by their centre (mean aisle, then mean bay) and cut in turn, so one
/// walk serves neighbouring orders. Indices into `orders`, each batch in that order.
pub fn batches(orders: &[Vec<Stop>], capacity: usize) -> Vec<Vec<usize>> {
    let capacity = capacity.max(1);
    let centre = |o: &Vec<Stop>| {
        let n = o.len().max(1) as f64;
        let aisle = o.iter().map(|s| f64::from(s.aisle)).sum::<f64>() / n;
        let bay = o.iter().map(|s| f64::from(s.bay)).sum::<f64>() / n;
        (aisle, bay)
    };
    let mut sorted: Vec<(usize, (f64, f64))> = orders.iter().enumerate().map(|(i, o)| (i, centre(o))).collect();
    // Serpentine: aisles ascending, bays up in even aisles and down in odd ones, so a cut
    // between two batches falls between neighbours.
    sorted.sort_by(|(i, (a1, b1)), (j, (a2, b2))| {
        let (r1, r2) = (a1.round(), a2.round());
        let (k1, k2) = (if r1 as i64 % 2 == 0 { *b1 } else { -b1 }, if r2 as i64 % 2 == 0 { *b2 } else { -b2 });
        r1.total_cmp(&r2).then(k1.total_cmp(&k2)).then(i.cmp(j))
    });
    sorted.chunks(capacity).map(|c| c.iter().map(|(i, _)| *i).collect()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn floor(aisles: u32, bays: u32, depot: u32) -> WalkFloor {
        WalkFloor { aisles, bays, aisle_pitch_m: 3.0, bay_m: 1.0, depot_aisle: depot }
    }

    fn brute_force(floor: &WalkFloor, stops: &[Stop]) -> f64 {
        fn go(floor: &WalkFloor, stops: &[Stop], order: &mut Vec<usize>, used: &mut Vec<bool>, best: &mut f64) {
            if order.len() == stops.len() {
                *best = best.min(floor.length(stops, order));
                return;
            }
            for i in 0..stops.len() {
                if !used[i] {
                    used[i] = true;
                    order.push(i);
                    go(floor, stops, order, used, best);
                    order.pop();
                    used[i] = false;
                }
            }
        }
        let mut best = f64::INFINITY;
        go(floor, stops, &mut Vec::new(), &mut vec![false; stops.len()], &mut best);
        if stops.is_empty() {
            0.0
        } else {
            best
        }
    }

    fn is_permutation(order: &[usize], n: usize) -> bool {
        let mut seen = order.to_vec();
        seen.sort_unstable();
        seen == (0..n).collect::<Vec<_>>()
    }

    /// A floor (3–12 aisles of 5–30 bays, the depot at any aisle) and a batch on it.
    fn batch(max: usize) -> impl Strategy<Value = (WalkFloor, Vec<Stop>)> {
        (3u32..=12, 5u32..=30).prop_flat_map(move |(aisles, bays)| {
            let stop = (1..=aisles, 1..=bays).prop_map(|(aisle, bay)| Stop { aisle, bay });
            (1..=aisles, proptest::collection::vec(stop, 0..=max)).prop_map(move |(depot, stops)| (floor(aisles, bays, depot), stops))
        })
    }

    #[test]
    fn the_walking_distance_goes_through_the_nearer_cross_aisle() {
        let f = floor(10, 20, 1);
        let (a, b) = (Stop { aisle: 2, bay: 3 }, Stop { aisle: 5, bay: 4 });
        assert_eq!(f.distance(a, b), 7.0 + 9.0, "via the front: 3 + 4 bays, 3 aisles");
        let (a, b) = (Stop { aisle: 2, bay: 19 }, Stop { aisle: 5, bay: 18 });
        assert_eq!(f.distance(a, b), 5.0 + 9.0, "via the back (bay 21): 2 + 3 bays, 3 aisles");
        assert_eq!(f.distance(Stop { aisle: 4, bay: 2 }, Stop { aisle: 4, bay: 17 }), 15.0, "along one aisle");
        assert_eq!(f.stop_of("A-04-17"), Some(Stop { aisle: 4, bay: 17 }));
        assert_eq!(f.stop_of("A-11-01"), None, "no aisle 11");
        assert_eq!(f.stop_of("QC"), None);
    }

    #[test]
    fn s_shape_and_largest_gap_walk_as_the_textbook_draws_them() {
        // Aisles 2 (bays 3, 18), 4 (bay 10) and 6 (bay 5); depot at aisle 1; 20 bays (back at 21).
        let f = floor(8, 20, 1);
        let stops = [Stop { aisle: 4, bay: 10 }, Stop { aisle: 2, bay: 18 }, Stop { aisle: 6, bay: 5 }, Stop { aisle: 2, bay: 3 }];
        let s = s_shape(&f, &stops);
        assert_eq!(s.order, [3, 1, 0, 2], "up aisle 2, down aisle 4, into aisle 6 and back");
        // Up 2 and down 4: 21 + 21 bays; into 6 to bay 5 and out: 10; across 1→2→6→1: (1 + 4 + 5) × 3.
        assert_eq!(s.metres, 42.0 + 10.0 + 30.0);
        let g = largest_gap(&f, &stops);
        assert_eq!(g.order, [3, 1, 2, 0], "up aisle 2, down aisle 6, then aisle 4 from the front (its gaps: 10 before the pick, 11 after)");
        // Up 2 and down 6: 42 bays; aisle 4 from the front: 2 × 10; across 1→2, 2→6 twice, 2→1: (1 + 8 + 1) × 3.
        assert_eq!(g.metres, 42.0 + 20.0 + 30.0);
        let best = plan(&f, &stops).expect("plan");
        assert!(best.metres <= g.metres.min(s.metres) && (best.metres - brute_force(&f, &stops)).abs() < 1e-9);
    }

    #[test]
    fn a_walk_off_the_floor_or_too_long_is_refused() {
        let f = floor(4, 10, 1);
        assert_eq!(plan(&f, &[Stop { aisle: 5, bay: 1 }]), Err(WalkError::OffFloor { aisle: 5, bay: 1 }));
        assert_eq!(plan(&f, &[Stop { aisle: 1, bay: 11 }]), Err(WalkError::OffFloor { aisle: 1, bay: 11 }));
        assert_eq!(plan(&f, &vec![Stop { aisle: 1, bay: 1 }; MAX_STOPS + 1]), Err(WalkError::TooMany(MAX_STOPS + 1)));
        assert_eq!(plan(&floor(4, 10, 5), &[]), Err(WalkError::Floor), "the depot off the floor");
        assert_eq!(plan(&f, &[]).map(|r| r.metres), Ok(0.0));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, rng_seed: proptest::test_runner::RngSeed::Fixed(0x3a1c), ..ProptestConfig::default() })]

        /// Distances are a metric, and the heuristics' walks are walks a picker can make: never
        /// shorter than walking their own order on shortest paths.
        #[test]
        fn heuristics_are_real_walks_over_a_metric((f, stops) in batch(25)) {
            for r in [s_shape(&f, &stops), largest_gap(&f, &stops)] {
                prop_assert!(is_permutation(&r.order, stops.len()));
                prop_assert!(f.length(&stops, &r.order) <= r.metres + 1e-9, "{} > {}", f.length(&stops, &r.order), r.metres);
            }
            for a in &stops {
                for b in &stops {
                    prop_assert_eq!(f.distance(*a, *b), f.distance(*b, *a));
                    for c in &stops {
                        prop_assert!(f.distance(*a, *c) <= f.distance(*a, *b) + f.distance(*b, *c) + 1e-9);
                    }
                }
            }
        }

        /// The planned walk is never longer than S-shape or largest gap, whatever the batch.
        #[test]
        fn the_plan_is_never_longer_than_either_heuristic((f, stops) in batch(40)) {
            let r = plan(&f, &stops).expect("a valid batch");
            prop_assert!(is_permutation(&r.order, stops.len()));
            prop_assert!((r.metres - f.length(&stops, &r.order)).abs() < 1e-9);
            prop_assert!(r.metres <= s_shape(&f, &stops).metres + 1e-9);
            prop_assert!(r.metres <= largest_gap(&f, &stops).metres + 1e-9);
        }

        /// On small batches the planned walk is the shortest there is (brute force over every
        /// order). The improvement heuristic larger batches get is no better than that and
        /// no worse than the heuristic walks it starts from; how close it comes is measured
        /// by `tote-sim bench walk` (it can be 5 % off: a bound here would be a guess).
        #[test]
        fn small_batches_get_the_shortest_walk((f, stops) in batch(7)) {
            let optimum = brute_force(&f, &stops);
            prop_assert!((plan(&f, &stops).expect("plan").metres - optimum).abs() < 1e-9);
            let heuristic = improved(&f, &stops).metres;
            prop_assert!(heuristic + 1e-9 >= optimum);
            prop_assert!(heuristic <= s_shape(&f, &stops).metres.min(largest_gap(&f, &stops).metres) + 1e-9);
        }

        /// Batches cover every order once and none is over capacity.
        #[test]
        fn batches_hold_every_order_once((f, stops) in batch(40), capacity in 1usize..10) {
            let orders: Vec<Vec<Stop>> = stops.chunks(3).map(<[Stop]>::to_vec).collect();
            let b = batches(&orders, capacity);
            let mut all: Vec<usize> = b.iter().flatten().copied().collect();
            all.sort_unstable();
            prop_assert_eq!(all, (0..orders.len()).collect::<Vec<_>>());
            prop_assert!(b.iter().all(|x| !x.is_empty() && x.len() <= capacity));
            let _ = f;
        }
    }
}
