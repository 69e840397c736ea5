import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import { decisionRequest, samplePolicy } from './support/app';
import { withDatabase } from './support/global-setup';
import {
  ADMIN_KEY,
  cleanUpProcesses,
  type LexeconProcess,
  seededDataDir,
  spawnLexecon,
  waitFor,
} from './support/lexecon-process';
import { type OtlpReceiver, type ReceivedMetric, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver';
import { PROCESS_SUITE } from './support/wait';

/**
 * The real process (`node --import tsx src/node.ts`) over real HTTP, exporting to a real OTLP/HTTP
 * receiver: sampling, continuation of incoming traces, shutdown flush, logs, and the OTLP metric push.
 */

vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

/** The service on a migrated PGlite data dir of its own, once it listens; no drain delay at SIGTERM. */
async function startService(env: Record<string, string>): Promise<LexeconProcess> {
  const service = await spawnLexecon({
    LEXECON_DATA_DIR: await seededDataDir(),
    LEXECON_SHUTDOWN_DELAY_MS: '0',
    ...env,
  });
  await service.listening;
  return service;
}

/** SIGTERM, then the exit code. */
async function stop(service: LexeconProcess): Promise<number | null> {
  if (service.child.exitCode === null) service.child.kill('SIGTERM');
  return (await service.exited).code;
}

/** Runs `count` calls of `send`, `concurrency` at a time; resolves to every result in call order. */
async function inParallel<T>(count: number, concurrency: number, send: () => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await send();
      }
    }),
  );
  return results;
}

const SERVER = 2;
const ERROR = 2;

interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
  headers: Headers;
}

async function call(
  service: LexeconProcess,
  method: string,
  path: string,
  options: { key?: string | null; body?: unknown; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const key = options.key === undefined ? ADMIN_KEY : options.key;
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(options.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...options.headers,
    },
    body: options.body === undefined ? undefined : JSON.stringify(options.body),
  });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}

const decide = (service: LexeconProcess, options: Parameters<typeof call>[3] = {}) =>
  call(service, 'POST', '/api/decide', { body: decisionRequest(), ...options });

function serverSpanOf(spans: ReceivedSpan[], traceId: string): ReceivedSpan | undefined {
  return spans.find((s) => s.traceId === traceId && s.kind === SERVER);
}

/** True once every trace id has its server span (exported last, after every span it contains). */
const haveTraces = (traceIds: readonly string[]) => (spans: ReceivedSpan[]) =>
  traceIds.every((id) => serverSpanOf(spans, id) !== undefined);

/** The names a decision's trace has whatever its group commit: the commit itself is in the trace of the
 * group's first decision only, and linked from the others' (see src/ledger/group-commit.ts). */
const DECISION_TRACE = ['POST /api/decide', 'decision.evaluate', 'policy.evaluate', 'risk.assess', 'ledger.append'];

/** Every ledger.append among `spans` was committed by an exported ledger.commit (its child or linked). */
function everyAppendCommitted(spans: ReceivedSpan[]): void {
  const served = new Set(
    spans.filter((s) => s.name === 'ledger.commit').flatMap((c) => [c.parentSpanId, ...c.links.map((l) => l.spanId)]),
  );
  const uncommitted = spans.filter((s) => s.name === 'ledger.append' && !served.has(s.spanId));
  expect(
    uncommitted.map((a) => a.traceId),
    'traces whose ledger.append no exported ledger.commit served',
  ).toEqual([]);
}

function traceIdsOf(answers: Answer[]): string[] {
  return answers.map((a) => a.headers.get('x-trace-id')).filter((id): id is string => id !== null);
}

describe('a service that samples every new trace (OTEL_SAMPLE_RATE=1)', () => {
  let receiver: OtlpReceiver;
  let service: LexeconProcess;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    service = await startService({
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      // A push that should not happen would arrive within a second.
      OTEL_METRIC_EXPORT_INTERVAL: '1000',
      JAEGER_ENDPOINT: 'http://jaeger-agent.observability:14268/api/traces',
    });
    expect((await call(service, 'POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });

  afterAll(async () => {
    if (service) await stop(service);
    await receiver?.close();
  });

  it('warns once at startup that JAEGER_ENDPOINT is ignored, and names the OTLP variables to use', () => {
    const warnings = service.lines.filter((line) => line.includes('JAEGER_ENDPOINT'));
    expect(warnings).toHaveLength(1);
    const warning = JSON.parse(warnings[0] as string);
    expect(warning.level).toBe('warn');
    expect(warning.message).toContain('OTEL_EXPORTER_OTLP_ENDPOINT');
  });

  it('exports every one of 200 decisions as a complete trace over OTLP/HTTP', async () => {
    const answers = await inParallel(200, 8, () => decide(service));
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    const traceIds = traceIdsOf(answers);
    expect(new Set(traceIds).size).toBe(200);
    const spans = await receiver.waitFor(haveTraces(traceIds));
    for (const traceId of traceIds) {
      const names = spans.filter((s) => s.traceId === traceId).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(DECISION_TRACE));
    }
    everyAppendCommitted(spans);
    const server = serverSpanOf(spans, traceIds[0] as string);
    expect(server?.resource).toMatchObject({ 'service.name': 'lexecon', 'service.version': expect.any(String) });
    expect(server?.resource['service.instance.id']).toMatch(new RegExp(`-${service.child.pid}$`));
  });

  it('does not record a request whose incoming traceparent says unsampled (parent-based sampling)', async () => {
    const unsampled = '0af7651916cd43dd8448eb211c80319c';
    const skipped = await decide(service, { headers: { traceparent: `00-${unsampled}-b7ad6b7169203331-00` } });
    expect(skipped.status).toBe(200);
    expect(skipped.headers.get('x-trace-id')).toBeNull();
    // Spans are exported in the order they end: once a later request's trace is in, so would this one be.
    const later = traceIdsOf([await decide(service)]);
    const spans = await receiver.waitFor(haveTraces(later));
    expect(spans.filter((s) => s.traceId === unsampled)).toEqual([]);
  });

  it('does not trace /health, its probes or /metrics by default', async () => {
    const untraced = [];
    for (const path of ['/health', '/health/live', '/health/ready', '/health/startup', '/metrics']) {
      untraced.push(await call(service, 'GET', path, { key: null }));
    }
    expect(untraced.map((a) => a.headers.get('x-trace-id'))).toEqual(Array(5).fill(null));
    const later = traceIdsOf([await call(service, 'GET', '/api/ledger/head')]);
    const spans = await receiver.waitFor(haveTraces(later));
    const paths = spans.map((s) => String(s.attributes['url.path'] ?? ''));
    expect(paths.filter((path) => path.startsWith('/health') || path.startsWith('/metrics'))).toEqual([]);
  });

  it('writes one request log line per request, carrying the trace and span ids of its server span', async () => {
    const answers = [
      await decide(service),
      await call(service, 'GET', '/api/ledger/head'),
      await call(service, 'GET', '/api/policies/1?verbose=1'),
      await decide(service, { key: null }),
      await call(service, 'GET', '/no/such/route'),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 401, 404]);
    const spans = await receiver.waitFor(haveTraces(traceIdsOf(answers)));
    const logs = service.logs();
    for (const answer of answers) {
      const requestId = answer.headers.get('x-request-id');
      const lines = logs.filter((l) => l.message === 'request' && l.request_id === requestId);
      expect(lines).toHaveLength(1);
      const server = serverSpanOf(spans, answer.headers.get('x-trace-id') as string);
      expect(lines[0]).toMatchObject({
        trace_id: server?.traceId,
        span_id: server?.spanId,
        status: answer.status,
        path: server?.attributes['url.path'],
      });
    }
  });

  it('keeps API keys, the Authorization header and request bodies out of every log line and every span', async () => {
    const created = await call(service, 'POST', '/api/keys', { body: { name: 'canary agent', role: 'agent' } });
    expect(created.status).toBe(201);
    const agentKey: string = created.body.secret;
    expect(agentKey).toMatch(/^lxk_/);
    const unknownKey = `lxk_${'0'.repeat(40)}`;
    const intent = 'canary-intent-3d9c1f';
    const contextValue = 'canary-context-a6e2b4';
    const queryValue = 'canary-query-91f0c7';
    const answers = [
      await decide(service, {
        key: agentKey,
        body: decisionRequest({ user_intent: intent, context: { ticket: contextValue } }),
      }),
      await call(service, 'POST', `/api/decide?access_token=${queryValue}`, {
        key: agentKey,
        body: decisionRequest({ user_intent: intent }),
      }),
      await decide(service, { key: unknownKey, body: decisionRequest({ user_intent: intent }) }),
      await call(service, 'POST', '/api/decide', { key: null, headers: { authorization: `Basic ${queryValue}` } }),
    ];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 401, 401]);
    await receiver.waitFor(haveTraces(traceIdsOf(answers)));

    const exported = receiver.bodies.join('\n');
    const logged = service.lines.join('\n');
    for (const [where, text] of [
      ['the log', logged],
      ['the exported spans', exported],
    ] as const) {
      for (const secret of [ADMIN_KEY, agentKey, unknownKey, intent, contextValue, queryValue]) {
        expect(text.includes(secret), `${where} contains ${secret}`).toBe(false);
      }
      expect(text, where).not.toMatch(/lxk_[A-Za-z0-9]/);
      expect(text, where).not.toMatch(/Bearer [^"\\]/);
    }
  });

  it('pushes no metrics over OTLP by default (METRICS_EXPORTER=prometheus) and serves them on /metrics', async () => {
    const metrics = await call(service, 'GET', '/metrics', { key: null });
    expect(metrics.body).toMatch(/^lexecon_http_requests_total\{/m);
    await new Promise((resolve) => setTimeout(resolve, 1500));
    expect(receiver.requests.metrics).toBe(0);
  });

  it('flushes on SIGTERM the spans of every request answered before it, then exits 0', async () => {
    const answers = await inParallel(30, 6, () => decide(service));
    const traceIds = traceIdsOf(answers);
    expect(traceIds).toHaveLength(30);
    expect(await stop(service)).toBe(0);
    const spans = receiver.spans;
    for (const traceId of traceIds) {
      const names = spans.filter((s) => s.traceId === traceId).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(DECISION_TRACE));
    }
    everyAppendCommitted(spans);
  });
});

describe('a service that samples no new trace (OTEL_SAMPLE_RATE=0)', () => {
  let receiver: OtlpReceiver;
  let service: LexeconProcess;
  const continued = { traceId: '5b8aa5a2d2c872e8321cf37308d69df2', parent: '051581bf3cb55c13' };

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    service = await startService({
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '0',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    expect((await call(service, 'POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });

  afterAll(async () => {
    if (service) await stop(service);
    await receiver?.close();
  });

  it('still records a request whose incoming traceparent is sampled, as a child of the caller (parent-based)', async () => {
    const { traceId, parent } = continued;
    const answer = await decide(service, { headers: { traceparent: `00-${traceId}-${parent}-01` } });
    expect(answer.headers.get('x-trace-id')).toBe(traceId);
    const spans = await receiver.waitFor(haveTraces([traceId]));
    const server = serverSpanOf(spans, traceId) as ReceivedSpan;
    expect(server.parentSpanId).toBe(parent);
    expect(server.name).toBe('POST /api/decide');
    expect(spans.filter((s) => s.traceId === traceId).map((s) => s.name)).toEqual(
      expect.arrayContaining([...DECISION_TRACE, 'ledger.commit']),
    );
  });

  it('records none of 200 new requests, not even when it flushes at shutdown', async () => {
    const answers = await inParallel(200, 8, () => decide(service));
    expect(answers.map((a) => a.status)).toEqual(Array(200).fill(200));
    expect(traceIdsOf(answers)).toEqual([]);
    expect(await stop(service)).toBe(0);
    expect(receiver.spans.filter((s) => s.traceId !== continued.traceId)).toEqual([]);
  });
});

describe('per-route sampling: LEXECON_TRACE_SAMPLE_RATES over OTEL_SAMPLE_RATE=0', () => {
  let receiver: OtlpReceiver;
  let service: LexeconProcess;
  const RATES = 'POST /api/decide=1,GET /api/ledger/head=0';

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    service = await startService({
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '0',
      LEXECON_TRACE_SAMPLE_RATES: RATES,
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    expect((await call(service, 'POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });

  afterAll(async () => {
    if (service) await stop(service);
    await receiver?.close();
  });

  it('records every new request to a route configured at 1 while the global rate is 0', async () => {
    const answers = await inParallel(30, 6, () => decide(service));
    expect(answers.map((a) => a.status)).toEqual(Array(30).fill(200));
    const traceIds = traceIdsOf(answers);
    expect(traceIds).toHaveLength(30);
    const spans = await receiver.waitFor(haveTraces(traceIds));
    for (const id of traceIds) {
      const server = serverSpanOf(spans, id) as ReceivedSpan;
      expect(server.name).toBe('POST /api/decide');
      expect(server.parentSpanId).toBe('');
    }
  });

  it('records no new request to other routes, and still follows a caller: unsampled beats 1, sampled beats 0', async () => {
    const mark = receiver.spans.length;
    const heads = await inParallel(30, 6, () => call(service, 'GET', '/api/ledger/head'));
    const unconfigured = await inParallel(10, 5, () => call(service, 'GET', '/api/ledger/verify'));
    const unsampledParent = '0af7651916cd43dd8448eb211c80319c';
    const refused = await decide(service, { headers: { traceparent: `00-${unsampledParent}-b7ad6b7169203331-00` } });
    expect([...heads, ...unconfigured, refused].map((a) => a.status)).toEqual(Array(41).fill(200));
    expect(traceIdsOf([...heads, ...unconfigured, refused])).toEqual([]);

    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const followed = await call(service, 'GET', '/api/ledger/head', {
      headers: { traceparent: `00-${traceId}-${parent}-01` },
    });
    expect(followed.headers.get('x-trace-id')).toBe(traceId);
    const spans = await receiver.waitFor(haveTraces([traceId]));
    const server = serverSpanOf(spans, traceId) as ReceivedSpan;
    expect(server).toMatchObject({ name: 'GET /api/ledger/head', parentSpanId: parent });
    // Everything exported since the mark belongs to the followed trace: the rest made no span at all.
    expect(new Set(receiver.spans.slice(mark).map((s) => s.traceId))).toEqual(new Set([traceId]));
  });

  it('shows the sampling settings in the /health details of the telemetry check', async () => {
    const health = await call(service, 'GET', '/health');
    const telemetry = health.body.checks.find((c: { name: string }) => c.name === 'telemetry');
    expect(telemetry.details.tracing).toEqual({
      enabled: true,
      sample_rate: 0,
      sample_rates: { 'POST /api/decide': 1, 'GET /api/ledger/head': 0 },
    });
  });

  it('refuses to start with a malformed entry, naming it', async () => {
    const refused = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      TRACING_ENABLED: 'true',
      LEXECON_TRACE_SAMPLE_RATES: 'POST /api/decide=1,GET /api/ledger/head=ten percent',
    });
    expect((await refused.exited).code).toBe(1);
    expect(refused.lines.join('\n')).toContain(
      'LEXECON_TRACE_SAMPLE_RATES: must be comma-separated METHOD /route/template=ratio entries',
    );
    expect(refused.lines.join('\n')).toContain('got "GET /api/ledger/head=ten percent"');
  });
});

describe('a service that samples one new trace in ten (OTEL_SAMPLE_RATE=0.1)', () => {
  const requests = 400;
  let receiver: OtlpReceiver;
  let answers: Answer[];
  let policyLoad: Answer;
  let exitCode: number | null;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    const service = await startService({
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '0.1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    policyLoad = await call(service, 'POST', '/api/policies', { body: samplePolicy });
    expect(policyLoad.status).toBe(201);
    answers = await inParallel(requests, 8, () => decide(service));
    exitCode = await stop(service);
  });

  afterAll(async () => {
    await receiver?.close();
  });

  it('records between 5% and 17% of 400 new decisions, and nothing of the others', () => {
    expect(answers.map((a) => a.status)).toEqual(Array(requests).fill(200));
    expect(exitCode).toBe(0);
    const sampled = traceIdsOf(answers);
    // Trace ids are random, so each new trace is kept independently with p = 0.1: the count is
    // Binomial(400, 0.1), mean 40, sd 6. The band 20…68 (5%…17%) lies 3.3 sd below and 4.7 sd above
    // the mean; exactly, P(count < 20) + P(count > 68) ≈ 1.0e-4, so it fails about once in 10,000
    // correct runs, while a sampler that kept everything, nothing, or 1% would fail every time.
    expect(sampled.length).toBeGreaterThanOrEqual(0.05 * requests);
    expect(sampled.length).toBeLessThanOrEqual(0.17 * requests);
    // The policy load before them was a new trace too, sampled or not like any other.
    expect(new Set(receiver.spans.map((s) => s.traceId))).toEqual(new Set([...sampled, ...traceIdsOf([policyLoad])]));
  });

  it('records each sampled decision whole, its ledger commit included, whatever the others were', () => {
    const spans = receiver.spans;
    for (const traceId of traceIdsOf(answers)) {
      const names = spans.filter((s) => s.traceId === traceId).map((s) => s.name);
      expect(names).toEqual(expect.arrayContaining(DECISION_TRACE));
    }
    everyAppendCommitted(spans);
  });
});

/** Prometheus metric families a /metrics exposition declares (target_info is the resource, not a metric). */
function exposedFamilies(exposition: string): Set<string> {
  const families = [...exposition.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string);
  return new Set(families.filter((name) => name !== 'target_info'));
}

/**
 * The Prometheus family each pushed OTLP metric becomes, by the OpenTelemetry → Prometheus rules the
 * collector's exporter applies too: invalid characters become `_`, monotonic sums end in `_total`,
 * and a summary's `_sum`/`_count` parts join their summary's family.
 */
function pushedFamilies(metrics: ReceivedMetric[]): Set<string> {
  const names = new Set(metrics.map((m) => m.name));
  const families = new Set<string>();
  for (const metric of metrics) {
    const part = /^(.+)_(sum|count)$/.exec(metric.name);
    if (part && names.has(part[1] as string)) continue;
    const name = metric.name.replace(/[^a-zA-Z0-9_:]/g, '_');
    families.add(metric.type === 'sum' && metric.monotonic && !name.endsWith('_total') ? `${name}_total` : name);
  }
  return families;
}

describe('METRICS_EXPORTER', () => {
  const services: Record<'both' | 'otlp', { receiver: OtlpReceiver; service: LexeconProcess }> = {} as never;

  beforeAll(async () => {
    // The first seeded data dir is made once; the two services then start side by side.
    await seededDataDir();
    await Promise.all(
      (['both', 'otlp'] as const).map(async (exporter) => {
        const receiver = await startOtlpReceiver();
        const service = await startService({
          METRICS_EXPORTER: exporter,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_METRIC_EXPORT_INTERVAL: '1000',
        });
        services[exporter] = { receiver, service };
        // The same traffic to both, so the same series exist.
        await call(service, 'POST', '/api/policies', { body: samplePolicy });
        await decide(service);
        await decide(service, { body: decisionRequest({ actor: 'model', proposed_action: 'write' }) });
        await decide(service, { key: null });
        await call(service, 'GET', '/api/ledger/verify');
        // Pushes after that traffic.
        const pushed = receiver.requests.metrics;
        await waitFor(`two ${exporter} metric pushes after the traffic`, async () =>
          receiver.requests.metrics >= pushed + 2 ? true : undefined,
        );
      }),
    );
  });

  afterAll(async () => {
    for (const { receiver, service } of Object.values(services)) {
      await stop(service);
      await receiver.close();
    }
  });

  it('both: pushes over OTLP/HTTP the same metrics that /metrics serves', async () => {
    const { receiver, service } = services.both;
    const exposition = (await call(service, 'GET', '/metrics', { key: null })).body as string;
    const pushed = pushedFamilies(receiver.metrics);
    expect(pushed).toContain('lexecon_decisions_total');
    expect([...pushed].sort()).toEqual([...exposedFamilies(exposition)].sort());
    expect(receiver.metrics[0]?.resource).toMatchObject({ 'service.name': 'lexecon' });
  });

  it('otlp: pushes the same metrics and /metrics says they are pushed instead of serving them', async () => {
    const { receiver, service } = services.otlp;
    const scrape = await call(service, 'GET', '/metrics', { key: null });
    expect(scrape.status).toBe(200);
    expect(scrape.body).toMatch(/pushed over OTLP/);
    expect(exposedFamilies(scrape.body)).toEqual(new Set());
    expect([...pushedFamilies(receiver.metrics)].sort()).toEqual(
      [...pushedFamilies(services.both.receiver.metrics)].sort(),
    );
  });
});

const postgresTemplate = inject('postgresTemplate');

describe.runIf(postgresTemplate)('a failing request in the service on PostgreSQL', () => {
  const settings = postgresTemplate as { adminUrl: string; template: string };
  const name = `lexecon_tracing_${process.pid}`;
  let admin: postgres.Sql;
  let receiver: OtlpReceiver;
  let service: LexeconProcess;

  beforeAll(async () => {
    admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name} template ${settings.template}`);
    receiver = await startOtlpReceiver();
    service = await startService({
      DATABASE_URL: withDatabase(settings.adminUrl, name),
      DB_POOL_MAX: '4',
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
  });

  afterAll(async () => {
    if (service) await stop(service);
    await receiver?.close();
    await admin?.unsafe(`drop database if exists ${name} with (force)`);
    await admin?.end();
  });

  it('is logged once, with the trace and span ids of its server span, which is marked ERROR', async () => {
    // The policies table disappears under the running service: its next read fails.
    const database = postgres(withDatabase(settings.adminUrl, name), { max: 1, onnotice: () => {} });
    await database.unsafe('alter table policies rename to policies_gone');
    await database.end();

    const answer = await call(service, 'GET', '/api/policies');
    expect(answer.status).toBe(500);
    const traceId = answer.headers.get('x-trace-id') as string;
    const spans = await receiver.waitFor(haveTraces([traceId]));
    const server = serverSpanOf(spans, traceId) as ReceivedSpan;
    expect(server.status.code).toBe(ERROR);
    expect(server.attributes['error.type']).toBe('INTERNAL');
    const statement = spans.find((s) => s.traceId === traceId && s.name === 'select policies');
    expect(statement?.status.code).toBe(ERROR);
    expect(statement?.attributes['error.type']).toEqual(expect.any(String));

    const requestId = answer.headers.get('x-request-id');
    const ids = { trace_id: server.traceId, span_id: server.spanId };
    const logs = service.logs();
    expect(logs.filter((l) => l.level === 'error' && l.requestId === requestId)).toEqual([
      expect.objectContaining(ids),
    ]);
    expect(logs.filter((l) => l.message === 'request' && l.request_id === requestId)).toEqual([
      expect.objectContaining({ status: 500, ...ids }),
    ]);
  });
});
