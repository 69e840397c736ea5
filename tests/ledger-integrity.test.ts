import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { generateSigningKey, portableSha256Hex } from '../src/ledger/crypto';
import { computeEntryHash, type LedgerEntry } from '../src/ledger/entry';
import { noteKeyId } from '../src/ledger/note';
import { createLedger, fromRow, type Ledger } from '../src/ledger/store';
import { INVALID_REASONS } from '../src/ledger/verify';
import { type LogFields, type Logger, silentLogger } from '../src/telemetry/logger';
import { noopTelemetry } from '../src/telemetry/telemetry';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestMetrics,
} from './support/app';
import { backends, type TestDatabase } from './support/databases';

describe.each(backends())('ledger integrity on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;

  beforeEach(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });
  afterEach(() => tdb.close());

  it('keeps one valid chain when 250 decisions arrive at once', async () => {
    const before = (await t.request('GET', '/api/ledger/verify')).body.entries_checked;
    const responses = await Promise.all(
      Array.from({ length: 250 }, (_, i) =>
        t.request('POST', '/api/decide', {
          key: t.keys.agent,
          body: decisionRequest(i % 3 === 0 ? { actor: 'model', proposed_action: 'write', data_classes: ['pii'] } : {}),
        }),
      ),
    );
    expect(responses.map((r) => r.status)).toEqual(Array(250).fill(200));

    const indexes = responses.map((r) => r.body.ledger_entry_index).sort((a, b) => a - b);
    expect(new Set(indexes).size).toBe(250);
    expect(indexes.at(-1) - indexes[0]).toBe(249);

    const verification = (await t.request('GET', '/api/ledger/verify', { key: t.keys.auditor })).body;
    expect(verification).toMatchObject({ valid: true, entries_checked: before + 250 });
    for (const r of responses) {
      const entry = (await t.request('GET', `/api/ledger/entries/${r.body.ledger_entry_index}`)).body;
      expect(entry.entry_hash).toBe(r.body.ledger_entry_hash);
      expect(entry.data.decision_id).toBe(r.body.decision_id);
    }
  });

  it('keeps one valid chain when two service instances append to the same database', async () => {
    const second = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const before = (await t.request('GET', '/api/ledger/verify')).body.entries_checked;
    const fire = (app: TestApp, n: number) =>
      Array.from({ length: n }, () =>
        app.request('POST', '/api/decide', { key: app.keys.agent, body: decisionRequest() }),
      );
    const responses = await Promise.all([...fire(t, 120), ...fire(second, 120)].sort(() => Math.random() - 0.5));
    expect(responses.every((r) => r.status === 200)).toBe(true);

    // Both instances see the same chain, and both instances' keys created entries in it.
    const fromFirst = (await t.request('GET', '/api/ledger/verify')).body;
    const fromSecond = (await second.request('GET', '/api/ledger/verify')).body;
    expect(fromFirst).toEqual(fromSecond);
    expect(fromFirst).toMatchObject({ valid: true, entries_checked: before + 240 });
    const indexes = new Set(responses.map((r) => r.body.ledger_entry_index));
    expect(indexes.size).toBe(240);
  });

  it('verifies across many pages and names nothing when the chain is intact', async () => {
    for (let i = 0; i < 30; i++)
      await t.services.ledger.append({ eventType: 'decision', data: { decision_id: `dec_${i}`, n: i } });
    const ledger = createLedger({
      db: tdb.database.db,
      signingKey: t.signingKey,
      telemetry: noopTelemetry,
      verifyPageSize: 7,
    });
    const result = await ledger.verify();
    expect(result.valid).toBe(true);
    expect(result.first_invalid).toBeUndefined();
    expect(result.head_hash).toBe((await ledger.head())?.entry_hash);
  });

  it('names the exact entry whose data was edited in SQL (hash_mismatch)', async () => {
    const target = await decideAndGetIndex(t);
    await decideAndGetIndex(t);
    await tamper(tdb, `update ledger_entries set data = jsonb_set(data, '{allowed}', 'true') where seq = ${target}`);

    const result = (await t.request('GET', '/api/ledger/verify')).body;
    const entry = (await t.request('GET', `/api/ledger/entries/${target}`)).body;
    expect(result).toMatchObject({
      valid: false,
      entries_checked: target + 1,
      first_invalid: { index: target, entry_id: entry.entry_id, reason: 'hash_mismatch' },
    });
    expect(result.head_hash).toBe(entry.previous_hash);
  });

  it('names the exact entry whose data and hash were rewritten consistently, as no signed checkpoint holds it (rewritten)', async () => {
    const target = await decideAndGetIndex(t);
    await decideAndGetIndex(t);
    const [row] = await tdb.superuser(`select * from ledger_entries where seq = ${target}`);
    const forged: LedgerEntry = {
      ...rowToEntry(row),
      data: { ...rowToEntry(row).data, allowed: true, decision: 'permit' },
    };
    forged.entry_hash = computeEntryHash(forged, portableSha256Hex);
    await tamper(
      tdb,
      `update ledger_entries set data = '${JSON.stringify(forged.data).replace(/'/g, "''")}'::jsonb, entry_hash = '${forged.entry_hash}' where seq = ${target}`,
    );

    const result = (await t.request('GET', '/api/ledger/verify')).body;
    expect(result.first_invalid).toEqual({
      index: target,
      entry_id: forged.entry_id,
      reason: 'rewritten',
      checkpoint: { tree_size: target + 1 },
    });
  });

  it('names the entry after a deleted one (chain_break)', async () => {
    const target = await decideAndGetIndex(t);
    const next = await decideAndGetIndex(t);
    await tamper(tdb, `delete from ledger_entries where seq = ${target}`);

    const result = (await t.request('GET', '/api/ledger/verify')).body;
    expect(result.first_invalid).toMatchObject({ index: next, reason: 'chain_break' });
  });

  it('names entries signed by a key the service does not trust as unknown_key, with the checkpoint key, and that signer cannot decide', async () => {
    const headBefore = (await t.services.ledger.head())?.index as number;
    // A misconfigured instance with its own key: creating its API keys appends entries, and the
    // checkpoints of their group commits are signed with its key under its own origin.
    const other = await createTestApp(await tdb.openInstance(), { signingKey: await generateSigningKey() });
    const result = (await t.request('GET', '/api/ledger/verify')).body;
    expect(result.valid).toBe(false);
    expect(result.first_invalid).toEqual({
      index: headBefore + 1,
      entry_id: expect.any(String),
      reason: 'unknown_key',
      key_id: noteKeyId(other.services.ledger.logOrigin, other.signingKey.raw),
      checkpoint: { tree_size: expect.any(Number) },
    });
    // It cannot verify the signed policy_loaded entry either, so it refuses to decide at all.
    const refused = await other.request('POST', '/api/decide', { key: other.keys.agent, body: decisionRequest() });
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('SERVICE_UNAVAILABLE');
  });

  it('refuses UPDATE, DELETE and TRUNCATE of ledger rows in the database itself', async () => {
    await expect(tdb.superuser(`update ledger_entries set event_type = 'x' where seq = 0`)).rejects.toThrow(
      /append-only/,
    );
    await expect(tdb.superuser('delete from ledger_entries where seq = 0')).rejects.toThrow(/append-only/);
    await expect(tdb.superuser('truncate ledger_entries')).rejects.toThrow(/append-only/);
    expect((await t.request('GET', '/api/ledger/verify')).body.valid).toBe(true);
  });

  it('refuses inserts that would fork the chain or leave a gap', async () => {
    const [head] = await tdb.superuser('select seq, entry_hash from ledger_entries order by seq desc limit 1');
    const insert = (seq: number, previous: string) =>
      tdb.superuser(
        `insert into ledger_entries (seq, entry_id, event_type, timestamp, data, previous_hash, entry_hash, signature, key_id)
         values (${seq}, 'ent_x${seq}', 'decision', now(), '{}', '${previous}', 'h${seq}', 's', 'k')`,
      );
    await expect(insert(Number(head?.seq) + 2, String(head?.entry_hash))).rejects.toThrow(/gap/);
    await expect(insert(Number(head?.seq) + 1, 'f'.repeat(64))).rejects.toThrow(/does not link/);
    await expect(insert(Number(head?.seq), String(head?.entry_hash))).rejects.toThrow();
  });

  it('fails only the event that cannot be stored, never its neighbours in the same commit', async () => {
    const results = await Promise.allSettled([
      t.services.ledger.append({ eventType: 'decision', data: { decision_id: 'dec_ok_1' } }),
      t.services.ledger.append({ eventType: 'decision', data: { decision_id: 'dec_bad', note: 'nul \u0000 byte' } }),
      t.services.ledger.append({ eventType: 'decision', data: { decision_id: 'dec_ok_2' } }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await t.request('GET', '/api/ledger/verify')).body.valid).toBe(true);
  });
});

describe.each(backends())('a cut-off or replaced ledger tail on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let metrics: TestMetrics;
  const errors: { message: string; fields?: LogFields }[] = [];

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    errors.length = 0;
    const logger: Logger = { ...silentLogger, error: (message, fields) => errors.push({ message, fields }) };
    t = await createTestApp(tdb.database, { metrics, logger });
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });
  afterEach(() => tdb.close());

  /** Decides `n` times on `t`; the newest entry as {index, hash}. */
  const decideTimes = async (n: number) => {
    for (let i = 0; i < n; i++) await decideAndGetIndex(t);
    const head = (await t.services.ledger.head()) as LedgerEntry;
    return { index: head.index, hash: head.entry_hash };
  };
  /** A ledger on its own connection that has appended and verified nothing: it knows only the shared state. */
  const bystander = async (): Promise<Ledger> =>
    createLedger({ db: (await tdb.openInstance()).db, signingKey: t.signingKey, telemetry: noopTelemetry });

  it('reports deleted newest entries as truncated, naming the first missing index and the expected head, on the instance that appended them, on one that verified them, and on one that knows only the shared state', async () => {
    const verifier = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const head = await decideTimes(4);
    expect((await verifier.request('GET', '/api/ledger/verify')).body).toMatchObject({ valid: true });

    await tamper(tdb, `delete from ledger_entries where seq > ${head.index - 2}`);

    const truncated = {
      valid: false,
      head_index: head.index - 2,
      first_invalid: { index: head.index - 1, entry_id: null, reason: 'truncated', watermark: head },
    };
    expect((await t.request('GET', '/api/ledger/verify')).body).toMatchObject(truncated);
    expect((await verifier.request('GET', '/api/ledger/verify')).body).toMatchObject(truncated);
    expect(await (await bystander()).verify()).toMatchObject(truncated);
  });

  it('still reports the truncation on the instances that appended or verified the entries when the shared watermark is removed too', async () => {
    const verifier = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const head = await decideTimes(3);
    expect((await verifier.request('GET', '/api/ledger/verify')).body.valid).toBe(true);

    await tamper(tdb, `delete from ledger_entries where seq = ${head.index}`);
    await tdb.superuser(`delete from background_tasks where name = 'ledger_watermark'`);

    const truncated = { valid: false, first_invalid: { index: head.index, reason: 'truncated', watermark: head } };
    expect((await t.request('GET', '/api/ledger/verify')).body).toMatchObject(truncated);
    expect((await verifier.request('GET', '/api/ledger/verify')).body).toMatchObject(truncated);
  });

  it('reports the newest entry rewritten with a recomputed hash as rewritten at its index, on the instance that appended it and on one that knows only the shared state', async () => {
    const head = await decideTimes(2);
    // The background auditor's tick shares what this instance committed.
    await t.services.auditor.tick();
    const [row] = await tdb.superuser(`select * from ledger_entries where seq = ${head.index}`);
    const forged = rowToEntry(row);
    forged.data = { ...forged.data, allowed: true, decision: 'permit' };
    forged.entry_hash = computeEntryHash(forged, portableSha256Hex);
    await tamper(
      tdb,
      `update ledger_entries set data = '${JSON.stringify(forged.data).replace(/'/g, "''")}'::jsonb, entry_hash = '${forged.entry_hash}' where seq = ${head.index}`,
    );

    const rewritten = {
      valid: false,
      first_invalid: { index: head.index, entry_id: forged.entry_id, reason: 'rewritten', watermark: head },
    };
    expect((await t.request('GET', '/api/ledger/verify')).body).toMatchObject(rewritten);
    expect(await (await bystander()).verify()).toMatchObject(rewritten);
  });

  it('counts a truncation found in the background as a failed integrity check, logs it as an error and shows it on /health with the reason and index, while readiness stays 200', async () => {
    const head = await decideTimes(3);
    expect(await t.services.auditor.run('incremental')).toMatchObject({ valid: true, head_index: head.index });
    const failuresBefore = integrityChecks(await metrics.render(), 'failure');

    await tamper(tdb, `delete from ledger_entries where seq > ${head.index - 2}`);
    const found = { index: head.index - 1, reason: 'truncated', watermark: head };
    expect(await t.services.auditor.run('incremental')).toMatchObject({ valid: false, first_invalid: found });

    expect(integrityChecks(await metrics.render(), 'failure')).toBe(failuresBefore + 1);
    expect(errors).toContainEqual({ message: 'ledger verification failed', fields: expect.objectContaining(found) });
    const health = await t.request('GET', '/health', { key: null });
    expect(health.status).toBe(200);
    const ledger = health.body.checks.find((c: { name: string }) => c.name === 'ledger');
    expect(ledger).toMatchObject({
      status: 'degraded',
      details: {
        integrity: { ...found, message: expect.stringContaining(`up to ${head.index}`) },
        last_verification: { incremental: { valid: false, first_invalid: found } },
      },
    });
    expect((await t.request('GET', '/health/ready', { key: null })).status).toBe(200);
  });

  it('exports the tree size of the newest checkpoint and the checkpoints signed, and names the reason of a tamper verification found in the integrity failure metric', async () => {
    const before = ledgerMetrics(await metrics.render());
    expect(before.failing).toEqual({});
    const head = await decideTimes(3);
    const checkpoint = await t.request('GET', '/api/ledger/checkpoint', { key: t.keys.auditor });
    expect(checkpoint.status).toBe(200);
    // The note's second line is the tree size (C2SP tlog-checkpoint).
    const treeSize = Number(String(checkpoint.body).split('\n')[1]);
    expect(treeSize).toBe(head.index + 1);
    const after = ledgerMetrics(await metrics.render());
    expect(after.treeSize).toBe(treeSize);
    // One decision after another: one group commit, hence one signed checkpoint, each.
    expect(after.checkpoints).toBe(before.checkpoints + 3);

    await tamper(tdb, `delete from ledger_entries where seq > ${head.index - 2}`);
    expect(await t.services.auditor.run('incremental')).toMatchObject({
      valid: false,
      first_invalid: { reason: 'truncated' },
    });
    const tampered = ledgerMetrics(await metrics.render());
    expect(tampered.failing).toEqual({ truncated: 1 });
    expect(tampered.reasons.sort()).toEqual([...INVALID_REASONS].sort());
    expect(tampered.treeSize).toBe(treeSize);
  });
});

/** The verifiable log's metrics in an exposition: reasons with a non-zero failure, and every reason exposed. */
function ledgerMetrics(exposition: string) {
  const lines = exposition.split('\n');
  const value = (line: string | undefined) =>
    line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  const failures = lines
    .filter((l) => l.startsWith('lexecon_ledger_integrity_failure{'))
    .map((l) => [/reason="([^"]*)"/.exec(l)?.[1] as string, value(l) as number] as const);
  return {
    treeSize: value(lines.find((l) => l.startsWith('lexecon_ledger_tree_size '))),
    checkpoints: value(lines.find((l) => l.startsWith('lexecon_ledger_checkpoints_total '))) as number,
    failing: Object.fromEntries(failures.filter(([, v]) => v !== 0)),
    reasons: failures.map(([reason]) => reason),
  };
}

function integrityChecks(exposition: string, result: 'success' | 'failure'): number {
  const line = exposition
    .split('\n')
    .find((l) => l.startsWith('lexecon_ledger_integrity_checks_total{') && l.includes(`result="${result}"`));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

async function decideAndGetIndex(t: TestApp): Promise<number> {
  const res = await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ actor: 'model' }) });
  expect(res.status).toBe(200);
  return res.body.ledger_entry_index;
}

/** An attacker with superuser rights: switches the append-only triggers off around one statement. */
async function tamper(tdb: TestDatabase, statement: string) {
  await tdb.superuser(
    `alter table ledger_entries disable trigger user; ${statement}; alter table ledger_entries enable trigger user`,
  );
}

function rowToEntry(row: Record<string, unknown> | undefined): LedgerEntry {
  const r = row as Record<string, unknown>;
  return fromRow({
    seq: Number(r.seq),
    entryId: r.entry_id as string,
    eventType: r.event_type as string,
    timestamp: new Date(r.timestamp as string),
    data: (typeof r.data === 'string' ? JSON.parse(r.data) : r.data) as Record<string, unknown>,
    previousHash: r.previous_hash as string,
    entryHash: r.entry_hash as string,
    signature: r.signature as string,
    keyId: r.key_id as string,
  });
}
