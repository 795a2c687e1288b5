//! Generated goods-to-person floors written as files the edge reads (`[floor] layout`).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tote_shared::gtp::floorgen;

/// Writes the one-lane-aisle floor for `seed` into `dir` (`one-lane-SEED.map` and
/// `one-lane-SEED.toml`) and returns the layout file's path.
pub fn write_one_lane(seed: u64, stations: u32, dir: &Path) -> Result<PathBuf> {
    let floor = floorgen::one_lane(seed, stations);
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(&floor.spec.map), &floor.map).with_context(|| format!("writing the map into {}", dir.display()))?;
    let header = format!(
        "# A generated goods-to-person floor (`tote-sim floor --seed {seed} --stations {stations}`): storage blocks\n\
         # two pods deep between one-lane aisles, every aisle one-way (see `one_way` at the end).\n"
    );
    let body = toml::to_string(&floor.spec).context("writing the layout as TOML")?;
    let path = dir.join(format!("one-lane-{seed}.toml"));
    std::fs::write(&path, header + &body).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
