//! The soak: the demo in continuous mode at full speed (shoppers ordering and paying, robots
//! bringing pods to stations, workers picking, packing and shipping) for an hour, with the
//! process sampled every minute: memory, file descriptors, threads and tasks, database size,
//! and the queues that must not grow (the edges' unsent events, central's unpulled commands,
//! journal consumers' lag, orders waiting to ship). At the end: a CSV, an SVG of the curves
//! and a table of how much each grew over the second half.
//!
//! Everything runs in this one process (the demo's daemons and the simulated people), so the
//! memory and descriptors are the daemons' plus the simulator's.

use crate::client::Api;
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub struct SoakOptions {
    pub minutes: u64,
    /// Seconds between samples.
    pub sample_s: u64,
    /// Shoppers ordering at once, each waiting for its order to ship before the next.
    pub shoppers: usize,
    /// Orders a minute the shoppers aim at together (a steady load, so that every queue can
    /// settle; each shopper's pause is its share).
    pub orders_per_minute: u32,
    /// Unpaid orders close after this long (the demo's is 30 minutes): short, so that the
    /// orders waiting for payment settle early in the hour.
    pub payment_timeout_ms: u64,
    /// Where soak.csv and soak.svg go.
    pub out: PathBuf,
}

/// One sample of the process and its daemons.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    pub minute: f64,
    pub rss_mb: f64,
    /// Of the RSS: the heap and stacks (anonymous) and mapped files (code, SQLite's maps).
    pub anon_mb: f64,
    pub file_mb: f64,
    pub fds: f64,
    pub threads: f64,
    pub tasks: f64,
    pub central_db_mb: f64,
    pub edges_db_mb: f64,
    pub wal_mb: f64,
    pub orders: f64,
    pub shipped: f64,
    /// Orders created and not yet shipped, closed or cancelled.
    pub open_orders: f64,
    pub edge_events_pending: f64,
    pub commands_pending: f64,
    pub journal_lag: f64,
    /// Payment attempts central's risk engine holds for its windows.
    pub risk_attempts: f64,
}

/// The series drawn and summarised, as (name, unit, value of a sample).
pub type Series = (&'static str, &'static str, fn(&Sample) -> f64);

const SERIES: [Series; 16] = [
    ("memory (RSS)", "MB", |s| s.rss_mb),
    ("of it anonymous", "MB", |s| s.anon_mb),
    ("of it mapped files", "MB", |s| s.file_mb),
    ("file descriptors", "", |s| s.fds),
    ("threads", "", |s| s.threads),
    ("tokio tasks", "", |s| s.tasks),
    ("central database", "MB", |s| s.central_db_mb),
    ("edges' databases", "MB", |s| s.edges_db_mb),
    ("write-ahead logs", "MB", |s| s.wal_mb),
    ("database per order", "KB", |s| per_order_kb(s)),
    ("edge events unsent", "", |s| s.edge_events_pending),
    ("commands unpulled", "", |s| s.commands_pending),
    ("journal consumer lag (max)", "", |s| s.journal_lag),
    ("orders open", "", |s| s.open_orders),
    ("orders shipped", "", |s| s.shipped),
    ("risk engine attempts", "", |s| s.risk_attempts),
];

fn per_order_kb(s: &Sample) -> f64 {
    if s.orders < 1.0 {
        return 0.0;
    }
    (s.central_db_mb + s.edges_db_mb + s.wal_mb) * 1024.0 / s.orders
}

/// Samples every `sample_s` until `minutes` have passed, writing each line to soak.csv as it
/// comes (a soak cut short still leaves its curves), then the picture and the summary.
pub async fn sample(options: &SoakOptions, data: &Path, central: &Api, edges: &[Api]) -> Result<Vec<Sample>> {
    std::fs::create_dir_all(&options.out)?;
    let csv_path = options.out.join("soak.csv");
    let mut csv = String::from(CSV_HEADER);
    let started = Instant::now();
    let end = started + Duration::from_secs(options.minutes * 60);
    let mut samples = Vec::new();
    loop {
        let mut s = take(data, central, edges).await?;
        s.minute = started.elapsed().as_secs_f64() / 60.0;
        println!(
            "  soak {:>5.1} min: rss {:.0} MB, fds {}, tasks {}, db {:.1}+{:.1} MB (wal {:.1}), orders {} shipped {} open {}, unsent {}, unpulled {}, journal lag {}, risk attempts {}",
            s.minute, s.rss_mb, s.fds, s.tasks, s.central_db_mb, s.edges_db_mb, s.wal_mb, s.orders, s.shipped, s.open_orders,
            s.edge_events_pending, s.commands_pending, s.journal_lag, s.risk_attempts
        );
        csv.push_str(&csv_line(&s));
        std::fs::write(&csv_path, &csv)?;
        samples.push(s);
        if Instant::now() >= end {
            break;
        }
        tokio::time::sleep(Duration::from_secs(options.sample_s).min(end - Instant::now())).await;
    }
    std::fs::write(options.out.join("soak.svg"), crate::soak_chart::svg(&samples, &SERIES)?)?;
    println!("\n{}", summary(&samples));
    println!("curves: {}  samples: {}", options.out.join("soak.svg").display(), csv_path.display());
    Ok(samples)
}

const CSV_HEADER: &str = "minute,rss_mb,anon_mb,file_mb,fds,threads,tasks,central_db_mb,edges_db_mb,wal_mb,orders,shipped,open_orders,edge_events_pending,commands_pending,journal_lag,risk_attempts\n";

fn csv_line(s: &Sample) -> String {
    format!(
        "{:.2},{:.1},{:.1},{:.1},{},{},{},{:.2},{:.2},{:.2},{},{},{},{},{},{},{}\n",
        s.minute, s.rss_mb, s.anon_mb, s.file_mb, s.fds, s.threads, s.tasks, s.central_db_mb, s.edges_db_mb, s.wal_mb, s.orders, s.shipped, s.open_orders,
        s.edge_events_pending, s.commands_pending, s.journal_lag, s.risk_attempts
    )
}

async fn take(data: &Path, central: &Api, edges: &[Api]) -> Result<Sample> {
    let status = std::fs::read_to_string("/proc/self/status").context("/proc/self/status (the soak samples a Linux process)")?;
    let field = |name: &str| -> f64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN)
    };
    let fds = std::fs::read_dir("/proc/self/fd")?.count() as f64;
    let (central_db, edges_db, wal) = database_bytes(data)?;
    let metrics = parse_metrics(&central.get_text("/metrics").await?);
    let orders = labelled(&metrics, "tote_central_orders");
    let done = |state: &str| orders.get(state).copied().unwrap_or(0.0);
    let total: f64 = orders.values().sum();
    let mut pending = 0.0;
    for edge in edges {
        pending += parse_metrics(&edge.get_text("/metrics").await?).get("tote_edge_sync_events_pending").copied().unwrap_or(0.0);
    }
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    Ok(Sample {
        minute: 0.0,
        rss_mb: field("VmRSS:") / 1024.0,
        anon_mb: field("RssAnon:") / 1024.0,
        file_mb: field("RssFile:") / 1024.0,
        fds,
        threads: field("Threads:"),
        tasks: tokio::runtime::Handle::current().metrics().num_alive_tasks() as f64,
        central_db_mb: mb(central_db),
        edges_db_mb: mb(edges_db),
        wal_mb: mb(wal),
        orders: total,
        shipped: done("shipped") + done("delivered") + done("completed"),
        open_orders: total - ["shipped", "delivered", "completed", "closed", "cancelled", "returned"].iter().map(|s| done(s)).sum::<f64>(),
        edge_events_pending: pending,
        commands_pending: sum_of(&metrics, "tote_central_sync_commands_pending"),
        journal_lag: labelled(&metrics, "tote_central_journal_consumer_lag").values().fold(0.0, |a, b| a.max(*b)),
        risk_attempts: labelled(&metrics, "tote_central_risk_remembered").get("attempts").copied().unwrap_or(f64::NAN),
    })
}

/// (central's database files, the edges', every write-ahead log) in bytes: `central.sqlite*`
/// and `edge-*.sqlite*` in the data directory.
fn database_bytes(data: &Path) -> Result<(u64, u64, u64)> {
    let (mut central, mut edges, mut wal) = (0, 0, 0);
    for entry in std::fs::read_dir(data)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let len = entry.metadata()?.len();
        if name.ends_with("-wal") {
            wal += len;
        } else if name.starts_with("central.sqlite") {
            central += len;
        } else if name.starts_with("edge-") && name.contains(".sqlite") {
            edges += len;
        }
    }
    Ok((central, edges, wal))
}

/// Prometheus text as "name{labels}" → value (comments skipped).
fn parse_metrics(text: &str) -> BTreeMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (key, value) = l.rsplit_once(' ')?;
            Some((key.to_owned(), value.parse().ok()?))
        })
        .collect()
}

/// A metric's values by its one label's value (`name{label="v"}` → v).
fn labelled(metrics: &BTreeMap<String, f64>, name: &str) -> BTreeMap<String, f64> {
    let prefix = format!("{name}{{");
    metrics
        .iter()
        .filter_map(|(k, v)| {
            let labels = k.strip_prefix(&prefix)?;
            let value = labels.split('"').nth(1)?;
            Some((value.to_owned(), *v))
        })
        .collect()
}

fn sum_of(metrics: &BTreeMap<String, f64>, name: &str) -> f64 {
    labelled(metrics, name).values().filter(|v| v.is_finite()).sum()
}

/// Each series: the mean of the samples around the half-way mark and at the end, and the
/// change between them per hour. A flat curve changes by about nothing.
pub fn summary(samples: &[Sample]) -> String {
    let n = samples.len();
    let window = (n / 10).max(1);
    let mean = |range: std::ops::Range<usize>, f: fn(&Sample) -> f64| {
        let values: Vec<f64> = samples[range].iter().map(f).collect();
        values.iter().sum::<f64>() / values.len().max(1) as f64
    };
    let mid = (n / 2).saturating_sub(window / 2);
    let (mid_range, end_range) = (mid..(mid + window).min(n), n.saturating_sub(window)..n);
    // Between the windows' middles (mean minute of each).
    let hours = (mean(end_range.clone(), |s| s.minute) - mean(mid_range.clone(), |s| s.minute)) / 60.0;
    let mut out = String::from("| series | half-way | end | change per hour |\n|---|---:|---:|---:|\n");
    for (name, unit, f) in SERIES {
        let (a, b) = (mean(mid_range.clone(), f), mean(end_range.clone(), f));
        let rate = if hours > 0.0 { (b - a) / hours } else { 0.0 };
        let _ = writeln!(out, "| {name}{} | {a:.1} | {b:.1} | {rate:+.1} |", if unit.is_empty() { String::new() } else { format!(" ({unit})") });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_read_by_name_and_label() {
        let text = "# HELP x\n# TYPE x gauge\ntote_central_orders{state=\"shipped\"} 12\ntote_central_orders{state=\"paid\"} 3\ntote_edge_sync_events_pending 7\nbad line\n";
        let m = parse_metrics(text);
        assert_eq!(m.get("tote_edge_sync_events_pending"), Some(&7.0));
        let orders = labelled(&m, "tote_central_orders");
        assert_eq!(orders.get("shipped"), Some(&12.0));
        assert_eq!(orders.get("paid"), Some(&3.0));
        assert_eq!(sum_of(&m, "tote_central_orders"), 15.0);
    }

    #[test]
    fn the_summary_shows_growth_per_hour() {
        // 61 samples a minute apart: memory flat at 100, the queue growing 1 a minute.
        let samples: Vec<Sample> = (0..=60)
            .map(|m| Sample { minute: m as f64, rss_mb: 100.0, open_orders: m as f64, ..Default::default() })
            .collect();
        let table = summary(&samples);
        assert!(table.contains("| memory (RSS) (MB) | 100.0 | 100.0 | +0.0 |"), "{table}");
        // One a minute is sixty an hour, whatever the windows.
        let line = table.lines().find(|l| l.starts_with("| orders open")).expect("an orders-open row");
        assert!(line.ends_with("| +60.0 |"), "{line}");
    }
}
