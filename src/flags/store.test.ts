import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestMetrics, type TestMetrics } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { waitFor } from '../../tests/support/wait';
import type { Db } from '../db/client';
import { generateSigningKey } from '../ledger/crypto';
import { createLedger, type Ledger } from '../ledger/store';
import { silentLogger } from '../telemetry/logger';
import type { FlagSetting } from './definitions';
import { createFlagStore, readStartupSetting } from './store';

const ON: FlagSetting = { enabled: true, rolloutPercent: 100 };
const OFF: FlagSetting = { enabled: false, rolloutPercent: 100 };

/** `name{labels} value` lines whose name and labels match, as numbers. */
function values(exposition: string, name: string, labels: string): number[] {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) && line.includes(labels))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
}

describe.each(backends())('feature flag store on $name', (backend) => {
  let tdb: TestDatabase;
  let ledger: Ledger;
  let metrics: TestMetrics;
  let clock: number;

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    ledger = createLedger({
      db: tdb.database.db,
      signingKey: await generateSigningKey(),
      telemetry: metrics.telemetry,
    });
    await ledger.ensureGenesis();
    clock = Date.parse('2026-01-01T00:00:00Z');
  });
  afterEach(() => tdb.close());

  const store = (defaults: { metrics_detailed?: FlagSetting } = {}, db: Db = tdb.database.db) =>
    createFlagStore({
      db,
      ledger,
      telemetry: metrics.telemetry,
      logger: silentLogger,
      defaults,
      refreshMs: 10_000,
      now: () => clock,
    });
  // Time for a read that should not happen to land, were it started; what must happen is waited for.
  const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

  it('answers the configuration default while the database has no setting', async () => {
    expect(store({ metrics_detailed: ON }).isEnabled('metrics_detailed')).toBe(true);
    expect(store({ metrics_detailed: OFF }).isEnabled('metrics_detailed')).toBe(false);
    expect(store().isEnabled('metrics_detailed')).toBe(false);
    const [flag] = await store({ metrics_detailed: ON }).list();
    expect(flag).toMatchObject({ name: 'metrics_detailed', enabled: true, source: 'config', updated_at: null });
  });

  it('lets a database setting beat the configuration default', async () => {
    await store({ metrics_detailed: ON }).update('metrics_detailed', OFF, 'key_admin');
    const other = store({ metrics_detailed: ON });
    await other.refresh();

    expect(other.isEnabled('metrics_detailed')).toBe(false);
    const [flag] = await other.list();
    expect(flag).toMatchObject({
      enabled: false,
      rollout_percent: 100,
      default: { enabled: true, rollout_percent: 100 },
      source: 'database',
      updated_by: 'key_admin',
    });
    expect(await readStartupSetting(tdb.database.db, 'metrics_detailed', ON)).toEqual(OFF);
  });

  it('reads the database at its first evaluation, not one refresh interval later', async () => {
    await store().update('metrics_detailed', ON, 'key_admin');
    const fresh = store();
    expect(fresh.isEnabled('metrics_detailed')).toBe(false); // the default, while the first read runs
    // The clock stands still: only the read the first evaluation started can turn it on.
    await waitFor('the first read to land', async () => fresh.isEnabled('metrics_detailed') || undefined);
  });

  it('applies an update on its own instance at once, and on another once its view is older than the refresh interval', async () => {
    const here = store();
    const there = store();
    await there.refresh();
    expect(there.isEnabled('metrics_detailed')).toBe(false);

    await here.update('metrics_detailed', ON, 'key_admin');
    expect(here.isEnabled('metrics_detailed')).toBe(true);

    clock += 9_000;
    expect(there.isEnabled('metrics_detailed')).toBe(false);
    await settle();
    expect(there.isEnabled('metrics_detailed')).toBe(false);

    clock += 2_000; // 11 s since the last read: this evaluation answers from memory and re-reads
    expect(there.isEnabled('metrics_detailed')).toBe(false);
    await waitFor('the re-read to land', async () => there.isEnabled('metrics_detailed') || undefined);
  });

  it('turns a partial rollout on by stable key, and off without one', async () => {
    const flags = store({ metrics_detailed: { enabled: true, rolloutPercent: 30 } });
    const keys = Array.from({ length: 1_000 }, (_, i) => `instance-${i}`);
    const on = keys.filter((key) => flags.isEnabled('metrics_detailed', key));
    expect(on.length).toBeGreaterThan(250);
    expect(on.length).toBeLessThan(350);
    expect(keys.filter((key) => flags.isEnabled('metrics_detailed', key))).toEqual(on);
    expect(flags.isEnabled('metrics_detailed')).toBe(false);
    expect(
      store({ metrics_detailed: { enabled: false, rolloutPercent: 100 } }).isEnabled('metrics_detailed', on[0]),
    ).toBe(false);
  });

  it('records the update and the value it replaced in the ledger, in the same transaction', async () => {
    const flags = store({ metrics_detailed: ON });
    await flags.update('metrics_detailed', { enabled: true, rolloutPercent: 25 }, 'key_1');
    await flags.update('metrics_detailed', OFF, 'key_2');

    const { entries } = await ledger.entries({ eventType: 'feature_flag_updated', limit: 10, order: 'asc' });
    expect(entries.map((e) => e.data)).toEqual([
      {
        flag: 'metrics_detailed',
        enabled: true,
        rollout_percent: 25,
        previous: { enabled: true, rollout_percent: 100, source: 'config' },
        updated_by: 'key_1',
        applies: 'restart',
      },
      {
        flag: 'metrics_detailed',
        enabled: false,
        rollout_percent: 100,
        previous: { enabled: true, rollout_percent: 25, source: 'database' },
        updated_by: 'key_2',
        applies: 'restart',
      },
    ]);
    expect((await ledger.verify()).valid).toBe(true);
  });

  it('stores nothing when the ledger append fails', async () => {
    const flags = store();
    const failing = { ...ledger, appendInTransaction: async () => Promise.reject(new Error('ledger refused')) };
    const broken = createFlagStore({
      db: tdb.database.db,
      ledger: failing,
      telemetry: metrics.telemetry,
      logger: silentLogger,
    });
    await expect(broken.update('metrics_detailed', ON, 'key_admin')).rejects.toThrow('ledger refused');
    expect(await tdb.superuser('select * from feature_flags')).toEqual([]);
    expect((await flags.list())[0]?.source).toBe('config');
  });

  it('counts evaluations by flag and result, and unknown names under one label', async () => {
    const flags = store({ metrics_detailed: ON });
    flags.isEnabled('metrics_detailed');
    flags.isEnabled('metrics_detailed');
    for (const name of ['no_such_flag', 'another', 'x'.repeat(500)]) expect(flags.isEnabled(name)).toBe(false);

    const text = await metrics.render();
    expect(values(text, 'lexecon_feature_flag_evaluations_total', 'flag="metrics_detailed",result="true"')).toEqual([
      2,
    ]);
    expect(values(text, 'lexecon_feature_flag_evaluations_total', 'flag="unknown",result="false"')).toEqual([3]);
    expect(values(text, 'lexecon_feature_flag_errors_total', 'flag="unknown",error_type="unknown_flag"')).toEqual([3]);
    expect(text).not.toContain('no_such_flag');
    expect(text).not.toContain('another');
  });

  it('keeps the last known setting and counts store_unavailable when the database cannot be read', async () => {
    const flags = store({ metrics_detailed: OFF });
    await store().update('metrics_detailed', ON, 'key_admin');
    await flags.refresh();
    const unavailable = { select: () => ({ from: async () => Promise.reject(new Error('connection refused')) }) };
    const broken = createFlagStore({
      db: unavailable as unknown as Db,
      ledger,
      telemetry: metrics.telemetry,
      logger: silentLogger,
      defaults: { metrics_detailed: ON },
      now: () => clock,
    });

    expect(broken.isEnabled('metrics_detailed')).toBe(true);
    await settle();
    expect(broken.isEnabled('metrics_detailed')).toBe(true); // not retried before the interval
    await settle();
    expect(flags.isEnabled('metrics_detailed')).toBe(true);
    const text = await metrics.render();
    expect(
      values(text, 'lexecon_feature_flag_errors_total', 'flag="metrics_detailed",error_type="store_unavailable"'),
    ).toEqual([1]);
    await expect(broken.list()).rejects.toThrow('connection refused');
  });
});
