-- The raw-SQL reference for central's order intake (tote-sim bench intake-vs-pgbench): what
-- one order costs PostgreSQL at its barest — a conditional decrement of one stock row and
-- one order row, in one transaction. `nskus` comes from pgbench -D (1 = one hot row).
\set sku random(1, :nskus)
BEGIN;
UPDATE stock SET avail = avail - 1 WHERE sku = :sku AND avail >= 1;
INSERT INTO orders (sku, qty, created) VALUES (:sku, 1, now());
END;
