//! Goods-to-person: robots bring pods (mobile shelves) to pick stations.
//!
//! - `layout`: the floor (grid, pod spots, stations, chargers, parking, one-way lanes).
//! - `floorgen`: generated floors with one-lane, one-way aisles (tests, the shift benchmark).
//! - `traffic`: lifelong multi-robot path planning over held cells (PIBT each step).
//! - `control`: the master control — visits (pod → station), robot jobs, order legs — as a
//!   pure state machine: robot reports and open pick lines in, VDA 5050 order plans and pod
//!   movements out.
//! - `sim`: robots and workers in simulated time, for tests and the throughput benchmark.
//!
//! Pure: no I/O, no clock; time comes in as `now_ms`.

pub mod control;
pub mod floorgen;
pub mod layout;
pub mod sim;
pub mod stepper;
pub mod traffic;

pub use control::{Controller, Output, PodPlace, RobotReport, Settings};
pub use layout::{Layout, LayoutError, LayoutSpec};
