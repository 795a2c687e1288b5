//! A simple AGV driven over Modbus TCP, with the register map the edge's Modbus driver uses by
//! default: status in input registers 0–6 (x cell, y cell, battery %, state, error, load pod
//! number, done sequence), command in holding registers 0–4 (target x, target y, command, pod
//! number, sequence). It moves one cell per command and refuses a target that is not a
//! neighbour (error 2) — a driver bug would show.

use crate::modbus::{Device, Fault};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const X: usize = 0;
pub const Y: usize = 1;
pub const BATTERY: usize = 2;
pub const STATE: usize = 3;
pub const ERROR: usize = 4;
pub const LOAD: usize = 5;
pub const DONE_SEQ: usize = 6;
pub const TARGET_X: usize = 0;
pub const TARGET_Y: usize = 1;
pub const COMMAND: usize = 2;
pub const POD: usize = 3;
pub const SEQ: usize = 4;
/// Error codes it reports.
pub const ERR_BAD_TARGET: u16 = 2;
pub const ERR_BAD_COMMAND: u16 = 3;

#[derive(Debug, Clone)]
pub struct ModbusAgvConfig {
    pub listen: SocketAddr,
    /// Starting cell.
    pub start: (u16, u16),
    pub battery: u16,
    /// Time per cell, and per lift or drop.
    pub node_ms: u64,
    pub action_ms: u64,
    /// Pod it carries at start (its number), 0 for none.
    pub load: u16,
}

#[derive(Debug, Default)]
pub struct Counters {
    pub moves: AtomicU64,
    pub lifts: AtomicU64,
    pub drops: AtomicU64,
    pub refused: AtomicU64,
}

pub struct ModbusAgv {
    pub device: Device,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ModbusAgv {
    fn drop(&mut self) {
        self.task.abort();
        self.device.stop();
    }
}

impl ModbusAgv {
    pub async fn start(config: ModbusAgvConfig) -> std::io::Result<ModbusAgv> {
        let device = Device::start(config.listen).await?;
        device.with(|m| {
            m.input[X] = config.start.0;
            m.input[Y] = config.start.1;
            m.input[BATTERY] = config.battery;
            m.input[LOAD] = config.load;
        });
        let counters: Arc<Counters> = Arc::default();
        let task = tokio::spawn(drive(device.clone(), config, counters.clone()));
        Ok(ModbusAgv { device, counters, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.device.addr()
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.device.set_fault(fault);
    }

    pub fn error(&self) -> u16 {
        self.device.with(|m| m.input[ERROR])
    }
}

async fn drive(device: Device, config: ModbusAgvConfig, counters: Arc<Counters>) {
    let mut done = 0u16;
    let mut charging = false;
    loop {
        if charging {
            device.with(|m| m.input[BATTERY] = (m.input[BATTERY] + 1).min(100));
        }
        // Wait for a new sequence number in the command registers.
        let command = device.with(|m| (m.holding[SEQ] != done).then(|| (m.holding[TARGET_X], m.holding[TARGET_Y], m.holding[COMMAND], m.holding[POD], m.holding[SEQ])));
        let Some((tx, ty, command, pod, seq)) = command else {
            device.written(Duration::from_millis(if charging { 100 } else { 20 })).await;
            continue;
        };
        device.with(|m| m.input[STATE] = if command == 1 { 1 } else { 2 });
        match command {
            1 => {
                let (x, y) = device.with(|m| (m.input[X], m.input[Y]));
                if x.abs_diff(tx) + y.abs_diff(ty) > 1 {
                    counters.refused.fetch_add(1, Ordering::Relaxed);
                    device.with(|m| m.input[ERROR] = ERR_BAD_TARGET);
                } else {
                    tokio::time::sleep(Duration::from_millis(config.node_ms)).await;
                    counters.moves.fetch_add(1, Ordering::Relaxed);
                    device.with(|m| {
                        m.input[X] = tx;
                        m.input[Y] = ty;
                        m.input[BATTERY] = m.input[BATTERY].saturating_sub(u16::from(counters.moves.load(Ordering::Relaxed).is_multiple_of(20)));
                    });
                }
            }
            2 | 3 => {
                tokio::time::sleep(Duration::from_millis(config.action_ms)).await;
                let lift = command == 2;
                let counter = if lift { &counters.lifts } else { &counters.drops };
                counter.fetch_add(1, Ordering::Relaxed);
                device.with(|m| m.input[LOAD] = if lift { pod } else { 0 });
            }
            4 => charging = true,
            5 => charging = false,
            6 => {}
            _ => {
                counters.refused.fetch_add(1, Ordering::Relaxed);
                device.with(|m| m.input[ERROR] = ERR_BAD_COMMAND);
            }
        }
        done = seq;
        device.with(|m| {
            m.input[DONE_SEQ] = seq;
            m.input[STATE] = if charging { 3 } else { 0 };
        });
    }
}
