-- Each entry's size as the JSON text the database sends, so pages are cut by bytes before any data leaves it.
-- Adding a stored column rewrites the table without firing row triggers: the append-only ones allow it.
ALTER TABLE "ledger_entries" ADD COLUMN "data_bytes" integer GENERATED ALWAYS AS (octet_length(data::text)) STORED NOT NULL;
