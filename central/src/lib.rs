//! tote-central: Tote's HQ daemon.
//!
//! One module per business system, each with its rules (`mod.rs`, pure), its tables
//! (`store.rs`, the only SQL that touches them), its routes (`http.rs`) and its errors:
//! `catalog`, `warehouses`, `inventory`, `orders`, `marketplace`, `payment`, `logistics`, `after_sales`,
//! `finance`, `supplier`, `procurement`, `edge_sync`, `journal`, `analytics`, `staff` (HQ users,
//! roles, tokens), `console` (the HQ pages and their reads).
//! Under them `db` (one executor over SQLite and PostgreSQL), `idempotency` and `audit`; beside them
//! `http` (the router and what routes share), `startup`, `config`, `auth`, `cli`.
//! ARCHITECTURE.md has the allowed dependencies between the modules.

/// A state enum's names as stored and shown: `ALL`, `as_str`, `parse`.
macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];
            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
            pub fn parse(raw: &str) -> Option<$ty> {
                Self::ALL.iter().copied().find(|v| v.as_str() == raw)
            }
        }
    };
}

pub mod after_sales;
pub mod analytics;
pub mod audit;
pub mod auth;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod console;
pub mod csv_rows;
pub mod db;
pub mod edge_sync;
pub mod finance;
pub mod http;
pub mod idempotency;
pub mod inventory;
pub mod journal;
pub mod logistics;
pub mod marketing;
pub mod marketplace;
pub mod orders;
pub mod payment;
pub mod procurement;
pub mod staff;
pub mod startup;
pub mod supplier;
pub mod warehouses;
