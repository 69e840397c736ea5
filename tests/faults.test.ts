import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { decisionRequest } from './support/app';
import {
  cleanUpProcesses,
  freePort,
  freshRequest,
  type LexeconProcess,
  metricValue,
  policyFile,
  seededDataDir,
  shutdownMs,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { openPostgresFixture, type PostgresFixture } from './support/postgres-fixture';
import { CONDITION_TIMEOUT_MS, PROCESS_SUITE } from './support/wait';

/**
 * Faults injected into the real process: PostgreSQL going away and coming back (through a TCP proxy
 * the test cuts), and a telemetry collector that is down.
 */
vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

/** The spec's readinessProbe timeoutSeconds. */
const READINESS_BUDGET_MS = 3_000;
const HEALTH_TIMEOUT_MS = 500;

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
const check = (body: any, name: string) => body.checks.find((c: { name: string }) => c.name === name);

async function scrape(service: LexeconProcess): Promise<string> {
  const res = await fetch(`${service.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

const postgresTemplate = inject('postgresTemplate');

describe.runIf(postgresTemplate)('the Node process when PostgreSQL becomes unreachable and returns', () => {
  let fixture: PostgresFixture;
  let proxy: PostgresFixture['proxy'];
  let service: LexeconProcess;

  beforeAll(async () => {
    fixture = await openPostgresFixture('faults');
    proxy = fixture.proxy;
    service = await spawnLexecon({
      DATABASE_URL: fixture.url,
      DB_POOL_MAX: '4',
      LEXECON_DATA_DIR: tempDir(),
      LEXECON_POLICY_FILE: policyFile(),
      LEXECON_POLICY_REFRESH_MS: '200',
      LEXECON_HEALTH_TIMEOUT_MS: String(HEALTH_TIMEOUT_MS),
      LEXECON_HEALTH_CACHE_MS: '0',
      LEXECON_SHUTDOWN_DELAY_MS: '0',
    });
    await service.listening;
  });

  afterAll(async () => {
    await fixture?.close();
  });

  it('fails decisions closed with 503 DATABASE_UNAVAILABLE and readiness within its budget while liveness stays 200, then recovers without a restart and loses no answered decision', async () => {
    const answered: string[] = [];
    const decide = async () => {
      const res = await freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest() });
      if (res.status === 200) answered.push(res.body.decision_id);
      return res;
    };
    for (let i = 0; i < 5; i++) {
      const res = await decide();
      expect(res.status).toBe(200);
      expect(res.body.allowed).toBe(true);
    }
    const before = await scrape(service);

    await proxy.cut();

    const probeStarted = Date.now();
    const ready = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
    const probeMs = Date.now() - probeStarted;
    expect(ready.status).toBe(503);
    expect(probeMs).toBeLessThan(READINESS_BUDGET_MS);
    expect(check(ready.body, 'database').status).toBe('unhealthy');
    expect(check(ready.body, 'database').details.error).toMatch(/^[A-Z0-9_]+$/);

    const live = await freshRequest(service.port, 'GET', '/health/live', { key: null });
    expect(live.status).toBe(200);
    expect(live.body.status).toBe('healthy');

    const refused = await Promise.all([decide(), decide(), decide()]);
    for (const res of refused) {
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
      expect(res.body.allowed).toBeUndefined();
      expect(JSON.stringify(res.body)).not.toContain(String(proxy.port));
    }
    // Later requests, once the policy refresh is due again, fail the same way.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = await decide();
    expect(later.status).toBe(503);
    expect(later.body.error.code).toBe('DATABASE_UNAVAILABLE');

    const during = await scrape(service);
    expect(metricValue(during, 'lexecon_errors_total', { error_type: 'DATABASE_UNAVAILABLE' })).toBeGreaterThanOrEqual(
      metricValue(before, 'lexecon_errors_total', { error_type: 'DATABASE_UNAVAILABLE' }) + 4,
    );
    expect(metricValue(during, 'lexecon_db_errors_total', { error_type: 'connection' })).toBeGreaterThan(
      metricValue(before, 'lexecon_db_errors_total', { error_type: 'connection' }),
    );
    const recoveriesBefore = metricValue(during, 'lexecon_error_recovery_total');

    await proxy.resume();
    await waitFor('readiness to return to 200', async () => {
      const res = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
      return res.status === 200 ? res : undefined;
    });
    for (let i = 0; i < 3; i++) {
      const res = await decide();
      expect(res.status).toBe(200);
      expect(res.body.allowed).toBe(true);
    }
    const after = await scrape(service);
    expect(metricValue(after, 'lexecon_error_recovery_total')).toBeGreaterThan(recoveriesBefore);

    const verification = await freshRequest(service.port, 'GET', '/api/ledger/verify');
    expect(verification.body).toMatchObject({ valid: true });
    expect(answered).toHaveLength(8);
    for (const id of answered) {
      const found = await freshRequest(service.port, 'GET', `/api/audit/decisions/${id}`);
      expect(found.status, id).toBe(200);
      expect(found.body.verification).toEqual({ hash_valid: true, signature_valid: true, chain_link_valid: true });
    }
  });

  it('answers readiness 503 within its budget and liveness 200 when PostgreSQL stops answering, and is ready again once it answers', async () => {
    proxy.stall();
    try {
      const [ready, live] = await Promise.all([
        timedRequest(service, '/health/ready'),
        timedRequest(service, '/health/live'),
      ]);
      expect(ready.status).toBe(503);
      expect(ready.ms).toBeLessThan(READINESS_BUDGET_MS);
      expect(check(ready.body, 'database')).toMatchObject({
        status: 'unhealthy',
        details: { error: `no answer within ${HEALTH_TIMEOUT_MS} ms` },
      });
      expect(live.status).toBe(200);
      expect(live.ms).toBeLessThan(READINESS_BUDGET_MS);
    } finally {
      await proxy.resume();
    }
    await waitFor('readiness to return to 200', async () => {
      const res = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
      return res.status === 200 ? res : undefined;
    });
  });

  it('fails a decision closed with 503 DATABASE_UNAVAILABLE when PostgreSQL stops answering, instead of holding it open', async () => {
    // The server's own bound on a whole request (README: 30 s); a decision still unanswered by then
    // has not failed closed, whatever it answers later.
    const answerWithinMs = 30_000;
    expect((await freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest() })).status).toBe(200);
    proxy.stall();
    try {
      const pending = freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest() });
      const res = await Promise.race([
        pending,
        new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), answerWithinMs)),
      ]);
      expect(res, `POST /api/decide gave no answer within ${answerWithinMs} ms`).toBeDefined();
      expect(res?.status).toBe(503);
      expect(res?.body.error.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await proxy.resume();
    }
    await waitFor('readiness to return to 200', async () => {
      const res = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
      return res.status === 200 ? res : undefined;
    });
    expect((await freshRequest(service.port, 'GET', '/api/ledger/verify')).body.valid).toBe(true);
  });

  it('stops with exit code 0 after the outages', async () => {
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  });
});

async function timedRequest(service: LexeconProcess, path: string) {
  const started = Date.now();
  const res = await freshRequest(service.port, 'GET', path, { key: null });
  return { ...res, ms: Date.now() - started };
}

describe('the Node process when the telemetry collector is down', () => {
  it('serves requests as usual and shows the failing exporters as degraded telemetry on /health, never unhealthy', async () => {
    const closedPort = await freePort();
    const service = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_POLICY_FILE: policyFile(),
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closedPort}`,
      METRICS_EXPORTER: 'both',
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      LEXECON_HEALTH_CACHE_MS: '0',
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      LEXECON_SHUTDOWN_GRACE_MS: '5000',
    });
    await service.listening;
    for (let i = 0; i < 5; i++) {
      const res = await service.call('POST', '/api/decide', decisionRequest());
      expect(res.status).toBe(200);
      expect(res.body.allowed).toBe(true);
    }

    const health = await waitFor(
      'both exporters to have failed',
      async () => {
        const res = await service.call('GET', '/health');
        const failing: string[] = check(res.body, 'telemetry').details.failing ?? [];
        return failing.includes('otlp_traces') && failing.includes('otlp_metrics') ? res : undefined;
      },
      CONDITION_TIMEOUT_MS,
      250,
    );
    expect(health.status).toBe(200);
    expect(health.body.status).toBe('degraded');
    const telemetry = check(health.body, 'telemetry');
    expect(telemetry.status).toBe('degraded');
    expect(telemetry.details.exporters.otlp_traces).toMatchObject({
      last_success_at: null,
      last_failure_at: expect.any(String),
    });
    expect(health.body.checks.filter((c: { status: string }) => c.status === 'unhealthy')).toEqual([]);
    expect(JSON.stringify(health.body)).not.toContain(String(closedPort));

    expect((await service.call('GET', '/health/ready')).status).toBe(200);
    const decided = await service.call('POST', '/api/decide', decisionRequest());
    expect(decided.status).toBe(200);
    expect((await service.call('GET', '/api/ledger/verify')).body.valid).toBe(true);

    service.child.kill('SIGTERM');
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(shutdownMs(service)).toBeLessThanOrEqual(5_000);
  });
});
