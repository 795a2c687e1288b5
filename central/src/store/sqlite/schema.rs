//! Central's embedded migrations. Append only: a shipped migration is never edited.

pub const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE spu (
    id        TEXT PRIMARY KEY,
    name      TEXT NOT NULL,
    brand     TEXT NOT NULL,
    category  TEXT NOT NULL
) STRICT;

CREATE TABLE sku (
    sku         TEXT PRIMARY KEY,
    spu_id      TEXT NOT NULL REFERENCES spu(id),
    gtin        TEXT NOT NULL UNIQUE,
    gender      TEXT NOT NULL,
    colour      TEXT NOT NULL,
    size        TEXT NOT NULL,
    price_minor INTEGER NOT NULL CHECK (price_minor >= 0),
    cost_minor  INTEGER NOT NULL CHECK (cost_minor >= 0),
    created_ms  INTEGER NOT NULL
) STRICT;

CREATE TABLE warehouse (
    code        TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    lat         REAL NOT NULL,
    lon         REAL NOT NULL,
    token_hash  TEXT NOT NULL UNIQUE,
    created_ms  INTEGER NOT NULL
) STRICT;

-- Central's view of each SKU in each warehouse. Sellable = on_hand - locked - committed.
CREATE TABLE stock (
    sku        TEXT NOT NULL REFERENCES sku(sku),
    warehouse  TEXT NOT NULL REFERENCES warehouse(code),
    on_hand    INTEGER NOT NULL DEFAULT 0 CHECK (on_hand >= 0),
    locked     INTEGER NOT NULL DEFAULT 0 CHECK (locked >= 0),
    committed  INTEGER NOT NULL DEFAULT 0 CHECK (committed >= 0),
    PRIMARY KEY (sku, warehouse)
) STRICT, WITHOUT ROWID;

-- Append-only: every change of a stock counter, with its cause.
CREATE TABLE inventory_ledger (
    id            INTEGER PRIMARY KEY,
    at_ms         INTEGER NOT NULL,
    sku           TEXT NOT NULL,
    warehouse     TEXT NOT NULL,
    field         TEXT NOT NULL CHECK (field IN ('on_hand', 'locked', 'committed')),
    delta         INTEGER NOT NULL,
    balance_after INTEGER NOT NULL,
    cause         TEXT NOT NULL,
    reference     TEXT NOT NULL
) STRICT;
CREATE INDEX inventory_ledger_sku ON inventory_ledger (sku, warehouse, id);
CREATE TRIGGER inventory_ledger_no_update BEFORE UPDATE ON inventory_ledger
BEGIN SELECT RAISE(ABORT, 'inventory_ledger is append-only'); END;
CREATE TRIGGER inventory_ledger_no_delete BEFORE DELETE ON inventory_ledger
BEGIN SELECT RAISE(ABORT, 'inventory_ledger is append-only'); END;

CREATE TABLE orders (
    id                  INTEGER PRIMARY KEY,
    state               TEXT NOT NULL,
    channel             TEXT NOT NULL,
    warehouse           TEXT REFERENCES warehouse(code),
    ship_to             TEXT NOT NULL,
    dest_lat            REAL NOT NULL,
    dest_lon            REAL NOT NULL,
    total_minor         INTEGER NOT NULL,
    tracking_number     TEXT,
    carrier             TEXT,
    created_ms          INTEGER NOT NULL,
    payment_deadline_ms INTEGER NOT NULL,
    updated_ms          INTEGER NOT NULL
) STRICT;
CREATE INDEX orders_awaiting_payment ON orders (payment_deadline_ms) WHERE state = 'awaiting_payment';
CREATE INDEX orders_backordered ON orders (id) WHERE state = 'backordered';

CREATE TABLE order_line (
    order_id          INTEGER NOT NULL REFERENCES orders(id),
    line_no           INTEGER NOT NULL,
    sku               TEXT NOT NULL REFERENCES sku(sku),
    qty               INTEGER NOT NULL CHECK (qty > 0),
    unit_price_minor  INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
) STRICT;

CREATE TABLE order_history (
    id          INTEGER PRIMARY KEY,
    order_id    INTEGER NOT NULL REFERENCES orders(id),
    at_ms       INTEGER NOT NULL,
    from_state  TEXT NOT NULL,
    to_state    TEXT NOT NULL,
    cause       TEXT NOT NULL,
    warehouse   TEXT
) STRICT;
CREATE INDEX order_history_order ON order_history (order_id, id);

CREATE TABLE idempotency (
    key           TEXT PRIMARY KEY,
    request_hash  TEXT NOT NULL,
    order_id      INTEGER NOT NULL REFERENCES orders(id),
    response      TEXT NOT NULL,
    created_ms    INTEGER NOT NULL
) STRICT;

-- Per edge: how far its events are applied, how far its command stream goes.
CREATE TABLE edge_stream (
    warehouse          TEXT PRIMARY KEY REFERENCES warehouse(code),
    events_high_water  INTEGER NOT NULL DEFAULT 0,
    last_push_ms       INTEGER,
    commands_seq       INTEGER NOT NULL DEFAULT 0
) STRICT;

CREATE TABLE edge_command (
    warehouse   TEXT NOT NULL REFERENCES warehouse(code),
    seq         INTEGER NOT NULL,
    body        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    PRIMARY KEY (warehouse, seq)
) STRICT, WITHOUT ROWID;

-- Edge events that were applied to the stream but could not change an order (e.g. a pick
-- for an order already cancelled). Kept for HQ; never silently dropped.
CREATE TABLE sync_reject (
    id         INTEGER PRIMARY KEY,
    warehouse  TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    event      TEXT NOT NULL,
    reason     TEXT NOT NULL,
    at_ms      INTEGER NOT NULL
) STRICT;
"#];
