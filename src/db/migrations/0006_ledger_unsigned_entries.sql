-- Entries from now on carry no signature of their own: the checkpoint signed for their group commit covers them.
ALTER TABLE "ledger_entries" ALTER COLUMN "signature" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "ledger_entries" ALTER COLUMN "key_id" DROP NOT NULL;--> statement-breakpoint
ALTER TABLE "ledger_entries" ADD CONSTRAINT "ledger_entries_signed_with_key" CHECK (("ledger_entries"."signature" is null) = ("ledger_entries"."key_id" is null));