//! Daemon plumbing that both tote-edge and tote-central use: the SQLite writer with group
//! commit, problem+json errors and JSON extraction, a listener with a connection limit,
//! telemetry, Prometheus text, shutdown and systemd notification.
//!
//! What it is not: business logic. Nothing here knows orders, stock or warehouses.

pub mod http;
pub mod listener;
pub mod metrics;
pub mod settings;
pub mod sqlite;
pub mod system;
