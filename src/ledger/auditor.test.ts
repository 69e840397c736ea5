import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestMetrics,
} from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import type { Db } from '../db/client';
import { silentLogger } from '../telemetry/logger';
import { noopTelemetry } from '../telemetry/telemetry';
import { createLedgerAuditor, type LedgerAuditor, type LedgerAuditorOptions } from './auditor';
import { generateSigningKey } from './crypto';
import { storedHashIndex } from './merkle';
import { noteKeyId } from './note';
import { createLedger, type Ledger } from './store';

const MINUTE = 60_000;
const event = (id: string) => ({ eventType: 'decision' as const, data: { decision_id: id } });

/** An attacker with superuser rights: switches the append-only triggers off around one statement. */
async function tamper(tdb: TestDatabase, statement: string) {
  await tdb.superuser(
    `alter table ledger_entries disable trigger user; ${statement}; alter table ledger_entries enable trigger user`,
  );
}

/** A ledger that counts its verification passes. */
function counted(ledger: Ledger): Ledger & { passes: number } {
  const wrapped = {
    ...ledger,
    passes: 0,
    verify(options?: Parameters<Ledger['verify']>[0]) {
      wrapped.passes++;
      return ledger.verify(options);
    },
  };
  return wrapped;
}

function integrityChecks(exposition: string, result: 'success' | 'failure'): number {
  const line = exposition
    .split('\n')
    .find((l) => l.startsWith('lexecon_ledger_integrity_checks_total{') && l.includes(`result="${result}"`));
  return line === undefined ? Number.NaN : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe.each(backends())('background ledger verification on $name', (backend) => {
  let tdb: TestDatabase;
  let metrics: TestMetrics;
  let t: TestApp;

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    t = await createTestApp(tdb.database, { metrics });
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });
  afterEach(() => tdb.close());

  const decide = async (n: number) => {
    const indexes: number[] = [];
    for (let i = 0; i < n; i++) {
      const res = await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() });
      expect(res.status).toBe(200);
      indexes.push(res.body.ledger_entry_index);
    }
    return indexes;
  };
  const headIndex = async () => (await t.services.ledger.head())?.index as number;
  const auditorFor = (db: Db, ledger: Ledger, instanceId: string, now?: () => number): LedgerAuditor =>
    createLedgerAuditor({
      db,
      ledger,
      logger: silentLogger,
      telemetry: noopTelemetry,
      instanceId,
      incrementalEveryMs: MINUTE,
      fullEveryMs: 10 * MINUTE,
      now,
    });

  it('continues each incremental pass where the last one stopped, checking only the entries added since', async () => {
    const { auditor } = t.services;
    const first = await auditor.run('incremental');
    const head = await headIndex();
    expect(first).toMatchObject({ kind: 'incremental', valid: true, entries_checked: head + 1, head_index: head });

    await decide(3);
    const second = await auditor.run('incremental');
    expect(second).toMatchObject({ valid: true, entries_checked: 3, head_index: head + 3 });

    const idle = await auditor.run('incremental');
    expect(idle).toMatchObject({ valid: true, entries_checked: 0, head_index: head + 3 });
  });

  it('catches tampering with an old entry in the full pass, which incremental passes no longer look at, and records it for every instance and in the integrity metric', async () => {
    const [old] = await decide(2);
    const { auditor } = t.services;
    await auditor.run('incremental');
    await decide(2);
    await tamper(tdb, `update ledger_entries set data = jsonb_set(data, '{allowed}', 'false') where seq = ${old}`);
    const failuresBefore = integrityChecks(await metrics.render(), 'failure');
    expect(failuresBefore).toBe(0);

    expect(await auditor.run('incremental')).toMatchObject({ valid: true, entries_checked: 2 });
    const full = await auditor.run('full');
    expect(full).toMatchObject({
      kind: 'full',
      valid: false,
      entries_checked: (old as number) + 1,
      first_invalid: { index: old, reason: 'hash_mismatch' },
    });

    expect(integrityChecks(await metrics.render(), 'failure')).toBe(failuresBefore + 1);
    const [row] = await tdb.superuser(`select state from background_tasks where name = 'ledger_verify_full'`);
    const state = (typeof row?.state === 'string' ? JSON.parse(row.state) : row?.state) as { last: unknown };
    expect(state.last).toMatchObject({ valid: false, first_invalid: { index: old, reason: 'hash_mismatch' } });

    const elsewhere = await otherInstance(tdb, t, 'other-instance');
    expect((await elsewhere.lastResults()).full).toEqual(full);
  });

  it('keeps failing an invalid incremental pass on later passes instead of moving past the bad entry', async () => {
    const { auditor } = t.services;
    const verified = await auditor.run('incremental');
    const [, bad] = await decide(3);
    await tamper(tdb, `update ledger_entries set data = jsonb_set(data, '{actor}', '"root"') where seq = ${bad}`);

    const failed = await auditor.run('incremental');
    expect(failed).toMatchObject({ valid: false, first_invalid: { index: bad, reason: 'hash_mismatch' } });
    await decide(1);
    const again = await auditor.run('incremental');
    expect(again).toMatchObject({ valid: false, first_invalid: { index: bad, reason: 'hash_mismatch' } });
    expect(integrityChecks(await metrics.render(), 'failure')).toBe(2);

    const [row] = await tdb.superuser(`select state from background_tasks where name = 'ledger_verify_incremental'`);
    const state = (typeof row?.state === 'string' ? JSON.parse(row.state) : row?.state) as {
      cursor: { index: number };
    };
    expect(state.cursor.index).toBe(verified?.head_index);
  });

  it('blames a cut-off tail, never the legitimate entries appended after it, and never reports the old head as verified', async () => {
    const { auditor } = t.services;
    await decide(3);
    const verified = await auditor.run('incremental');
    const head = { index: verified?.head_index as number, hash: (await t.services.ledger.head())?.entry_hash };

    // A thorough cut: the entries, their leaves and the checkpoints over them.
    await tamper(
      tdb,
      `set session_replication_role = replica;
       delete from ledger_entries where seq > ${head.index - 2};
       delete from ledger_tree_hashes where stored_index >= ${storedHashIndex(0, head.index - 1)};
       delete from ledger_checkpoints where tree_size > ${head.index - 1};
       set session_replication_role = origin`,
    );
    const cut = await auditor.run('incremental');
    expect(cut).toMatchObject({
      valid: false,
      head_index: null,
      first_invalid: { index: head.index - 1, entry_id: null, reason: 'truncated', watermark: head },
    });

    // This instance committed past the cut, so it refuses to write over it; an instance that never
    // saw the old head grows the chain past it with legitimate decisions: still the cut is named.
    await expect(t.services.ledger.append(event('refused'))).rejects.toMatchObject({ code: 'LEDGER_TRUNCATED' });
    const unaware = createLedger({
      db: (await tdb.openInstance()).db,
      signingKey: t.signingKey,
      telemetry: noopTelemetry,
    });
    for (let i = 0; i < 4; i++) await unaware.append(event(`unaware_${i}`));
    const truncated = { valid: false, first_invalid: { index: head.index, entry_id: null, reason: 'truncated' } };
    expect(await auditor.run('incremental')).toMatchObject(truncated);
    expect(await auditor.run('full')).toMatchObject(truncated);
    expect(await t.services.ledger.verify()).toMatchObject(truncated);
  });

  it('does each pass once when two instances sharing the database tick at the same moment, and both report the same results', async () => {
    const first = counted(t.services.ledger);
    const secondDb = (await tdb.openInstance()).db;
    const second = counted(createLedger({ db: secondDb, signingKey: t.signingKey, telemetry: noopTelemetry }));
    const a = auditorFor(tdb.database.db, first, 'instance-a');
    const b = auditorFor(secondDb, second, 'instance-b');

    await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
    expect(first.passes + second.passes).toBe(2);

    const fromA = await a.lastResults();
    const fromB = await b.lastResults();
    expect(fromA).toEqual(fromB);
    expect(fromA.incremental).toMatchObject({ valid: true, instance: expect.stringMatching(/^instance-[ab]$/) });
    expect(fromA.full).toMatchObject({ valid: true, instance: expect.stringMatching(/^instance-[ab]$/) });
  });

  it('runs each pass only when due by the shared record, whichever instance ticks', async () => {
    // Well in the past: leases are judged on the database clock, this fake clock only decides due-ness.
    let clock = Date.now() - 24 * 60 * MINUTE;
    const now = () => clock;
    const first = counted(t.services.ledger);
    const secondDb = (await tdb.openInstance()).db;
    const second = counted(createLedger({ db: secondDb, signingKey: t.signingKey, telemetry: noopTelemetry }));
    const a = auditorFor(tdb.database.db, first, 'instance-a', now);
    const b = auditorFor(secondDb, second, 'instance-b', now);
    const start = clock;
    const at = (ms: number) => new Date(start + ms).toISOString();

    await a.tick();
    expect([first.passes, second.passes]).toEqual([2, 0]);

    clock = start + 30_000;
    await b.tick();
    expect([first.passes, second.passes]).toEqual([2, 0]);

    clock = start + MINUTE + 1;
    await b.tick();
    expect([first.passes, second.passes]).toEqual([2, 1]);
    let results = await a.lastResults();
    expect(results.incremental).toMatchObject({ instance: 'instance-b', at: at(MINUTE + 1) });
    expect(results.full).toMatchObject({ instance: 'instance-a', at: at(0) });

    clock = start + 2 * MINUTE;
    await a.tick();
    expect([first.passes, second.passes]).toEqual([2, 1]);

    clock = start + 10 * MINUTE + 1;
    await a.tick();
    expect([first.passes, second.passes]).toEqual([4, 1]);
    results = await b.lastResults();
    expect(results.incremental).toMatchObject({ instance: 'instance-a', at: at(10 * MINUTE + 1) });
    expect(results.full).toMatchObject({ instance: 'instance-a', at: at(10 * MINUTE + 1), valid: true });
  });
});

/** Another instance's auditor over its own connection to the same database. */
async function otherInstance(tdb: TestDatabase, t: TestApp, instanceId: string): Promise<LedgerAuditor> {
  const db = (await tdb.openInstance()).db;
  return createLedgerAuditor({
    db,
    ledger: createLedger({ db, signingKey: t.signingKey, telemetry: noopTelemetry }),
    logger: silentLogger,
    telemetry: noopTelemetry,
    instanceId,
    incrementalEveryMs: MINUTE,
    fullEveryMs: 10 * MINUTE,
  });
}

describe.each(backends())('ledger verification by instances with different signing keys on $name', (backend) => {
  let tdb: TestDatabase;
  // The original instance: signs with the old key, trusts nothing else.
  let b: TestApp;
  // An instance started with a new key, the old one listed in LEXECON_TRUSTED_PUBLIC_KEYS.
  let a: TestApp;
  let aDb: Db;
  let metricsA: TestMetrics;
  let metricsB: TestMetrics;

  beforeEach(async () => {
    tdb = await backend.open();
    metricsA = createTestMetrics();
    metricsB = createTestMetrics();
    b = await createTestApp(tdb.database, { metrics: metricsB });
    expect((await b.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    const second = await tdb.openInstance();
    aDb = second.db;
    a = await createTestApp(second, {
      signingKey: await generateSigningKey(),
      metrics: metricsA,
      services: { trustedKeys: [b.signingKey] },
    });
  });
  afterEach(() => tdb.close());

  const decideOn = async (app: TestApp) => {
    const res = await app.request('POST', '/api/decide', { key: app.keys.agent, body: decisionRequest() });
    expect(res.status).toBe(200);
  };
  /** The first entry a checkpoint signed by `app`'s key adds to the tree, and that key's note id. */
  const signedBy = async (app: TestApp) => {
    const origin = app.services.ledger.logOrigin;
    const [row] = await tdb.superuser(
      `select coalesce(max(tree_size), 0) as seq from ledger_checkpoints
       where tree_size < (select min(tree_size) from ledger_checkpoints where note like '${origin}
%')`,
    );
    return { index: Number(row?.seq), key_id: noteKeyId(origin, app.signingKey.raw) };
  };
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  const ledgerCheck = async (app: TestApp): Promise<any> =>
    (await app.request('GET', '/health', { key: null })).body.checks.find((c: { name: string }) => c.name === 'ledger');
  const auditorFor = (
    db: Db,
    app: TestApp,
    instanceId: string,
    now: () => number,
    report: Pick<LedgerAuditorOptions, 'telemetry' | 'logger'> = { telemetry: noopTelemetry, logger: silentLogger },
  ) =>
    createLedgerAuditor({
      db,
      ledger: app.services.ledger,
      ...report,
      instanceId,
      incrementalEveryMs: MINUTE,
      fullEveryMs: 10 * MINUTE,
      now,
    });

  it('keeps the shared verdict valid whichever instance ticks first, while the instance without the new key says unknown_key on /health and /api/ledger/verify and in its integrity metric', async () => {
    let clock = Date.now() - 24 * 60 * MINUTE;
    const now = () => clock;
    const auditorA = auditorFor(aDb, a, 'instance-a', now);
    const auditorB = auditorFor(tdb.database.db, b, 'instance-b', now);

    for (let round = 0; round < 8; round++) {
      await decideOn(a);
      await decideOn(b);
      clock += 5 * MINUTE + 1;
      for (const auditor of round % 2 === 0 ? [auditorB, auditorA] : [auditorA, auditorB]) await auditor.tick();
      const shared = await auditorB.lastResults();
      expect(shared, `round ${round}`).toMatchObject({
        incremental: { valid: true, instance: 'instance-a' },
        full: { valid: true, instance: 'instance-a' },
      });
      expect(await auditorA.lastResults()).toEqual(shared);
    }

    const unknownKey = {
      ...(await signedBy(a)),
      reason: 'unknown_key',
    };
    expect(await ledgerCheck(b)).toMatchObject({
      status: 'degraded',
      details: {
        integrity: {
          ...unknownKey,
          found_by: 'this instance',
          message: expect.stringContaining('LEXECON_TRUSTED_PUBLIC_KEYS'),
        },
        last_verification: { incremental: { valid: true }, full: { valid: true } },
      },
    });
    expect((await b.request('GET', '/api/ledger/verify')).body).toMatchObject({
      valid: false,
      first_invalid: unknownKey,
    });
    expect(integrityChecks(await metricsB.render(), 'failure')).toBeGreaterThan(0);

    expect(await ledgerCheck(a)).toMatchObject({ status: 'healthy' });
    expect((await ledgerCheck(a)).details.integrity).toBeUndefined();
    expect((await a.request('GET', '/api/ledger/verify')).body).toMatchObject({ valid: true });
    expect(integrityChecks(await metricsA.render(), 'failure')).toBe(0);
  });

  it('has an instance that never verified the new entries itself learn from the shared passes that it cannot, and say so in its health, its integrity metric and its log once per interval', async () => {
    await decideOn(a);
    expect(await a.services.auditor.run('incremental')).toMatchObject({ valid: true });
    expect(await a.services.auditor.run('full')).toMatchObject({ valid: true });

    const metrics = createTestMetrics();
    const errors: { message: string; fields?: Record<string, unknown> }[] = [];
    const logger = {
      ...silentLogger,
      error: (message: string, fields?: Record<string, unknown>) => errors.push({ message, fields }),
    };
    const third = await tdb.openInstance();
    const c = await createTestApp(third, { signingKey: b.signingKey, metrics, logger });
    const unknownKey = {
      ...(await signedBy(a)),
      reason: 'unknown_key',
    };
    expect(await ledgerCheck(c)).toMatchObject({ status: 'degraded', details: { integrity: unknownKey } });

    let clock = Date.now();
    const auditor = auditorFor(third.db, c, 'instance-c', () => clock, { telemetry: metrics.telemetry, logger });
    const failures = () => metrics.render().then((text) => integrityChecks(text, 'failure'));
    await auditor.tick();
    expect(await failures()).toBe(1);
    expect(errors).toEqual([
      { message: expect.stringContaining('cannot verify'), fields: expect.objectContaining(unknownKey) },
    ]);
    await auditor.tick();
    expect(await failures()).toBe(1);
    clock += MINUTE;
    await auditor.tick();
    expect(await failures()).toBe(2);
  });

  it('has every instance report entries signed by a key none of them trusts, and publishes no verdict over them', async () => {
    const forger = await createTestApp(await tdb.openInstance(), { signingKey: await generateSigningKey() });
    const forged = await signedBy(forger);
    for (const app of [a, b]) {
      for (const kind of ['incremental', 'full'] as const) {
        expect(await app.services.auditor.run(kind)).toMatchObject({
          valid: false,
          first_invalid: { reason: 'unknown_key' },
        });
      }
    }
    expect(await a.services.auditor.lastResults()).toEqual({});
    expect(await ledgerCheck(a)).toMatchObject({
      status: 'degraded',
      details: { integrity: { ...forged, reason: 'unknown_key' } },
    });
    expect(await ledgerCheck(b)).toMatchObject({
      status: 'degraded',
      details: { integrity: { reason: 'unknown_key', key_id: (await signedBy(a)).key_id } },
    });
  });
});
