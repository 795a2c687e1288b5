//! Generated floors with one-lane aisles, for tests and the shift benchmark.
//!
//! Storage blocks two pods deep stand between one-lane aisles, row after row; one-lane cross
//! aisles run between the blocks. Every aisle is one-way, rows alternating east and west and
//! cross aisles south and north, so a robot never meets another head-on. Where two aisles
//! cross the cell is a junction a robot may leave either way. On the left a two-lane highway
//! (south beside the stations, north beside the blocks) feeds the stations, whose pick cells
//! and queues stand in the leftmost column. Parking cells and chargers are pockets off the
//! bottom aisle. A seed picks the number and size of the blocks.

use super::layout::{LayoutSpec, OneWaySpec, StationSpec};
use crate::mapf::{Heading, Rng};

/// A generated floor: the map file's text and the layout that goes with it.
pub struct Floor {
    pub map: String,
    pub spec: LayoutSpec,
}

/// Queue cells per station (besides the pick cell).
const QUEUE: u32 = 4;

/// A one-lane-aisle floor for `seed` with `stations` pick stations (1–4).
pub fn one_lane(seed: u64, stations: u32) -> Floor {
    let mut rng = Rng::new(seed);
    let stations = stations.clamp(1, 4);
    // At least 4 × 5 × 2 × 5 = 200 pod spots.
    let blocks_x = 4 + rng.below(3) as u32;
    let block_w = 5 + rng.below(4) as u32;
    // Enough rows for the stations' queues along the left column, and an odd number of them:
    // the top aisle runs east and the bottom one west, so the floor's edge is one loop.
    let blocks_y = (4 + rng.below(4) as u32).max((stations * (QUEUE + 2)).div_ceil(3)) | 1;
    let width = 3 + blocks_x * (block_w + 1);
    let aisle_rows: Vec<u32> = (0..=blocks_y).map(|k| 3 * k).collect();
    let parking_row = 3 * blocks_y + 1;
    let height = parking_row + 1;
    let mut aisle_columns = vec![1, 2];
    aisle_columns.extend((0..blocks_x).map(|k| 3 + k * (block_w + 1) + block_w));
    let is_aisle_column = |x: u32| aisle_columns.contains(&x);
    let mut free = vec![vec![false; width as usize]; height as usize];
    let mut storage = Vec::new();
    for y in 0..parking_row {
        for x in 1..width {
            let aisle = aisle_rows.contains(&y) || is_aisle_column(x);
            free[y as usize][x as usize] = true;
            if !aisle {
                storage.push([x, y, x, y]);
            }
        }
    }
    // Parking and chargers: pockets below the bottom aisle, under the blocks.
    let pockets: Vec<u32> = (3..width).filter(|x| !is_aisle_column(*x)).collect();
    for x in &pockets {
        free[parking_row as usize][*x as usize] = true;
    }
    let chargers: Vec<[u32; 2]> = pockets.iter().step_by(block_w as usize).map(|x| [*x, parking_row]).collect();
    let parking: Vec<[u32; 2]> = pockets.iter().filter(|x| !chargers.iter().any(|c| c[0] == **x)).map(|x| [*x, parking_row]).collect();
    // Stations down the left column: a pick cell with its queue below it.
    let spacing = (parking_row - 1) / stations;
    let mut specs = Vec::new();
    for k in 0..stations {
        let pick = 1 + k * spacing;
        for y in pick..=pick + QUEUE {
            free[y as usize][0] = true;
        }
        specs.push(StationSpec { name: format!("ST-{}", k + 1), pick: [0, pick], queue: (1..=QUEUE).map(|d| [0, pick + d]).collect() });
    }
    let mut one_way = Vec::new();
    // Row aisles, between junctions (the highway's two columns and the cross aisles).
    for (k, y) in aisle_rows.iter().enumerate() {
        let heading = if k % 2 == 0 { Heading::East } else { Heading::West };
        for pair in aisle_columns.windows(2) {
            if pair[1] > pair[0] + 1 {
                one_way.push(OneWaySpec { lane: [pair[0] + 1, *y, pair[1] - 1, *y], heading });
            }
        }
    }
    // The highway, then the cross aisles, between the row aisles; the rightmost cross aisle
    // runs south to close the loop round the edge, the others alternate.
    let last = aisle_columns.len() - 1;
    for (k, x) in aisle_columns.iter().enumerate() {
        let heading = match k {
            0 => Heading::South,
            1 => Heading::North,
            _ if (last - k) % 2 == 0 => Heading::South,
            _ => Heading::North,
        };
        for pair in aisle_rows.windows(2) {
            one_way.push(OneWaySpec { lane: [*x, pair[0] + 1, *x, pair[1] - 1], heading });
        }
    }
    let rows: Vec<String> = free.iter().map(|row| row.iter().map(|f| if *f { '.' } else { '@' }).collect()).collect();
    let map = format!("type octile\nheight {height}\nwidth {width}\nmap\n{}\n", rows.join("\n"));
    let spec = LayoutSpec {
        map: format!("one-lane-{seed}.map"),
        cell_size_m: 1.0,
        map_id: format!("one-lane-{seed}"),
        storage,
        stations: specs,
        chargers,
        parking,
        one_way,
    };
    Floor { map, spec }
}

/// A League of Robot Runners warehouse map (`.map` text: `@` shelves and walls, `E` emitter
/// and `S` service cells, which are aisle cells there) as a goods-to-person floor. Shelf cells
/// beside an aisle become pod spots (free cells robots drive under, as on our floors); other
/// `@` cells stay walls. Every other `E` cell (on the floor's edges) is a pick station with a
/// queue of up to `QUEUE` plain cells straight out from it, the other `E` cells chargers. No
/// parking: idle robots wait where they are. For the controller's scale benchmark.
pub fn lorr(map: &str, name: &str) -> Floor {
    let header: Vec<&str> = map.lines().take_while(|l| l.trim() != "map").collect();
    let rows: Vec<&[u8]> = map.lines().skip_while(|l| l.trim() != "map").skip(1).map(str::as_bytes).collect();
    let at = |x: i64, y: i64| -> u8 {
        if x < 0 || y < 0 {
            return b'@';
        }
        rows.get(y as usize).and_then(|r| r.get(x as usize)).copied().unwrap_or(b'@')
    };
    let cells = |kind: u8| -> Vec<[u32; 2]> {
        rows.iter().enumerate().flat_map(|(y, row)| row.iter().enumerate().filter(move |(_, b)| **b == kind).map(move |(x, _)| [x as u32, y as u32])).collect()
    };
    let beside_aisle = |[x, y]: [u32; 2]| {
        let (x, y) = (i64::from(x), i64::from(y));
        [(1, 0), (-1, 0), (0, 1), (0, -1)].iter().any(|(dx, dy)| matches!(at(x + dx, y + dy), b'.' | b'E' | b'S'))
    };
    let spots: Vec<[u32; 2]> = cells(b'@').into_iter().filter(|c| beside_aisle(*c)).collect();
    let mut grid: Vec<Vec<u8>> = rows.iter().map(|r| r.to_vec()).collect();
    for [x, y] in &spots {
        grid[*y as usize][*x as usize] = b'.';
    }
    let emitters = cells(b'E');
    let mut used: Vec<[u32; 2]> = Vec::new();
    let mut stations = Vec::new();
    for (k, pick) in emitters.iter().step_by(2).enumerate() {
        // The longest straight run of plain aisle cells out of the pick cell, up to QUEUE.
        let (px, py) = (i64::from(pick[0]), i64::from(pick[1]));
        let queue = [(1, 0), (0, 1), (-1, 0), (0, -1)]
            .iter()
            .map(|(dx, dy)| {
                (1..=i64::from(QUEUE))
                    .map(|d| (px + dx * d, py + dy * d))
                    .take_while(|(x, y)| at(*x, *y) == b'.' && !used.contains(&[*x as u32, *y as u32]))
                    .map(|(x, y)| [x as u32, y as u32])
                    .collect::<Vec<_>>()
            })
            .max_by_key(Vec::len)
            .unwrap_or_default();
        used.extend(queue.iter().copied());
        stations.push(StationSpec { name: format!("ST-{}", k + 1), pick: *pick, queue });
    }
    let chargers = emitters.iter().skip(1).step_by(2).copied().collect();
    let body: Vec<String> = grid.iter().map(|r| String::from_utf8_lossy(r).into_owned()).collect();
    let map = format!("{}\nmap\n{}\n", header.join("\n"), body.join("\n"));
    let storage = spots.into_iter().map(|[x, y]| [x, y, x, y]).collect();
    let spec = LayoutSpec { map: format!("{name}.map"), cell_size_m: 1.0, map_id: name.to_owned(), storage, stations, chargers, parking: Vec::new(), one_way: Vec::new() };
    Floor { map, spec }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gtp::layout::Layout;
    use crate::mapf::Grid;

    #[test]
    fn a_lorr_map_becomes_a_floor_with_shelves_as_pod_spots_and_queued_stations() {
        let map = "type octile\nheight 6\nwidth 7\nmap\n@@@@@@@\n.E....E\n..SS...\n@.@@@.@\n.......\n@@@@@@@\n";
        let floor = lorr(map, "tiny");
        let spec = &floor.spec;
        let layout = Layout::build(Grid::parse_movingai(&floor.map).expect("map"), spec).expect("layout");
        // Shelf cells beside an aisle: the top wall's seven, the middle row's five, the bottom
        // wall's seven — every `@` here touches an aisle.
        assert_eq!(layout.storage.len(), 7 + 5 + 7);
        assert_eq!(spec.stations.len(), 1);
        // East of the pick cell (1, 1): the first run of plain cells, up to four.
        assert_eq!(spec.stations[0].queue, vec![[2, 1], [3, 1], [4, 1], [5, 1]]);
        assert_eq!(spec.chargers, vec![[6, 1]]);
    }

    #[test]
    fn generated_floors_build_and_keep_every_cell_connected_both_ways() {
        for seed in 0..40 {
            let floor = one_lane(seed, 3);
            let grid = Grid::parse_movingai(&floor.map).expect("map parses");
            let layout = Layout::build(grid, &floor.spec).unwrap_or_else(|e| panic!("seed {seed}: {e}"));
            assert!(layout.grid.is_directed());
            assert!(layout.storage.len() >= 200, "seed {seed}: {} spots", layout.storage.len());
        }
    }
}
