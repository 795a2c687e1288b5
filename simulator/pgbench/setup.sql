-- Tables for order_intake.sql: 1,000 stock rows with plenty of stock, an empty order table.
DROP TABLE IF EXISTS stock, orders;
CREATE TABLE stock (sku INTEGER PRIMARY KEY, avail BIGINT NOT NULL);
CREATE TABLE orders (id BIGSERIAL PRIMARY KEY, sku INTEGER NOT NULL, qty INTEGER NOT NULL, created TIMESTAMPTZ NOT NULL);
INSERT INTO stock SELECT g, 100000000 FROM generate_series(1, 1000) g;
