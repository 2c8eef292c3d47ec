-- Reference legacy order database for cdcflow.
--
-- The schema of an order system that has grown since 2009: one-letter status
-- codes, local times without a zone next to newer timestamptz columns, a
-- module whose tables use quoted CamelCase names, free-text columns that can
-- hold tens of kilobytes, and a busy audit table that nobody wants in the
-- change stream. cdcflow must cope with all of it unchanged: that is the point.
--
-- The canonical copy is internal/loadgen/schema.sql (embedded in the cdcflow
-- binary for "cdcflow loadgen --init"); deploy/examples/orders/schema.sql is
-- an identical copy, kept equal by a test.

CREATE TYPE payment_method AS ENUM ('card', 'invoice', 'paypal', 'bank_transfer', 'cash_on_delivery');

CREATE TABLE customers (
    customer_id  serial PRIMARY KEY,
    email        varchar(255) NOT NULL UNIQUE,
    full_name    varchar(200) NOT NULL,
    phone        varchar(40),
    country      char(2) NOT NULL DEFAULT 'DE',
    tags         text[] NOT NULL DEFAULT '{}',        -- marketing segments
    remarks      text,                                -- free text from support; sometimes huge
    created_at   timestamp NOT NULL,                  -- legacy: local time of the shop, no zone
    updated_at   timestamptz NOT NULL
);

CREATE TABLE products (
    product_id   serial PRIMARY KEY,
    sku          varchar(32) NOT NULL UNIQUE,
    title        varchar(200) NOT NULL,
    unit_price   numeric(12,2) NOT NULL CHECK (unit_price >= 0),
    attributes   jsonb NOT NULL DEFAULT '{}',         -- colour, size, weight_g, ...
    active       boolean NOT NULL DEFAULT true,
    created_at   timestamp NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- status: N new (requested), C confirmed (promised), D declined,
--         S shipped (declared), V delivered (accepted), R returned (rejected),
--         X cancelled (revoked). See README.md.
CREATE TABLE orders (
    order_id          bigserial PRIMARY KEY,
    customer_id       integer NOT NULL REFERENCES customers,
    status            char(1) NOT NULL DEFAULT 'N' CHECK (status IN ('N', 'C', 'D', 'S', 'V', 'R', 'X')),
    total             numeric(12,2) NOT NULL DEFAULT 0,
    currency          char(3) NOT NULL DEFAULT 'EUR',
    shipping_address  jsonb NOT NULL,
    notes             text,                           -- customer remarks; now and then > 8 kB (TOASTed)
    "createdBy"       varchar(64) NOT NULL,           -- added by a 2014 module that quoted its names
    ordered_at        timestamp NOT NULL,             -- legacy: local time, no zone
    updated_at        timestamptz NOT NULL
);
CREATE INDEX orders_customer_id_idx ON orders (customer_id);
CREATE INDEX orders_status_idx ON orders (status);
-- The status rules of the reference mapping compare an order's old and new
-- values, which pgoutput sends only under REPLICA IDENTITY FULL.
ALTER TABLE orders REPLICA IDENTITY FULL;

CREATE TABLE order_lines (
    order_id     bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_no      integer NOT NULL,
    product_id   integer NOT NULL REFERENCES products,
    quantity     integer NOT NULL CHECK (quantity > 0),
    unit_price   numeric(12,2) NOT NULL,
    discount     numeric(5,2) NOT NULL DEFAULT 0,    -- percent
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE payments (
    payment_id   bigserial PRIMARY KEY,
    order_id     bigint NOT NULL REFERENCES orders,
    method       payment_method NOT NULL,
    amount       numeric(12,2) NOT NULL,              -- negative for a refund
    reference    varchar(64),
    paid_at      timestamptz NOT NULL
);
CREATE INDEX payments_order_id_idx ON payments (order_id);

-- The logistics module (2014) quoted its CamelCase names.
CREATE TABLE "ShipmentTracking" (
    shipment_id    bigserial PRIMARY KEY,
    order_id       bigint NOT NULL REFERENCES orders,
    carrier        varchar(40) NOT NULL,
    "trackingNo"   varchar(64) NOT NULL,
    shipped_at     timestamp NOT NULL,
    delivered_at   timestamp,
    returned_at    timestamp
);
CREATE INDEX "ShipmentTracking_order_id_idx" ON "ShipmentTracking" (order_id);

-- Written by every transaction of the application and by logins: busy, and
-- not captured.
CREATE TABLE audit_log (
    audit_id     bigserial PRIMARY KEY,
    logged_at    timestamptz NOT NULL,
    actor        varchar(64) NOT NULL,
    action       varchar(32) NOT NULL,
    entity       varchar(32) NOT NULL,
    entity_id    bigint,
    details      jsonb
);
