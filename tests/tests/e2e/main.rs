//! Cross-daemon end-to-end tests: real tote-central and tote-edge processes, port 0, temp
//! SQLite files. Each module is one "must show" of the spine issue. The central tests run
//! twice, `…_on_sqlite` and `…_on_postgres` (a fresh PostgreSQL database per test, on the
//! server `TOTE_TEST_POSTGRES` names; `tests/run.sh` provides one).

mod after_sales;
mod bad_input;
mod broker_security;
mod catalog_depth;
mod catalog_import;
mod console;
mod crash;
mod disk_full;
mod dock;
mod edge_idempotency;
mod fleet;
mod freeze;
mod gtp;
mod handheld;
mod hardening;
mod health;
mod helpers;
mod idempotency;
mod journal;
mod kpis;
mod labels;
mod lifecycle;
mod logistics;
mod marketing;
mod marketplace;
mod network_faults;
mod offline;
mod openapi;
mod oversell;
mod payment;
mod pg_faults;
mod payment_peers;
mod prechecks;
mod procurement;
mod replenish;
mod scanners;
mod signin;
mod slow_clients;
mod split;
mod stations;
mod story;
mod supervision;
mod sync_bounds;
mod sync_wedge;
mod systemd;
mod third_party;
mod tls;
mod waves;
mod waybills;
