//! Tote's cross-daemon end-to-end suite lives in `tests/e2e/`. This package also builds
//! `e2e-central` and `e2e-edge`: the daemons' own entry points (`tote_central::cli::main`,
//! `tote_edge::cli::main`), so that `cargo test` builds them and the suite spawns them as real
//! processes it can stop, restart and SIGKILL.
