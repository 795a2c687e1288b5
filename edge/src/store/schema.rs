//! The edge's embedded migrations. Append only: a shipped migration is never edited.

pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE sku (
    sku   TEXT PRIMARY KEY,
    gtin  TEXT NOT NULL UNIQUE,
    name  TEXT NOT NULL
) STRICT;

-- Bins (with a barcode on the rack), and the outbound staging area picked goods wait in.
CREATE TABLE location (
    code        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('bin', 'outbound')),
    created_ms  INTEGER NOT NULL
) STRICT;
INSERT INTO location (code, kind, created_ms) VALUES ('OUT', 'outbound', 0);

CREATE TABLE stock (
    location  TEXT NOT NULL REFERENCES location(code),
    sku       TEXT NOT NULL REFERENCES sku(sku),
    lot       TEXT NOT NULL DEFAULT '',
    qty       INTEGER NOT NULL CHECK (qty >= 0),
    PRIMARY KEY (location, sku, lot)
) STRICT, WITHOUT ROWID;
CREATE INDEX stock_by_sku ON stock (sku, location);

-- Append-only: every change of stock at a location, with its reason.
CREATE TABLE movement (
    id         INTEGER PRIMARY KEY,
    at_ms      INTEGER NOT NULL,
    location   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    lot        TEXT NOT NULL,
    delta      INTEGER NOT NULL,
    qty_after  INTEGER NOT NULL,
    reason     TEXT NOT NULL,
    reference  TEXT NOT NULL
) STRICT;
CREATE TRIGGER movement_no_update BEFORE UPDATE ON movement BEGIN SELECT RAISE(ABORT, 'movement is append-only'); END;
CREATE TRIGGER movement_no_delete BEFORE DELETE ON movement BEGIN SELECT RAISE(ABORT, 'movement is append-only'); END;

-- Orders central released to this warehouse.
CREATE TABLE fulfilment (
    order_id         INTEGER PRIMARY KEY,
    state            TEXT NOT NULL CHECK (state IN ('picking', 'picked', 'packed', 'shipped', 'cancelled', 'failed')),
    ship_to          TEXT NOT NULL,
    tracking_number  TEXT,
    carrier          TEXT,
    created_ms       INTEGER NOT NULL,
    updated_ms       INTEGER NOT NULL
) STRICT;

CREATE TABLE fulfilment_line (
    order_id  INTEGER NOT NULL REFERENCES fulfilment(order_id),
    sku       TEXT NOT NULL,
    qty       INTEGER NOT NULL CHECK (qty > 0),
    PRIMARY KEY (order_id, sku)
) STRICT;

-- One trip to one location for one SKU of one order. `located` means the picker scanned the
-- location and may now scan items.
CREATE TABLE pick_task (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES fulfilment(order_id),
    sku         TEXT NOT NULL,
    location    TEXT NOT NULL REFERENCES location(code),
    lot         TEXT NOT NULL,
    qty         INTEGER NOT NULL CHECK (qty > 0),
    qty_picked  INTEGER NOT NULL DEFAULT 0 CHECK (qty_picked >= 0 AND qty_picked <= qty),
    state       TEXT NOT NULL CHECK (state IN ('open', 'located', 'done', 'cancelled')),
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX pick_task_open ON pick_task (state, id);
CREATE INDEX pick_task_order ON pick_task (order_id);

-- Every state change writes its event here in the same transaction. seq has no gaps.
CREATE TABLE outbox (
    seq    INTEGER PRIMARY KEY,
    at_ms  INTEGER NOT NULL,
    body   TEXT NOT NULL
) STRICT;

-- Counters that must move with the data: outbox_seq, acked_seq, command_cursor.
CREATE TABLE sync_state (
    name   TEXT PRIMARY KEY,
    value  INTEGER NOT NULL
) STRICT;
INSERT INTO sync_state (name, value) VALUES ('outbox_seq', 0), ('acked_seq', 0), ('command_cursor', 0);

-- Responses of requests that carried an Idempotency-Key, stored with their effect.
CREATE TABLE request_log (
    key         TEXT PRIMARY KEY,
    response    TEXT NOT NULL,
    created_ms  INTEGER NOT NULL
) STRICT;
"#,
    r#"
-- Labels to print, queued in the transaction that ships the parcel; a worker sends them.
CREATE TABLE print_job (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL,
    sscc        TEXT NOT NULL UNIQUE,
    zpl         TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'printed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT,
    created_ms  INTEGER NOT NULL,
    printed_ms  INTEGER
) STRICT;
CREATE INDEX print_job_queued ON print_job (id) WHERE state = 'queued';
INSERT INTO sync_state (name, value) VALUES ('sscc_serial', 0);
"#,
    r#"
-- Lots of lot-tracked SKUs and their expiry (from GS1 AI 17), for first-expiry-first-out.
CREATE TABLE lot (
    sku     TEXT NOT NULL REFERENCES sku(sku),
    lot     TEXT NOT NULL,
    expiry  TEXT NOT NULL,
    PRIMARY KEY (sku, lot)
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- Goods-to-person pods: mobile shelves whose bins are locations. Where a pod is now: stored
-- at a spot (x, y of the floor grid), on a robot, at a station, or stranded on a robot that
-- left service (its stock cannot be reached).
CREATE TABLE pod (
    id          TEXT PRIMARY KEY,
    place       TEXT NOT NULL CHECK (place IN ('stored', 'on_robot', 'at_station', 'stranded')),
    spot_x      INTEGER,
    spot_y      INTEGER,
    robot       TEXT,
    station     TEXT,
    updated_ms  INTEGER NOT NULL,
    CHECK ((place = 'stored') = (spot_x IS NOT NULL AND spot_y IS NOT NULL AND robot IS NULL)),
    CHECK ((place = 'stored') OR robot IS NOT NULL)
) STRICT;
ALTER TABLE location ADD COLUMN pod TEXT REFERENCES pod(id);
CREATE INDEX location_by_pod ON location (pod) WHERE pod IS NOT NULL;
"#,
    r#"
-- Warehouse workers who sign in on handhelds. PINs are Argon2id PHC strings; a badge is
-- looked up by its SHA-256. Roles: receiver, picker, packer, supervisor (comma-separated).
CREATE TABLE worker (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    pin_hash      TEXT NOT NULL,
    badge_sha256  TEXT UNIQUE,
    roles         TEXT NOT NULL,
    active        INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    failed_pins   INTEGER NOT NULL DEFAULT 0,
    locked_until_ms INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER NOT NULL
) STRICT;

-- Signed-in handhelds: the SHA-256 of the session token (the token itself is never stored).
CREATE TABLE session (
    token_sha256  TEXT PRIMARY KEY,
    worker        TEXT NOT NULL REFERENCES worker(id),
    created_ms    INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX session_expiry ON session (expires_ms);
"#,
    r#"
-- The receiving dock (goods wait here for put-away) and the QC hold.
INSERT INTO location (code, kind, created_ms) VALUES ('RCV', 'bin', 0), ('QC', 'bin', 0) ON CONFLICT DO NOTHING;

-- Cycle counts: blind count, recount on a difference, supervisor approval before stock changes.
CREATE TABLE count_task (
    id          INTEGER PRIMARY KEY,
    location    TEXT NOT NULL REFERENCES location(code),
    state       TEXT NOT NULL CHECK (state IN ('counting', 'recount', 'pending_approval', 'closed', 'approved', 'rejected')),
    first       TEXT,
    second      TEXT,
    variance    TEXT,
    created_by  TEXT NOT NULL,
    counted_by  TEXT,
    decided_by  TEXT,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX count_open ON count_task (location) WHERE state IN ('counting', 'recount', 'pending_approval');
"#,
    r#"
-- Expected deliveries (ASNs): what suppliers announced, and how much of it has arrived.
CREATE TABLE delivery (
    id          TEXT PRIMARY KEY,
    supplier    TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('open', 'received')),
    created_ms  INTEGER NOT NULL
) STRICT;
CREATE TABLE delivery_line (
    delivery  TEXT NOT NULL REFERENCES delivery(id),
    sku       TEXT NOT NULL REFERENCES sku(sku),
    expected  INTEGER NOT NULL CHECK (expected > 0),
    received  INTEGER NOT NULL DEFAULT 0 CHECK (received >= 0 AND received <= expected),
    PRIMARY KEY (delivery, sku)
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- The fingerprint of the request each key answered (tote_shared::runtime::idempotency: SHA-256
-- of method, path, caller and body), so a key reused for another request is refused instead of
-- replaying the answer to a different question. Legacy rows, written before this column, hold
-- '': they match any request, as every request with their key did when they were written.
ALTER TABLE request_log ADD COLUMN request_hash TEXT NOT NULL DEFAULT '';
"#,
    r#"
-- Who may sign in to the embedded MQTT broker (crate::mqtt::gate): robots, each for its own
-- topics, and read-only observers. The SHA-256 of the password only.
CREATE TABLE mqtt_login (
    username      TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('robot', 'observer')),
    manufacturer  TEXT,
    serial        TEXT,
    secret_sha256 TEXT NOT NULL CHECK (length(secret_sha256) = 64),
    issued_ms     INTEGER NOT NULL,
    issued_by     TEXT NOT NULL,
    CHECK ((kind = 'robot') = (manufacturer IS NOT NULL AND serial IS NOT NULL))
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- The carrier service HQ chose when it released the order (central's logistics); the packer
-- ships with it unless they name another.
ALTER TABLE fulfilment ADD COLUMN ship_carrier TEXT;
ALTER TABLE fulfilment ADD COLUMN ship_service TEXT;
"#,
    r#"
-- Waybill numbers the carriers issued for this warehouse, handed down by central: a parcel
-- takes the oldest free one in its shipping transaction, so packing never waits for HQ or the
-- carrier, and a number is used once (one order per number, one number per order).
CREATE TABLE waybill_pool (
    carrier    TEXT NOT NULL,
    waybill    TEXT NOT NULL,
    granted_ms INTEGER NOT NULL,
    order_id   INTEGER UNIQUE,
    used_ms    INTEGER,
    PRIMARY KEY (carrier, waybill),
    CHECK ((order_id IS NULL) = (used_ms IS NULL))
) STRICT;
CREATE INDEX waybill_pool_free ON waybill_pool (carrier) WHERE order_id IS NULL;
CREATE INDEX fulfilment_waybill ON fulfilment (carrier, tracking_number) WHERE tracking_number IS NOT NULL;
"#,
    r#"
-- Customer returns HQ announced (the RMA number is on the customer's return slip): each unit
-- is scanned and checked; closing the return puts the passed units into a bin and reports it.
CREATE TABLE return_notice (
    rma          TEXT PRIMARY KEY,
    order_id     INTEGER NOT NULL,
    state        TEXT NOT NULL CHECK (state IN ('open', 'received', 'withdrawn')),
    created_ms   INTEGER NOT NULL,
    received_ms  INTEGER,
    location     TEXT REFERENCES location(code),
    received_by  TEXT
) STRICT;
CREATE TABLE return_line (
    rma          TEXT NOT NULL REFERENCES return_notice(rma),
    sku          TEXT NOT NULL REFERENCES sku(sku),
    expected     INTEGER NOT NULL CHECK (expected > 0),
    passed       INTEGER NOT NULL DEFAULT 0 CHECK (passed >= 0),
    failed       INTEGER NOT NULL DEFAULT 0 CHECK (failed >= 0),
    fail_reason  TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (rma, sku),
    CHECK (passed + failed <= expected)
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- A return that comes with a carrier HQ booked: the parcel's waybill finds it at the desk.
ALTER TABLE return_notice ADD COLUMN carrier TEXT;
ALTER TABLE return_notice ADD COLUMN waybill TEXT;
CREATE UNIQUE INDEX return_notice_waybill ON return_notice (waybill) WHERE waybill IS NOT NULL;
"#,
    r#"
-- Open pick lines per pod, kept by the writes themselves: master control reads it every tick,
-- and counting the lines over the joins took most of a 1,000-robot tick. A line counts while
-- its task is open or located, its location is on a pod and its order is being picked.
CREATE TABLE pod_demand (
    pod         TEXT PRIMARY KEY,
    open_lines  INTEGER NOT NULL CHECK (open_lines >= 0)
) STRICT, WITHOUT ROWID;
INSERT INTO pod_demand (pod, open_lines)
    SELECT l.pod, COUNT(*) FROM pick_task t
    JOIN location l ON l.code = t.location
    JOIN fulfilment f ON f.order_id = t.order_id
    WHERE t.state IN ('open', 'located') AND l.pod IS NOT NULL AND f.state = 'picking'
    GROUP BY l.pod;
CREATE INDEX pick_task_live_at ON pick_task (location) WHERE state IN ('open', 'located');

CREATE TRIGGER pod_demand_task_in AFTER INSERT ON pick_task
WHEN NEW.state IN ('open', 'located')
    AND (SELECT pod FROM location WHERE code = NEW.location) IS NOT NULL
    AND (SELECT state FROM fulfilment WHERE order_id = NEW.order_id) = 'picking'
BEGIN
    INSERT INTO pod_demand (pod, open_lines) VALUES ((SELECT pod FROM location WHERE code = NEW.location), 1)
        ON CONFLICT (pod) DO UPDATE SET open_lines = open_lines + 1;
END;

CREATE TRIGGER pod_demand_task_out AFTER DELETE ON pick_task
WHEN OLD.state IN ('open', 'located')
    AND (SELECT pod FROM location WHERE code = OLD.location) IS NOT NULL
    AND (SELECT state FROM fulfilment WHERE order_id = OLD.order_id) = 'picking'
BEGIN
    UPDATE pod_demand SET open_lines = open_lines - 1 WHERE pod = (SELECT pod FROM location WHERE code = OLD.location);
END;

-- An update is the old row out and the new row in.
CREATE TRIGGER pod_demand_task_was AFTER UPDATE OF state, location, order_id ON pick_task
WHEN OLD.state IN ('open', 'located')
    AND (SELECT pod FROM location WHERE code = OLD.location) IS NOT NULL
    AND (SELECT state FROM fulfilment WHERE order_id = OLD.order_id) = 'picking'
BEGIN
    UPDATE pod_demand SET open_lines = open_lines - 1 WHERE pod = (SELECT pod FROM location WHERE code = OLD.location);
END;
CREATE TRIGGER pod_demand_task_is AFTER UPDATE OF state, location, order_id ON pick_task
WHEN NEW.state IN ('open', 'located')
    AND (SELECT pod FROM location WHERE code = NEW.location) IS NOT NULL
    AND (SELECT state FROM fulfilment WHERE order_id = NEW.order_id) = 'picking'
BEGIN
    INSERT INTO pod_demand (pod, open_lines) VALUES ((SELECT pod FROM location WHERE code = NEW.location), 1)
        ON CONFLICT (pod) DO UPDATE SET open_lines = open_lines + 1;
END;

-- An order that starts or stops being picked brings or takes all its open lines.
CREATE TRIGGER pod_demand_order_stops AFTER UPDATE OF state ON fulfilment
WHEN OLD.state = 'picking' AND NEW.state <> 'picking'
BEGIN
    UPDATE pod_demand SET open_lines = open_lines - (
        SELECT COUNT(*) FROM pick_task t JOIN location l ON l.code = t.location
        WHERE t.order_id = NEW.order_id AND t.state IN ('open', 'located') AND l.pod = pod_demand.pod)
    WHERE pod IN (
        SELECT l.pod FROM pick_task t JOIN location l ON l.code = t.location
        WHERE t.order_id = NEW.order_id AND t.state IN ('open', 'located'));
END;
CREATE TRIGGER pod_demand_order_starts AFTER UPDATE OF state ON fulfilment
WHEN OLD.state <> 'picking' AND NEW.state = 'picking'
BEGIN
    INSERT INTO pod_demand (pod, open_lines)
        SELECT l.pod, COUNT(*) FROM pick_task t JOIN location l ON l.code = t.location
        WHERE t.order_id = NEW.order_id AND t.state IN ('open', 'located') AND l.pod IS NOT NULL
        GROUP BY l.pod
        ON CONFLICT (pod) DO UPDATE SET open_lines = open_lines + excluded.open_lines;
END;

-- A bin moved to another pod (or off one) takes its open lines along.
CREATE TRIGGER pod_demand_bin_moves AFTER UPDATE OF pod ON location
WHEN OLD.pod IS NOT NEW.pod
BEGIN
    UPDATE pod_demand SET open_lines = open_lines - (
        SELECT COUNT(*) FROM pick_task t JOIN fulfilment f ON f.order_id = t.order_id
        WHERE t.location = NEW.code AND t.state IN ('open', 'located') AND f.state = 'picking')
    WHERE pod = OLD.pod;
    INSERT INTO pod_demand (pod, open_lines)
        SELECT NEW.pod, COUNT(*) FROM pick_task t JOIN fulfilment f ON f.order_id = t.order_id
        WHERE NEW.pod IS NOT NULL AND t.location = NEW.code AND t.state IN ('open', 'located') AND f.state = 'picking'
        HAVING COUNT(*) > 0
        ON CONFLICT (pod) DO UPDATE SET open_lines = open_lines + excluded.open_lines;
END;
"#,
    r#"
-- Stock held back by a supervisor (quality hold, recall, count): never allocated, never moved
-- out. In force while lifted_ms is NULL; kept afterwards as the record of who, when and why.
CREATE TABLE stock_freeze (
    id           INTEGER PRIMARY KEY,
    scope        TEXT NOT NULL CHECK (scope IN ('location', 'sku', 'lot')),
    location     TEXT REFERENCES location(code),
    sku          TEXT REFERENCES sku(sku),
    lot          TEXT,
    reason       TEXT NOT NULL,
    frozen_by    TEXT NOT NULL,
    frozen_ms    INTEGER NOT NULL,
    lifted_ms    INTEGER,
    lifted_by    TEXT,
    lift_reason  TEXT,
    CHECK ((scope = 'location') = (location IS NOT NULL)),
    CHECK ((scope = 'location') = (sku IS NULL)),
    CHECK ((scope = 'lot') = (lot IS NOT NULL))
) STRICT;
CREATE INDEX stock_freeze_active ON stock_freeze (scope, sku, location) WHERE lifted_ms IS NULL;
-- Units of each SKU central was last told are frozen here.
CREATE TABLE frozen_told (
    sku    TEXT PRIMARY KEY,
    units  INTEGER NOT NULL CHECK (units >= 0)
) STRICT, WITHOUT ROWID;
"#,
    r#"
-- Strategy rules by order profile: the profile an order was released under and the method its
-- shelf lines are picked by; each task's own method (a task on a pod is always picked at a
-- station). Batch and cluster are the methods waves bring.
ALTER TABLE fulfilment ADD COLUMN profile TEXT NOT NULL DEFAULT 'multi_line'
    CHECK (profile IN ('single_unit', 'multi_line'));
ALTER TABLE fulfilment ADD COLUMN method TEXT NOT NULL DEFAULT 'discrete'
    CHECK (method IN ('discrete', 'batch', 'cluster'));
ALTER TABLE pick_task ADD COLUMN method TEXT NOT NULL DEFAULT 'discrete'
    CHECK (method IN ('station', 'discrete', 'batch', 'cluster'));
CREATE INDEX pick_task_open_by_method ON pick_task (method, state, id);
"#,
    r#"
-- Pick faces: the shelf bins a SKU is picked from, refilled from its other shelf bins (its
-- reserve) when the projected level falls below min. A SKU with a face is picked only there
-- (and from pods); a SKU without one from any bin, as before.
CREATE TABLE pick_face (
    location    TEXT PRIMARY KEY REFERENCES location(code),
    sku         TEXT NOT NULL REFERENCES sku(sku),
    min_qty     INTEGER NOT NULL CHECK (min_qty >= 0),
    max_qty     INTEGER NOT NULL CHECK (max_qty > min_qty AND max_qty <= 100000),
    updated_ms  INTEGER NOT NULL
) STRICT;
CREATE INDEX pick_face_by_sku ON pick_face (sku);
-- Refills from reserve to a pick face, as handheld tasks: scan the reserve bin, the item, then
-- the face. `why` is below_min (topping up) or shortfall (picks already wait for it).
CREATE TABLE replenishment (
    id             INTEGER PRIMARY KEY,
    sku            TEXT NOT NULL REFERENCES sku(sku),
    lot            TEXT NOT NULL,
    from_location  TEXT NOT NULL REFERENCES location(code),
    to_location    TEXT NOT NULL REFERENCES location(code),
    qty            INTEGER NOT NULL CHECK (qty > 0),
    state          TEXT NOT NULL CHECK (state IN ('open', 'at_source', 'carrying', 'done', 'cancelled')),
    why            TEXT NOT NULL CHECK (why IN ('below_min', 'shortfall')),
    worker         TEXT,
    created_ms     INTEGER NOT NULL,
    updated_ms     INTEGER NOT NULL,
    done_ms        INTEGER,
    cancel_reason  TEXT
) STRICT;
CREATE INDEX replenishment_live_from ON replenishment (from_location, sku, lot) WHERE state IN ('open', 'at_source', 'carrying');
CREATE INDEX replenishment_live_to ON replenishment (to_location, sku, lot) WHERE state IN ('open', 'at_source', 'carrying');
"#,
    r#"
-- For the warehouse KPIs: who finished each pick and where (a goods-to-person station), when;
-- when each order shipped.
ALTER TABLE pick_task ADD COLUMN picked_by TEXT;
ALTER TABLE pick_task ADD COLUMN station TEXT;
ALTER TABLE pick_task ADD COLUMN picked_ms INTEGER;
CREATE INDEX pick_task_picked ON pick_task (picked_ms) WHERE picked_ms IS NOT NULL;
ALTER TABLE fulfilment ADD COLUMN shipped_ms INTEGER;
CREATE INDEX fulfilment_shipped ON fulfilment (shipped_ms) WHERE shipped_ms IS NOT NULL;
"#,
    r#"
-- Waves: orders picked onto carts (batch and cluster methods) wait in a pool until a wave takes
-- them. A wave's batches are a tote of single-unit orders or a cart of multi-line ones (one tote
-- each); its tasks are walked in `seq` order. A task on a cart is done when its tote is scanned.
CREATE TABLE wave (
    id           INTEGER PRIMARY KEY,
    state        TEXT NOT NULL CHECK (state IN ('planned', 'released', 'held', 'cancelled', 'done')),
    cutoff_ms    INTEGER,
    orders       INTEGER NOT NULL,
    lines        INTEGER NOT NULL,
    created_ms   INTEGER NOT NULL,
    released_ms  INTEGER,
    done_ms      INTEGER,
    updated_ms   INTEGER NOT NULL
) STRICT;
CREATE TABLE pick_batch (
    id          INTEGER PRIMARY KEY,
    wave_id     INTEGER NOT NULL REFERENCES wave(id),
    method      TEXT NOT NULL CHECK (method IN ('batch', 'cluster')),
    state       TEXT NOT NULL CHECK (state IN ('open', 'started', 'done', 'cancelled')),
    metres      REAL NOT NULL,
    worker      TEXT,
    created_ms  INTEGER NOT NULL,
    started_ms  INTEGER,
    done_ms     INTEGER
) STRICT;
CREATE INDEX pick_batch_by_wave ON pick_batch (wave_id);
-- A batch's tote slots: one per order on a cluster cart, one shared (order_id NULL) in a batch
-- tote. `tote` is the barcode scanned onto the slot when the picker starts.
CREATE TABLE batch_tote (
    batch_id  INTEGER NOT NULL REFERENCES pick_batch(id),
    slot      INTEGER NOT NULL CHECK (slot >= 1),
    order_id  INTEGER REFERENCES fulfilment(order_id),
    tote      TEXT,
    PRIMARY KEY (batch_id, slot)
) STRICT;
CREATE INDEX batch_tote_by_tote ON batch_tote (tote) WHERE tote IS NOT NULL;
ALTER TABLE fulfilment ADD COLUMN wave_id INTEGER REFERENCES wave(id);
CREATE INDEX fulfilment_wave ON fulfilment (wave_id);
ALTER TABLE pick_task ADD COLUMN batch_id INTEGER REFERENCES pick_batch(id);
ALTER TABLE pick_task ADD COLUMN seq INTEGER;
-- When a batch tote's unit was sorted to its order's carton at packing.
ALTER TABLE pick_task ADD COLUMN sorted_ms INTEGER;
CREATE INDEX pick_task_batch ON pick_task (batch_id, seq) WHERE batch_id IS NOT NULL;
"#,
    r#"
-- Dock appointments: a door and a slot per inbound truck (at most one live per delivery), and
-- the visit as it happened.
CREATE TABLE dock_appointment (
    id            INTEGER PRIMARY KEY,
    door          TEXT NOT NULL,
    supplier      TEXT NOT NULL,
    delivery      TEXT REFERENCES delivery(id),
    start_ms      INTEGER NOT NULL,
    end_ms        INTEGER NOT NULL CHECK (end_ms > start_ms),
    state         TEXT NOT NULL CHECK (state IN ('booked', 'arrived', 'unloading', 'unloaded', 'cancelled', 'no_show')),
    arrived_ms    INTEGER,
    unloading_ms  INTEGER,
    unloaded_ms   INTEGER,
    created_ms    INTEGER NOT NULL,
    updated_ms    INTEGER NOT NULL
) STRICT;
CREATE INDEX dock_appointment_by_time ON dock_appointment (start_ms);
CREATE UNIQUE INDEX dock_appointment_live_delivery ON dock_appointment (delivery) WHERE delivery IS NOT NULL AND state IN ('booked', 'arrived', 'unloading');
"#,
    r#"
-- Bulky items: a SKU's unit weight and longest side, from the catalog's shipping size (NULL
-- until measured); an order with a bulky line is picked by the bulky profile's method.
-- `fulfilment.profile` keeps the order's shape (single_unit, multi_line); `bulky` says it has one.
ALTER TABLE sku ADD COLUMN weight_g INTEGER CHECK (weight_g > 0);
ALTER TABLE sku ADD COLUMN longest_mm INTEGER CHECK (longest_mm > 0);
ALTER TABLE fulfilment ADD COLUMN bulky INTEGER NOT NULL DEFAULT 0 CHECK (bulky IN (0, 1));
"#];

/// A migrated in-memory database, for the store's unit tests.
#[cfg(test)]
pub fn memory_db() -> rusqlite::Connection {
    let mut conn = rusqlite::Connection::open_in_memory().expect("an in-memory database");
    tote_shared::runtime::sqlite::migrate(&mut conn, MIGRATIONS).expect("migrations apply");
    conn
}
