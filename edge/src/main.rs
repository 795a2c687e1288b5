//! `tote-edge --config configs/edge.toml`

fn main() -> anyhow::Result<()> {
    tote_edge::cli::main()
}
