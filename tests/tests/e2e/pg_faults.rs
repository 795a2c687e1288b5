//! PostgreSQL failing under central during a burst of orders (issue 20): its connections
//! killed again and again (what a failover does to a pool), and the server itself crashed and
//! restarted (a server of the test's own: the suite's shared one serves every other test).
//! Every order is answered — a 503 while the database is gone, then the stored answer or the
//! order when retried with its Idempotency-Key — and the end state has each order once, the
//! stock exact, the journal gapless.

use crate::helpers::*;
use crate::journal::check_journal;
use anyhow::{bail, ensure, Context, Result};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

const STOCK: i64 = 250;
const ORDERS: usize = 300;
const CLIENTS: usize = 32;

/// Places order `n` like a real client: resends with the same key until a final answer.
async fn place(central: Arc<Central>, prefix: &'static str, n: usize) -> Result<(usize, Option<u64>, u32)> {
    let (reply, attempts) = central.create_order_retrying(&format!("{prefix}-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?;
    match reply.status.as_u16() {
        200 | 201 => Ok((n, Some(reply.body["id"].as_u64().context("id")?), attempts)),
        409 => Ok((n, None, attempts)),
        other => bail!("order {n} answered {other}: {}; central's log:\n{}", reply.body, lock(&central.daemon).log()),
    }
}

/// ORDERS orders, CLIENTS at once, each resent until final: (order ids by n, orders that
/// needed more than one attempt). `answered` counts the orders done so far.
async fn burst(central: &Central, prefix: &'static str, answered: Arc<AtomicUsize>) -> Result<(BTreeMap<usize, u64>, u64)> {
    let central = Arc::new(central.clone());
    let gate = Arc::new(tokio::sync::Semaphore::new(CLIENTS));
    let mut burst = tokio::task::JoinSet::new();
    for n in 0..ORDERS {
        let (central, gate, answered) = (central.clone(), gate.clone(), answered.clone());
        burst.spawn(async move {
            let _slot = gate.acquire_owned().await?;
            let placed = place(central, prefix, n).await;
            answered.fetch_add(1, Ordering::Relaxed);
            placed
        });
    }
    let mut ids = BTreeMap::new();
    let mut retried = 0;
    while let Some(done) = burst.join_next().await {
        let (n, id, attempts) = done??;
        retried += u64::from(attempts > 0);
        if let Some(id) = id {
            ids.insert(n, id);
        }
    }
    Ok((ids, retried))
}

/// After the burst: exactly the stock sold, each key answering its one order, the level exact,
/// one journal event per order.
async fn check_end_state(world: &World, prefix: &str, ids: &BTreeMap<usize, u64>) -> Result<()> {
    assert_eq!(ids.len() as i64, STOCK, "exactly the stock was sold");
    let distinct: BTreeSet<u64> = ids.values().copied().collect();
    assert_eq!(distinct.len(), ids.len(), "no order id answered twice");
    // Resent now, every key answers the same order.
    for (n, id) in ids {
        let reply = world.central.create_order(&format!("{prefix}-{n}"), &order_body(PEGASUS, 1, "Shanghai")).await?;
        assert_eq!(reply.body["id"].as_u64(), Some(*id), "key {n}: {}", reply.body);
    }
    assert_eq!(world.central.level(PEGASUS, "SH-01").await?, (STOCK, STOCK, 0, 0));
    let events = check_journal(&world.central).await?;
    let created = events.iter().filter(|e| e.kind() == "order_created").count();
    assert_eq!(created as i64, STOCK, "one order_created per order");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_killed_mid_burst_lose_and_double_nothing() -> Result<()> {
    let world = World::start_on(Backend::Postgres, &[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    sh.receive("A-01-01", PEGASUS_GTIN, STOCK).await?;
    sh.wait_synced(Duration::from_secs(30)).await?;
    let url = world.central.postgres_url().context("central runs on PostgreSQL")?;

    // Every 100 ms, every connection to central's database but the killer's own is terminated.
    let stop = Arc::new(AtomicBool::new(false));
    let killer = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<i64> {
            let mut client = postgres::Client::connect(&url, postgres::NoTls)?;
            let mut killed = 0;
            while !stop.load(Ordering::Relaxed) {
                let row = client.query_one(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()",
                    &[],
                )?;
                killed += row.get::<_, i64>(0);
                std::thread::sleep(Duration::from_millis(100));
            }
            Ok(killed)
        })
    };

    let (ids, retried) = burst(&world.central, "pg-kill", Arc::new(AtomicUsize::new(0))).await?;
    stop.store(true, Ordering::Relaxed);
    let killed = killer.join().map_err(|_| anyhow::anyhow!("the killer panicked"))??;
    ensure!(killed > 0 && retried > 0, "the connections were killed ({killed}) and orders retried ({retried})");
    check_end_state(&world, "pg-kill", &ids).await?;
    eprintln!("postgres kills: {killed} connections terminated, {retried} of {ORDERS} orders retried, {} sold", ids.len());
    Ok(())
}

/// The server crashed (`pg_ctl restart -m immediate`: every backend killed, recovery from the
/// write-ahead log on start) twice during the burst, a third and two thirds of the way in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_server_restarted_mid_burst_loses_and_doubles_nothing() -> Result<()> {
    let server = Arc::new(PrivateServer::start()?);
    let store = CentralStore::Postgres(tote_central::db::testing::TestDatabase::create_on(&server.admin_url));
    let world = World::start_on_store(store, &[("SH-01", "Shanghai")]).await?;
    let sh = world.edge("SH-01");
    sh.receive("A-01-01", PEGASUS_GTIN, STOCK).await?;
    sh.wait_synced(Duration::from_secs(30)).await?;

    let answered = Arc::new(AtomicUsize::new(0));
    let restarter = {
        let (answered, server) = (answered.clone(), server.clone());
        std::thread::spawn(move || -> Result<Vec<usize>> {
            let mut at = Vec::new();
            for mark in [ORDERS / 3, 2 * ORDERS / 3] {
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                while answered.load(Ordering::Relaxed) < mark {
                    ensure!(std::time::Instant::now() < deadline, "the burst stalled before order {mark}");
                    std::thread::sleep(Duration::from_millis(5));
                }
                at.push(answered.load(Ordering::Relaxed));
                server.restart_immediately()?;
            }
            Ok(at)
        })
    };
    let (ids, retried) = burst(&world.central, "pg-restart", answered).await?;
    let restarted_at = restarter.join().map_err(|_| anyhow::anyhow!("the restarter panicked"))??;
    ensure!(retried > 0, "some orders met the restarts and were retried");
    check_end_state(&world, "pg-restart", &ids).await?;
    eprintln!("postgres restarts after orders {restarted_at:?}: {retried} of {ORDERS} orders retried, {} sold", ids.len());
    Ok(())
}

/// A PostgreSQL cluster of the test's own (initdb in a temporary directory, an ephemeral port,
/// trust auth, fsync on: a crash must keep what was committed), stopped when dropped. As root
/// it runs as the `postgres` user the Debian package makes (initdb refuses root).
struct PrivateServer {
    bin: std::path::PathBuf,
    data: tempfile::TempDir,
    port: u16,
    admin_url: String,
}

impl PrivateServer {
    fn start() -> Result<PrivateServer> {
        let bin = std::fs::read_dir("/usr/lib/postgresql")
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|e| Some(e.ok()?.path().join("bin")))
            .filter(|b| b.join("pg_ctl").exists())
            .max()
            .context("no PostgreSQL server binaries under /usr/lib/postgresql: run `bash tests/run.sh`, which installs the postgresql package")?;
        let data = tempfile::Builder::new().prefix("tote-pg-").tempdir_in("/tmp")?;
        if is_root() {
            ensure!(std::process::Command::new("chown").args(["postgres:postgres"]).arg(data.path()).status()?.success(), "chown to postgres");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let server = PrivateServer { admin_url: format!("postgresql://postgres@127.0.0.1:{port}/postgres"), bin, data, port };
        server.run("initdb", &["-U", "postgres", "--auth=trust", "-E", "UTF8", "-D"])?;
        server.pg_ctl(&["start"])?;
        Ok(server)
    }

    /// Crashes the server and starts it again (recovery replays the write-ahead log).
    fn restart_immediately(&self) -> Result<()> {
        self.pg_ctl(&["restart", "-m", "immediate"])
    }

    fn pg_ctl(&self, action: &[&str]) -> Result<()> {
        let options = format!("-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=100", self.port, self.data.path().display());
        let log = self.data.path().join("log");
        let mut args = vec!["-w", "-l", log.to_str().context("log path")?, "-o", &options];
        args.extend(action);
        args.push("-D");
        self.run("pg_ctl", &args)
    }

    /// `tool args… <data directory>`, as the postgres user under root.
    fn run(&self, tool: &str, args: &[&str]) -> Result<()> {
        let program = self.bin.join(tool);
        let mut command = if is_root() {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        command.args(args).arg(self.data.path().join("cluster"));
        let out = command.output()?;
        ensure!(out.status.success(), "{tool} {args:?}: {}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        Ok(())
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        let _ = self.pg_ctl(&["stop", "-m", "immediate"]);
    }
}

fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}
