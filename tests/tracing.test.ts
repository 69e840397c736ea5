import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createJsonLogger } from '../src/telemetry/logger';
import { createResource, createTracerProvider } from '../src/telemetry/sdk';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestResponse,
} from './support/app';
import { backends, type TestDatabase } from './support/databases';
import { type OtlpReceiver, type ReceivedSpan, startOtlpReceiver } from './support/otlp-receiver';
import { CONDITION_TIMEOUT_MS, waitFor } from './support/wait';

/**
 * Spans as the collector receives them: the app in-process with the SDK pieces the Node entry uses
 * (parent-based sampler, batch processor, OTLP/HTTP JSON exporter, AsyncLocalStorage context, W3C
 * propagation) and a real OTLP/HTTP receiver decoding what the exporter sends.
 */

const SERVER = 2;
const ERROR = 2;
// Strings sent in request bodies and query strings that must never reach a span.
const INTENT_CANARY = 'canary-intent-7f3a91';
const CONTEXT_CANARY = 'canary-context-52c0de';
const QUERY_CANARY = 'canary-query-e41b77';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

afterAll(() => {
  context.disable();
  propagation.disable();
});

function one(spans: ReceivedSpan[], name: string): ReceivedSpan {
  const found = spans.filter((s) => s.name === name);
  expect(
    found.map((s) => s.name),
    `exactly one "${name}" span among: ${spans.map((s) => s.name)}`,
  ).toEqual([name]);
  return found[0] as ReceivedSpan;
}

function childOf(span: ReceivedSpan, parent: ReceivedSpan): void {
  expect(`${span.name} → parent ${span.parentSpanId}`).toBe(`${span.name} → parent ${parent.spanId}`);
}

describe.each(backends())('tracing the API in-process on $name', (backend) => {
  let receiver: OtlpReceiver;
  let provider: TracerProvider;
  let database: TestDatabase;
  let app: TestApp;
  const logs: Record<string, unknown>[] = [];

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    provider = createTracerProvider({
      resource: createResource({ serviceName: 'lexecon', serviceVersion: 'test', instanceId: `test-${backend.name}` }),
      sampleRate: 1,
      tracesEndpoint: `${receiver.url}/v1/traces`,
      scheduledDelayMillis: 20,
    });
    const metrics = createTestMetrics({ tracer: provider.getTracer('lexecon', 'test') });
    database = await backend.open({ observer: { ...metrics.observer, trace: metrics.telemetry.inSpan } });
    // The Node entry's logger: JSON lines with the active span's ids.
    const logger = createJsonLogger(
      'info',
      (line) => logs.push(JSON.parse(line)),
      () => metrics.telemetry.activeIds(),
    );
    app = await createTestApp(database.database, { metrics, logger });
    expect((await app.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });

  afterAll(async () => {
    await provider?.shutdown();
    await database?.close();
    await receiver?.close();
  });

  /** A fresh agent key: its first use misses the key cache and reads the database. */
  async function newAgentKey(): Promise<string> {
    return (await app.services.apiKeys.create({ name: 'tracing agent', role: 'agent', createdBy: 'test' })).secret;
  }

  /** Sends requests and returns every span exported on their account. */
  async function exported<T>(send: () => Promise<T>): Promise<{ result: T; spans: ReceivedSpan[] }> {
    await settled();
    const mark = receiver.spans.length;
    const result = await send();
    await settled();
    return { result, spans: receiver.spans.slice(mark) };
  }

  /**
   * Flushes, then waits until every export sent has its answer: one the processor's timer (or a full
   * batch) started before the flush is not awaited by it, and its spans must not fall into the wrong
   * window. The receiver records spans before it answers.
   */
  async function settled(): Promise<void> {
    await provider.forceFlush();
    await waitFor(
      'every export to be answered',
      async () => (receiver.inFlight() === 0 ? true : undefined),
      CONDITION_TIMEOUT_MS,
      5,
    );
  }

  it('records one POST /api/decide as one trace: server → decision → policy, risk and ledger → database', async () => {
    const key = await newAgentKey();
    const { result: res, spans } = await exported(() =>
      app.request('POST', '/api/decide', { key, body: decisionRequest() }),
    );
    expect(res.status).toBe(200);

    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([res.headers.get('x-trace-id')]));
    const server = one(spans, 'POST /api/decide');
    expect(server.parentSpanId).toBe('');
    const decision = one(spans, 'decision.evaluate');
    const policy = one(spans, 'policy.evaluate');
    const risk = one(spans, 'risk.assess');
    const append = one(spans, 'ledger.append');
    const commit = one(spans, 'ledger.commit');
    // One insert, or two when another writer moved the head first and the group retried under the lock.
    const inserts = spans.filter((s) => s.name === 'insert ledger_entries');
    expect(inserts.length).toBeGreaterThanOrEqual(1);
    expect(inserts.at(-1)?.status.code).toBe(0);
    const cache = one(spans, 'cache.lookup');
    const keyRead = one(spans, 'select api_keys');
    childOf(cache, server);
    childOf(keyRead, server);
    childOf(decision, server);
    childOf(policy, decision);
    childOf(risk, policy);
    childOf(append, decision);
    childOf(commit, append);
    for (const insert of inserts) childOf(insert, commit);
    // Every other span hangs off one of these too: the server span is the only root.
    const ids = new Set(spans.map((s) => s.spanId));
    expect(spans.filter((s) => !ids.has(s.parentSpanId)).map((s) => s.name)).toEqual(['POST /api/decide']);
  });

  it('names the server span after the route template and gives it the HTTP attributes, without the query', async () => {
    const { result: res, spans } = await exported(() =>
      app.request('GET', `/api/policies/1?token=${QUERY_CANARY}`, {
        headers: { host: 'lexecon.example:8443', 'user-agent': 'tracing-test/1.0' },
      }),
    );
    expect(res.status).toBe(200);
    const server = one(spans, 'GET /api/policies/:version');
    expect(server.kind).toBe(SERVER);
    expect(server.status.code).toBe(0);
    expect(server.attributes).toEqual({
      'http.request.method': 'GET',
      'http.route': '/api/policies/:version',
      'http.response.status_code': 200,
      'url.path': '/api/policies/1',
      'url.scheme': 'http',
      'server.address': 'lexecon.example',
      'server.port': 8443,
      'user_agent.original': 'tracing-test/1.0',
    });
    expect(JSON.stringify(spans)).not.toContain(QUERY_CANARY);
  });

  it('returns the exported trace id in the traceresponse and X-Trace-Id headers', async () => {
    const { result: res, spans } = await exported(() => app.request('GET', '/api/ledger/head'));
    const server = one(spans, 'GET /api/ledger/head');
    expect(res.headers.get('x-trace-id')).toBe(server.traceId);
    expect(res.headers.get('traceresponse')).toBe(`00-${server.traceId}-${server.spanId}-01`);
  });

  it('records the decision on its span: actor, action, resource, allowed, risk level, decision id and policy hash', async () => {
    const permit = await exported(() => app.request('POST', '/api/decide', { body: decisionRequest() }));
    const deny = await exported(() =>
      app.request('POST', '/api/decide', {
        body: decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'], tool: 'db_writer' }),
      }),
    );
    for (const { result: res, spans } of [permit, deny]) {
      const body = res.body;
      expect(one(spans, 'decision.evaluate').attributes).toMatchObject({
        actor: body.allowed ? 'user' : 'model',
        action: body.allowed ? 'read' : 'write',
        resource: body.allowed ? 'file_reader' : 'db_writer',
        allowed: body.allowed,
        decision: body.decision,
        risk_level: body.risk_level,
        decision_id: body.decision_id,
        policy_version_hash: body.policy_version_hash,
      });
      expect(one(spans, 'policy.evaluate').attributes).toMatchObject({
        policy_version_hash: body.policy_version_hash,
        reason_code: body.reason_code,
      });
    }
    expect(permit.result.body.allowed).toBe(true);
    expect(deny.result.body.allowed).toBe(false);
  });

  it('records an explanation as one decision.explain span, with nothing of a decision under it', async () => {
    const body = {
      request: decisionRequest({ user_intent: INTENT_CANARY, context: { note: CONTEXT_CANARY } }),
      policy: samplePolicy,
    };
    const { result: res, spans } = await exported(() =>
      app.request('POST', '/api/decide/explain', { key: app.keys.auditor, body }),
    );
    expect(res.status).toBe(200);

    const explain = one(spans, 'decision.explain');
    childOf(explain, one(spans, 'POST /api/decide/explain'));
    expect(explain.attributes).toMatchObject({
      actor: 'user',
      action: 'read',
      resource: 'file_reader',
      allowed: true,
      decision: 'permit',
      reason_code: 'permitted',
      'policy.source': 'request',
      policy_version_hash: res.body.policy.hash,
    });
    const names = spans.map((s) => s.name);
    for (const decisionOnly of ['decision.evaluate', 'policy.evaluate', 'ledger.append', 'ledger.commit']) {
      expect(names).not.toContain(decisionOnly);
    }
    expect(names.filter((name) => name.startsWith('insert '))).toEqual([]);
    expect(JSON.stringify(spans)).not.toContain(INTENT_CANARY);
    expect(JSON.stringify(spans)).not.toContain(CONTEXT_CANARY);
  });

  it('traces ledger verification', async () => {
    const { result: res, spans } = await exported(() => app.request('GET', '/api/ledger/verify'));
    expect(res.body.valid).toBe(true);
    const verify = one(spans, 'ledger.verify');
    childOf(verify, one(spans, 'GET /api/ledger/verify'));
    expect(verify.attributes).toMatchObject({ 'ledger.valid': true });
    expect(spans.some((s) => s.name === 'select ledger_entries' && s.parentSpanId === verify.spanId)).toBe(true);
  });

  it('traces every database statement with system, operation, table and its parameterised text, never the values sent', async () => {
    const key = await newAgentKey();
    const { spans } = await exported(() =>
      app.request('POST', '/api/decide', {
        key,
        body: decisionRequest({ user_intent: INTENT_CANARY, context: { note: CONTEXT_CANARY } }),
      }),
    );
    const statements = spans.filter((s) => s.attributes['db.system.name'] !== undefined);
    expect(statements.map((s) => s.name)).toEqual(expect.arrayContaining(['select api_keys', 'insert ledger_entries']));
    for (const statement of statements) {
      const { attributes } = statement;
      expect(attributes['db.system.name']).toBe('postgresql');
      expect(statement.name).toBe(`${attributes['db.operation.name']} ${attributes['db.collection.name']}`);
      expect(['select', 'insert', 'update', 'delete', 'other']).toContain(attributes['db.operation.name']);
      expect(typeof attributes['db.query.text']).toBe('string');
    }
    // Values travel as parameters: the statement texts carry placeholders, not the key or the body.
    expect(one(spans, 'select api_keys').attributes['db.query.text']).toMatch(/"key_hash" = \$1/);
    for (const insert of spans.filter((s) => s.name === 'insert ledger_entries')) {
      expect(insert.attributes['db.query.text']).toMatch(/jsonb_to_recordset\(\$1::jsonb\)/);
    }
    const everything = JSON.stringify(spans);
    for (const secret of [INTENT_CANARY, CONTEXT_CANARY, key]) expect(everything).not.toContain(secret);
  });

  it('records each API key cache lookup with whether it hit', async () => {
    const key = await newAgentKey();
    const first = await exported(() => app.request('POST', '/api/decide', { key, body: decisionRequest() }));
    const second = await exported(() => app.request('POST', '/api/decide', { key, body: decisionRequest() }));
    expect(one(first.spans, 'cache.lookup').attributes).toEqual({ 'cache.name': 'api_keys', 'cache.hit': false });
    expect(one(second.spans, 'cache.lookup').attributes).toEqual({ 'cache.name': 'api_keys', 'cache.hit': true });
    expect(second.spans.map((s) => s.name)).not.toContain('select api_keys');
  });

  it('continues an incoming W3C traceparent and keeps its tracestate', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const parent = '00f067aa0ba902b7';
    const { result: res, spans } = await exported(() =>
      app.request('POST', '/api/decide', {
        body: decisionRequest(),
        headers: { traceparent: `00-${traceId}-${parent}-01`, tracestate: 'vendor=opaque-value' },
      }),
    );
    const server = one(spans, 'POST /api/decide');
    expect(server.traceId).toBe(traceId);
    expect(server.parentSpanId).toBe(parent);
    expect(server.traceState).toBe('vendor=opaque-value');
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set([traceId]));
    expect(res.headers.get('x-trace-id')).toBe(traceId);
    expect(res.headers.get('traceresponse')).toBe(`00-${traceId}-${server.spanId}-01`);
  });

  it('starts a new trace when the incoming traceparent is malformed', async () => {
    const { spans } = await exported(() =>
      app.request('GET', '/api/ledger/head', { headers: { traceparent: '00-not-a-trace-01' } }),
    );
    const server = one(spans, 'GET /api/ledger/head');
    expect(server.parentSpanId).toBe('');
    expect(server.traceId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('does not trace /health or /metrics', async () => {
    const { result, spans } = await exported(async () => [
      await app.request('GET', '/health', { key: null }),
      await app.request('GET', '/health/live', { key: null }),
      await app.request('GET', '/metrics', { key: null }),
      await app.request('GET', '/api/ledger/head'),
    ]);
    for (const res of result.slice(0, 3)) {
      expect(res.headers.get('x-trace-id')).toBeNull();
      expect(res.headers.get('traceresponse')).toBeNull();
    }
    expect(spans.map((s) => s.attributes['url.path']).filter(Boolean)).toEqual(['/api/ledger/head']);
  });

  it('leaves a client error (401) unmarked: status unset and no error.type', async () => {
    const { result: res, spans } = await exported(() =>
      app.request('POST', '/api/decide', { key: null, body: decisionRequest() }),
    );
    expect(res.status).toBe(401);
    const server = one(spans, 'POST /api/decide');
    expect(server.status.code).toBe(0);
    expect(server.attributes['http.response.status_code']).toBe(401);
    expect(server.attributes).not.toHaveProperty('error.type');
  });

  it('names a request that matched no route by its method alone, without http.route', async () => {
    const { result: res, spans } = await exported(() => app.request('GET', '/no/such/route'));
    expect(res.status).toBe(404);
    expect(spans).toHaveLength(1);
    const [server] = spans as [ReceivedSpan];
    // OpenTelemetry HTTP semantic conventions: `{method}` when there is no route template, and
    // http.route only for a route the framework matched.
    expect(server.name).toBe('GET');
    expect(server.attributes).not.toHaveProperty('http.route');
    expect(server.attributes['url.path']).toBe('/no/such/route');
  });

  it('marks a request that fails ERROR with error.type, on the server span and on the span that threw', async () => {
    const ledger = app.services.ledger;
    const append = ledger.append;
    ledger.append = async () => {
      throw new TypeError('simulated ledger failure');
    };
    let failed: { result: TestResponse; spans: ReceivedSpan[] };
    try {
      failed = await exported(() => app.request('POST', '/api/decide', { body: decisionRequest() }));
    } finally {
      ledger.append = append;
    }
    const { result: res, spans } = failed;
    expect(res.status).toBe(500);
    expect(JSON.stringify(res.body)).not.toContain('simulated ledger failure');

    const server = one(spans, 'POST /api/decide');
    expect(server.status.code).toBe(ERROR);
    expect(server.attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': 'INTERNAL' });
    expect(server.events.map((e) => e.attributes['exception.type'])).toContain('TypeError');

    const thrower = one(spans, 'ledger.append');
    expect(thrower.status.code).toBe(ERROR);
    expect(thrower.attributes['error.type']).toBe('TypeError');
    expect(thrower.events).toContainEqual(
      expect.objectContaining({
        name: 'exception',
        attributes: expect.objectContaining({ 'exception.type': 'TypeError' }),
      }),
    );
    expect(one(spans, 'decision.evaluate').status.code).toBe(ERROR);
  });

  it('logs a failed request and its error with the trace and span ids of its server span', async () => {
    const ledger = app.services.ledger;
    const append = ledger.append;
    ledger.append = async () => {
      throw new Error('simulated ledger failure');
    };
    const mark = logs.length;
    let failed: { result: TestResponse; spans: ReceivedSpan[] };
    try {
      failed = await exported(() => app.request('POST', '/api/decide', { body: decisionRequest() }));
    } finally {
      ledger.append = append;
    }
    const requestId = failed.result.headers.get('x-request-id');
    const server = one(failed.spans, 'POST /api/decide');
    const lines = logs.slice(mark);
    const ids = { trace_id: server.traceId, span_id: server.spanId };
    expect(lines.filter((l) => l.level === 'error')).toEqual([
      expect.objectContaining({ message: 'unhandled error', requestId, ...ids }),
    ]);
    expect(lines.filter((l) => l.message === 'request')).toEqual([
      expect.objectContaining({ status: 500, request_id: requestId, ...ids }),
    ]);
  });

  it('links a group commit to every decision it committed, each decision in its own trace', async () => {
    const { result, spans } = await exported(() =>
      Promise.all(Array.from({ length: 8 }, () => app.request('POST', '/api/decide', { body: decisionRequest() }))),
    );
    const traceIds = result.map((res) => res.headers.get('x-trace-id'));
    expect(new Set(traceIds).size).toBe(8);
    expect(new Set(spans.map((s) => s.traceId))).toEqual(new Set(traceIds));
    const appends = spans.filter((s) => s.name === 'ledger.append');
    const commits = spans.filter((s) => s.name === 'ledger.commit');
    expect(appends).toHaveLength(8);
    // A commit is the child of the first decision it served and links to the others it served.
    const served = commits.flatMap((c) => [c.parentSpanId, ...c.links.map((l) => l.spanId)]);
    expect(served.sort()).toEqual(appends.map((a) => a.spanId).sort());
    for (const commit of commits) {
      const parent = appends.find((a) => a.spanId === commit.parentSpanId);
      expect(parent?.traceId).toBe(commit.traceId);
      expect(commit.attributes['ledger.group_size']).toBe(1 + commit.links.length);
    }
  });

  it('records the group commit of sampled decisions even when an unsampled request leads the group', async () => {
    const unsampled = { traceparent: '00-11111111111111111111111111111111-2222222222222222-00' };
    const { result, spans } = await exported(async () => {
      // The first decision holds the writer; the next ones queue behind it and commit as one group,
      // led by the request its caller asked not to sample.
      const first = app.request('POST', '/api/decide', { body: decisionRequest() });
      const leader = app.request('POST', '/api/decide', { body: decisionRequest(), headers: unsampled });
      const followers = Array.from({ length: 4 }, () =>
        app.request('POST', '/api/decide', { body: decisionRequest() }),
      );
      return Promise.all([first, leader, ...followers]);
    });
    expect(result.map((res) => res.status)).toEqual(Array(6).fill(200));
    expect(result[1]?.headers.get('x-trace-id')).toBeNull();
    const commits = spans.filter((s) => s.name === 'ledger.commit');
    const served = new Set(commits.flatMap((c) => [c.parentSpanId, ...c.links.map((l) => l.spanId)]));
    const appends = spans.filter((s) => s.name === 'ledger.append');
    expect(appends).toHaveLength(5);
    expect(appends.filter((a) => !served.has(a.spanId)).map((a) => a.traceId)).toEqual([]);
  });
});
