import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { failure } from '../../tests/support/failure';
import { waitFor } from '../../tests/support/wait';
import type { Db, Tx } from '../db/client';
import { noopTelemetry, type Telemetry } from '../telemetry/telemetry';
import { generateSigningKey, type SigningKey } from './crypto';
import type { LedgerEntry } from './entry';
import { type Appended, createLedger, type Ledger, type LedgerEvent } from './store';

/** One group commit: how it was written and which callers it answered, numbered in the order they appended. */
interface Group {
  path: string;
  callers: number[];
}

/**
 * Telemetry that remembers every group commit. Each append captures its caller's trace context;
 * here that context is the caller's number, so a commit's parent and links name its callers.
 */
function recordGroups() {
  const groups: Group[] = [];
  let callers = 0;
  const telemetry: Telemetry = {
    ...noopTelemetry,
    captureContext: () => callers++,
    inSpan: (name, attributes, fn, options) => {
      if (name === 'ledger.commit') {
        const members = [options?.parent, ...(options?.links ?? [])] as number[];
        groups.push({ path: String(attributes['ledger.path']), callers: members });
      }
      return noopTelemetry.inSpan(name, attributes, fn, options);
    },
  };
  return {
    telemetry,
    groups,
    /** Forgets what was recorded so far and numbers the next caller 0. */
    reset() {
      groups.length = 0;
      callers = 0;
    },
  };
}

/**
 * The signing key, counting signatures made: building a group signs the group's checkpoint (a note
 * body) and nothing else; entries are no longer signed one by one.
 */
function countSignatures(key: SigningKey) {
  let signed = 0;
  let checkpoints = 0;
  const counting: SigningKey = {
    ...key,
    async sign(message) {
      const signature = await key.sign(message);
      signed++;
      return signature;
    },
    async signBytes(message) {
      const signature = await key.signBytes(message);
      checkpoints++;
      return signature;
    },
  };
  return { key: counting, signed: () => signed, checkpoints: () => checkpoints };
}

/**
 * Holds the writers' lock in a transaction, after running `whileHeld` in it, so a group reaching the
 * database waits there (on PGlite, whose one connection the transaction holds, every statement
 * waits). Tests hold it only while a few signatures are made: PostgreSQL cancels a statement kept
 * waiting past its statement_timeout (5 s). Resolves to the release, which waits for the commit.
 */
async function holdWriters(ledger: Ledger, db: Db, whileHeld?: (tx: Tx) => Promise<unknown>) {
  let release = () => {};
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let held = () => {};
  const holding = new Promise<void>((resolve) => {
    held = resolve;
  });
  const done = db.transaction(async (tx) => {
    await ledger.lock(tx);
    await whileHeld?.(tx);
    held();
    await released;
  });
  await holding;
  return async () => {
    release();
    await done;
  };
}

/** Polls often: the writers' lock is held meanwhile. */
const soon = <T>(what: string, probe: () => T | undefined) => waitFor(what, async () => probe(), 30_000, 10);

const decision = (id: string, extra: Record<string, unknown> = {}): LedgerEvent => ({
  eventType: 'decision',
  data: { decision_id: id, ...extra },
});

/** Appends `events` in one synchronous burst, as concurrent requests would; settles every caller. */
function burst(ledger: Ledger, events: LedgerEvent[]) {
  return Promise.allSettled(events.map((event) => ledger.append(event)));
}

function fulfilled(outcome: PromiseSettledResult<Appended>): LedgerEntry {
  if (outcome.status === 'rejected') throw outcome.reason;
  return outcome.value.entry;
}

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(backends())('group commit on $name', (backend) => {
  let tdb: TestDatabase;
  let signingKey: SigningKey;
  let signatures: ReturnType<typeof countSignatures>;
  let recorder: ReturnType<typeof recordGroups>;
  /** Releases of the writers' lock (each may be called twice), so a failed test does not leave it held. */
  let releases: (() => Promise<void>)[];

  beforeEach(async () => {
    tdb = await backend.open();
    signingKey = await generateSigningKey();
    signatures = countSignatures(signingKey);
    recorder = recordGroups();
    releases = [];
  });
  afterEach(async () => {
    for (const release of releases) await release();
    await tdb.close();
  });

  async function holdWritersUntilReleased(ledger: Ledger, db: Db, whileHeld?: (tx: Tx) => Promise<unknown>) {
    const release = await holdWriters(ledger, db, whileHeld);
    releases.push(release);
    return release;
  }

  const openLedger = (maxBatch: number, db: Db = tdb.database.db) =>
    createLedger({ db, signingKey: signatures.key, telemetry: recorder.telemetry, maxBatch });

  /** Appends one event alone and returns the head index, so the writer knows its head. */
  async function warmUp(ledger: Ledger): Promise<number> {
    const { entry } = await ledger.append(decision('dec_warm'));
    recorder.reset();
    return entry.index;
  }

  /** Whether the chain from genesis verifies, with this many entries. */
  async function expectValidChain(ledger: Ledger, entries: number) {
    expect(await ledger.verify()).toMatchObject({ valid: true, entries_checked: entries });
  }

  it('answers each of 100 concurrent appends with its own committed entry, in the order they joined, on one chain', async () => {
    const ledger = openLedger(16);
    const outcomes = await burst(
      ledger,
      range(0, 99).map((i) => decision(`dec_${i}`)),
    );
    const entries = outcomes.map(fulfilled);

    // An empty ledger: the first group writes genesis at 0 before its caller's entry.
    expect(entries.map((e) => e.index)).toEqual(range(1, 100));
    expect(entries.map((e) => e.data.decision_id)).toEqual(range(0, 99).map((i) => `dec_${i}`));
    const genesis = (await ledger.entryByIndex(0)) as LedgerEntry;
    expect(genesis.event_type).toBe('genesis');
    for (const [i, entry] of entries.entries()) {
      expect(entry.previous_hash).toBe(i === 0 ? genesis.entry_hash : entries[i - 1]?.entry_hash);
      const stored = await ledger.entryByIndex(entry.index);
      expect(stored).toMatchObject({
        entry_id: entry.entry_id,
        entry_hash: entry.entry_hash,
        signature: entry.signature,
      });
    }
    await expectValidChain(ledger, 101);
    expect(recorder.groups.flatMap((g) => g.callers)).toEqual(range(0, 99));
    expect(recorder.groups.length).toBeLessThan(100);
  });

  it('commits a burst of callers together in groups of at most maxBatch, each group with one checkpoint signature', async () => {
    const ledger = openLedger(16);
    const entries = (
      await burst(
        ledger,
        range(0, 49).map((i) => decision(`dec_${i}`)),
      )
    ).map(fulfilled);

    expect(recorder.groups).toEqual([
      // No head known yet: the first group reads it under the lock.
      { path: 'locked', callers: range(0, 15) },
      { path: 'single_statement', callers: range(16, 31) },
      { path: 'single_statement', callers: range(32, 47) },
      { path: 'single_statement', callers: [48, 49] },
    ]);
    expect(signatures.checkpoints()).toBe(4);
    expect(signatures.signed()).toBe(0);
    expect(entries.map((e) => e.index)).toEqual(range(1, 50));
    await expectValidChain(ledger, 51);
  });

  it('hashes and signs the group queued behind one still in the database, and commits it in one statement once that one lands', async () => {
    const ledger = openLedger(2);
    const head = await warmUp(ledger);
    const before = signatures.checkpoints();
    const release = await holdWritersUntilReleased(ledger, tdb.database.db);

    const answered: string[] = [];
    const append = (id: string) =>
      ledger.append(decision(id)).then(({ entry }) => {
        answered.push(id);
        return entry;
      });
    const appends = ['first', 'second', 'third', 'fourth'].map(append);
    // The first group waits for the writers' lock; the next one is signed meanwhile.
    await soon(
      'the group behind the waiting one to be signed',
      () => signatures.checkpoints() - before === 2 || undefined,
    );
    expect(answered).toEqual([]);
    await release();

    const entries = await Promise.all(appends);
    expect(entries.map((e) => e.index)).toEqual(range(head + 1, head + 4));
    expect(answered).toEqual(['first', 'second', 'third', 'fourth']);
    expect(recorder.groups).toEqual([
      { path: 'single_statement', callers: [0, 1] },
      { path: 'single_statement', callers: [2, 3] },
    ]);
    await expectValidChain(ledger, head + 5);
  });

  it('answers a caller only once its group is committed, while callers arriving meanwhile fill the next group', async () => {
    const ledger = openLedger(16);
    const head = await warmUp(ledger);
    const release = await holdWritersUntilReleased(ledger, tdb.database.db);

    const answered: string[] = [];
    const append = (id: string) =>
      ledger.append(decision(id)).then(({ entry }) => {
        answered.push(id);
        return entry;
      });
    const inFlight = append('in_flight');
    await soon('the first group to reach the database', () => recorder.groups.length === 1 || undefined);
    const later: Promise<LedgerEntry>[] = [];
    for (const id of ['late_1', 'late_2', 'late_3', 'late_4']) {
      later.push(append(id));
      // Each arrives in its own turn of the event loop, all while the first group waits.
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(answered).toEqual([]);
    await release();

    const entries = [await inFlight, ...(await Promise.all(later))];
    expect(entries.map((e) => e.index)).toEqual(range(head + 1, head + 5));
    expect(answered).toEqual(['in_flight', 'late_1', 'late_2', 'late_3', 'late_4']);
    expect(recorder.groups.map((g) => g.callers)).toEqual([[0], [1, 2, 3, 4]]);
    await expectValidChain(ledger, head + 6);
  });

  it('fails only the caller whose event cannot be stored, never its neighbours in the group or the group after', async () => {
    const ledger = openLedger(3);
    const head = await warmUp(ledger);
    const outcomes = await burst(ledger, [
      decision('neighbour_1'),
      // Groups of three: this one repeats a decision id the ledger already holds.
      decision('dec_warm'),
      decision('neighbour_2'),
      decision('next_1'),
      decision('next_2'),
      decision('next_3'),
    ]);

    expect(recorder.groups.map((g) => g.callers)).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'fulfilled',
      'fulfilled',
      'fulfilled',
    ]);
    const entries = outcomes.filter((o) => o.status === 'fulfilled').map(fulfilled);
    expect(entries.map((e) => e.data.decision_id)).toEqual([
      'neighbour_1',
      'neighbour_2',
      'next_1',
      'next_2',
      'next_3',
    ]);
    // The refused event takes no index: no gap where it would have been.
    expect(entries.map((e) => e.index)).toEqual(range(head + 1, head + 5));
    await expectValidChain(ledger, head + 6);
  });

  it('rejects exactly the callers of a group the database cannot commit, and commits the group after it', async () => {
    // The disk fills while one group is written: it cannot be committed at all, whatever it holds.
    await tdb.superuser(
      `create function test_disk_full() returns trigger language plpgsql as $$
         begin
           if new.data ? 'disk_fills' then raise exception 'could not extend file' using errcode = 'disk_full'; end if;
           return new;
         end $$;
       create trigger test_disk_full before insert on ledger_entries for each row execute function test_disk_full()`,
    );
    const ledger = openLedger(3);
    const head = await warmUp(ledger);
    const outcomes = await burst(ledger, [
      decision('before_1'),
      decision('before_2'),
      decision('before_3'),
      decision('doomed_1', { disk_fills: true }),
      // Its neighbours fail with it: a database that cannot write is not retried event by event.
      decision('doomed_2'),
      decision('doomed_3'),
      decision('after_1'),
      decision('after_2'),
      decision('after_3'),
    ]);

    expect(recorder.groups).toEqual([
      { path: 'single_statement', callers: [0, 1, 2] },
      { path: 'single_statement', callers: [3, 4, 5] },
      // Prepared on the failed group's predicted head, so rebuilt on the real one under the lock.
      { path: 'locked', callers: [6, 7, 8] },
    ]);
    const fate = (status: string, n: number) => Array<string>(n).fill(status);
    expect(outcomes.map((o) => o.status)).toEqual([
      ...fate('fulfilled', 3),
      ...fate('rejected', 3),
      ...fate('fulfilled', 3),
    ]);
    for (const outcome of outcomes.slice(3, 6)) {
      expect(outcome).toMatchObject({ reason: { cause: { code: '53100' } } });
    }
    const entries = outcomes.filter((o) => o.status === 'fulfilled').map(fulfilled);
    expect(entries.map((e) => e.data.decision_id)).toEqual([
      'before_1',
      'before_2',
      'before_3',
      'after_1',
      'after_2',
      'after_3',
    ]);
    expect(entries.map((e) => e.index)).toEqual(range(head + 1, head + 6));
    // The writer keeps serving once its loop has gone idle.
    expect((await ledger.append(decision('later'))).entry.index).toBe(head + 7);
    await expectValidChain(ledger, head + 8);
  });

  it('rebuilds on the real head, failing nobody, when another instance extends the chain while a group waits', async () => {
    const ledger = openLedger(2);
    const head = await warmUp(ledger);
    const elsewhere = (await tdb.openInstance()).db;
    const other = createLedger({ db: elsewhere, signingKey, telemetry: noopTelemetry });
    let othersEntries: LedgerEntry[] = [];
    const before = signatures.checkpoints();
    const release = await holdWritersUntilReleased(other, elsewhere, async (tx) => {
      othersEntries = await other.appendInTransaction(tx, [decision('elsewhere')]);
    });

    const appends = ['first', 'second', 'third'].map((id) => ledger.append(decision(id)));
    // The first group is built on the head this instance last committed, no longer the real one.
    await soon('both groups to be signed', () => signatures.checkpoints() - before === 2 || undefined);
    await release();

    const entries = (await Promise.all(appends)).map((a) => a.entry);
    expect(othersEntries.map((e) => e.index)).toEqual([head + 1]);
    expect(entries.map((e) => e.index)).toEqual(range(head + 2, head + 4));
    expect(entries.map((e) => e.data.decision_id)).toEqual(['first', 'second', 'third']);
    // The second group was prepared on the first's predicted head, which did not land: rebuilt under the lock.
    expect(recorder.groups).toEqual([
      { path: 'single_statement', callers: [0, 1] },
      { path: 'locked', callers: [2] },
    ]);
    await expectValidChain(ledger, head + 5);
  });

  it('keeps one chain with no gap or duplicate when two instances append at once', async () => {
    const ledger = openLedger(8);
    const other = openLedger(8, (await tdb.openInstance()).db);
    const head = await warmUp(ledger);
    const appends = range(0, 59).map((i) => (i % 2 === 0 ? ledger : other).append(decision(`dec_${i}`)));
    const entries = (await Promise.all(appends)).map((a) => a.entry);

    expect(entries.map((e) => e.data.decision_id)).toEqual(range(0, 59).map((i) => `dec_${i}`));
    expect(entries.map((e) => e.index).sort((a, b) => a - b)).toEqual(range(head + 1, head + 60));
    await expectValidChain(ledger, head + 61);
  });

  it('reads the head under the lock for the next group after an append outside the writer', async () => {
    const ledger = openLedger(16);
    const head = await warmUp(ledger);
    await tdb.database.db.transaction((tx) => ledger.appendInTransaction(tx, [decision('in_a_transaction')]));

    const { entry } = await ledger.append(decision('after'));
    expect(entry.index).toBe(head + 2);
    expect(recorder.groups).toEqual([{ path: 'locked', callers: [0] }]);
    await expectValidChain(ledger, head + 3);
  });

  it('rejects a lone caller whose event cannot be stored, and answers the next caller', async () => {
    const ledger = openLedger(16);
    const head = await warmUp(ledger);
    const refused = await failure(() => ledger.append(decision('dec_warm')));
    expect(refused).toMatchObject({ cause: { code: '23505' } });
    expect((await ledger.append(decision('next'))).entry.index).toBe(head + 1);
  });
});
