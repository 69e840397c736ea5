-- The ledger is append-only and linear, enforced by the database rather than by application code:
-- rows can never be updated or deleted, and every insert must extend the current head by exactly one.
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_no_update_delete BEFORE UPDATE OR DELETE ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE FUNCTION ledger_check_link() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  expected text;
BEGIN
  IF NEW.seq = 0 THEN
    expected := repeat('0', 64);
  ELSE
    SELECT entry_hash INTO expected FROM ledger_entries WHERE seq = NEW.seq - 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'ledger entry % would leave a gap', NEW.seq USING ERRCODE = 'integrity_constraint_violation';
    END IF;
  END IF;
  IF NEW.previous_hash IS DISTINCT FROM expected THEN
    RAISE EXCEPTION 'ledger entry % does not link to its predecessor', NEW.seq USING ERRCODE = 'integrity_constraint_violation';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE TRIGGER ledger_entries_linear BEFORE INSERT ON ledger_entries
  FOR EACH ROW EXECUTE FUNCTION ledger_check_link();
--> statement-breakpoint
-- Policy history is evidence too: a loaded version is never edited or removed.
CREATE TRIGGER policies_no_update_delete BEFORE UPDATE OR DELETE ON policies
  FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();
--> statement-breakpoint
CREATE TRIGGER policies_no_truncate BEFORE TRUNCATE ON policies
  FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change();
