//! Generated goods-to-person floors written as files the edge reads (`[floor] layout`).

use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use tote_shared::gtp::floorgen;

/// Writes the one-lane-aisle floor for `seed` into `dir` (`one-lane-SEED.map` and
/// `one-lane-SEED.toml`) and returns the layout file's path.
pub fn write_one_lane(seed: u64, stations: u32, dir: &Path) -> Result<PathBuf> {
    let header = format!(
        "# A generated goods-to-person floor (`tote-sim floor --seed {seed} --stations {stations}`): storage blocks\n\
         # two pods deep between one-lane aisles, every aisle one-way (see `one_way` at the end).\n"
    );
    write(&floorgen::one_lane(seed, stations), &header, &format!("one-lane-{seed}"), dir)
}

/// A League of Robot Runners map as a goods-to-person floor (`floorgen::lorr`: shelves beside
/// an aisle become pod spots, every other `E` cell a station).
pub fn lorr(map: &Path) -> Result<floorgen::Floor> {
    let text = std::fs::read_to_string(map).with_context(|| format!("reading {} (the LoRR maps live in ../shared/mapf/lorr)", map.display()))?;
    let name = map.file_stem().and_then(|s| s.to_str()).unwrap_or("lorr");
    Ok(floorgen::lorr(&text, name))
}

/// Writes the LoRR floor of `map` into `dir` (`NAME.map` and `NAME.toml`) and returns the
/// layout file's path.
pub fn write_lorr(map: &Path, dir: &Path) -> Result<PathBuf> {
    let floor = lorr(map)?;
    let header = format!("# The League of Robot Runners map {} as a goods-to-person floor (`tote-sim floor --lorr`).\n", map.display());
    let stem = floor.spec.map.trim_end_matches(".map").to_owned();
    write(&floor, &header, &stem, dir)
}

/// The floor's map (under the name its layout gives) and its layout as `STEM.toml` under
/// `header`, in `dir`: the layout file's path.
fn write(floor: &floorgen::Floor, header: &str, stem: &str, dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join(&floor.spec.map), &floor.map).with_context(|| format!("writing the map into {}", dir.display()))?;
    let body = toml::to_string(&floor.spec).context("writing the layout as TOML")?;
    let path = dir.join(format!("{stem}.toml"));
    std::fs::write(&path, format!("{header}{body}")).with_context(|| format!("writing {}", path.display()))?;
    Ok(path)
}
