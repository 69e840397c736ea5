import { hexToBytes } from '@noble/hashes/utils.js';
import { sql } from 'drizzle-orm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import type { Db } from '../db/client';
import { noopTelemetry } from '../telemetry/telemetry';
import { generateSigningKey, type SigningKey } from './crypto';
import type { LedgerEntry } from './entry';
import { leafHash, rootOf, storedHashIndex, verifyConsistency, verifyInclusion } from './merkle';
import { formatVerifierKey, openNote, parseCheckpoint, parseVerifierKey } from './note';
import { createLedger, type Ledger, type LedgerOptions } from './store';
import type { Receipt } from './tree-store';

const decision = (id: string) => ({ eventType: 'decision' as const, data: { decision_id: id } });
const range = (n: number) => Array.from({ length: n }, (_, i) => i);
const leafOf = (entry: LedgerEntry) => leafHash(hexToBytes(entry.entry_hash));

describe.each(backends())('the ledger’s Merkle tree on $name', (backend) => {
  let tdb: TestDatabase;
  let signingKey: SigningKey;

  beforeEach(async () => {
    tdb = await backend.open();
    signingKey = await generateSigningKey();
  });
  afterEach(() => tdb.close());

  const openLedger = (options: Partial<LedgerOptions> = {}, db: Db = tdb.database.db) =>
    createLedger({ db, signingKey, telemetry: noopTelemetry, ...options });

  /** What an outside verifier holds: the verifier key as /api/ledger/public-key gives it. */
  const verifierOf = (ledger: Ledger) => parseVerifierKey(formatVerifierKey(ledger.logOrigin, signingKey.raw));

  /** Opens a signed checkpoint with the public key alone and returns its tree size and root. */
  async function openCheckpoint(ledger: Ledger, note: string) {
    const checkpoint = parseCheckpoint((await openNote(note, verifierOf(ledger))).body);
    expect(checkpoint.origin).toBe(ledger.logOrigin);
    return checkpoint;
  }

  async function expectReceiptVerifies(ledger: Ledger, entry: LedgerEntry, receipt: Receipt) {
    const { size, rootHash } = await openCheckpoint(ledger, receipt.checkpoint);
    expect(receipt).toMatchObject({ index: entry.index, tree_size: size });
    expect(receipt.leaf_hash).toBe(Buffer.from(leafOf(entry)).toString('hex'));
    const proof = receipt.inclusion_proof.map((h) => hexToBytes(h));
    expect(verifyInclusion(entry.index, size, leafOf(entry), proof, rootHash)).toBe(true);
  }

  async function allEntries(ledger: Ledger): Promise<LedgerEntry[]> {
    const entries: LedgerEntry[] = [];
    for (let cursor: number | undefined; ; ) {
      const page = await ledger.entries({ order: 'asc', limit: 500, cursor });
      entries.push(...page.entries);
      if (page.nextCursor === null) return entries;
      cursor = page.nextCursor;
    }
  }

  /** The stored tree, as its newest checkpoint signs it, is the tree over every entry. */
  async function expectTreeOverEveryEntry(ledger: Ledger) {
    const entries = await allEntries(ledger);
    const latest = await ledger.checkpoint();
    expect(latest?.treeSize).toBe(entries.length);
    const { size, rootHash } = await openCheckpoint(ledger, latest?.note as string);
    expect(size).toBe(entries.length);
    expect(Buffer.from(rootHash)).toEqual(Buffer.from(rootOf(entries.map(leafOf))));
  }

  /** Every stored checkpoint, oldest first (the tree sizes of every group commit). */
  async function checkpoints(): Promise<{ size: number; note: string }[]> {
    const rows = await tdb.superuser('select tree_size, note from ledger_checkpoints order by tree_size');
    return rows.map((r) => ({ size: Number(r.tree_size), note: String(r.note) }));
  }

  /** Empties the tree's tables as a superuser (their triggers refuse the application). */
  async function forgetTree(fromLeaf = 0) {
    await tdb.superuser(
      `set session_replication_role = replica;
       delete from ledger_tree_hashes where stored_index >= ${storedHashIndex(0, fromLeaf)};
       delete from ledger_checkpoints where tree_size > ${fromLeaf};
       set session_replication_role = origin`,
    );
  }

  it('answers each of 100 concurrent appends with a receipt that verifies against its signed checkpoint', async () => {
    const ledger = openLedger({ maxBatch: 16 });
    const appended = await Promise.all(range(100).map((i) => ledger.append(decision(`dec_${i}`))));

    for (const { entry, receipt } of appended) await expectReceiptVerifies(ledger, entry, receipt);
    // One checkpoint per group commit, not per entry.
    const stored = await checkpoints();
    expect(stored.length).toBeGreaterThan(1);
    expect(stored.length).toBeLessThan(100);
    await expectTreeOverEveryEntry(ledger);
  });

  it('keeps one tree when two instances append at once, and every checkpoint is consistent with every later one', async () => {
    const ledger = openLedger({ maxBatch: 8 });
    const other = openLedger({ maxBatch: 8 }, (await tdb.openInstance()).db);
    const appended = await Promise.all(
      range(60).map((i) => (i % 2 === 0 ? ledger : other).append(decision(`dec_${i}`))),
    );

    for (const { entry, receipt } of appended) await expectReceiptVerifies(ledger, entry, receipt);
    await expectTreeOverEveryEntry(ledger);
    const stored = await checkpoints();
    for (const [i, older] of stored.entries()) {
      const oldRoot = (await openCheckpoint(ledger, older.note)).rootHash;
      for (const newer of stored.slice(i + 1)) {
        const newRoot = (await openCheckpoint(ledger, newer.note)).rootHash;
        const proof = (await ledger.consistencyProof(older.size, newer.size)).hashes.map((h) => hexToBytes(h));
        expect(verifyConsistency(older.size, newer.size, oldRoot, newRoot, proof), `${older.size}→${newer.size}`).toBe(
          true,
        );
      }
    }
  });

  it('keeps one tree when 8 instances each append 50 decisions at once: every receipt verifies, every checkpoint extends the one before', async () => {
    const instances = [openLedger()];
    for (let i = 1; i < 8; i++) instances.push(openLedger({}, (await tdb.openInstance()).db));
    const appended = await Promise.all(
      instances.flatMap((ledger, n) => range(50).map((i) => ledger.append(decision(`dec_${n}_${i}`)))),
    );

    expect(new Set(appended.map((a) => a.entry.index)).size).toBe(400);
    for (const { entry, receipt } of appended) await expectReceiptVerifies(instances[0] as Ledger, entry, receipt);
    await expectTreeOverEveryEntry(instances[0] as Ledger);
    // Consistency between neighbours chains to every pair: each checkpoint extends all before it.
    const stored = await checkpoints();
    for (const [i, newer] of stored.entries()) {
      const older = stored[i - 1];
      if (!older) continue;
      const ledger = instances[i % instances.length] as Ledger;
      const [oldRoot, newRoot] = await Promise.all(
        [older, newer].map(async (c) => (await openCheckpoint(ledger, c.note)).rootHash),
      );
      const proof = (await ledger.consistencyProof(older.size, newer.size)).hashes.map((h) => hexToBytes(h));
      expect(verifyConsistency(older.size, newer.size, oldRoot as Uint8Array, newRoot as Uint8Array, proof)).toBe(true);
    }
  });

  it('proves any entry in any checkpointed tree size from the stored hashes', async () => {
    const ledger = openLedger();
    await ledger.ensureGenesis();
    for (const i of range(12)) await ledger.append(decision(`dec_${i}`));
    const entries = await allEntries(ledger);
    const leaves = entries.map(leafOf);

    for (let size = 1; size <= entries.length; size++) {
      const root = rootOf(leaves.slice(0, size));
      for (let index = 0; index < size; index++) {
        const proof = await ledger.inclusionProof(index, size);
        expect(proof.root_hash).toBe(Buffer.from(root).toString('hex'));
        const hashes = proof.hashes.map((h) => hexToBytes(h));
        expect(verifyInclusion(index, size, leaves[index] as Uint8Array, hashes, root)).toBe(true);
      }
    }
  });

  it('keeps the tree across a restart: a new instance on the same database extends it', async () => {
    const before = openLedger();
    await before.ensureGenesis();
    await Promise.all(range(10).map((i) => before.append(decision(`before_${i}`))));

    const after = openLedger();
    await after.ensureGenesis();
    const appended = await Promise.all(range(10).map((i) => after.append(decision(`after_${i}`))));
    for (const { entry, receipt } of appended) await expectReceiptVerifies(after, entry, receipt);
    await expectTreeOverEveryEntry(after);
  });

  it('builds the tree over a ledger written before it existed, at startup, a page at a time', async () => {
    const old = openLedger();
    await old.ensureGenesis();
    for (const i of range(30)) await old.append(decision(`dec_${i}`));
    await forgetTree();
    expect(await old.checkpoint()).toBeUndefined();

    const restarted = openLedger({ treeFillPageSize: 7 });
    await restarted.ensureGenesis();
    await expectTreeOverEveryEntry(restarted);
    // Filled in pages, checkpointed once at the end.
    expect((await checkpoints()).map((c) => c.size)).toEqual([31]);
    const { entry, receipt } = await restarted.append(decision('after_the_fill'));
    await expectReceiptVerifies(restarted, entry, receipt);
  });

  it('adds to the tree the entries an older build appended without it, when it next appends', async () => {
    const ledger = openLedger();
    await ledger.ensureGenesis();
    for (const i of range(9)) await ledger.append(decision(`dec_${i}`));
    // Entries 6–9 as an older build would leave them: no stored hashes, no checkpoint.
    await forgetTree(6);

    const current = openLedger();
    const { entry, receipt } = await current.append(decision('next'));
    expect(entry.index).toBe(10);
    await expectReceiptVerifies(current, entry, receipt);
    await expectTreeOverEveryEntry(current);
  });

  it('refuses to chain onto entries deleted from under its signed tree, on a fresh instance too, and appends again once they are back', async () => {
    const ledger = openLedger();
    await ledger.ensureGenesis();
    for (const i of range(6)) await ledger.append(decision(`dec_${i}`));
    const signed = await ledger.checkpoint();
    await tdb.superuser(
      `set session_replication_role = replica;
       create table ledger_tail_copy as select * from ledger_entries where seq > 4;
       delete from ledger_entries where seq > 4;
       set session_replication_role = origin;`,
    );

    // Appending at index 5 again would sign a second tree of 7 leaves: a fork of the one signed.
    const fresh = openLedger();
    for (const writer of [ledger, fresh]) {
      await expect(writer.append(decision('after_the_cut'))).rejects.toMatchObject({
        code: 'LEDGER_TRUNCATED',
        status: 503,
        details: { entries: 5, expected: 7 },
      });
    }
    expect(await ledger.checkpoint()).toEqual(signed);
    expect(await fresh.probeWrite()).toBe(false);
    expect(fresh.writeFailure()).toMatchObject({ error: 'LEDGER_TRUNCATED' });

    await tdb.superuser(
      `set session_replication_role = replica;
       insert into ledger_entries (seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id)
       select seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id from ledger_tail_copy;
       drop table ledger_tail_copy;
       set session_replication_role = origin;`,
    );
    expect(await fresh.probeWrite()).toBe(true);
    const { entry, receipt } = await fresh.append(decision('after_the_restore'));
    expect(entry.index).toBe(7);
    await expectReceiptVerifies(fresh, entry, receipt);
    await expectTreeOverEveryEntry(fresh);
  });

  it('signs checkpoints through the signBytes a runtime provides', async () => {
    let signed = 0;
    const ledger = openLedger({
      signBytes: (message) => {
        signed++;
        return signingKey.signBytes(message);
      },
    });
    const { entry, receipt } = await ledger.append(decision('dec_native'));
    expect(signed).toBe(1);
    await expectReceiptVerifies(ledger, entry, receipt);
  });

  it('refuses to change or remove stored tree hashes and checkpoints', async () => {
    const ledger = openLedger();
    await ledger.ensureGenesis();
    for (const statement of [
      'update ledger_tree_hashes set hash = hash',
      'delete from ledger_tree_hashes',
      'truncate ledger_tree_hashes',
      'update ledger_checkpoints set note = note',
      'delete from ledger_checkpoints',
      'truncate ledger_checkpoints',
    ]) {
      await expect(tdb.database.db.execute(sql.raw(statement)), statement).rejects.toMatchObject({
        cause: { code: '42501' },
      });
    }
  });
});
