//! `tote-central --config configs/central.toml`

fn main() -> anyhow::Result<()> {
    tote_central::cli::main()
}
