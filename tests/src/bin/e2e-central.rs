//! tote-central's own entry point, built inside the test package so that `cargo test`
//! builds it and the suite can spawn (and SIGKILL) it as a real process.
fn main() -> anyhow::Result<()> {
    tote_central::cli::main()
}
