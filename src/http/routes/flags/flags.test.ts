import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, createTestMetrics, type TestApp, type TestMetrics } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';

const FLAG_FIELDS = [
  'applies',
  'default',
  'description',
  'enabled',
  'name',
  'rollout_percent',
  'source',
  'updated_at',
  'updated_by',
];

describe.each(backends())('feature flag routes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let metrics: TestMetrics;

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    t = await createTestApp(tdb.database, { metrics });
  });
  afterEach(() => tdb.close());

  const put = (body: unknown, key?: string | null, name = 'metrics_detailed') =>
    t.request('PUT', `/api/flags/${name}`, { body, ...(key === undefined ? {} : { key }) });
  const flagEntries = async () =>
    (await t.request('GET', '/api/ledger/entries?event_type=feature_flag_updated&limit=500')).body.entries;

  it('lists every flag with its default and effective setting, to an admin and to an auditor', async () => {
    for (const key of [t.keys.admin, t.keys.auditor]) {
      const res = await t.request('GET', '/api/flags', { key });
      expect(res.status).toBe(200);
      expect(res.body.flags).toEqual([
        {
          name: 'metrics_detailed',
          description: expect.stringContaining('Detailed metrics'),
          default: { enabled: false, rollout_percent: 100 },
          enabled: false,
          rollout_percent: 100,
          source: 'config',
          updated_at: null,
          updated_by: null,
          applies: 'restart',
        },
      ]);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('stores an update, answers that it applies at restart, and lists it as the database setting', async () => {
    const adminId = (await t.services.apiKeys.authenticate(t.keys.admin))?.id;
    const res = await put({ enabled: true, rollout_percent: 25 });

    expect(res.status).toBe(200);
    expect(Object.keys(res.body.flag).sort()).toEqual(FLAG_FIELDS);
    expect(res.body.flag).toMatchObject({
      name: 'metrics_detailed',
      enabled: true,
      rollout_percent: 25,
      default: { enabled: false, rollout_percent: 100 },
      source: 'database',
      updated_by: adminId,
      applies: 'restart',
    });
    expect(Math.abs(Date.parse(res.body.flag.updated_at) - Date.now())).toBeLessThan(60_000);
    expect((await t.request('GET', '/api/flags', { key: t.keys.auditor })).body.flags).toEqual([res.body.flag]);
  });

  it('takes a missing rollout_percent as 100', async () => {
    await put({ enabled: true, rollout_percent: 10 });
    const res = await put({ enabled: true });
    expect(res.body.flag).toMatchObject({ enabled: true, rollout_percent: 100 });
  });

  it('records each update in the ledger, which still verifies', async () => {
    const adminId = (await t.services.apiKeys.authenticate(t.keys.admin))?.id;
    const updated = (await put({ enabled: true, rollout_percent: 50 })).body.flag;

    const entries = await flagEntries();
    expect(entries).toHaveLength(1);
    expect(entries[0].data).toEqual({
      flag: 'metrics_detailed',
      enabled: true,
      rollout_percent: 50,
      previous: { enabled: false, rollout_percent: 100, source: 'config' },
      updated_by: adminId,
      applies: 'restart',
    });
    expect(entries[0].timestamp).toBe(updated.updated_at);
    const verified = await t.request('GET', '/api/ledger/verify');
    expect(verified.body.valid).toBe(true);
  });

  it('answers 401 without credentials and 403 to roles that may not read or write flags, changing nothing', async () => {
    const before = (await t.request('GET', '/api/ledger/head')).body;
    expect((await t.request('GET', '/api/flags', { key: null })).status).toBe(401);
    expect((await put({ enabled: true }, null)).status).toBe(401);
    expect((await t.request('GET', '/api/flags', { key: 'lxk_not-a-key' })).status).toBe(401);

    const agentReads = await t.request('GET', '/api/flags', { key: t.keys.agent });
    expect({ status: agentReads.status, code: agentReads.body.error.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    for (const key of [t.keys.auditor, t.keys.agent]) {
      const res = await put({ enabled: true }, key);
      expect({ status: res.status, code: res.body.error.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    }

    expect((await t.request('GET', '/api/ledger/head')).body).toEqual(before);
    expect((await t.request('GET', '/api/flags')).body.flags[0].source).toBe('config');
  });

  it.each([
    ['no enabled', {}, 'enabled'],
    ['enabled not a boolean', { enabled: 'true' }, 'enabled'],
    ['rollout above 100', { enabled: true, rollout_percent: 101 }, 'rollout_percent'],
    ['negative rollout', { enabled: true, rollout_percent: -1 }, 'rollout_percent'],
    ['fractional rollout', { enabled: true, rollout_percent: 12.5 }, 'rollout_percent'],
    ['an unknown field', { enabled: true, updated_by: 'someone-else' }, 'updated_by'],
  ])('answers 400 VALIDATION_FAILED for %s, naming the field', async (_case, body, field) => {
    const res = await put(body);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details.problems.map((p: { path: string }) => p.path)).toContain(field);
    expect(await flagEntries()).toEqual([]);
  });

  it('answers 404 for a flag the service does not have, without echoing more than its own list', async () => {
    const res = await put({ enabled: true }, undefined, 'not_a_flag');
    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect(await tdb.superuser('select * from feature_flags')).toEqual([]);
  });

  it('counts flag evaluations in /metrics', async () => {
    await put({ enabled: true });
    t.services.flags.isEnabled('metrics_detailed', 'instance-1');
    t.services.flags.isEnabled('typo_flag');
    const text = await metrics.render();
    expect(text).toMatch(/^lexecon_feature_flag_evaluations_total\{flag="metrics_detailed",result="true"\} 1$/m);
    expect(text).toMatch(/^lexecon_feature_flag_errors_total\{flag="unknown",error_type="unknown_flag"\} 1$/m);
  });
});
