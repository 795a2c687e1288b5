//! The floor as a 4-connected grid, read from MovingAI `.map` text.

/// A free cell, as its index `y * width + x`.
pub type Cell = u32;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MapError {
    #[error("map header: {0}")]
    Header(&'static str),
    #[error("map row {row}: expected {expected} characters, found {found}")]
    Row { row: usize, expected: usize, found: usize },
    #[error("map has {found} rows, header says {expected}")]
    Rows { expected: usize, found: usize },
    #[error("map is too large ({0} cells; at most 16,777,216)")]
    TooLarge(usize),
    #[error("scenario line {line}: {why}")]
    Scenario { line: usize, why: &'static str },
}

#[derive(Debug, Clone)]
pub struct Grid {
    width: u32,
    height: u32,
    free: Vec<bool>,
    /// Up to four neighbours per cell a robot may move to, `NONE` padded.
    neighbors: Vec<[Cell; 4]>,
    /// With one-way rules: the cells a robot may come from, per cell (None: the same as
    /// `neighbors`, every move can be made both ways).
    incoming: Option<Vec<[Cell; 4]>>,
}

/// A compass direction of travel (y grows downwards, as in the map file).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Heading {
    North,
    South,
    East,
    West,
}

impl Heading {
    /// The step (dx, dy) of a move this way.
    fn step(self) -> (i64, i64) {
        match self {
            Heading::North => (0, -1),
            Heading::South => (0, 1),
            Heading::East => (1, 0),
            Heading::West => (-1, 0),
        }
    }
}

pub const NONE: Cell = Cell::MAX;

impl Grid {
    /// Parses MovingAI text: `type octile`, `height H`, `width W`, `map`, then H rows of W
    /// characters. `.`, `G`, `S` and `E` are free; everything else (`@`, `T`, `O`, `W`) is blocked.
    pub fn parse_movingai(text: &str) -> Result<Grid, MapError> {
        let mut lines = text.lines();
        let mut height = None;
        let mut width = None;
        for line in lines.by_ref() {
            let line = line.trim();
            if line == "map" {
                break;
            }
            if let Some(v) = line.strip_prefix("height ") {
                height = v.trim().parse::<usize>().ok();
            } else if let Some(v) = line.strip_prefix("width ") {
                width = v.trim().parse::<usize>().ok();
            }
        }
        let height = height.ok_or(MapError::Header("missing or bad `height`"))?;
        let width = width.ok_or(MapError::Header("missing or bad `width`"))?;
        if width * height > 1 << 24 {
            return Err(MapError::TooLarge(width * height));
        }
        let mut free = Vec::with_capacity(width * height);
        let mut rows = 0;
        for (row, line) in lines.enumerate() {
            let line = line.trim_end_matches('\r');
            if line.is_empty() && rows == height {
                continue;
            }
            if line.len() != width {
                return Err(MapError::Row { row, expected: width, found: line.len() });
            }
            free.extend(line.bytes().map(|b| matches!(b, b'.' | b'G' | b'S' | b'E')));
            rows += 1;
        }
        if rows != height {
            return Err(MapError::Rows { expected: height, found: rows });
        }
        Ok(Grid::from_cells(width as u32, height as u32, free))
    }

    pub fn from_cells(width: u32, height: u32, free: Vec<bool>) -> Grid {
        let mut neighbors = vec![[NONE; 4]; free.len()];
        for y in 0..height {
            for x in 0..width {
                let c = (y * width + x) as usize;
                if !free[c] {
                    continue;
                }
                let mut k = 0;
                let candidates = [
                    (x > 0).then(|| c - 1),
                    (x + 1 < width).then(|| c + 1),
                    (y > 0).then(|| c - width as usize),
                    (y + 1 < height).then(|| c + width as usize),
                ];
                for n in candidates.into_iter().flatten() {
                    if free[n] {
                        neighbors[c][k] = n as Cell;
                        k += 1;
                    }
                }
            }
        }
        Grid { width, height, free, neighbors, incoming: None }
    }

    /// The grid with one-way lanes: within each rectangle `[x0, y0, x1, y1]` (inclusive) a
    /// robot moving along the lane's axis goes only its way — no move against it inside the
    /// lane, none into it against it. Moves across the lane (into a storage spot beside it, out
    /// at a junction) stay allowed.
    pub fn with_one_way(&self, lanes: &[([u32; 4], Heading)]) -> Grid {
        let in_lane = |c: Cell, rect: &[u32; 4]| {
            let (x, y) = self.xy(c);
            (rect[0].min(rect[2])..=rect[0].max(rect[2])).contains(&x) && (rect[1].min(rect[3])..=rect[1].max(rect[3])).contains(&y)
        };
        let against = |from: Cell, to: Cell| {
            let ((fx, fy), (tx, ty)) = (self.xy(from), self.xy(to));
            let d = (i64::from(tx) - i64::from(fx), i64::from(ty) - i64::from(fy));
            lanes.iter().any(|(rect, heading)| {
                let (hx, hy) = heading.step();
                d == (-hx, -hy) && (in_lane(from, rect) || in_lane(to, rect))
            })
        };
        let mut neighbors = vec![[NONE; 4]; self.free.len()];
        let mut incoming = vec![[NONE; 4]; self.free.len()];
        let mut k_in = vec![0usize; self.free.len()];
        for c in 0..self.free.len() as Cell {
            for (k, n) in self.neighbors(c).filter(|n| !against(c, *n)).enumerate() {
                neighbors[c as usize][k] = n;
                incoming[n as usize][k_in[n as usize]] = c;
                k_in[n as usize] += 1;
            }
        }
        Grid { width: self.width, height: self.height, free: self.free.clone(), neighbors, incoming: Some(incoming) }
    }

    /// Whether some moves can be made one way only.
    pub fn is_directed(&self) -> bool {
        self.incoming.is_some()
    }

    /// The cells a robot may reach `c` from in one move.
    pub fn predecessors(&self, c: Cell) -> impl Iterator<Item = Cell> + '_ {
        let row = self.incoming.as_ref().map_or(&self.neighbors[c as usize], |i| &i[c as usize]);
        row.iter().copied().take_while(|n| *n != NONE)
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn cells(&self) -> usize {
        self.free.len()
    }

    pub fn cell(&self, x: u32, y: u32) -> Option<Cell> {
        let c = y.checked_mul(self.width)?.checked_add(x)?;
        (x < self.width && y < self.height && self.free[c as usize]).then_some(c)
    }

    pub fn xy(&self, c: Cell) -> (u32, u32) {
        (c % self.width, c / self.width)
    }

    pub fn is_free(&self, c: Cell) -> bool {
        self.free.get(c as usize).copied().unwrap_or(false)
    }

    pub fn neighbors(&self, c: Cell) -> impl Iterator<Item = Cell> + '_ {
        self.neighbors[c as usize].iter().copied().take_while(|n| *n != NONE)
    }

    /// How many neighbours a cell has (1: a dead end).
    pub fn degree(&self, c: Cell) -> usize {
        self.neighbors(c).count()
    }

    pub fn adjacent(&self, a: Cell, b: Cell) -> bool {
        self.neighbors(a).any(|n| n == b)
    }

    /// Steps from every cell to `goal` (BFS, along one-way lanes' ways); `u32::MAX` where
    /// unreachable.
    pub fn distances_to(&self, goal: Cell) -> Vec<u32> {
        self.distances_where(goal, |_| true, |_| true)
    }

    /// Like `distances_to` on paths that never step on a cell `enter` refuses and never pass
    /// through (continue from) a cell `pass` refuses; the goal itself always counts.
    pub fn distances_where(&self, goal: Cell, enter: impl Fn(Cell) -> bool, pass: impl Fn(Cell) -> bool) -> Vec<u32> {
        let mut dist = vec![u32::MAX; self.free.len()];
        let mut queue = std::collections::VecDeque::new();
        dist[goal as usize] = 0;
        queue.push_back(goal);
        while let Some(c) = queue.pop_front() {
            if c != goal && !pass(c) {
                continue;
            }
            let d = dist[c as usize] + 1;
            // Backwards from the goal: the cells one move away from c, towards it.
            for n in self.predecessors(c) {
                if dist[n as usize] == u32::MAX && enter(n) {
                    dist[n as usize] = d;
                    queue.push_back(n);
                }
            }
        }
        dist
    }
}

/// Reads the first `count` (start, goal) pairs of a MovingAI `.scen` file.
pub fn parse_scenario(grid: &Grid, text: &str, count: usize) -> Result<Vec<(Cell, Cell)>, MapError> {
    let mut out = Vec::with_capacity(count);
    for (line_no, line) in text.lines().enumerate().skip(1) {
        if out.len() == count {
            break;
        }
        let f: Vec<&str> = line.split('\t').collect();
        if f.len() < 8 {
            return Err(MapError::Scenario { line: line_no + 1, why: "expected 9 tab-separated fields" });
        }
        let num = |i: usize| f[i].trim().parse::<u32>().map_err(|_| MapError::Scenario { line: line_no + 1, why: "bad coordinate" });
        let start = grid.cell(num(4)?, num(5)?).ok_or(MapError::Scenario { line: line_no + 1, why: "start is not a free cell" })?;
        let goal = grid.cell(num(6)?, num(7)?).ok_or(MapError::Scenario { line: line_no + 1, why: "goal is not a free cell" })?;
        out.push((start, goal));
    }
    if out.len() < count {
        return Err(MapError::Scenario { line: 0, why: "fewer agents in the file than asked for" });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TINY: &str = "type octile\nheight 3\nwidth 4\nmap\n....\n.@@.\n....\n";

    #[test]
    fn a_movingai_map_parses_with_blocked_cells_and_neighbours() {
        let g = Grid::parse_movingai(TINY).expect("parses");
        assert_eq!((g.width(), g.height()), (4, 3));
        assert!(g.cell(1, 1).is_none());
        let corner = g.cell(0, 0).expect("free");
        assert_eq!(g.neighbors(corner).count(), 2);
        assert_eq!(g.distances_to(corner)[g.cell(3, 2).expect("free") as usize], 5);
    }

    #[test]
    fn one_way_lanes_are_driven_their_way_only_and_distances_follow_them() {
        // A 4 × 3 ring around two blocked cells; the top row runs east, the bottom row west.
        let g = Grid::parse_movingai(TINY).expect("parses").with_one_way(&[([0, 0, 3, 0], Heading::East), ([0, 2, 3, 2], Heading::West)]);
        let (a, b) = (g.cell(0, 0).expect("a"), g.cell(1, 0).expect("b"));
        assert!(g.adjacent(a, b) && !g.adjacent(b, a), "east only on the top row");
        // Down the left column and into the top row across it: allowed.
        assert!(g.adjacent(g.cell(0, 1).expect("left"), a));
        assert!(g.is_directed());
        // From (1, 0) back to (0, 0) the only way is round the ring: 1,0 → 3,0 → 3,2 → 0,2 → 0,0.
        assert_eq!(g.distances_to(a)[b as usize], 2 + 2 + 3 + 2);
        assert_eq!(g.distances_to(b)[a as usize], 1);
    }

    #[test]
    fn a_short_row_is_a_clear_error() {
        let bad = "type octile\nheight 2\nwidth 3\nmap\n...\n..\n";
        assert_eq!(Grid::parse_movingai(bad).err(), Some(MapError::Row { row: 1, expected: 3, found: 2 }));
    }
}
