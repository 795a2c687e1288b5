//! tote-central: Tote's HQ daemon.
//!
//! `startup` builds and runs it, `http/` is the HQ API (one module per resource), `store/` is
//! the repository interface and its SQLite implementation (the only code that knows SQL),
//! `routing` decides which warehouse serves an order, `auth` says who is calling.

pub mod auth;
pub mod cli;
pub mod config;
pub mod http;
pub mod routing;
pub mod startup;
pub mod store;
