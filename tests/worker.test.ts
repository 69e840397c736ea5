import { generateKeyPairSync } from 'node:crypto';
import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { verifyInclusion } from '../src/ledger/merkle';
import { openNote, parseCheckpoint, parseVerifierKey } from '../src/ledger/note';
import { ALL_METRICS, METRICS } from '../src/telemetry/catalogue';
import { decisionRequest, samplePolicy } from './support/app';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver';
import { PROCESS_SUITE } from './support/wait';
import {
  bundleWorker,
  eventually,
  metricPoints,
  openWorkerDatabase,
  type RunningWorker,
  startWorker,
  type WorkerBundle,
  type WorkerDatabase,
} from './support/worker';

// Bundles the Worker and runs it in workerd: the budget of a suite that starts processes.
vi.setConfig(PROCESS_SUITE);

const ADMIN_KEY = 'worker-admin-key-0123456789abcdef0123456789';
const SERVER = 2;
/** The spans a decision's trace has on Node (tests/tracing-process.test.ts names the same). */
const DECISION_TRACE = ['POST /api/decide', 'decision.evaluate', 'policy.evaluate', 'risk.assess', 'ledger.append'];

const signingKeyPem = () =>
  generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();

let bundle: WorkerBundle;

beforeAll(async () => {
  bundle = await bundleWorker();
});

afterAll(() => bundle?.remove());

describe('the Workers build in workerd, against PostgreSQL and a collector', () => {
  let database: WorkerDatabase;
  let receiver: OtlpReceiver;
  let worker: RunningWorker;

  beforeAll(async () => {
    database = await openWorkerDatabase();
    receiver = await startOtlpReceiver();
    worker = startWorker(bundle, {
      bindings: {
        DATABASE_URL: database.url,
        LEXECON_SIGNING_KEY: signingKeyPem(),
        LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
        LEXECON_POLICY: JSON.stringify(samplePolicy),
        TRACING_ENABLED: 'true',
        OTEL_SAMPLE_RATE: '1',
        LEXECON_TRACE_SAMPLE_RATES: 'GET /api/ledger/public-key=0',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        LEXECON_LOG_LEVEL: 'warn',
      },
    });
  });

  afterAll(async () => {
    try {
      await worker?.close();
    } finally {
      await receiver?.close();
      await database?.close();
    }
  });

  it('answers the startup, readiness and liveness probes once the isolate has checked the database', async () => {
    const startup = await worker.fetch('GET', '/health/startup');
    expect(startup.status).toBe(200);
    expect(startup.body).toMatchObject({
      status: 'healthy',
      checks: [{ name: 'startup', details: { migrations: true, signing_key: true, policy: true } }],
    });
    const ready = await worker.fetch('GET', '/health/ready');
    expect(ready.status).toBe(200);
    const checks = (ready.body as { checks: { name: string; status: string }[] }).checks;
    expect(Object.fromEntries(checks.map((c) => [c.name, c.status]))).toEqual({
      shutdown: 'healthy',
      startup: 'healthy',
      database: 'healthy',
      policy_engine: 'healthy',
      ledger: 'healthy',
    });
    expect((await worker.fetch('GET', '/health/live')).status).toBe(200);
  });

  it('decides under the policy from LEXECON_POLICY, records the decision in the signed ledger, and verifies it', async () => {
    const permitted = await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() });
    expect(permitted.status).toBe(200);
    expect(permitted.body).toMatchObject({ allowed: true, decision: 'permit', policy_version: 1 });
    const denied = await worker.fetch('POST', '/api/decide', {
      key: ADMIN_KEY,
      body: decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'] }),
    });
    expect(denied.body).toMatchObject({ allowed: false, decision: 'deny' });

    const { decision_id } = permitted.body as { decision_id: string };
    const verified = await worker.fetch('POST', '/api/decide/verify', { key: ADMIN_KEY, body: { decision_id } });
    expect(verified.body).toMatchObject({ verified: true });
    const chain = await worker.fetch('GET', '/api/ledger/verify', { key: ADMIN_KEY });
    expect(chain.body).toMatchObject({ valid: true });
  });

  it('answers a decision with a receipt whose checkpoint the isolate signed and the published key verifies', async () => {
    const { receipt } = (await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() }))
      .body as {
      receipt: { index: number; tree_size: number; leaf_hash: string; inclusion_proof: string[]; checkpoint: string };
    };
    const key = (await worker.fetch('GET', '/api/ledger/public-key', { key: ADMIN_KEY })).body as {
      note_verifier_key: string;
    };
    const { size, rootHash } = parseCheckpoint(
      (await openNote(receipt.checkpoint, parseVerifierKey(key.note_verifier_key))).body,
    );
    const proof = receipt.inclusion_proof.map((h) => hexToBytes(h));
    expect(verifyInclusion(receipt.index, size, hexToBytes(receipt.leaf_hash), proof, rootHash)).toBe(true);
  });

  it('refuses a request without a key with 401, and a key whose role lacks the permission with 403', async () => {
    const anonymous = await worker.fetch('POST', '/api/decide', { body: decisionRequest() });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toMatchObject({ error: { code: 'UNAUTHENTICATED' } });

    const created = await worker.fetch('POST', '/api/keys', { key: ADMIN_KEY, body: { name: 'edge', role: 'agent' } });
    expect(created.status).toBe(201);
    const { secret } = created.body as { secret: string };
    expect((await worker.fetch('POST', '/api/decide', { key: secret, body: decisionRequest() })).status).toBe(200);
    const forbidden = await worker.fetch('GET', '/api/ledger/verify', { key: secret });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ error: { code: 'FORBIDDEN' } });
  });

  it('signs a user in, serves the session and ends it at logout, with scrypt computed in the isolate', async () => {
    const user = { username: 'edge-user', password: 'an edge passphrase', role: 'auditor' };
    expect((await worker.fetch('POST', '/api/users', { key: ADMIN_KEY, body: user })).status).toBe(201);
    const login = await worker.fetch('POST', '/api/auth/login', {
      body: { username: user.username, password: user.password },
    });
    expect(login.status).toBe(200);
    const { token } = login.body as { token: string };
    const me = await worker.fetch('GET', '/api/auth/me', { key: token });
    expect(me.body).toMatchObject({ kind: 'session', name: 'edge-user', role: 'auditor' });
    expect((await worker.fetch('POST', '/api/auth/logout', { key: token })).status).toBe(200);
    expect((await worker.fetch('GET', '/api/auth/me', { key: token })).status).toBe(401);
  });

  it('limits sign-in attempts across requests through the shared store: the 11th in a minute gets 429', async () => {
    const statuses: number[] = [];
    let limited: Headers | undefined;
    for (let i = 0; i < 11; i++) {
      const res = await worker.fetch('POST', '/api/auth/login', {
        body: { username: 'nobody-here', password: 'wrong' },
      });
      statuses.push(res.status);
      if (res.status === 429) limited = res.headers;
    }
    expect(statuses.slice(0, 10).every((status) => status === 401 || status === 429)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect(limited?.get('retry-after')).toMatch(/^\d+$/);
    expect(limited?.get('ratelimit-limit')).toBe('10');
  });

  it('answers GET /metrics with 501 and says to scrape the collector', async () => {
    const metrics = await worker.fetch('GET', '/metrics');
    expect(metrics.status).toBe(501);
    expect(metrics.body).toMatchObject({
      error: { code: 'NOT_IMPLEMENTED', message: expect.stringContaining('collector') },
    });
  });

  it('pushes a decision’s trace with the Node build’s span names, parents and attributes', async () => {
    const answer = await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() });
    const traceId = answer.headers.get('x-trace-id');
    expect(traceId).toMatch(/^[0-9a-f]{32}$/);
    const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.kind === SERVER));
    const trace = spans.filter((s) => s.traceId === traceId);
    expect(trace.map((s) => s.name)).toEqual(expect.arrayContaining(DECISION_TRACE));

    const server = trace.find((s) => s.kind === SERVER) as ReceivedSpan;
    expect(server.attributes).toMatchObject({
      'http.request.method': 'POST',
      'http.route': '/api/decide',
      'http.response.status_code': 200,
      'url.path': '/api/decide',
      'url.scheme': 'http',
    });
    expect(server.resource).toMatchObject({ 'service.name': 'lexecon', 'service.version': expect.any(String) });
    expect(server.resource['service.instance.id']).toMatch(/^edge-/);
    // Context survives awaits in workerd: the evaluation is a child of the request's span.
    const evaluation = trace.find((s) => s.name === 'decision.evaluate');
    expect(evaluation?.parentSpanId).toBe(server.spanId);
    const statement = trace.find((s) => s.attributes['db.system.name'] === 'postgresql');
    expect(statement?.attributes).toMatchObject({ 'db.operation.name': expect.any(String) });
  });

  it('samples per route from LEXECON_TRACE_SAMPLE_RATES, following a sampled caller, and shows it in /health', async () => {
    const alone = await worker.fetch('GET', '/api/ledger/public-key', { key: ADMIN_KEY });
    expect(alone.status).toBe(200);
    expect(alone.headers.get('x-trace-id')).toBeNull();
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const followed = await worker.fetch('GET', '/api/ledger/public-key', {
      key: ADMIN_KEY,
      headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` },
    });
    expect(followed.headers.get('x-trace-id')).toBe(traceId);
    const spans = await receiver.waitFor((all) => all.some((s) => s.traceId === traceId && s.kind === SERVER));
    expect(spans.find((s) => s.traceId === traceId && s.kind === SERVER)).toMatchObject({
      name: 'GET /api/ledger/public-key',
      parentSpanId: '00f067aa0ba902b7',
    });
    const health = await worker.fetch('GET', '/health');
    const telemetry = (health.body as { checks: { name: string; details: Record<string, unknown> }[] }).checks.find(
      (c) => c.name === 'telemetry',
    );
    expect(telemetry?.details.tracing).toEqual({
      enabled: true,
      sample_rate: 1,
      sample_rates: { 'GET /api/ledger/public-key': 0 },
    });
  });

  it('pushes metrics under the catalogue’s names with the label keys Node exposes', async () => {
    await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() });
    const points = await eventually(
      () => metricPoints(receiver.bodies),
      (all) => all.some((p) => p.metric === METRICS.decisions.name && p.value > 0),
    );
    const catalogue = new Map(ALL_METRICS.map((d) => [d.name, d]));
    const summaryParts = [`${METRICS.apiLatencySummary.name}_sum`, `${METRICS.apiLatencySummary.name}_count`];
    const lexecon = points.filter((p) => p.metric.startsWith('lexecon_'));
    const unknown = lexecon.filter((p) => !catalogue.has(p.metric) && !summaryParts.includes(p.metric));
    expect(unknown.map((p) => p.metric)).toEqual([]);
    for (const point of lexecon) {
      const labels = catalogue.get(point.metric)?.labels ?? [];
      const keys = Object.keys(point.attributes).filter((key) => key !== 'quantile');
      expect(keys.sort(), point.metric).toEqual([...labels].sort());
    }
    const pushed = new Set(lexecon.map((p) => p.metric));
    for (const family of [
      METRICS.httpRequests,
      METRICS.httpDuration,
      METRICS.decisions,
      METRICS.decisionEvaluation,
      METRICS.ledgerEntries,
      METRICS.ledgerCheckpoints,
      METRICS.ledgerTreeSize,
      METRICS.ledgerIntegrityFailure,
      METRICS.dbQueryDuration,
      METRICS.authAttempts,
    ]) {
      expect(pushed, family.name).toContain(family.name);
    }
    const decideRequests = points.filter(
      (p) => p.metric === METRICS.httpRequests.name && p.attributes.endpoint === '/api/decide',
    );
    expect(decideRequests.some((p) => p.attributes.method === 'POST' && p.attributes.status === '200')).toBe(true);
    // The decision's group commit signed a checkpoint in the isolate that answered it.
    const treeSizes = points.filter((p) => p.metric === METRICS.ledgerTreeSize.name).map((p) => p.value);
    expect(Math.max(...treeSizes)).toBeGreaterThan(1);
  });

  it('keeps answering while the collector fails, and counts what the failed push lost', async () => {
    receiver.answer('error');
    const before = receiver.requests.metrics;
    const answer = await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() });
    expect(answer.status).toBe(200);
    await eventually(
      () => receiver.requests.metrics,
      (count) => count > before,
    );
    const health = await worker.fetch('GET', '/health');
    const telemetry = (health.body as { checks: { name: string; status: string }[] }).checks.find(
      (c) => c.name === 'telemetry',
    );
    expect(telemetry?.status).toBe('degraded');

    receiver.answer('ok');
    await worker.fetch('GET', '/');
    const lost = await eventually(
      () => metricPoints(receiver.bodies).filter((p) => p.metric === 'otel.sdk.exporter.metric_data_point.exported'),
      (all) => all.some((p) => p.attributes['error.type'] === '500' && p.value > 0),
    );
    expect(lost.length).toBeGreaterThan(0);
  });

  it('verifies the ledger from its Cron Trigger, and /health reports the result', async () => {
    await worker.triggerCron('* * * * *');
    const verification = async () => {
      const health = await worker.fetch('GET', '/health');
      const checks = (health.body as { checks: { name: string; details: Record<string, unknown> }[] }).checks;
      return checks.find((c) => c.name === 'ledger')?.details.last_verification as Record<string, { valid: boolean }>;
    };
    let last = await verification();
    while (!last?.incremental || !last.full) last = await verification();
    expect(last).toMatchObject({ incremental: { valid: true }, full: { valid: true } });
  });
});

describe('the Workers build with bad bindings', () => {
  it('answers every request with 500 CONFIGURATION_INVALID naming the bindings, without echoing them', async () => {
    const worker = startWorker(bundle, {
      bindings: {
        DB_POOL_MAX: 'lots',
        LEXECON_SIGNING_KEY: signingKeyPem(),
        OTEL_SAMPLE_RATE: 'half',
        LEXECON_TRACE_SAMPLE_RATES: 'POST /api/decide=lots',
      },
    });
    try {
      for (const path of ['/health/live', '/api/decide', '/']) {
        const answer = await worker.fetch(path === '/api/decide' ? 'POST' : 'GET', path);
        expect(answer.status, path).toBe(500);
        expect(answer.body).toMatchObject({
          error: {
            code: 'CONFIGURATION_INVALID',
            details: {
              variables: expect.arrayContaining([
                'DB_POOL_MAX',
                'OTEL_SAMPLE_RATE',
                'LEXECON_TRACE_SAMPLE_RATES',
                'DATABASE_URL',
              ]),
            },
          },
        });
        expect(JSON.stringify(answer.body)).not.toContain('lots');
      }
    } finally {
      await worker.close();
    }
  });

  it('names LEXECON_SIGNING_KEY when it is not an Ed25519 key', async () => {
    const worker = startWorker(bundle, {
      bindings: { DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', LEXECON_SIGNING_KEY: 'not a key' },
    });
    try {
      const answer = await worker.fetch('GET', '/health/ready');
      expect(answer.status).toBe(500);
      expect(answer.body).toMatchObject({
        error: { code: 'CONFIGURATION_INVALID', details: { variables: ['LEXECON_SIGNING_KEY'] } },
      });
    } finally {
      await worker.close();
    }
  });
});

/** Hyperdrive bindings require a password in the URL; a server that trusts the client ignores it. */
function withPassword(url: string): string {
  const parsed = new URL(url);
  if (!parsed.password) parsed.password = 'unused';
  return parsed.toString();
}

describe('the Workers build through a Hyperdrive binding', () => {
  let database: WorkerDatabase;
  let worker: RunningWorker;

  beforeAll(async () => {
    database = await openWorkerDatabase();
    worker = startWorker(bundle, {
      bindings: {
        LEXECON_SIGNING_KEY: signingKeyPem(),
        LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
        OTEL_SDK_DISABLED: 'true',
        LEXECON_LOG_LEVEL: 'warn',
        FEATURE_FLAG_METRICS_DETAILED: '25%',
      },
      hyperdrive: withPassword(database.url),
    });
  });

  afterAll(async () => {
    try {
      await worker?.close();
    } finally {
      await database?.close();
    }
  });

  it('reaches PostgreSQL through the binding’s connection string and decides', async () => {
    const ready = await worker.fetch('GET', '/health/ready');
    expect(ready.status).toBe(200);
    const answer = await worker.fetch('POST', '/api/decide', { key: ADMIN_KEY, body: decisionRequest() });
    expect(answer.status).toBe(200);
    expect(answer.body).toMatchObject({ allowed: false, reason_code: 'no_policy' });
  });

  it('takes feature-flag defaults from its bindings, as Node takes them from the environment', async () => {
    const flags = await worker.fetch('GET', '/api/flags', { key: ADMIN_KEY });
    expect(flags.status).toBe(200);
    expect(flags.body).toMatchObject({
      flags: [{ name: 'metrics_detailed', default: { enabled: true, rollout_percent: 25 }, source: 'config' }],
    });
  });
});
