//! tote-edge's own entry point, built inside the test package (see e2e-central.rs).
fn main() -> anyhow::Result<()> {
    tote_edge::cli::main()
}
