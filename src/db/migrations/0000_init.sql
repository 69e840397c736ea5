CREATE TABLE "api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"role" text NOT NULL,
	"key_hash" text NOT NULL,
	"created_at" timestamp (3) with time zone NOT NULL,
	"created_by" text NOT NULL,
	"revoked_at" timestamp (3) with time zone,
	CONSTRAINT "api_keys_role_check" CHECK ("api_keys"."role" in ('admin', 'auditor', 'agent'))
);
--> statement-breakpoint
CREATE TABLE "ledger_entries" (
	"seq" bigint PRIMARY KEY NOT NULL,
	"entry_id" text NOT NULL,
	"event_type" text NOT NULL,
	"timestamp" timestamp (3) with time zone NOT NULL,
	"data" jsonb NOT NULL,
	"previous_hash" text NOT NULL,
	"entry_hash" text NOT NULL,
	"signature" text NOT NULL,
	"key_id" text NOT NULL
);
--> statement-breakpoint
CREATE TABLE "policies" (
	"id" serial PRIMARY KEY NOT NULL,
	"name" text NOT NULL,
	"policy_version" text NOT NULL,
	"mode" text NOT NULL,
	"hash" text NOT NULL,
	"document" jsonb NOT NULL,
	"terms_count" integer NOT NULL,
	"relations_count" integer NOT NULL,
	"loaded_at" timestamp (3) with time zone NOT NULL,
	"loaded_by" text NOT NULL,
	"ledger_seq" bigint NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX "api_keys_key_hash_key" ON "api_keys" USING btree ("key_hash");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_entry_id_key" ON "ledger_entries" USING btree ("entry_id");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_entries_entry_hash_key" ON "ledger_entries" USING btree ("entry_hash");--> statement-breakpoint
CREATE INDEX "ledger_entries_event_type_seq_idx" ON "ledger_entries" USING btree ("event_type","seq");--> statement-breakpoint
CREATE UNIQUE INDEX "ledger_decisions_decision_id_key" ON "ledger_entries" USING btree (("data"->>'decision_id')) WHERE event_type = 'decision';--> statement-breakpoint
CREATE INDEX "ledger_decisions_actor_idx" ON "ledger_entries" USING btree (("data"->>'actor'),"seq") WHERE event_type = 'decision';--> statement-breakpoint
CREATE INDEX "ledger_decisions_timestamp_idx" ON "ledger_entries" USING btree ("timestamp") WHERE event_type = 'decision';--> statement-breakpoint
CREATE INDEX "policies_hash_idx" ON "policies" USING btree ("hash");