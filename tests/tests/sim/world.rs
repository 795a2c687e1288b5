//! One simulated run: an edge and central, the faulty link between them, the business both
//! sides do, and the invariants checked at the end.

use anyhow::{bail, ensure, Context, Result};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use tote_central::catalog::{self, SkuRecord, SkuState, Spu};
use tote_central::config::DatabaseSettings as CentralDbSettings;
use tote_central::db::{Database, DbError};
use tote_central::edge_sync::{commands, events, SyncError as CentralSyncError};
use tote_central::inventory;
use tote_shared::stock::StockField;
use tote_central::orders::{flow, store as orders, CreateOrder, OrdersError};
use tote_central::warehouses::{self, NewWarehouse};
use tote_edge::config::CentralSettings;
use tote_edge::store::{Adjustment, EdgeStore, LabelSettings, Picker, Receipt};
use tote_edge::sync::{CentralLink, LinkError, PullReply, PushReply, SyncClient, SyncError, SyncHealth};
use tote_shared::geo::city_point;
use tote_shared::order::OrderState;
use tote_shared::runtime::settings::DatabaseSettings as EdgeDbSettings;
use tote_shared::runtime::supervise::Stop;
use tote_shared::sync::{AdjustReason, CommandKind, OrderLine, PushBatch, ShipTo};
use tote_shared::{Gtin, LocationCode, Money, Qty, Sku, WarehouseCode};

/// Business and fault steps per seed before the faults stop.
const STEPS: u32 = 64;
/// Rounds of push + pull allowed to converge once the faults stop (a pull's commands may write
/// events, whose push may free an order for the next pull, …).
const QUIESCE_ROUNDS: u32 = 64;
/// Pushes in one round: far more than a run's events.
const MAX_PUSHES: u32 = 10_000;
const GTIN: &str = "1958661377384";
const LOCATION: &str = "A-01-01";
/// Central's clock at step 0 (central's rules read the time they are given).
const EPOCH_MS: i64 = 1_800_000_000_000;

fn sku() -> Sku {
    Sku::parse("PEG39-M-WHT-42").expect("sku")
}

fn warehouse() -> WarehouseCode {
    WarehouseCode::parse("SH-01").expect("code")
}

fn location() -> LocationCode {
    LocationCode::parse(LOCATION).expect("location")
}

/// On tmpfs where there is one: the simulation is about ordering, not the disk, and fsyncs
/// there cost nothing.
fn scratch_dir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let builder = { let mut b = tempfile::Builder::new(); b.prefix("tote-sim-"); b };
    if shm.is_dir() {
        if let Ok(dir) = builder.tempdir_in(shm) {
            return dir;
        }
    }
    builder.tempdir().expect("tempdir")
}

fn central_settings(path: PathBuf) -> CentralDbSettings {
    let mut s = CentralDbSettings::sqlite_file(path);
    (s.write_queue, s.max_batch, s.max_readers) = (64, 16, 2);
    s
}

fn edge_settings(path: PathBuf) -> EdgeDbSettings {
    EdgeDbSettings { path, write_queue: 64, max_batch: 16, max_readers: 2 }
}

/// A migrated, seeded central and edge (the SKU known at both, the stream opened, the edge's
/// bin made), kept as files every seed starts from: migrating once, not 2,000 times.
pub struct Templates {
    _dir: tempfile::TempDir,
    central: PathBuf,
    edge: PathBuf,
}

impl Templates {
    pub async fn build() -> Templates {
        Self::try_build().await.expect("build the simulation's template databases")
    }

    async fn try_build() -> Result<Templates> {
        let dir = scratch_dir();
        let (central_live, edge_live) = (dir.path().join("central-live.sqlite"), dir.path().join("edge-live.sqlite"));
        let central = Database::open(&central_settings(central_live.clone())).await?;
        seed_central(&central).await?;
        let edge = EdgeStore::open(&edge_settings(edge_live.clone()))?;
        edge.create_location(None, location()).await?;
        let pulled = central.read(|tx| -> Result<_, CentralSyncError> { Ok(commands::pull(tx, &warehouse(), 0, 500)?) }).await?;
        edge.apply_commands(pulled.commands).await?;
        let templates = Templates { central: dir.path().join("central.sqlite"), edge: dir.path().join("edge.sqlite"), _dir: dir };
        // A consistent copy of each, whatever their open connections hold in the WAL.
        for (live, copy) in [(&central_live, &templates.central), (&edge_live, &templates.edge)] {
            let conn = rusqlite::Connection::open(live)?;
            conn.execute("VACUUM INTO ?1", [copy.to_string_lossy()])?;
        }
        Ok(templates)
    }
}

async fn seed_central(db: &Database) -> Result<()> {
    let spu = Spu { id: "PEG39".into(), name: "Pegasus 39".into(), brand: "Nike".into(), category: "Shoes".into(), lot_tracked: false };
    let record = SkuRecord {
        sku: sku(),
        spu_id: "PEG39".into(),
        gtin: Gtin::parse(GTIN).expect("gtin"),
        gender: "men".into(),
        colour: "white".into(),
        size: "EU 42".into(),
        price: Money::parse(89_900).expect("money"),
        cost: Money::parse(41_000).expect("money"),
        name: String::new(),
        shipping: None,
        state: SkuState::Listed,
        attributes: Default::default(),
    };
    let new = NewWarehouse { code: warehouse(), name: "SH".into(), point: city_point("shanghai").expect("city"), token_hash: "h".into() };
    db.write(move |tx| -> Result<(), DbError> {
        let corrupt = |e: &dyn std::fmt::Display| DbError::corrupt(e.to_string());
        catalog::store::create_spu(tx, &spu, 0).map_err(|e| corrupt(&e))?;
        warehouses::store::create(tx, &new, 0).map_err(|e| corrupt(&e))?;
        catalog::store::create_sku(tx, &record, &[warehouse()], 0).map_err(|e| corrupt(&e))?;
        Ok(())
    })
    .await?;
    Ok(())
}

/// What happened across runs, for the summary line.
#[derive(Debug, Default, Clone)]
pub struct Outcome {
    pub pushes: u64,
    pub pulls: u64,
    pub lost: u64,
    pub duplicated: u64,
    pub late: u64,
    pub stale_pulls: u64,
    pub partitions: u64,
    pub restarts: u64,
    pub events: u64,
    pub commands: u64,
    pub shipped: u64,
    pub rejects: u64,
}

impl Outcome {
    pub fn add(&mut self, o: &Outcome) {
        self.pushes += o.pushes;
        self.pulls += o.pulls;
        self.lost += o.lost;
        self.duplicated += o.duplicated;
        self.late += o.late;
        self.stale_pulls += o.stale_pulls;
        self.partitions += o.partitions;
        self.restarts += o.restarts;
        self.events += o.events;
        self.commands += o.commands;
        self.shipped += o.shipped;
        self.rejects += o.rejects;
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} pushes, {} pulls, {} lost, {} delivered twice, {} delivered late, {} stale pulls, {} partitions, {} restarts; {} events and {} commands applied, {} orders shipped, {} events kept aside",
            self.pushes, self.pulls, self.lost, self.duplicated, self.late, self.stale_pulls, self.partitions, self.restarts, self.events, self.commands, self.shipped, self.rejects
        )
    }
}

/// The network between the edge and central, and central itself (replaced when it restarts).
struct Net {
    rng: StdRng,
    faulty: bool,
    /// Steps of partition left: every call is lost.
    down_for: u32,
    /// Pushes held back in the network, delivered later (after newer ones).
    late: Vec<PushBatch>,
    central: Database,
    now_ms: i64,
    /// Answers central should never give (a database fault, an invalid push from our client).
    refused: Vec<String>,
    stats: Outcome,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PushFate {
    Deliver,
    LoseRequest,
    LoseAnswer,
    Twice,
    HoldBack,
}

#[derive(Clone)]
struct SimLink(Arc<Mutex<Net>>);

impl SimLink {
    fn net(&self) -> MutexGuard<'_, Net> {
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Applies a push at central as the endpoint does (one write transaction) and answers as
    /// the endpoint would.
    async fn deliver(&self, batch: &PushBatch) -> PushReply {
        let (db, now) = { let net = self.net(); (net.central.clone(), net.now_ms) };
        let (wh, events, head) = (batch.warehouse.clone(), batch.events.clone(), batch.head);
        match db.write(move |tx| events::apply_events(tx, &wh, &events, head, now)).await {
            Ok(ack) => PushReply::Acked(ack),
            Err(CentralSyncError::Gap { high_water, .. } | CentralSyncError::Ahead { high_water, .. }) => {
                PushReply::Conflict { high_water: Some(high_water), body: "stream rule".into() }
            }
            Err(other) => {
                let why = other.to_string();
                self.net().refused.push(why.clone());
                PushReply::Refused { status: 500, body: why }
            }
        }
    }
}

fn lost(what: &str) -> LinkError {
    LinkError::Lost(format!("simulated: {what} lost"))
}

impl CentralLink for SimLink {
    async fn push(&self, batch: &PushBatch) -> Result<PushReply, LinkError> {
        let fate = {
            let mut net = self.net();
            net.stats.pushes += 1;
            let fate = if net.down_for > 0 {
                PushFate::LoseRequest
            } else if !net.faulty {
                PushFate::Deliver
            } else {
                match net.rng.gen_range(0..100) {
                    0..=9 => PushFate::LoseRequest,
                    10..=19 => PushFate::LoseAnswer,
                    20..=27 => PushFate::Twice,
                    28..=37 => PushFate::HoldBack,
                    _ => PushFate::Deliver,
                }
            };
            match fate {
                PushFate::HoldBack => net.late.push(batch.clone()),
                PushFate::LoseRequest | PushFate::LoseAnswer => net.stats.lost += 1,
                PushFate::Twice => net.stats.duplicated += 1,
                PushFate::Deliver => {}
            }
            fate
        };
        match fate {
            PushFate::LoseRequest | PushFate::HoldBack => Err(lost("push")),
            PushFate::Deliver => Ok(self.deliver(batch).await),
            PushFate::LoseAnswer => {
                self.deliver(batch).await;
                Err(lost("push answer"))
            }
            PushFate::Twice => {
                self.deliver(batch).await;
                Ok(self.deliver(batch).await)
            }
        }
    }

    async fn pull(&self, after: u64, _wait_ms: u64, limit: u32) -> Result<PullReply, LinkError> {
        let (db, after) = {
            let mut net = self.net();
            net.stats.pulls += 1;
            let roll = if net.faulty { net.rng.gen_range(0..100) } else { 100 };
            if net.down_for > 0 || roll < 15 {
                net.stats.lost += 1;
                return Err(lost("pull"));
            }
            // A stale answer (a cache, a proxy's replay): commands the edge already applied
            // come again with the new ones.
            let after = if roll < 30 {
                net.stats.stale_pulls += 1;
                after.saturating_sub(net.rng.gen_range(1..6))
            } else {
                after
            };
            (net.central.clone(), after)
        };
        let pulled = db.read(move |tx| -> Result<_, CentralSyncError> { Ok(commands::pull(tx, &warehouse(), after, limit)?) }).await;
        match pulled {
            Ok(pulled) => Ok(PullReply::Commands(pulled)),
            Err(e) => {
                self.net().refused.push(e.to_string());
                Ok(PullReply::Refused { status: 500, body: e.to_string() })
            }
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Step {
    Receive,
    Damage,
    Ship,
    Order,
    Cancel,
    Push,
    Pull,
    Late,
    RestartEdge,
    RestartCentral,
    Partition,
}

/// What a push or pull may meet while the faults are on: a lost message, or central's refusal
/// (recorded by the link and checked at the end). A store error or central ahead of the edge is
/// a finding.
fn expected_under_faults(outcome: Result<(), SyncError>) -> Result<()> {
    match outcome {
        Ok(()) | Err(SyncError::Link(_) | SyncError::Rejected { .. }) => Ok(()),
        Err(other) => bail!("the sync client failed under faults: {other}"),
    }
}

/// Each step with its weight.
const STEP_WEIGHTS: &[(Step, u32)] = &[
    (Step::Receive, 6),
    (Step::Damage, 2),
    (Step::Ship, 6),
    (Step::Order, 7),
    (Step::Cancel, 2),
    (Step::Push, 8),
    (Step::Pull, 8),
    (Step::Late, 2),
    (Step::RestartEdge, 1),
    (Step::RestartCentral, 1),
    (Step::Partition, 1),
];

/// What the business did, as the harness saw it succeed.
#[derive(Default)]
struct Model {
    received: i64,
    receipts: usize,
    damaged: i64,
    shipped_units: i64,
    shipped: BTreeSet<u64>,
    orders: Vec<u64>,
}

pub struct World {
    dir: tempfile::TempDir,
    link: SimLink,
    edge: EdgeStore,
    client: SyncClient<SimLink>,
    sync: CentralSettings,
    rng: StdRng,
    model: Model,
    verbose: bool,
}

impl World {
    /// Runs `seed`: the faulty steps, then quiescence, then the invariants.
    pub async fn run(templates: &Templates, seed: u64, verbose: bool) -> Result<Outcome> {
        let mut world = World::open(templates, seed, verbose).await?;
        for step in 0..STEPS {
            world.step(step).await.with_context(|| format!("step {step}"))?;
        }
        world.quiesce().await?;
        world.check().await?;
        let mut outcome = world.link.net().stats.clone();
        outcome.shipped = world.model.shipped.len() as u64;
        Ok(outcome)
    }

    async fn open(templates: &Templates, seed: u64, verbose: bool) -> Result<World> {
        let dir = scratch_dir();
        std::fs::copy(&templates.central, dir.path().join("central.sqlite"))?;
        std::fs::copy(&templates.edge, dir.path().join("edge.sqlite"))?;
        // Business and faults draw from their own streams, both from the seed.
        let mut rng = StdRng::seed_from_u64(seed);
        let net_rng = StdRng::seed_from_u64(seed ^ 0x5eed_f417);
        let central = Database::open(&central_settings(dir.path().join("central.sqlite"))).await?;
        let net = Net { rng: net_rng, faulty: true, down_for: 0, late: Vec::new(), central, now_ms: EPOCH_MS, refused: Vec::new(), stats: Outcome::default() };
        let link = SimLink(Arc::new(Mutex::new(net)));
        let sync = CentralSettings {
            url: "sim://central".into(),
            token: "sim".to_string().into(),
            ca_file: None,
            // Small and varied batches: more pushes, more chances to interleave.
            push_batch: rng.gen_range(1..=12),
            pull_wait_ms: 0,
            request_timeout_ms: 1_000,
            backoff_initial_ms: 1,
            backoff_max_ms: 1,
        };
        let edge = EdgeStore::open(&edge_settings(dir.path().join("edge.sqlite")))?;
        let client = SyncClient::with_link(link.clone(), sync.clone(), warehouse(), edge.clone(), Arc::new(SyncHealth::default()));
        Ok(World { dir, link, edge, client, sync, rng, model: Model::default(), verbose })
    }

    fn trace(&self, what: impl FnOnce() -> String) {
        if self.verbose {
            eprintln!("  {}", what());
        }
    }

    fn central(&self) -> Database {
        self.link.net().central.clone()
    }

    fn pick_step(&mut self) -> Step {
        let total: u32 = STEP_WEIGHTS.iter().map(|(_, w)| w).sum();
        let mut roll = self.rng.gen_range(0..total);
        for (step, weight) in STEP_WEIGHTS {
            if roll < *weight {
                return *step;
            }
            roll -= weight;
        }
        unreachable!("the roll is below the total of the weights")
    }

    async fn step(&mut self, n: u32) -> Result<()> {
        {
            let mut net = self.link.net();
            net.now_ms = EPOCH_MS + i64::from(n) * 1_000;
            net.down_for = net.down_for.saturating_sub(1);
        }
        let step = self.pick_step();
        self.trace(|| format!("step {n}: {step:?}"));
        match step {
            Step::Receive => self.receive().await,
            Step::Damage => self.damage().await,
            Step::Ship => self.ship().await,
            Step::Order => self.order().await,
            Step::Cancel => self.cancel().await,
            Step::Push => {
                let pushed = self.client.push_once().await.map(|_| ());
                self.trace(|| format!("    push: {pushed:?}"));
                expected_under_faults(pushed)
            }
            Step::Pull => {
                let pulled = self.client.pull_once(&Stop::never()).await;
                self.trace(|| format!("    pull: {pulled:?}"));
                expected_under_faults(pulled)
            }
            Step::Late => self.deliver_late().await,
            Step::RestartEdge => self.restart_edge(),
            Step::RestartCentral => self.restart_central().await,
            Step::Partition => {
                let steps = self.rng.gen_range(2..8);
                let mut net = self.link.net();
                net.down_for = steps;
                net.stats.partitions += 1;
                Ok(())
            }
        }
    }

    async fn receive(&mut self) -> Result<()> {
        let qty = self.rng.gen_range(1..=5);
        let receipt = Receipt { location: location(), sku: sku(), qty: Qty::parse(qty).expect("qty"), lot: String::new(), expiry: None, delivery: None };
        self.edge.receive(None, receipt).await.context("a receipt at the edge")?;
        self.model.received += qty;
        self.model.receipts += 1;
        Ok(())
    }

    /// One damaged unit written off; refused when no free unit is there (changes nothing).
    async fn damage(&mut self) -> Result<()> {
        let adjustment = Adjustment { location: location(), sku: sku(), lot: String::new(), reason: AdjustReason::Damage, counted: None, delta: Some(-1) };
        match self.edge.adjust(None, adjustment).await {
            Ok(_) => self.model.damaged += 1,
            Err(refused) => self.trace(|| format!("    damage refused: {refused}")),
        }
        Ok(())
    }

    /// Picks, packs and ships one released order at the edge.
    async fn ship(&mut self) -> Result<()> {
        let open = self.edge.fulfilments(Some("picking".into()), 500).await?;
        if open.is_empty() {
            return Ok(());
        }
        let chosen = open[self.rng.gen_range(0..open.len())].clone();
        let id = chosen.order_id;
        let picker = || Picker { worker: Some("sim".into()), station: None };
        for task in &chosen.tasks {
            if task.state == "done" || task.state == "cancelled" {
                continue;
            }
            if task.state == "open" {
                self.edge.scan(None, task.id, task.location.clone(), 1, picker()).await.with_context(|| format!("scan the bin for order {id}"))?;
            }
            let remaining = u32::try_from(task.qty - task.qty_picked).context("remaining")?;
            if remaining > 0 {
                self.edge.scan(None, task.id, task.gtin.clone(), remaining, picker()).await.with_context(|| format!("scan the items for order {id}"))?;
            }
        }
        self.edge.pack(None, id, None).await.with_context(|| format!("pack order {id}"))?;
        let label = LabelSettings { gs1_company_prefix: "0614141".into(), sender: "Tote SH-01".into() };
        self.edge.ship(None, id, Some("SF".into()), Some(format!("SF{id:010}")), label).await.with_context(|| format!("ship order {id}"))?;
        self.model.shipped_units += chosen.lines.iter().map(|l| l.qty).sum::<i64>();
        self.model.shipped.insert(id);
        self.trace(|| format!("    shipped order {id}"));
        Ok(())
    }

    /// A customer orders 1–3 units and pays; refused when central has none to sell.
    async fn order(&mut self) -> Result<()> {
        let qty = self.rng.gen_range(1..=3);
        let now = self.link.net().now_ms;
        let request = CreateOrder {
            channel: "app".into(),
            customer: None,
            lines: vec![OrderLine { sku: sku(), qty: Qty::parse(qty).expect("qty") }],
            ship_to: ShipTo { name: "A".into(), line1: "1 Bund Road".into(), city: "Shanghai".into(), postcode: String::new(), phone: String::new() },
            destination: city_point("shanghai").expect("city"),
            now_ms: now,
            payment_deadline_ms: now + 3_600_000,
            checkout: Default::default(),
        };
        let db = self.central();
        let order = match db.write(move |tx| flow::create(tx, &request)).await {
            Ok(order) => order,
            Err(OrdersError::InsufficientStock(_)) => return Ok(()),
            Err(other) => bail!("central refused an order: {other}"),
        };
        let id = order.id;
        db.write(move |tx| flow::pay(tx, id, now)).await.with_context(|| format!("pay order {id}"))?;
        self.model.orders.push(id);
        self.trace(|| format!("    order {id}: {qty} unit(s), paid"));
        Ok(())
    }

    /// HQ cancels one of the orders; refused once it has shipped.
    async fn cancel(&mut self) -> Result<()> {
        if self.model.orders.is_empty() {
            return Ok(());
        }
        let id = self.model.orders[self.rng.gen_range(0..self.model.orders.len())];
        let now = self.link.net().now_ms;
        match self.central().write(move |tx| flow::cancel(tx, id, now)).await {
            Ok(order) => self.trace(|| format!("    cancel order {id}: {:?}", order.state)),
            Err(OrdersError::Transition(refused)) => self.trace(|| format!("    cancel order {id} refused: {refused}")),
            Err(other) => bail!("cancelling order {id}: {other}"),
        }
        Ok(())
    }

    /// A push held back in the network arrives now, after newer ones (not across a partition).
    async fn deliver_late(&mut self) -> Result<()> {
        let batch = {
            let mut net = self.link.net();
            if net.late.is_empty() || net.down_for > 0 {
                return Ok(());
            }
            let held = net.late.len();
            let i = net.rng.gen_range(0..held);
            net.stats.late += 1;
            net.late.swap_remove(i)
        };
        let reply = self.link.deliver(&batch).await;
        self.trace(|| format!("    late push of {}..: {reply:?}", batch.events.first().map_or(0, |e| e.seq)));
        Ok(())
    }

    /// The edge process dies between steps: its store and sync client go, and come back from
    /// the file.
    fn restart_edge(&mut self) -> Result<()> {
        let edge = EdgeStore::open(&edge_settings(self.dir.path().join("edge.sqlite")))?;
        self.client = SyncClient::with_link(self.link.clone(), self.sync.clone(), warehouse(), edge.clone(), Arc::new(SyncHealth::default()));
        self.edge = edge;
        self.link.net().stats.restarts += 1;
        Ok(())
    }

    async fn restart_central(&mut self) -> Result<()> {
        let central = Database::open(&central_settings(self.dir.path().join("central.sqlite"))).await?;
        let mut net = self.link.net();
        net.central = central;
        net.stats.restarts += 1;
        Ok(())
    }

    /// The faults stop; what the network still holds arrives (late, in any order); then the
    /// client pushes and pulls until both streams are drained.
    async fn quiesce(&mut self) -> Result<()> {
        {
            let mut net = self.link.net();
            net.faulty = false;
            net.down_for = 0;
        }
        while !self.link.net().late.is_empty() {
            self.deliver_late().await?;
        }
        for _ in 0..QUIESCE_ROUNDS {
            // Push until the outbox is drained (batches may be of one event), then pull.
            let mut more = true;
            for _ in 0..MAX_PUSHES {
                more = self.client.push_once().await.context("a push once the faults stopped")?;
                if !more {
                    break;
                }
            }
            self.client.pull_once(&Stop::never()).await.context("a pull once the faults stopped")?;
            let counters = self.edge.counters().await?;
            let stream = self.stream().await?;
            if !more && counters.acked_seq == counters.outbox_seq && stream.events_high_water == counters.outbox_seq && stream.commands_latest_seq == counters.command_cursor {
                return Ok(());
            }
        }
        bail!("the streams did not drain in {QUIESCE_ROUNDS} rounds of push and pull once the faults stopped")
    }

    async fn stream(&self) -> Result<tote_central::edge_sync::EdgeSyncRow> {
        let rows = self.central().read(|tx| -> Result<_, DbError> { commands::status(tx, 0) }).await?;
        rows.into_iter().find(|r| r.warehouse == warehouse()).context("SH-01's stream")
    }

    /// The invariants, once both sides are quiet.
    async fn check(&self) -> Result<()> {
        let refused = self.link.net().refused.clone();
        ensure!(refused.is_empty(), "central refused what it should have taken: {refused:?}");
        let counters = self.edge.counters().await?;
        let stream = self.stream().await?;
        self.link.net().stats.events = stream.events_high_water;
        self.link.net().stats.commands = stream.commands_latest_seq;
        self.link.net().stats.rejects = stream.rejected_events;
        ensure!(stream.events_high_water == counters.outbox_seq, "central applied events to {} but the edge wrote {}", stream.events_high_water, counters.outbox_seq);
        ensure!(counters.command_cursor == stream.commands_latest_seq, "the edge applied commands to {} but central queued {}", counters.command_cursor, stream.commands_latest_seq);

        // Stock: what the harness saw happen, at the edge and at central.
        let expected = self.model.received - self.model.damaged - self.model.shipped_units;
        let at_edge: i64 = self.edge.stock(Some(sku()), None).await?.iter().map(|r| r.qty).sum();
        ensure!(at_edge == expected, "the edge holds {at_edge}, but {} received − {} damaged − {} shipped = {expected}", self.model.received, self.model.damaged, self.model.shipped_units);
        let db = self.central();
        let rows = db.read(|tx| -> Result<_, DbError> { inventory::store::rows_for_sku(tx, &sku()) }).await?;
        let level = rows.iter().find(|r| r.warehouse == warehouse()).map(|r| r.level).unwrap_or_default();
        ensure!(level.on_hand == expected, "central has {} on hand at SH-01, the edge {expected}", level.on_hand);
        ensure!(level.sellable() >= 0, "oversold: {level:?}");

        // The ledger explains every quantity, and no edge event was booked twice.
        let ledger = db.read(|tx| -> Result<_, DbError> { inventory::store::ledger(tx, &sku(), Some(&warehouse()), 100_000, false) }).await?;
        let mut sums: BTreeMap<String, i64> = BTreeMap::new();
        let mut booked = BTreeSet::new();
        for entry in &ledger {
            *sums.entry(format!("{:?}", entry.field)).or_default() += entry.delta;
            if entry.reference.starts_with("edge:") {
                ensure!(booked.insert((entry.reference.clone(), format!("{:?}", entry.field), entry.cause.clone())), "edge event booked twice: {entry:?}");
            }
        }
        for (field, value) in [(StockField::OnHand, level.on_hand), (StockField::Locked, level.locked), (StockField::Committed, level.committed)] {
            let sum = sums.get(&format!("{field:?}")).copied().unwrap_or(0);
            ensure!(sum == value, "the ledger's {field:?} entries add up to {sum}, the level says {value}");
        }
        let receipts = ledger.iter().filter(|e| e.cause == "edge_receipt" && e.field == StockField::OnHand).count();
        ensure!(receipts == self.model.receipts, "central booked {receipts} receipts, the edge took {}", self.model.receipts);

        // Orders: shipped at the edge ⇔ shipped at central; nothing left half-way.
        let fulfilments = self.edge.fulfilments(None, 100_000).await?;
        let at_edge: BTreeMap<u64, String> = fulfilments.iter().map(|f| (f.order_id, f.state.clone())).collect();
        for &id in &self.model.orders {
            let order = db.read(move |tx| -> Result<_, DbError> { orders::load(tx, id, false) }).await?.context("order")?;
            let edge_state = at_edge.get(&id).map(String::as_str);
            let shipped = self.model.shipped.contains(&id);
            ensure!((order.state == OrderState::Shipped) == shipped, "order {id}: central says {:?}, the edge {edge_state:?}", order.state);
            match order.state {
                OrderState::Shipped | OrderState::Cancelled => {}
                OrderState::AwaitingShipment => ensure!(edge_state == Some("picking"), "order {id} awaits shipment at central but the edge has it {edge_state:?}"),
                // The edge had fewer free units than central thought (damage not yet synced
                // when the order came): it failed the order back, central waits for stock.
                OrderState::Backordered => ensure!(edge_state == Some("failed"), "order {id} is backordered at central but the edge has it {edge_state:?}"),
                other => bail!("order {id} is {other:?} at central once the streams drained (the edge has it {edge_state:?})"),
            }
            if order.state == OrderState::Cancelled {
                ensure!(matches!(edge_state, None | Some("cancelled" | "failed")), "order {id} is cancelled at central but {edge_state:?} at the edge");
            }
        }
        // Every Fulfil central queued reached the edge, once: one fulfilment per order.
        let queued = db.read(|tx| -> Result<_, CentralSyncError> { Ok(commands::pull(tx, &warehouse(), 0, 100_000)?) }).await?;
        let released: BTreeSet<u64> = queued.commands.iter().filter_map(|c| match &c.kind { CommandKind::Fulfil { order_id, .. } => Some(*order_id), _ => None }).collect();
        let known: BTreeSet<u64> = at_edge.keys().copied().collect();
        ensure!(released == known, "central released {released:?} to the edge, the edge knows {known:?}");
        Ok(())
    }
}
