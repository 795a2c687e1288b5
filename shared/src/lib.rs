//! Tote's shared core: domain newtypes, the edge ↔ central sync wire protocol, and the pure
//! state machines (order lifecycle, stock levels).
//!
//! What it is not: it does no I/O. No tokio, no SQLite, no HTTP. Time comes in as an argument
//! (`now_ms`), decisions go out as values; the daemons own sockets and files.

pub mod calendar;
#[cfg(feature = "carrier")]
pub mod carrier;
pub mod dock;
pub mod domain;
pub mod geo;
pub mod gtp;
pub mod label;
pub mod mapf;
#[cfg(feature = "marketplace")]
pub mod marketplace;
pub mod openapi;
pub mod order;
pub mod pick;
#[cfg(feature = "payment")]
pub mod payment;
pub mod replenish;
pub mod scan;
pub mod secret;
pub mod station;
pub mod stock;
pub mod strategy;
pub mod sync;
pub mod text;
pub mod vda5050;
pub mod walk;
pub mod wave;

pub use domain::{units_share, DomainError, Gtin, LocationCode, Money, Qty, Sku, WarehouseCode};

/// Daemon plumbing shared by tote-edge and tote-central. Only built with the `runtime` feature;
/// nothing in the pure modules above may use it.
#[cfg(feature = "runtime")]
pub mod runtime;
