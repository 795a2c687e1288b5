//! The goods-to-person floor: the grid (MovingAI `.map`) plus what stands on it — pod storage
//! spots, pick stations (a pick cell and its queue), chargers and parking.

use crate::mapf::{Cell, Grid, Heading};
use serde::{Deserialize, Serialize};

/// The layout file as written (TOML in the daemons' config directory).
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutSpec {
    /// The `.map` file, relative to the layout file.
    pub map: String,
    #[serde(default = "one_metre")]
    pub cell_size_m: f64,
    #[serde(default = "floor")]
    pub map_id: String,
    /// Rectangles `[x0, y0, x1, y1]` (inclusive) of pod spots.
    pub storage: Vec<[u32; 4]>,
    pub stations: Vec<StationSpec>,
    #[serde(default)]
    pub chargers: Vec<[u32; 2]>,
    #[serde(default)]
    pub parking: Vec<[u32; 2]>,
    /// One-way lanes: robots drive along each only its way, so two never meet head-on in a
    /// one-lane aisle.
    #[serde(default)]
    pub one_way: Vec<OneWaySpec>,
}

/// A one-way lane: a rectangle `[x0, y0, x1, y1]` (inclusive) of free cells, and its way.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct OneWaySpec {
    pub lane: [u32; 4],
    pub heading: Heading,
}

fn one_metre() -> f64 {
    1.0
}

fn floor() -> String {
    "floor".into()
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StationSpec {
    pub name: String,
    pub pick: [u32; 2],
    /// Nearest the pick cell first.
    #[serde(default)]
    pub queue: Vec<[u32; 2]>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayoutError {
    #[error("{what} [{x}, {y}] is not a free cell of the map")]
    NotFree { what: String, x: u32, y: u32 },
    #[error("cell [{x}, {y}] is used twice ({what})")]
    Twice { what: String, x: u32, y: u32 },
    #[error("the layout needs {0}")]
    Missing(&'static str),
    #[error("cell size must be between 0.1 and 10 m")]
    CellSize,
    #[error("station name {0:?} is empty, too long or used twice")]
    StationName(String),
    #[error("one-way lane {0:?} covers a blocked cell or lies off the map")]
    Lane([u32; 4]),
    #[error("with the one-way lanes, cell [{x}, {y}] cannot be {how} the first station's pick cell")]
    OneWay { x: u32, y: u32, how: &'static str },
}

#[derive(Debug, Clone)]
pub struct Station {
    pub name: String,
    pub pick: Cell,
    pub queue: Vec<Cell>,
}

#[derive(Debug, Clone)]
pub struct Layout {
    pub grid: Grid,
    pub cell_size_m: f64,
    pub map_id: String,
    /// Pod spots, in reading order.
    pub storage: Vec<Cell>,
    pub stations: Vec<Station>,
    pub chargers: Vec<Cell>,
    pub parking: Vec<Cell>,
    /// `is_storage[c]`: robots carrying a pod may not enter c unless it is their goal.
    is_storage: Vec<bool>,
}

impl Layout {
    pub fn build(grid: Grid, spec: &LayoutSpec) -> Result<Layout, LayoutError> {
        if !(0.1..=10.0).contains(&spec.cell_size_m) {
            return Err(LayoutError::CellSize);
        }
        let grid = one_way(grid, &spec.one_way)?;
        let mut used = vec![false; grid.cells()];
        let mut claim = |what: &str, [x, y]: [u32; 2]| -> Result<Cell, LayoutError> {
            let c = grid.cell(x, y).filter(|c| grid.is_free(*c)).ok_or_else(|| LayoutError::NotFree { what: what.into(), x, y })?;
            if std::mem::replace(&mut used[c as usize], true) {
                return Err(LayoutError::Twice { what: what.into(), x, y });
            }
            Ok(c)
        };
        let mut storage = Vec::new();
        for rect in &spec.storage {
            for xy in rect_cells(*rect) {
                storage.push(claim("storage spot", xy)?);
            }
        }
        let mut stations: Vec<Station> = Vec::new();
        for s in &spec.stations {
            if s.name.is_empty() || s.name.len() > 32 || stations.iter().any(|o| o.name == s.name) {
                return Err(LayoutError::StationName(s.name.clone()));
            }
            let pick = claim("pick cell", s.pick)?;
            let queue = s.queue.iter().map(|q| claim("queue cell", *q)).collect::<Result<_, _>>()?;
            stations.push(Station { name: s.name.clone(), pick, queue });
        }
        let chargers: Vec<Cell> = spec.chargers.iter().map(|c| claim("charger", *c)).collect::<Result<_, _>>()?;
        let parking: Vec<Cell> = spec.parking.iter().map(|c| claim("parking cell", *c)).collect::<Result<_, _>>()?;
        if storage.is_empty() {
            return Err(LayoutError::Missing("at least one storage spot"));
        }
        if stations.is_empty() {
            return Err(LayoutError::Missing("at least one station"));
        }
        let mut is_storage = vec![false; grid.cells()];
        for c in &storage {
            is_storage[*c as usize] = true;
        }
        if grid.is_directed() {
            check_connected(&grid, &is_storage, stations[0].pick)?;
        }
        Ok(Layout { grid, cell_size_m: spec.cell_size_m, map_id: spec.map_id.clone(), storage, stations, chargers, parking, is_storage })
    }

    pub fn is_storage(&self, c: Cell) -> bool {
        self.is_storage[c as usize]
    }

    /// The VDA 5050 node id of a cell.
    pub fn node_id(&self, c: Cell) -> String {
        let (x, y) = self.grid.xy(c);
        format!("c{x}_{y}")
    }

    /// The cell a node id names (None for ids that are not ours or off the map).
    pub fn cell_of_node(&self, id: &str) -> Option<Cell> {
        let (x, y) = id.strip_prefix('c')?.split_once('_')?;
        self.grid.cell(x.parse().ok()?, y.parse().ok()?).filter(|c| self.grid.is_free(*c))
    }

    /// Metres on the map of a cell's centre.
    pub fn position(&self, c: Cell) -> (f64, f64) {
        let (x, y) = self.grid.xy(c);
        (f64::from(x) * self.cell_size_m, f64::from(y) * self.cell_size_m)
    }

    /// The free cell nearest a position in metres (a robot whose last node we do not know).
    pub fn cell_at(&self, x: f64, y: f64) -> Option<Cell> {
        let (cx, cy) = ((x / self.cell_size_m).round(), (y / self.cell_size_m).round());
        if cx < 0.0 || cy < 0.0 {
            return None;
        }
        self.grid.cell(cx as u32, cy as u32).filter(|c| self.grid.is_free(*c))
    }
}

/// The cells `[x, y]` of an inclusive rectangle `[x0, y0, x1, y1]`, row by row (corners in any
/// order).
fn rect_cells([x0, y0, x1, y1]: [u32; 4]) -> impl Iterator<Item = [u32; 2]> {
    (y0.min(y1)..=y0.max(y1)).flat_map(move |y| (x0.min(x1)..=x0.max(x1)).map(move |x| [x, y]))
}

fn one_way(grid: Grid, lanes: &[OneWaySpec]) -> Result<Grid, LayoutError> {
    if lanes.is_empty() {
        return Ok(grid);
    }
    for OneWaySpec { lane, .. } in lanes {
        for [x, y] in rect_cells(*lane) {
            grid.cell(x, y).ok_or(LayoutError::Lane(*lane))?;
        }
    }
    let lanes: Vec<([u32; 4], Heading)> = lanes.iter().map(|l| (l.lane, l.heading)).collect();
    Ok(grid.with_one_way(&lanes))
}

/// One-way lanes must not cut a cell off: every free cell reaches the first pick cell and is
/// reached from it, passing through no storage spot on the way (loaded robots cannot).
fn check_connected(grid: &Grid, is_storage: &[bool], pick: Cell) -> Result<(), LayoutError> {
    let to_pick = grid.distances_where(pick, |_| true, |c| !is_storage[c as usize]);
    let mut reached = vec![false; grid.cells()];
    let mut queue = std::collections::VecDeque::from([pick]);
    reached[pick as usize] = true;
    while let Some(c) = queue.pop_front() {
        if c != pick && is_storage[c as usize] {
            continue;
        }
        for n in grid.neighbors(c) {
            if !std::mem::replace(&mut reached[n as usize], true) {
                queue.push_back(n);
            }
        }
    }
    for c in (0..grid.cells() as Cell).filter(|c| grid.is_free(*c)) {
        let (x, y) = grid.xy(c);
        if to_pick[c as usize] == u32::MAX {
            return Err(LayoutError::OneWay { x, y, how: "driven from to" });
        }
        if !reached[c as usize] {
            return Err(LayoutError::OneWay { x, y, how: "reached from" });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const MAP: &str = "type octile\nheight 4\nwidth 6\nmap\n@.....\n......\n......\n@.....\n";

    fn spec() -> LayoutSpec {
        LayoutSpec {
            map: "x.map".into(),
            cell_size_m: 1.0,
            map_id: "floor".into(),
            storage: vec![[3, 1, 4, 2]],
            stations: vec![StationSpec { name: "ST-1".into(), pick: [0, 1], queue: vec![[0, 2]] }],
            chargers: vec![[5, 3]],
            parking: vec![[2, 0]],
            one_way: Vec::new(),
        }
    }

    #[test]
    fn builds_and_names_cells() {
        let layout = Layout::build(Grid::parse_movingai(MAP).expect("map"), &spec()).expect("layout");
        assert_eq!(layout.storage.len(), 4);
        let c = layout.storage[0];
        assert_eq!(layout.node_id(c), "c3_1");
        assert_eq!(layout.cell_of_node("c3_1"), Some(c));
        assert_eq!(layout.cell_of_node("c0_0"), None, "a blocked cell");
        assert_eq!(layout.cell_of_node("x3_1"), None);
        assert_eq!(layout.cell_at(3.1, 0.9), Some(c));
        assert!(layout.is_storage(c));
    }

    #[test]
    fn rejects_blocked_and_double_cells() {
        let grid = Grid::parse_movingai(MAP).expect("map");
        let mut s = spec();
        s.chargers = vec![[0, 0]];
        assert!(matches!(Layout::build(grid.clone(), &s), Err(LayoutError::NotFree { .. })));
        let mut s = spec();
        s.parking = vec![[3, 1]];
        assert!(matches!(Layout::build(grid.clone(), &s), Err(LayoutError::Twice { .. })));
        let mut s = spec();
        s.stations.push(s.stations[0].clone());
        assert!(matches!(Layout::build(grid, &s), Err(LayoutError::StationName(_))));
    }
}
