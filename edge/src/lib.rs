//! tote-edge: the per-warehouse daemon.
//!
//! `startup` builds and runs it, `http/` is the local API for handhelds and stations,
//! `store/` is the SQLite store (the only code that knows SQL; every change writes its
//! outbox event in the same transaction), `sync/` pushes events to central and pulls commands.
//! `mqtt` and `fleet` speak VDA 5050 with the robots, `modbus_robots` drives robots over
//! Modbus TCP, both under `drivers`, and `gtp` is their master control (goods-to-person
//! dispatch and traffic); `plc` polls the stations' PLCs, `scanner` and `printer` serve fixed
//! scanners and label printers; `auth` decides who may call what (workers' sessions, the API
//! token). The edge keeps serving its floor while central is unreachable.

pub mod auth;
pub mod cli;
pub mod config;
pub mod drivers;
pub mod fleet;
pub mod gtp;
pub mod http;
pub mod modbus_link;
pub mod modbus_robots;
pub mod mqtt;
pub mod plc;
pub mod printer;
pub mod scanner;
pub mod startup;
pub mod store;
pub mod sync;
