//! Station PLCs over Modbus TCP (tokio-modbus client). One task per PLC polls its inputs with
//! a timeout, reconnects with backoff, writes the pick-to-light and tower light when what they
//! should show changes, and turns a confirm press into a pick confirmation — once.
//!
//! The rules (what counts as a press, when a station is offline) are the pure
//! `tote_shared::station::Panel`; this module only moves registers. Master control reads each
//! station's gate (`online`, `hold`) every tick: an offline station gets no pods.

use crate::config::StationPlcSettings;
use crate::gtp::Floor;
use crate::store::{EdgeStore, PickTaskView};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;
use tote_shared::runtime::backoff::Backoff;
use crate::modbus_link::{answer, connect, LinkError, RECONNECT_MS};
use tokio_modbus::client::{Client, Context, Reader, Writer};
use tote_shared::runtime::idempotency::{fingerprint, RequestKey};
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::station::{bin_code, Colour, Display, Inputs, Panel, Point, RegisterMap, Sampled, Table};

/// How long a scan's green or red flash stays on the tower light.
const FLASH_MS: i64 = 1_500;

/// What the floor and the API see of one station's PLC.
#[derive(Debug, Clone, Default, Serialize)]
pub struct PanelStatus {
    pub address: String,
    /// Takes pods: the PLC answered the last polls.
    pub online: bool,
    pub connected: bool,
    pub inputs: Inputs,
    /// What the PLC shows now (as last written).
    pub display: Option<Display>,
    /// The pick task the light shows.
    pub lit_task: Option<u64>,
    pub polls: u64,
    pub failures: u64,
    pub reconnects: u64,
    pub presses: u64,
    /// Presses too soon after the light changed, or with nothing lit.
    pub ignored_presses: u64,
    pub confirmed: u64,
    pub last_error: Option<String>,
}

struct Shared {
    status: Mutex<PanelStatus>,
    /// Wakes the poller early (a scan to flash, a pick to show).
    wake: Notify,
    flash: Mutex<Option<(Colour, i64)>>,
}

/// Every station PLC of this edge, by station name.
#[derive(Default)]
pub struct Panels {
    stations: BTreeMap<String, Arc<Shared>>,
}

impl Panels {
    pub fn status(&self, station: &str) -> Option<PanelStatus> {
        self.stations.get(station).map(|s| s.status.lock().unwrap_or_else(|p| p.into_inner()).clone())
    }

    /// (station, online, hold) for master control.
    pub fn gates(&self) -> Vec<(String, bool, bool)> {
        self.stations
            .iter()
            .map(|(name, s)| {
                let st = s.status.lock().unwrap_or_else(|p| p.into_inner());
                (name.clone(), st.online, st.inputs.safety_ok == Some(false))
            })
            .collect()
    }

    /// Scan feedback on the station's tower light (no-op for a station without a PLC).
    pub fn flash(&self, station: &str, colour: Colour) {
        if let Some(s) = self.stations.get(station) {
            *s.flash.lock().unwrap_or_else(|p| p.into_inner()) = Some((colour, now_ms() + FLASH_MS));
            s.wake.notify_one();
        }
    }

    /// Something to show changed (a pick was confirmed another way): refresh every light now.
    pub fn refresh(&self) {
        self.stations.values().for_each(|s| s.wake.notify_one());
    }
}

/// The panels of the configured PLCs and one poller task per PLC, for the supervisor to run.
pub fn start(plcs: &[StationPlcSettings], store: EdgeStore, floor: Arc<Floor>) -> (Arc<Panels>, Vec<PlcTask>) {
    let mut panels = Panels::default();
    for p in plcs {
        let status = PanelStatus { address: p.address.clone(), ..PanelStatus::default() };
        let shared = Arc::new(Shared { status: Mutex::new(status), wake: Notify::new(), flash: Mutex::new(None) });
        panels.stations.insert(p.station.clone(), shared);
    }
    let panels = Arc::new(panels);
    let tasks = plcs
        .iter()
        .map(|p| PlcTask { settings: p.clone(), shared: panels.stations[&p.station].clone(), store: store.clone(), floor: floor.clone() })
        .collect();
    (panels, tasks)
}

/// One station PLC's poller as a restartable task: each run starts from a fresh `Poller`
/// (press debouncing and what is lit included); the status it shares with the API survives.
#[derive(Clone)]
pub struct PlcTask {
    settings: StationPlcSettings,
    shared: Arc<Shared>,
    store: EdgeStore,
    floor: Arc<Floor>,
}

impl PlcTask {
    pub fn station(&self) -> &str {
        &self.settings.station
    }

    /// Polls until `stop`, which it heeds between poll cycles: a press that was read is
    /// confirmed and the lights written before it stops.
    pub async fn run(self, stop: Stop) {
        Poller::new(self.settings, self.shared, self.store, self.floor).run(stop).await
    }
}

struct Poller {
    settings: StationPlcSettings,
    shared: Arc<Shared>,
    store: EdgeStore,
    floor: Arc<Floor>,
    panel: Panel,
    /// The task whose quantity the light shows.
    lit: Option<(u64, Display)>,
    /// After a confirmed press the light goes dark until then, so the worker sees the next
    /// task light up even when it has the same bin and quantity.
    dark_until: i64,
    timeout: Duration,
}

impl Poller {
    fn new(settings: StationPlcSettings, shared: Arc<Shared>, store: EdgeStore, floor: Arc<Floor>) -> Poller {
        let panel = Panel::new(settings.settle_ms, settings.offline_after, settings.online_after);
        let timeout = Duration::from_millis(settings.timeout_ms);
        Poller { settings, shared, store, floor, panel, lit: None, dark_until: 0, timeout }
    }

    fn update(&self, f: impl FnOnce(&mut PanelStatus)) {
        f(&mut self.shared.status.lock().unwrap_or_else(|p| p.into_inner()));
    }

    async fn run(mut self, stop: Stop) {
        let mut backoff = Backoff::from_millis(RECONNECT_MS.0, RECONNECT_MS.1);
        while !stop.is_stopped() {
            match stop.run_until_stopped(connect(&self.settings.address, self.settings.unit, self.timeout)).await {
                None => return,
                Some(Ok(mut ctx)) => {
                    backoff.reset();
                    self.panel.connected();
                    self.update(|s| {
                        s.connected = true;
                        s.reconnects += 1;
                    });
                    let lost = self.poll_until_lost(&mut ctx, &stop).await;
                    let _ = tokio::time::timeout(self.timeout, ctx.disconnect()).await;
                    if let Some(error) = &lost {
                        self.fail(error);
                    }
                    self.update(|s| s.connected = false);
                    if lost.is_none() {
                        return;
                    }
                }
                Some(Err(error)) => self.fail(&error),
            }
            let _ = stop.run_until_stopped(tokio::time::sleep(backoff.next_delay())).await;
        }
    }

    fn fail(&mut self, error: &LinkError) {
        let went_offline = self.panel.failed();
        if went_offline {
            tracing::warn!(station = %self.settings.station, %error, "station PLC not answering: station offline, pods go elsewhere");
        } else {
            tracing::debug!(station = %self.settings.station, %error, "station PLC poll failed");
        }
        let online = self.panel.online();
        self.update(|s| {
            s.failures += 1;
            s.online = online;
            s.last_error = Some(error.to_string());
        });
    }

    /// Polls until the link breaks (its error) or `stop` (None); exceptions count as failures
    /// but keep the link.
    async fn poll_until_lost(&mut self, ctx: &mut Context, stop: &Stop) -> Option<LinkError> {
        let period = Duration::from_millis(self.settings.poll_ms);
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = self.shared.wake.notified() => {}
                () = stop.stopped() => return None,
            }
            match self.cycle(ctx).await {
                Ok(()) => {}
                Err(e @ LinkError::Exception(_)) => self.fail(&e),
                Err(e @ LinkError::Lost(_)) => return Some(e),
            }
        }
    }

    /// One poll: read the inputs, act on a press, show what should be shown.
    async fn cycle(&mut self, ctx: &mut Context) -> Result<(), LinkError> {
        let inputs = self.read_inputs(ctx).await?;
        let now = now_ms();
        let (sampled, came_online) = self.panel.sample(inputs, now);
        if came_online {
            tracing::info!(station = %self.settings.station, "station PLC answers again: station online");
        }
        let online = self.panel.online();
        self.update(|s| {
            s.polls += 1;
            s.online = online;
            s.inputs = inputs;
        });
        match sampled {
            Sampled::Nothing => {}
            Sampled::IgnoredPress => self.update(|s| {
                s.presses += 1;
                s.ignored_presses += 1;
            }),
            Sampled::Press(shown) => self.pressed(shown).await,
        }
        let (wanted, task) = self.wanted(inputs).await;
        if let Some(display) = self.panel.to_show(wanted) {
            self.write(ctx, &display).await?;
            self.panel.shown(display, now_ms());
            self.lit = task.map(|t| (t, display));
            self.update(|s| {
                s.display = Some(display);
                s.lit_task = task;
            });
        }
        Ok(())
    }

    async fn pressed(&mut self, shown: Display) {
        self.update(|s| s.presses += 1);
        let Some((task, lit)) = self.lit.filter(|(_, d)| (d.qty, d.bin) == (shown.qty, shown.bin)) else {
            self.update(|s| s.ignored_presses += 1);
            return;
        };
        let key = press_key(&self.settings.station, task, u32::from(lit.qty));
        match self.store.confirm_lit(key, task, u32::from(lit.qty), self.settings.station.clone()).await {
            Ok(_) => {
                tracing::info!(station = %self.settings.station, task, qty = lit.qty, "pick confirmed by the station button");
                self.update(|s| s.confirmed += 1);
                self.dark_until = now_ms() + self.settings.settle_ms as i64;
            }
            Err(error) => {
                tracing::warn!(station = %self.settings.station, task, %error, "station button press not applied");
                *self.shared.flash.lock().unwrap_or_else(|p| p.into_inner()) = Some((Colour::Red, now_ms() + FLASH_MS));
            }
        }
    }

    /// What the station should show: the first open task on the pod in front of the worker.
    async fn wanted(&self, inputs: Inputs) -> (Display, Option<u64>) {
        let flash = {
            let mut flash = self.shared.flash.lock().unwrap_or_else(|p| p.into_inner());
            if flash.is_some_and(|(_, until)| until <= now_ms()) {
                *flash = None;
            }
            flash.map(|(c, _)| c)
        };
        let tower = |normal: Colour| flash.unwrap_or(normal);
        if now_ms() < self.dark_until {
            return (Display { tower: tower(Colour::Green), ..Display::default() }, None);
        }
        let presenting = self.floor.station(&self.settings.station).and_then(|s| s.presenting);
        // The sensor, where there is one, must agree that a pod is there.
        let presenting = presenting.filter(|_| inputs.pod_present != Some(false));
        let task: Option<PickTaskView> = match &presenting {
            Some(pod) => match self.store.tasks_on_pod(pod.clone()).await {
                Ok(tasks) => tasks.into_iter().next(),
                Err(error) => {
                    tracing::error!(%error, "cannot read the presented pod's tasks");
                    None
                }
            },
            None => None,
        };
        match task {
            Some(t) => {
                let qty = u16::try_from(t.qty - t.qty_picked).unwrap_or(u16::MAX);
                (Display { qty, bin: bin_code(&t.location), colour: Colour::Green, tower: tower(Colour::Green) }, Some(t.id))
            }
            None if presenting.is_some() => (Display { tower: tower(Colour::Green), ..Display::default() }, None),
            None => (Display { tower: tower(Colour::Amber), ..Display::default() }, None),
        }
    }

    async fn read_inputs(&self, ctx: &mut Context) -> Result<Inputs, LinkError> {
        let map: &RegisterMap = &self.settings.map;
        let mut values = Vec::new();
        for (table, start, count) in map.input_spans() {
            let read = async {
                match table {
                    Table::Coil => ctx.read_coils(start, count).await.map(|r| r.map(bits)),
                    Table::Discrete => ctx.read_discrete_inputs(start, count).await.map(|r| r.map(bits)),
                    Table::Holding => ctx.read_holding_registers(start, count).await,
                    Table::Input => ctx.read_input_registers(start, count).await,
                }
            };
            let words = answer(self.timeout, read).await?;
            values.push((table, start, words));
        }
        map.decode(&values).ok_or_else(|| LinkError::Lost("the PLC answered fewer values than asked for".into()))
    }

    async fn write(&self, ctx: &mut Context, display: &Display) -> Result<(), LinkError> {
        for (point, values) in self.settings.map.writes(display) {
            let Point { table, address } = point;
            let write = async {
                match (table, values.as_slice()) {
                    (Table::Coil, [value]) => ctx.write_single_coil(address, *value != 0).await,
                    (_, [value]) => ctx.write_single_register(address, *value).await,
                    _ => ctx.write_multiple_registers(address, &values).await,
                }
            };
            answer(self.timeout, write).await?;
        }
        Ok(())
    }
}

fn bits(bits: Vec<bool>) -> Vec<u16> {
    bits.into_iter().map(u16::from).collect()
}

/// The request key of a confirm press. One key per task, so a press that reaches us twice (a
/// retry, a restart) picks once; the station is the caller and the task and quantity the body,
/// so the same press fingerprints the same. "PRESS" and a path without '/' are no HTTP
/// request's method and path, so no API call can match a press's fingerprint.
fn press_key(station: &str, task: u64, qty: u32) -> RequestKey {
    let caller = format!("plc:{station}");
    let body = format!(r#"{{"task":{task},"qty":{qty}}}"#);
    RequestKey { key: format!("{caller}:task:{task}"), fingerprint: fingerprint("PRESS", "confirm-lit", &caller, body.as_bytes()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_press_replays_and_another_quantity_under_its_key_does_not() {
        assert_eq!(press_key("ST-1", 7, 2), press_key("ST-1", 7, 2));
        assert_eq!(press_key("ST-1", 7, 2).key, "plc:ST-1:task:7");
        assert_eq!(press_key("ST-1", 7, 3).key, press_key("ST-1", 7, 2).key);
        assert_ne!(press_key("ST-1", 7, 3).fingerprint, press_key("ST-1", 7, 2).fingerprint);
        assert_ne!(press_key("ST-2", 7, 2).fingerprint, press_key("ST-1", 7, 2).fingerprint);
    }
}
