//! Cross-daemon end-to-end tests: real tote-central and tote-edge processes, port 0, temp
//! SQLite files. Each module is one "must show" of the spine issue.

mod bad_input;
mod crash;
mod edge_idempotency;
mod fleet;
mod gtp;
mod handheld;
mod helpers;
mod idempotency;
mod labels;
mod lifecycle;
mod offline;
mod oversell;
mod scanners;
mod stations;
mod story;
mod supervision;
mod systemd;
