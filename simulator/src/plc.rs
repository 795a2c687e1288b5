//! A goods-to-person station's PLC, played over Modbus TCP with the register map the edge uses
//! by default (`tote_shared::station::RegisterMap::default()`): discrete inputs 0 pod present,
//! 1 confirm button, 2 light curtain clear; holding registers 0 quantity, 1 colour, 2 bin,
//! 3 tower light. Optionally a worker stands at it: when the light shows a quantity she picks
//! for a while, presses the button (holding it as long as configured), and waits for the light
//! to change — pressing again if it does not (the edge may have missed the press).

use crate::modbus::{Device, Fault};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tote_shared::station::Colour;

pub const POD_PRESENT: usize = 0;
pub const CONFIRM: usize = 1;
pub const SAFETY_OK: usize = 2;
pub const QTY: usize = 0;
pub const COLOUR: usize = 1;
pub const BIN: usize = 2;
pub const TOWER: usize = 3;

#[derive(Debug, Clone, Copy)]
pub struct Worker {
    /// Time to pick what the light shows.
    pub pick_ms: u64,
    /// How long the button stays down.
    pub hold_ms: u64,
    /// Press again when the light has not changed this long after a press.
    pub retry_ms: u64,
}

impl Default for Worker {
    fn default() -> Self {
        Worker { pick_ms: 150, hold_ms: 60, retry_ms: 1_500 }
    }
}

/// A press: what the light showed when the button went down.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Press {
    pub qty: u16,
    pub bin: u16,
}

pub struct StationPlc {
    pub device: Device,
    presses: Arc<Mutex<Vec<Press>>>,
    worker: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for StationPlc {
    fn drop(&mut self) {
        if let Some(w) = &self.worker {
            w.abort();
        }
        self.device.stop();
    }
}

impl StationPlc {
    pub async fn start(listen: SocketAddr, worker: Option<Worker>) -> std::io::Result<StationPlc> {
        let device = Device::start(listen).await?;
        device.with(|m| {
            m.discrete[POD_PRESENT] = true;
            m.discrete[SAFETY_OK] = true;
        });
        let presses: Arc<Mutex<Vec<Press>>> = Arc::default();
        let worker = worker.map(|w| tokio::spawn(work(device.clone(), w, presses.clone())));
        Ok(StationPlc { device, presses, worker })
    }

    pub fn addr(&self) -> SocketAddr {
        self.device.addr()
    }

    pub fn presses(&self) -> Vec<Press> {
        self.presses.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn set_fault(&self, fault: Option<Fault>) {
        self.device.set_fault(fault);
    }

    /// Breaks (false) or clears (true) the light curtain.
    pub fn set_safety_ok(&self, ok: bool) {
        self.device.with(|m| m.discrete[SAFETY_OK] = ok);
    }

    /// (quantity, colour, bin, tower) as the edge last wrote them.
    pub fn display(&self) -> (u16, Option<Colour>, u16, Option<Colour>) {
        self.device.with(|m| (m.holding[QTY], Colour::from_code(m.holding[COLOUR]), m.holding[BIN], Colour::from_code(m.holding[TOWER])))
    }
}

enum Step {
    Waiting,
    Reading { shown: Press, since: Instant },
    Holding { shown: Press, since: Instant },
    Watching { shown: Press, since: Instant },
}

async fn work(device: Device, w: Worker, presses: Arc<Mutex<Vec<Press>>>) {
    let ms = Duration::from_millis;
    let mut step = Step::Waiting;
    loop {
        tokio::time::sleep(ms(10)).await;
        let (lit, now) = (lit(&device), Instant::now());
        step = match step {
            Step::Waiting => match lit {
                Some(shown) => Step::Reading { shown, since: now },
                None => Step::Waiting,
            },
            Step::Reading { shown, .. } if lit != Some(shown) => match lit {
                Some(other) => Step::Reading { shown: other, since: now },
                None => Step::Waiting,
            },
            Step::Reading { shown, since } if now - since >= ms(w.pick_ms) => {
                device.with(|m| m.discrete[CONFIRM] = true);
                presses.lock().unwrap_or_else(|p| p.into_inner()).push(shown);
                Step::Holding { shown, since: now }
            }
            Step::Holding { shown, since } if now - since >= ms(w.hold_ms) => {
                device.with(|m| m.discrete[CONFIRM] = false);
                Step::Watching { shown, since: now }
            }
            Step::Watching { shown, .. } if lit != Some(shown) => Step::Waiting,
            Step::Watching { shown, since } if now - since >= ms(w.retry_ms) => Step::Reading { shown, since: now - ms(w.pick_ms) },
            other => other,
        };
    }
}

/// What the pick-to-light shows, when it shows a quantity.
fn lit(device: &Device) -> Option<Press> {
    device.with(|m| (m.holding[QTY] > 0 && m.holding[COLOUR] == Colour::Green as u16).then_some(Press { qty: m.holding[QTY], bin: m.holding[BIN] }))
}
