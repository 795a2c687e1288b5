//! Daemon plumbing that both tote-edge and tote-central use: the SQLite writer with group
//! commit, problem+json errors and JSON extraction, a listener with a connection limit,
//! telemetry, Prometheus text, shutdown and systemd notification, hashing and comparing
//! bearer secrets and typed passwords (Argon2id, bounded), fingerprinting Idempotency-Keyed requests, and the supervisor that runs a
//! daemon's long-running tasks, and TLS from PEM files.
//!
//! What it is not: business logic. Nothing here knows orders, stock or warehouses.

pub mod backoff;
pub mod batch;
pub mod http;
pub mod idempotency;
pub mod listener;
pub mod metrics;
pub mod password;
pub mod secrets;
pub mod settings;
pub mod sqlite;
pub mod supervise;
pub mod system;
pub mod tls;
