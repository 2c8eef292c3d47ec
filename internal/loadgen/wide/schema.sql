-- The wide-row workload's database (internal/loadgen/wide.go): what a legacy
-- ERP looks like, not what the reference order database looks like. Rows of
-- a few KB, a quoted mixed-case hot table whose rows sometimes carry a text
-- value over 8 KB (stored out of line, uncompressed, so an update that does
-- not touch it sends it as an unchanged TOAST value), jsonb, array and numeric
-- columns, child rows with a composite key written in their parent's
-- transaction, an enum, and a busy journal that nobody captures.
--
-- REPLICA IDENTITY FULL on the hot table is a parameter of the workload
-- (WideConfig.ReplicaFull), set by InitWide after this file.

CREATE TYPE "DocKind" AS ENUM ('invoice', 'credit note', 'delivery_note', 'quote');

CREATE TABLE "Document" (
    "DocId"      bigint PRIMARY KEY,
    kind         "DocKind" NOT NULL,
    "stateCode"  smallint NOT NULL,
    amount       numeric(18,4) NOT NULL,
    tax_rates    numeric(5,2)[] NOT NULL,
    labels       text[] NOT NULL,
    attrs        jsonb NOT NULL,
    memo         text,                 -- now and then > 8 KB: TOASTed out of line
    filler       text NOT NULL,        -- pads the row to the configured width
    revision     integer NOT NULL,
    issued_on    date NOT NULL,
    updated_at   timestamptz NOT NULL
);
ALTER TABLE "Document" ALTER COLUMN memo SET STORAGE EXTERNAL;
-- The filler is the bulk of a row; kept inline and uncompressed so that the
-- decoded row really is as wide as configured.
ALTER TABLE "Document" ALTER COLUMN filler SET STORAGE MAIN;

CREATE TABLE document_line (
    "DocId"      bigint NOT NULL REFERENCES "Document" ON DELETE CASCADE,
    pos          integer NOT NULL,
    article      varchar(40) NOT NULL,
    qty          numeric(12,3) NOT NULL,
    price        numeric(14,4) NOT NULL,
    dims         integer[] NOT NULL,
    props        jsonb NOT NULL,
    line_text    text NOT NULL,
    PRIMARY KEY ("DocId", pos)
);

-- Busy and uncaptured: every transaction writes it, no publication has it.
CREATE TABLE journal (
    journal_id   bigserial PRIMARY KEY,
    at           timestamptz NOT NULL,
    actor        text NOT NULL,
    payload      text NOT NULL
);
