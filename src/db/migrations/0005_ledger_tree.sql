-- The ledger's Merkle tree (stored hashes of its complete subtrees) and its signed checkpoints.
-- Existing ledgers get their tree at the next start: the ledger fills it from the entries (src/ledger/tree-store.ts).
CREATE TABLE "ledger_checkpoints" (
	"tree_size" bigint PRIMARY KEY NOT NULL,
	"root_hash" "bytea" NOT NULL,
	"note" text NOT NULL,
	"created_at" timestamp (3) with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "ledger_checkpoints_sha256" CHECK (octet_length("ledger_checkpoints"."root_hash") = 32),
	CONSTRAINT "ledger_checkpoints_not_empty" CHECK ("ledger_checkpoints"."tree_size" > 0)
);
--> statement-breakpoint
CREATE TABLE "ledger_tree_hashes" (
	"stored_index" bigint PRIMARY KEY NOT NULL,
	"hash" "bytea" NOT NULL,
	CONSTRAINT "ledger_tree_hashes_sha256" CHECK (octet_length("ledger_tree_hashes"."hash") = 32)
);
--> statement-breakpoint
-- The tree and its checkpoints are evidence like the entries: never edited or removed (ledger_refuse_change is 0001's).
CREATE TRIGGER ledger_tree_hashes_no_update_delete BEFORE UPDATE OR DELETE ON ledger_tree_hashes
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_tree_hashes_no_truncate BEFORE TRUNCATE ON ledger_tree_hashes
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_checkpoints_no_update_delete BEFORE UPDATE OR DELETE ON ledger_checkpoints
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_checkpoints_no_truncate BEFORE TRUNCATE ON ledger_checkpoints
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
