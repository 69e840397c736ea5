import { createServer, type Socket } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { waitFor } from '../../../../tests/support/lexecon-process';
import { type Database, openPostgres } from '../../../db/client';
import { createLifecycle, type Lifecycle } from '../../../health/lifecycle';
import { answerWhileStarting } from '../../../health/starting';
import { generateSigningKey } from '../../../ledger/crypto';
import { createServices, type ServiceDeps } from '../../../services';
import { silentLogger } from '../../../telemetry/logger';
import { noopTelemetry } from '../../../telemetry/telemetry';
import { createApp } from '../../app';

const PROBE_PATHS = ['/health', '/health/live', '/health/ready', '/health/startup'] as const;
/** The spec's readinessProbe timeoutSeconds. */
const READINESS_BUDGET_MS = 3_000;

interface ProbeAnswer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
  headers: Headers;
  /** How long the answer took. */
  ms: number;
}

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
const check = (body: any, name: string) => body.checks.find((c: { name: string }) => c.name === name);
// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
const names = (body: any) => body.checks.map((c: { name: string }) => c.name);

async function probe(app: { request(path: string): Response | Promise<Response> }, path: string): Promise<ProbeAnswer> {
  const started = performance.now();
  const res = await app.request(path);
  const body = await res.json();
  return { status: res.status, body, headers: res.headers, ms: performance.now() - started };
}

/**
 * The app over `database` with health settings a test chooses (createTestApp uses the defaults):
 * the Node entry's wiring of the pool state, the lifecycle and the runtime probes.
 */
async function appWith(database: Pick<Database, 'db'>, deps: Partial<ServiceDeps> = {}) {
  const services = createServices({
    db: database.db,
    signingKey: await generateSigningKey(),
    telemetry: noopTelemetry,
    logger: silentLogger,
    policyRefreshMs: 1_000,
    ...deps,
  });
  const app = createApp({
    services,
    metrics: { render: async () => '' },
    settings: { serviceName: 'lexecon', version: 'test', maxBodyBytes: 1024 * 1024 },
  });
  return { app, services };
}

describe.each(backends())('health probes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;

  beforeEach(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
  });
  afterEach(() => tdb.close());

  const loadPolicy = async () => {
    const loaded = await t.request('POST', '/api/policies', { body: samplePolicy });
    expect(loaded.status).toBe(201);
    return loaded.body.policy as { hash: string; version: number };
  };

  it("answers every probe in the spec's shape: status, timestamp, and each check's name, status, latency and details", async () => {
    await loadPolicy();
    for (const path of PROBE_PATHS) {
      const before = Date.now() / 1000;
      const res = await probe(t.app, path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(Object.keys(res.body).sort()).toEqual(['checks', 'status', 'timestamp']);
      expect(res.body.status).toBe('healthy');
      expect(res.body.timestamp).toBeGreaterThanOrEqual(before - 1);
      expect(res.body.timestamp).toBeLessThanOrEqual(Date.now() / 1000 + 1);
      expect(res.body.checks.length).toBeGreaterThan(0);
      for (const c of res.body.checks) {
        expect(Object.keys(c).sort(), `${path} ${c.name}`).toEqual(['details', 'latency_ms', 'name', 'status']);
        expect(c.status).toBe('healthy');
        expect(c.latency_ms).toBeGreaterThanOrEqual(0);
        expect(typeof c.details).toBe('object');
      }
    }
  });

  it('runs every check on /health, only the event loop on /live, what deciding needs on /ready, the startup check on /startup', async () => {
    expect(names((await probe(t.app, '/health')).body).sort()).toEqual(
      ['cache', 'database', 'event_loop', 'ledger', 'policy_engine', 'shutdown', 'startup', 'telemetry'].sort(),
    );
    expect(names((await probe(t.app, '/health/live')).body)).toEqual(['event_loop']);
    expect(names((await probe(t.app, '/health/ready')).body)).toEqual([
      'shutdown',
      'startup',
      'database',
      'policy_engine',
      'ledger',
    ]);
    expect(names((await probe(t.app, '/health/startup')).body)).toEqual(['startup']);
  });

  it('answers 200 degraded on /health and /health/ready when no policy is loaded, since every decision is then denied', async () => {
    for (const path of ['/health', '/health/ready']) {
      const res = await probe(t.app, path);
      expect(res.status, path).toBe(200);
      expect(res.body.status).toBe('degraded');
      expect(check(res.body, 'policy_engine')).toMatchObject({
        status: 'degraded',
        details: { policies_loaded: 0, active_policy_hash: null, message: expect.stringContaining('denied') },
      });
    }
    const decision = await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() });
    expect(decision.body.allowed).toBe(false);
  });

  it('leaves out the checks named by ?exclude (repeatable), as the Kubernetes API server does', async () => {
    const ready = await probe(t.app, '/health/ready?exclude=policy_engine');
    expect(ready.status).toBe(200);
    expect(ready.body.status).toBe('healthy');
    expect(names(ready.body)).toEqual(['shutdown', 'startup', 'database', 'ledger']);

    const all = await probe(t.app, '/health?exclude=policy_engine&exclude=cache&exclude=telemetry');
    expect(all.body.status).toBe('healthy');
    expect(names(all.body)).not.toContain('policy_engine');
    expect(names(all.body)).not.toContain('cache');
    expect(names(all.body)).not.toContain('telemetry');
    expect(names(all.body)).toContain('database');
  });

  it('shows the age of cached results with ?verbose, and only then', async () => {
    const { app } = await appWith(tdb.database, {
      signingKey: t.signingKey,
      health: { timeoutMs: 1_000, cacheMs: 60_000, maxEventLoopLagMs: 2_000 },
    });
    await probe(app, '/health');
    const plain = await probe(app, '/health');
    expect(check(plain.body, 'database').cached_ms).toBeUndefined();
    const verbose = await probe(app, '/health?verbose');
    expect(check(verbose.body, 'database').cached_ms).toBeGreaterThanOrEqual(0);
    expect(check(verbose.body, 'ledger').cached_ms).toBeGreaterThanOrEqual(0);
    // Checks that only read memory are never cached, so they have no age to show.
    expect(check(verbose.body, 'shutdown').cached_ms).toBeUndefined();
  });

  it("reports the database round trip's latency and the connection pool's state", async () => {
    const { app } = await appWith(tdb.database, {
      databaseState: () => tdb.database.connectionState(),
      signingKey: t.signingKey,
    });
    const database = check((await probe(app, '/health/ready')).body, 'database');
    expect(database.status).toBe('healthy');
    expect(database.details.latency_ms).toBeGreaterThanOrEqual(0);
    expect(database.details.latency_ms).toBeLessThanOrEqual(database.latency_ms + 1);
    const { active, idle } = database.details.pool;
    expect(Number.isInteger(active) && Number.isInteger(idle)).toBe(true);
    // At least the connection that answered the ping is open.
    expect(active + idle).toBeGreaterThanOrEqual(1);
  });

  it('reports every cache, with the API key hit rate once authenticated requests have been served', async () => {
    const before = check((await probe(t.app, '/health')).body, 'cache');
    expect(before).toMatchObject({ status: 'healthy', details: { api_keys: { hit_rate: null, hits: 0 } } });
    expect(Object.keys(before.details)).toEqual(expect.arrayContaining(['api_keys', 'policy']));
    for (let i = 0; i < 4; i++) expect((await t.request('GET', '/api/policies')).status).toBe(200);
    const after = check((await probe(t.app, '/health')).body, 'cache');
    expect(after.details.api_keys).toMatchObject({ hit_rate: 0.75, hits: 3, misses: 1, items: 1 });
    expect(after.details.api_keys.bytes).toBeGreaterThan(0);
  });

  it("reports the active policy's hash, that one is loaded, and how long ago it was confirmed", async () => {
    const loaded = await loadPolicy();
    const engine = check((await probe(t.app, '/health')).body, 'policy_engine');
    expect(engine.status).toBe('healthy');
    expect(engine.details).toMatchObject({
      policies_loaded: 1,
      active_policy_hash: loaded.hash,
      active_version: loaded.version,
    });
    expect(engine.details.last_refresh_age_s).toBeGreaterThanOrEqual(0);
    expect(engine.details.last_refresh_age_s).toBeLessThan(60);
  });

  it('reports the ledger head and the result of the last background verification', async () => {
    await loadPolicy();
    const { services } = t;
    const record = await services.auditor.run('full');
    const head = (await t.request('GET', '/api/ledger/head')).body;
    const ledger = check((await probe(t.app, '/health')).body, 'ledger');
    expect(ledger.status).toBe('healthy');
    expect(ledger.details).toMatchObject({
      head_index: head.index,
      head_hash: head.entry_hash,
      last_verification: {
        full: { kind: 'full', valid: true, entries_checked: head.index + 1, head_index: head.index, at: record?.at },
      },
    });
  });

  it('turns the ledger check degraded, not unhealthy, when background verification found tampering: decisions go on', async () => {
    await loadPolicy();
    await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() });
    await tdb.superuser(
      `alter table ledger_entries disable trigger user;
       update ledger_entries set data = jsonb_set(data, '{name}', '"forged"') where seq = 1;
       alter table ledger_entries enable trigger user`,
    );
    expect((await t.services.auditor.run('full'))?.valid).toBe(false);
    const all = await probe(t.app, '/health');
    expect(all.status).toBe(200);
    expect(check(all.body, 'ledger')).toMatchObject({
      status: 'degraded',
      details: { last_verification: { full: { valid: false, first_invalid: { index: 1, reason: 'hash_mismatch' } } } },
    });
    expect((await probe(t.app, '/health/ready')).status).toBe(200);
  });

  /** The database refuses every ledger insert as if its disk were full: writes fail, reads work. */
  const diskFull = {
    on: () =>
      tdb.superuser(
        `create function test_disk_full() returns trigger language plpgsql as $$
           begin raise exception 'could not extend file' using errcode = 'disk_full'; end $$;
         create trigger test_disk_full before insert on ledger_entries for each row execute function test_disk_full()`,
      ),
    off: () => tdb.superuser('drop trigger test_disk_full on ledger_entries; drop function test_disk_full()'),
  };

  it('answers readiness 503 with the reason while ledger appends fail, and 200 again once a write succeeds, with no decision traffic', async () => {
    await loadPolicy();
    const w = await createTestApp(tdb.database, {
      signingKey: t.signingKey,
      services: { health: { timeoutMs: 1_000, cacheMs: 0, maxEventLoopLagMs: 2_000 } },
    });
    expect((await probe(w.app, '/health/ready')).status).toBe(200);
    await diskFull.on();
    const refused = await w.request('POST', '/api/decide', { key: w.keys.agent, body: decisionRequest() });
    // A full disk is the database being unable to serve, not a bug: 503, retry later.
    expect(refused.status).toBe(503);
    expect(refused.body.error.code).toBe('DATABASE_UNAVAILABLE');
    expect(refused.body.allowed).toBeUndefined();

    for (const path of ['/health/ready', '/health']) {
      const failing = await probe(w.app, path);
      expect(failing.status, path).toBe(503);
      expect(check(failing.body, 'ledger')).toMatchObject({
        status: 'unhealthy',
        details: {
          writes: { error: '53100', since: expect.any(String), consecutive_failures: expect.any(Number) },
          message: expect.stringContaining('53100'),
        },
      });
      expect(JSON.stringify(failing.body)).not.toContain('could not extend');
    }

    await diskFull.off();
    const head = (await w.services.ledger.head())?.index as number;
    const ready = await waitFor('readiness to return without traffic', async () => {
      const res = await probe(w.app, '/health/ready');
      return res.status === 200 ? res : undefined;
    });
    expect(check(ready.body, 'ledger')).toMatchObject({ status: 'healthy', details: { head_index: head } });
    const decided = await w.request('POST', '/api/decide', { key: w.keys.agent, body: decisionRequest() });
    expect(decided.status).toBe(200);
    expect(decided.body.ledger_entry_index).toBe(head + 1);
  });

  it('leaves no entry and no gap behind a write probe, which goes through the whole write path and is rolled back', async () => {
    await loadPolicy();
    const before = await t.services.ledger.head();
    expect(await t.services.ledger.probeWrite()).toBe(true);
    await diskFull.on();
    expect(await t.services.ledger.probeWrite()).toBe(false);
    expect(t.services.ledger.writeFailure()).toMatchObject({ error: '53100', consecutive_failures: 1 });
    await diskFull.off();
    expect(await t.services.ledger.probeWrite()).toBe(true);
    expect(t.services.ledger.writeFailure()).toBeUndefined();

    expect(await t.services.ledger.head()).toEqual(before);
    const decided = await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() });
    expect(decided.body.ledger_entry_index).toBe((before?.index as number) + 1);
    expect((await t.request('GET', '/api/ledger/verify')).body).toMatchObject({
      valid: true,
      entries_checked: (before?.index as number) + 2,
    });
  });

  it('does not count an event the database cannot store as the ledger failing', async () => {
    await loadPolicy();
    await expect(
      t.services.ledger.append({ eventType: 'decision', data: { decision_id: 'dec_nul', note: 'nul \u0000 byte' } }),
    ).rejects.toThrow();
    expect(t.services.ledger.writeFailure()).toBeUndefined();
    expect((await probe(t.app, '/health/ready')).status).toBe(200);
  });

  it('answers readiness 503 while draining, and liveness 200', async () => {
    await loadPolicy();
    t.services.lifecycle.draining();
    const ready = await probe(t.app, '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.body.status).toBe('unhealthy');
    expect(check(ready.body, 'shutdown')).toMatchObject({ status: 'unhealthy', details: { phase: 'draining' } });
    const live = await probe(t.app, '/health/live');
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('healthy');
  });

  it('answers startup and readiness 503 until migrations, the signing key and the policy are loaded', async () => {
    const lifecycle: Lifecycle = createLifecycle();
    const { app } = await appWith(tdb.database, { lifecycle, signingKey: t.signingKey });
    await loadPolicy();

    const starting = await probe(app, '/health/startup');
    expect(starting.status).toBe(503);
    expect(check(starting.body, 'startup')).toMatchObject({
      status: 'unhealthy',
      details: { phase: 'starting', migrations: false, signing_key: false, policy: false },
    });
    lifecycle.completed('migrations');
    lifecycle.completed('signing_key');
    expect((await probe(app, '/health/startup')).status).toBe(503);
    expect((await probe(app, '/health/ready')).status).toBe(503);
    expect((await probe(app, '/health/live')).status).toBe(200);

    lifecycle.completed('policy');
    lifecycle.serving();
    const started = await probe(app, '/health/startup');
    expect(started.status).toBe(200);
    expect(check(started.body, 'startup').details).toEqual({
      phase: 'serving',
      migrations: true,
      signing_key: true,
      policy: true,
    });
    expect((await probe(app, '/health/ready')).status).toBe(200);
  });

  it('shows a failing telemetry exporter as degraded on /health, never unhealthy, and readiness stays 200', async () => {
    const exporters = {
      otlp_traces: {
        last_success_at: '2026-01-01T00:00:00.000Z',
        last_failure_at: '2026-01-01T00:00:05.000Z',
        last_error: 'OTLPExporterError',
      },
      prometheus_scrape: { last_success_at: '2026-01-01T00:00:06.000Z', last_failure_at: null, last_error: null },
    };
    const { app } = await appWith(tdb.database, {
      probes: { exportStatus: () => exporters },
      signingKey: t.signingKey,
    });
    await loadPolicy();
    const all = await probe(app, '/health');
    expect(all.status).toBe(200);
    expect(all.body.status).toBe('degraded');
    expect(check(all.body, 'telemetry')).toMatchObject({
      status: 'degraded',
      details: { failing: ['otlp_traces'], exporters },
    });
    expect((await probe(app, '/health/ready')).status).toBe(200);

    exporters.otlp_traces.last_success_at = '2026-01-01T00:00:09.000Z';
    expect(check((await probe(app, '/health')).body, 'telemetry').status).toBe('healthy');
  });
});

describe('health probes without a database', () => {
  const health = { timeoutMs: 300, cacheMs: 0, maxEventLoopLagMs: 2_000 };
  let opened: Database[] = [];

  afterEach(async () => {
    await Promise.all(opened.map((d) => d.close()));
    opened = [];
  });

  it('keep liveness 200 while the database refuses connections, and answer readiness 503 within the timeout', async () => {
    const database = openPostgres('postgres://postgres@127.0.0.1:1/x', { poolMax: 2 });
    opened.push(database);
    const { app } = await appWith(database, { health });

    const ready = await probe(app, '/health/ready');
    expect(ready.status).toBe(503);
    expect(ready.ms).toBeLessThan(READINESS_BUDGET_MS);
    expect(check(ready.body, 'database')).toMatchObject({ status: 'unhealthy', details: { error: 'ECONNREFUSED' } });
    expect(JSON.stringify(ready.body)).not.toContain('127.0.0.1');

    const live = await probe(app, '/health/live');
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('healthy');
  });

  it('keep liveness 200 while the database accepts connections and never answers, and answer readiness 503 within the timeout', async () => {
    const held = new Set<Socket>();
    const silent = createServer((socket) => held.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    const database = openPostgres(`postgres://postgres@127.0.0.1:${port}/x`, { poolMax: 2 });
    try {
      const { app } = await appWith(database, { health });
      const [ready, live] = await Promise.all([probe(app, '/health/ready'), probe(app, '/health/live')]);
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(READINESS_BUDGET_MS);
      expect(check(ready.body, 'database')).toMatchObject({
        status: 'unhealthy',
        details: { error: 'no answer within 300 ms' },
      });
      expect(live.status).toBe(200);
      expect(live.body.status).toBe('healthy');
    } finally {
      for (const socket of held) socket.destroy();
      silent.close();
      await database.client.end({ timeout: 0 });
    }
  });

  it('fail liveness once the event loop has lagged past its threshold', async () => {
    const database = openPostgres('postgres://postgres@127.0.0.1:1/x', { poolMax: 1 });
    opened.push(database);
    let lag = 40;
    const { app } = await appWith(database, { health, probes: { eventLoopLagMs: () => lag } });
    const ok = await probe(app, '/health/live');
    expect(ok.status).toBe(200);
    expect(check(ok.body, 'event_loop').details).toEqual({ lag_ms: 40, threshold_ms: 2_000 });
    lag = 2_500;
    const stuck = await probe(app, '/health/live');
    expect(stuck.status).toBe(503);
    expect(check(stuck.body, 'event_loop')).toMatchObject({
      status: 'unhealthy',
      details: { lag_ms: 2_500, threshold_ms: 2_000 },
    });
  });
});

describe('what the process answers before the app exists (answerWhileStarting)', () => {
  const lifecycle = createLifecycle();
  lifecycle.completed('migrations');
  const answer = async (path: string) => {
    const res = answerWhileStarting(new Request(`http://lexecon${path}`), lifecycle);
    return { status: res.status, headers: res.headers, body: await res.json() };
  };

  it('answers liveness 200: the process is up, only not ready', async () => {
    const live = await answer('/health/live');
    expect(live.status).toBe(200);
    expect(live.body).toMatchObject({
      status: 'healthy',
      checks: [{ name: 'startup', details: { phase: 'starting' } }],
    });
  });

  it('answers startup, readiness and /health 503 with the phase and the steps done so far', async () => {
    for (const path of ['/health/startup', '/health/ready', '/health']) {
      const res = await answer(path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.body).toMatchObject({
        status: 'unhealthy',
        timestamp: expect.any(Number),
        checks: [
          {
            name: 'startup',
            status: 'unhealthy',
            latency_ms: 0,
            details: { phase: 'starting', migrations: true, signing_key: false, policy: false },
          },
        ],
      });
    }
  });

  it('answers every other path 503 SERVICE_UNAVAILABLE with Retry-After, in the one error shape', async () => {
    for (const path of ['/api/decide', '/api/policies', '/', '/metrics', '/healthz']) {
      const res = await answer(path);
      expect(res.status, path).toBe(503);
      expect(res.headers.get('retry-after')).toBe('2');
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.body).toEqual({
        error: { code: 'SERVICE_UNAVAILABLE', message: expect.any(String), requestId: expect.any(String) },
      });
    }
  });
});
