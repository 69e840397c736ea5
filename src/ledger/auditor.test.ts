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
import { createLedgerAuditor, type LedgerAuditor } from './auditor';
import { createLedger, type Ledger } from './store';

const MINUTE = 60_000;

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
