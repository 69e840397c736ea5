import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLedgerAuditor } from '../src/ledger/auditor';
import { generateSigningKey, portableSha256Hex, type SigningKey } from '../src/ledger/crypto';
import { computeEntryHash, type LedgerEntry } from '../src/ledger/entry';
import { storedHashIndex } from '../src/ledger/merkle';
import { createLedger, type Ledger } from '../src/ledger/store';
import { type LogFields, silentLogger } from '../src/telemetry/logger';
import { noopTelemetry } from '../src/telemetry/telemetry';
import { backends, type TestDatabase } from './support/databases';

/** An attacker with superuser rights but not the signing key: the ledger's append-only triggers switched off. */
async function tamper(tdb: TestDatabase, statement: string) {
  const tables = ['ledger_entries', 'ledger_tree_hashes', 'ledger_checkpoints'];
  await tdb.superuser(
    [
      ...tables.map((t) => `alter table ${t} disable trigger user`),
      statement,
      ...tables.map((t) => `alter table ${t} enable trigger user`),
    ].join('; '),
  );
}

const sqlText = (text: string) => `'${text.replace(/'/g, "''")}'`;

describe.each(backends())('ledger checkpoints verified on $name', (backend) => {
  let tdb: TestDatabase;
  let key: SigningKey;
  let ledger: Ledger;
  let logged: { message: string; fields?: LogFields }[];

  beforeEach(async () => {
    tdb = await backend.open();
    key = await generateSigningKey();
    logged = [];
    ledger = createLedger({
      db: tdb.database.db,
      signingKey: key,
      telemetry: noopTelemetry,
      logger: { ...silentLogger, info: (message, fields) => logged.push({ message, fields }) },
    });
    await ledger.ensureGenesis();
  });
  afterEach(() => tdb.close());

  /** Appends `n` events one after another: one group commit, hence one checkpoint, each. */
  let appended = 0;
  const appendOneByOne = async (n: number) => {
    for (let i = 0; i < n; i++) {
      await ledger.append({ eventType: 'decision', data: { decision_id: `dec_${appended++}` } });
    }
    return (await ledger.head()) as LedgerEntry;
  };
  /** A ledger on its own connection that appended and verified nothing, with no shared watermark to read. */
  const bystander = async (): Promise<Ledger> => {
    await tdb.superuser(`delete from background_tasks where name = 'ledger_watermark'`);
    return createLedger({ db: (await tdb.openInstance()).db, signingKey: key, telemetry: noopTelemetry });
  };
  const auditorOf = (verifier: Ledger) =>
    createLedgerAuditor({
      db: tdb.database.db,
      ledger: verifier,
      logger: silentLogger,
      telemetry: noopTelemetry,
      instanceId: 'auditor',
      incrementalEveryMs: 60_000,
      fullEveryMs: 600_000,
    });
  const checkpointCount = async () =>
    Number((await tdb.superuser('select count(*) as n from ledger_checkpoints'))[0]?.n);

  it('checks every checkpoint of a valid ledger of many group commits, across pages, and logs each new one once', async () => {
    await appendOneByOne(5);
    for (let round = 0; round < 3; round++) {
      await Promise.all(
        Array.from({ length: 20 }, (_, i) => ledger.append({ eventType: 'decision', data: { round, i } })),
      );
    }
    const head = (await ledger.head()) as LedgerEntry;
    const paged = createLedger({ db: tdb.database.db, signingKey: key, telemetry: noopTelemetry, verifyPageSize: 3 });

    const result = await paged.verify();
    const checkpoints = await checkpointCount();
    expect(checkpoints).toBeGreaterThan(6);
    expect(result).toMatchObject({ valid: true, entries_checked: head.index + 1, checkpoints_checked: checkpoints });
    expect(result.checkpoint).toEqual({
      tree_size: head.index + 1,
      root_hash: (await ledger.inclusionProof(0, head.index + 1)).root_hash,
    });

    const lines = logged.filter((l) => l.message === 'checkpoint');
    expect(lines).toHaveLength(checkpoints);
    expect(lines.at(-1)?.fields).toEqual({
      origin: ledger.logOrigin,
      tree_size: head.index + 1,
      root_hash: result.checkpoint?.root_hash,
    });
  });

  it('has incremental passes check only the newest checkpoint, consistent with the one verified before', async () => {
    const auditor = auditorOf(ledger);
    await appendOneByOne(3);
    const first = await auditor.run('incremental');
    expect(first).toMatchObject({ valid: true, checkpoints_checked: await checkpointCount() });

    await appendOneByOne(4);
    const head = (await ledger.head()) as LedgerEntry;
    expect(await auditor.run('incremental')).toMatchObject({ valid: true, entries_checked: 4, checkpoints_checked: 1 });
    expect(await ledger.verify({ after: { index: head.index, hash: head.entry_hash } })).toMatchObject({
      valid: true,
      checkpoint: { tree_size: head.index + 1 },
    });
  });

  it('has an incremental pass report stored tree hashes that no longer extend the last verified checkpoint as rewritten', async () => {
    const auditor = auditorOf(ledger);
    await appendOneByOne(4);
    expect(await auditor.run('incremental')).toMatchObject({ valid: true });
    await appendOneByOne(3);
    // The hash of leaves 0–3 is in the consistency proof from size 5 to size 8.
    await tamper(
      tdb,
      `update ledger_tree_hashes set hash = decode(repeat('00', 32), 'hex') where stored_index = ${storedHashIndex(2, 0)}`,
    );
    expect(await auditor.run('incremental')).toMatchObject({
      valid: false,
      first_invalid: { index: 4, reason: 'rewritten', checkpoint: { tree_size: 8 } },
    });
  });

  it('reports a tail deleted with its tree rows as truncated at the first missing index, from the checkpoints alone', async () => {
    await appendOneByOne(3);
    const verifier = await bystander();
    const auditor = auditorOf(verifier);
    expect(await auditor.run('incremental')).toMatchObject({ valid: true });
    const newest = await appendOneByOne(4);
    const kept = newest.index - 2;
    await tamper(
      tdb,
      `delete from ledger_entries where seq > ${kept}; delete from ledger_tree_hashes where stored_index >= ${storedHashIndex(0, kept + 1)}`,
    );
    await tdb.superuser(`delete from background_tasks where name = 'ledger_watermark'`);

    const truncated = {
      valid: false,
      first_invalid: { index: kept + 1, reason: 'truncated', checkpoint: { tree_size: newest.index + 1 } },
    };
    expect(await auditor.run('incremental')).toMatchObject(truncated);
    expect(await (await bystander()).verify()).toMatchObject({ ...truncated, head_index: kept });
  });

  it('reports an entry rewritten with a recomputed chain after it at its index, as no checkpoint covering it can be re-signed without the key', async () => {
    const head = await appendOneByOne(6);
    const target = head.index - 3;
    const rows = await tdb.superuser(`select * from ledger_entries where seq >= ${target} order by seq`);
    const entries = await Promise.all(rows.map((r) => ledger.entryByIndex(Number(r.seq))));
    let previousHash = (entries[0] as LedgerEntry).previous_hash;
    const statements: string[] = [];
    for (const [i, original] of entries.entries()) {
      const forged = { ...(original as LedgerEntry), previous_hash: previousHash };
      if (i === 0) forged.data = { ...forged.data, allowed: true, decision: 'permit' };
      forged.entry_hash = computeEntryHash(forged, portableSha256Hex);
      previousHash = forged.entry_hash;
      statements.push(
        `update ledger_entries set data = ${sqlText(JSON.stringify(forged.data))}::jsonb, previous_hash = '${forged.previous_hash}', entry_hash = '${forged.entry_hash}' where seq = ${forged.index}`,
      );
    }
    await tamper(tdb, statements.join('; '));

    expect(await (await bystander()).verify()).toMatchObject({
      valid: false,
      head_index: target - 1,
      first_invalid: {
        index: target,
        entry_id: entries[0]?.entry_id,
        reason: 'rewritten',
        checkpoint: { tree_size: target + 1 },
      },
    });
    // The instance that appended remembers its head: it names that entry as no longer the one it wrote.
    expect((await ledger.verify()).valid).toBe(false);
  });

  it('reports a checkpoint whose note was swapped, and one whose root was swapped, as bad signatures at their last index', async () => {
    await appendOneByOne(5);
    const auditor = auditorOf(await bystander());
    expect(await auditor.run('incremental')).toMatchObject({ valid: true });
    const newest = await appendOneByOne(1);
    await tamper(
      tdb,
      `update ledger_checkpoints set note = (select note from ledger_checkpoints where tree_size = 2) where tree_size = ${newest.index + 1}`,
    );
    expect(await auditor.run('incremental')).toMatchObject({
      valid: false,
      first_invalid: { index: newest.index, reason: 'bad_signature', checkpoint: { tree_size: newest.index + 1 } },
    });

    const size = 4;
    await tamper(
      tdb,
      `update ledger_checkpoints set root_hash = (select root_hash from ledger_checkpoints where tree_size = 3) where tree_size = ${size}`,
    );
    expect(await ledger.verify()).toMatchObject({
      valid: false,
      checkpoints_checked: size - 1,
      head_index: size - 2,
      first_invalid: { index: size - 1, reason: 'bad_signature', checkpoint: { tree_size: size } },
    });
  });
});
