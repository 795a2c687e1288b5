//! Fixed-mount scanners at stations and dock doors: each connects to its own TCP listener and
//! sends one code per line. Every line is parsed (`tote_shared::scan`) and answered on the same
//! connection — `OK <what>` or `ERR <why>` — so the station can light green or red; the last
//! scans of each scanner are kept for the floor (`GET /api/v1/scanners`).

use serde::Serialize;
use std::collections::{BTreeMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tote_shared::runtime::supervise::Stop;
use tote_shared::runtime::system::now_ms;
use tote_shared::scan::{parse, Scan, MAX_SCAN_LEN};
use tote_shared::station::Colour;

/// Connections one scanner listener accepts at once (a scanner needs one).
const MAX_CONNECTIONS_PER_SCANNER: usize = 4;
/// Scans kept per scanner for the floor view.
const RECENT_SCANS: usize = 50;

#[derive(Debug, Clone, Serialize)]
pub struct ScanRecord {
    pub at_ms: i64,
    pub ok: bool,
    /// What was understood, or why not.
    pub result: String,
}

#[derive(Default)]
pub struct Scanners {
    recent: Mutex<BTreeMap<String, VecDeque<ScanRecord>>>,
    bound: Mutex<BTreeMap<String, (String, SocketAddr)>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScannerView {
    pub name: String,
    pub station: String,
    pub listen: SocketAddr,
    pub recent: Vec<ScanRecord>,
}

impl Scanners {
    fn record(&self, name: &str, record: ScanRecord) {
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        let list = recent.entry(name.to_owned()).or_default();
        list.push_front(record);
        list.truncate(RECENT_SCANS);
    }

    pub fn views(&self) -> Vec<ScannerView> {
        let bound = self.bound.lock().unwrap_or_else(|p| p.into_inner());
        let recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        bound
            .iter()
            .map(|(name, (station, listen))| ScannerView {
                name: name.clone(),
                station: station.clone(),
                listen: *listen,
                recent: recent.get(name).map(|r| r.iter().cloned().collect()).unwrap_or_default(),
            })
            .collect()
    }
}

/// Binds the scanner's listener now (so a bad address fails start-up); the returned task serves it.
pub async fn start(
    name: String,
    station: String,
    listen: SocketAddr,
    scanners: Arc<Scanners>,
    panels: Arc<crate::plc::Panels>,
) -> std::io::Result<ScannerTask> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    scanners.bound.lock().unwrap_or_else(|p| p.into_inner()).insert(name.clone(), (station.clone(), addr));
    tracing::info!(scanner = %name, %addr, "scanner listener ready");
    let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS_PER_SCANNER));
    Ok(ScannerTask { name, station, listener: Arc::new(listener), scanners, panels, slots })
}

/// One scanner's listener as a restartable task: a restarted run accepts on the same socket,
/// and connections already open carry on (each is its own task, holding its slot).
#[derive(Clone)]
pub struct ScannerTask {
    name: String,
    station: String,
    listener: Arc<TcpListener>,
    scanners: Arc<Scanners>,
    panels: Arc<crate::plc::Panels>,
    slots: Arc<tokio::sync::Semaphore>,
}

impl ScannerTask {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Accepts connections until `stop`.
    pub async fn run(self, stop: Stop) {
        let ScannerTask { name, station, listener, scanners, panels, slots } = self;
        loop {
            let Some(Ok(slot)) = stop.run_until_stopped(slots.clone().acquire_owned()).await else { return };
            let Some(accepted) = stop.run_until_stopped(listener.accept()).await else { return };
            match accepted {
                Ok((socket, peer)) => {
                    let (scanners, name, panels, station) = (scanners.clone(), name.clone(), panels.clone(), station.clone());
                    tokio::spawn(async move {
                        let feedback = |ok: bool| panels.flash(&station, if ok { Colour::Green } else { Colour::Red });
                        if let Err(error) = serve(socket, &name, &scanners, &feedback).await {
                            tracing::warn!(scanner = %name, %peer, %error, "scanner connection ended");
                        }
                        drop(slot);
                    });
                }
                Err(error) => tracing::warn!(scanner = %name, %error, "accept failed"),
            }
        }
    }
}

/// `feedback` lights the station: green for a code we understood, red for anything else.
async fn serve(socket: TcpStream, name: &str, scanners: &Scanners, feedback: &(dyn Fn(bool) + Sync)) -> std::io::Result<()> {
    let (read, mut write) = socket.into_split();
    let mut lines = BufReader::new(read);
    let mut line = Vec::with_capacity(128);
    loop {
        line.clear();
        // Read one line, but never more than the limit (+ CR LF) into memory.
        let n = AsyncReadExt::take(&mut lines, MAX_SCAN_LEN as u64 + 2).read_until(b'\n', &mut line).await?;
        if n == 0 {
            return Ok(());
        }
        let complete = line.ends_with(b"\n");
        let (reply, ok) = if !complete && n >= MAX_SCAN_LEN + 2 {
            // Drain the rest of the overlong line before answering.
            let mut rest = Vec::new();
            AsyncReadExt::take(&mut lines, 64 * 1024).read_until(b'\n', &mut rest).await?;
            answer(scanners, name, Err(format!("line longer than {MAX_SCAN_LEN} characters")))
        } else {
            match std::str::from_utf8(&line) {
                Ok(text) => answer(scanners, name, describe(text.trim_end_matches(['\r', '\n']))),
                Err(_) => answer(scanners, name, Err("not UTF-8 text".into())),
            }
        };
        feedback(ok);
        write.write_all(reply.as_bytes()).await?;
    }
}

fn describe(text: &str) -> Result<String, String> {
    let year: u16 = tote_shared::vda5050::iso8601_utc(now_ms())[..4].parse().unwrap_or(2026);
    match parse(text, year).map_err(|e| e.to_string())? {
        Scan::Gs1(g) => {
            let mut parts = Vec::new();
            if let Some(x) = &g.sscc {
                parts.push(format!("SSCC {x}"));
            }
            if let Some(x) = &g.gtin {
                parts.push(format!("GTIN {x}"));
            }
            if let Some(x) = &g.batch {
                parts.push(format!("lot {x}"));
            }
            if let Some(x) = g.expiry {
                parts.push(format!("expires {x}"));
            }
            if let Some(x) = &g.serial {
                parts.push(format!("serial {x}"));
            }
            Ok(format!("GS1 {}", parts.join(", ")))
        }
        Scan::Gtin(g) => Ok(format!("GTIN {g}")),
        Scan::Location(l) => Ok(format!("location {l}")),
        Scan::Pod(p) => Ok(format!("pod {p}")),
        Scan::Tote(t) => Ok(format!("tote {t}")),
        Scan::Carton(c) => Ok(format!("carton {c}")),
    }
}

/// The reply line for the scanner, and whether the code was understood.
fn answer(scanners: &Scanners, name: &str, result: Result<String, String>) -> (String, bool) {
    let (ok, text) = match result {
        Ok(what) => (true, what),
        Err(why) => {
            tracing::warn!(scanner = %name, %why, "scan refused");
            (false, why)
        }
    };
    scanners.record(name, ScanRecord { at_ms: now_ms(), ok, result: text.clone() });
    (format!("{} {}\r\n", if ok { "OK" } else { "ERR" }, text), ok)
}
