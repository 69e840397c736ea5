import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { propagation, type Tracer } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestMetrics,
} from '../../../tests/support/app';
import { backends, type TestDatabase } from '../../../tests/support/databases';
import { CONDITION_TIMEOUT_MS } from '../../../tests/support/wait';
import type { Services } from '../../services';
import { type LogFields, type Logger, silentLogger } from '../../telemetry/logger';
import { createSampler } from '../../telemetry/sdk';
import type { Sampling } from '../../telemetry/tracing';
import type { AppEnv, AppSettings } from '../context';
import { handleError } from '../errors';
import { httpTelemetry } from './http-telemetry';
import { provide } from './provide';
import { requestId } from './request-id';

// --- a tiny reader of the text exposition (the golden test uses a real parser) ------------------

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

function parseSamples(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!sample) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key as string] = (value as string).replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    }
    samples.push({ name: sample[1] as string, labels, value: sample[3] === '+Inf' ? Infinity : Number(sample[3]) });
  }
  return samples;
}

function find(samples: Sample[], name: string, labels: Record<string, string> = {}): Sample[] {
  return samples.filter(
    (s) => s.name === name && Object.entries(labels).every(([key, value]) => s.labels[key] === value),
  );
}

/** The sum of the samples of `name` matching `labels` (0 when there are none). */
function total(samples: Sample[], name: string, labels: Record<string, string> = {}): number {
  return find(samples, name, labels).reduce((sum, s) => sum + s.value, 0);
}

const REQUESTS = 'lexecon_http_requests_total';
const IN_FLIGHT = 'lexecon_concurrent_requests';
const SIZES = 'lexecon_api_response_size_bytes';

function withMetrics(detailed = false) {
  const metrics = createTestMetrics({ detailed });
  return { metrics, scrape: async () => parseSamples(await metrics.render()) };
}

/** The middleware alone, over `metrics`, measuring and logging every path. */
function telemetryFor(metrics: TestMetrics, routes: ReadonlySet<string>, logger: Logger = silentLogger) {
  return httpTelemetry({ telemetry: metrics.telemetry, logger, routes, metricsExclude: [], tracingExclude: [] });
}

/** A logger that keeps the request lines it is given. */
function requestLines() {
  const lines: LogFields[] = [];
  const logger: Logger = {
    ...silentLogger,
    info: (message, fields) => {
      if (message === 'request') lines.push(fields ?? {});
    },
  };
  return { lines, logger };
}

async function eventually(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + CONDITION_TIMEOUT_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const utf8 = new TextEncoder();

/** A request body that arrives only when the test says so. */
function slowBody() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const stream = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    stream,
    finish(text: string) {
      controller.enqueue(utf8.encode(text));
      controller.close();
    },
  };
}

describe.each(backends())('HTTP metrics of the app on $name', (backend) => {
  let tdb: TestDatabase;

  beforeAll(async () => {
    tdb = await backend.open();
  });
  afterAll(() => tdb.close());

  async function app(options: { detailed?: boolean; settings?: Partial<AppSettings>; maxBodyBytes?: number } = {}) {
    const { metrics, scrape } = withMetrics(options.detailed);
    const t = await createTestApp(tdb.database, {
      metrics,
      settings: options.settings,
      maxBodyBytes: options.maxBodyBytes,
    });
    return { t, scrape };
  }

  it('counts each request under its route template, method and status, including refusals', async () => {
    const { t, scrape } = await app({ maxBodyBytes: 2048 });
    const sent = [
      [await t.request('GET', '/api/policies/999'), 'GET', '/api/policies/:version', 404],
      [await t.request('GET', '/api/ledger/entries/0'), 'GET', '/api/ledger/entries/:index', 200],
      [await t.request('GET', '/api/ledger/entries/1'), 'GET', '/api/ledger/entries/:index', 200],
      [await t.request('POST', '/api/decide', { key: null, body: decisionRequest() }), 'POST', '/api/decide', 401],
      [
        await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() }),
        'POST',
        '/api/decide',
        200,
      ],
      [
        await t.request('POST', '/api/decide', { body: decisionRequest({ user_intent: 'x'.repeat(4096) }) }),
        'POST',
        '/api/decide',
        413,
      ],
      [await t.request('GET', '/api/policies', { key: t.keys.agent }), 'GET', '/api/policies', 403],
      [await t.request('DELETE', '/api/decide'), 'DELETE', 'unmatched', 405],
      [await t.request('GET', '/no/such/path'), 'GET', 'unmatched', 404],
    ] as const;

    const samples = await scrape();
    for (const [res, method, endpoint, status] of sent) {
      expect(res.status, `${method} ${endpoint}`).toBe(status);
    }
    const expected = new Map<string, number>();
    for (const [, method, endpoint, status] of sent) {
      const key = JSON.stringify({ method, endpoint, status: String(status) });
      expected.set(key, (expected.get(key) ?? 0) + 1);
    }
    for (const [key, count] of expected) expect(total(samples, REQUESTS, JSON.parse(key)), key).toBe(count);
    expect(total(samples, REQUESTS)).toBe(sent.length);
    const endpoints = new Set(find(samples, REQUESTS).map((s) => s.labels.endpoint));
    for (const raw of ['/api/policies/999', '/api/ledger/entries/0', '/no/such/path'])
      expect(endpoints).not.toContain(raw);
    expect(total(samples, 'lexecon_http_request_duration_seconds_count', { endpoint: '/api/decide' })).toBe(3);
  });

  it('labels methods outside the standard set as _OTHER', async () => {
    const { t, scrape } = await app();
    await t.request('PROPFIND', '/api/decide');
    await t.request('PURGE', '/');
    await t.request('BREW', '/no/such/path');
    const samples = await scrape();
    expect(total(samples, REQUESTS, { method: '_OTHER' })).toBe(3);
    const methods = new Set(find(samples, REQUESTS).map((s) => s.labels.method));
    for (const odd of ['PROPFIND', 'PURGE', 'BREW']) expect(methods).not.toContain(odd);
  });

  it('leaves /metrics and /health out of the request metrics by default', async () => {
    const { t, scrape } = await app();
    expect((await t.request('GET', '/metrics', { key: null })).status).toBe(200);
    expect((await t.request('GET', '/health', { key: null })).status).toBe(200);
    expect((await t.request('GET', '/health/ready', { key: null })).status).toBe(200);
    expect((await t.request('GET', '/health/nonsense', { key: null })).status).toBe(404);
    await t.request('GET', '/api/ledger/head');

    const samples = await scrape();
    expect(total(samples, REQUESTS, { endpoint: '/metrics' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: '/health' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: '/health/ready' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: 'unmatched' })).toBe(0);
    expect(total(samples, 'lexecon_http_request_duration_seconds_count', { endpoint: '/metrics' })).toBe(0);
    expect(total(samples, 'lexecon_http_request_duration_seconds_count', { endpoint: '/health' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: '/api/ledger/head', status: '200' })).toBe(1);
  });

  it('counts /metrics and /health when settings.metricsExclude is empty', async () => {
    const { t, scrape } = await app({ settings: { metricsExclude: [] } });
    await t.request('GET', '/metrics', { key: null });
    await t.request('GET', '/health', { key: null });
    await t.request('GET', '/health/ready', { key: null });
    await t.request('GET', '/health/nonsense', { key: null });
    const samples = await scrape();
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: '/metrics', status: '200' })).toBe(1);
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: '/health', status: '200' })).toBe(1);
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: '/health/ready', status: '200' })).toBe(1);
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: 'unmatched', status: '404' })).toBe(1);
  });

  it('leaves out whatever prefixes settings.metricsExclude names instead', async () => {
    const { t, scrape } = await app({ settings: { metricsExclude: ['/api/ledger'] } });
    await t.request('GET', '/api/ledger/head');
    await t.request('GET', '/api/ledger/entries/0');
    await t.request('GET', '/metrics', { key: null });
    const samples = await scrape();
    expect(total(samples, REQUESTS, { endpoint: '/api/ledger/head' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: '/api/ledger/entries/:index' })).toBe(0);
    expect(total(samples, REQUESTS, { endpoint: '/metrics', status: '200' })).toBe(1);
  });

  it('raises lexecon_concurrent_requests while request bodies are still arriving, and returns it to 0', async () => {
    const { t, scrape } = await app();
    const inFlight = async () => total(await scrape(), IN_FLIGHT);
    const send = (body: ReadableStream<Uint8Array>) =>
      t.app.request('/api/decide', {
        method: 'POST',
        headers: { authorization: `Bearer ${t.keys.agent}`, 'content-type': 'application/json' },
        body,
        duplex: 'half',
      } as RequestInit);

    expect(await inFlight()).toBe(0);
    const first = slowBody();
    const firstResponse = send(first.stream);
    await eventually(async () => (await inFlight()) === 1, 'one request is in flight');
    const second = slowBody();
    const secondResponse = send(second.stream);
    await eventually(async () => (await inFlight()) === 2, 'two requests are in flight');

    first.finish(JSON.stringify(decisionRequest()));
    expect((await firstResponse).status).toBe(200);
    expect(await inFlight()).toBe(1);
    second.finish(JSON.stringify(decisionRequest({ actor: 'model' })));
    expect((await secondResponse).status).toBe(200);
    expect(await inFlight()).toBe(0);
    expect(total(await scrape(), REQUESTS, { endpoint: '/api/decide', status: '200' })).toBe(2);
  });

  it('records response sizes as the bytes actually sent, with detailed metrics', async () => {
    const { t, scrape } = await app({ detailed: true });
    const openapi = await t.app.request('/openapi.json');
    const openapiBytes = new Uint8Array(await openapi.arrayBuffer());
    // The document has non-ASCII text (’), so counting characters would come out short.
    expect(new TextDecoder().decode(openapiBytes).length).toBeLessThan(openapiBytes.byteLength);
    const decided = await t.app.request('/api/decide', {
      method: 'POST',
      headers: { authorization: `Bearer ${t.keys.agent}`, 'content-type': 'application/json' },
      body: JSON.stringify(decisionRequest()),
    });
    expect(decided.status).toBe(200);
    const decidedBytes = (await decided.arrayBuffer()).byteLength;

    const samples = await scrape();
    expect(total(samples, `${SIZES}_sum`, { endpoint: '/openapi.json' })).toBe(openapiBytes.byteLength);
    expect(total(samples, `${SIZES}_count`, { endpoint: '/openapi.json' })).toBe(1);
    expect(total(samples, `${SIZES}_sum`, { endpoint: '/api/decide' })).toBe(decidedBytes);
    expect(total(samples, `${SIZES}_count`, { endpoint: '/api/decide' })).toBe(1);
  });

  it('keeps the series count of requests and decisions fixed under 10,000 distinct actors and 10,000 distinct unknown paths', async () => {
    const { t, scrape } = await app();
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBeLessThan(300);
    const token = Math.random().toString(36).slice(2, 8);
    const actor = (i: number) => `zz-actor-${token}-${i}`;
    const path = (i: number) => `/zz-path-${token}-${i}/${i % 7 === 0 ? 'api/decide' : 'x'}`;
    async function send(from: number, to: number) {
      for (let start = from; start < to; start += 100) {
        const batch: Promise<unknown>[] = [];
        for (let i = start; i < Math.min(start + 100, to); i++) {
          batch.push(
            t
              .request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ actor: actor(i) }) })
              .then((res) => expect(res.status).toBe(200)),
          );
          batch.push(t.request(i % 2 ? 'GET' : 'POST', path(i)).then((res) => expect(res.status).toBe(404)));
        }
        await Promise.all(batch);
      }
    }
    const counts = (samples: Sample[]) =>
      Object.fromEntries(
        [REQUESTS, 'lexecon_decisions_total', 'lexecon_decisions_denied_total'].map((name) => [
          name,
          find(samples, name).length,
        ]),
      );

    await send(0, 10);
    const afterTen = counts(await scrape());
    await send(10, 10_000);
    const samples = await scrape();

    expect(counts(samples)).toEqual(afterTen);
    for (const count of Object.values(afterTen)) expect(count).toBeLessThan(60);
    // Every request was counted, all under bounded labels.
    expect(total(samples, REQUESTS, { endpoint: 'unmatched', status: '404' })).toBe(10_000);
    expect(total(samples, REQUESTS, { endpoint: '/api/decide', status: '200' })).toBe(10_000);
    expect(total(samples, 'lexecon_decisions_total', { actor: 'unknown' })).toBe(10_000);
    const leaked = samples.filter((s) => Object.values(s.labels).some((v) => v.includes(token)));
    expect(leaked).toEqual([]);
  }, 600_000);
});

describe('HTTP metrics middleware on its own', () => {
  it('measures a streamed body of unknown length once it has been read to the end, passing chunks on as they come', async () => {
    const { metrics, scrape } = withMetrics(true);
    let controller!: ReadableStreamDefaultController<Uint8Array>;
    const app = new Hono<AppEnv>().use(telemetryFor(metrics, new Set(['/stream']))).get(
      '/stream',
      () =>
        new Response(
          new ReadableStream<Uint8Array>({
            start(c) {
              controller = c;
            },
          }),
        ),
    );

    const res = await app.request('/stream');
    expect(res.headers.get('content-length')).toBeNull();
    const reader = (res.body as ReadableStream<Uint8Array>).getReader();
    controller.enqueue(utf8.encode('hello '));
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe('hello ');
    expect(find(await scrape(), `${SIZES}_count`, { endpoint: '/stream' })).toEqual([]);

    controller.enqueue(utf8.encode('wörld'));
    expect(find(await scrape(), `${SIZES}_count`, { endpoint: '/stream' })).toEqual([]);
    controller.close();
    let rest = 0;
    for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) rest += chunk.value.byteLength;
    expect(rest).toBe(6);

    const samples = await scrape();
    expect(total(samples, `${SIZES}_sum`, { endpoint: '/stream' })).toBe(12);
    expect(total(samples, `${SIZES}_count`, { endpoint: '/stream' })).toBe(1);
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: '/stream', status: '200' })).toBe(1);
  });

  it('holds lexecon_concurrent_requests up while a handler works and drops it when the handler fails', async () => {
    const { metrics, scrape } = withMetrics();
    let release!: () => void;
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    const app = new Hono<AppEnv>()
      .use(telemetryFor(metrics, new Set(['/work'])))
      .get('/work', async () => {
        await released;
        throw new Error('the handler failed');
      })
      .onError((_, c) => c.text('failed', 500));

    const pending = Promise.all([app.request('/work'), app.request('/work'), app.request('/work')]);
    await eventually(async () => total(await scrape(), IN_FLIGHT) === 3, 'three requests are in flight');
    release();
    expect((await pending).map((r) => r.status)).toEqual([500, 500, 500]);

    const samples = await scrape();
    expect(total(samples, IN_FLIGHT)).toBe(0);
    expect(total(samples, REQUESTS, { method: 'GET', endpoint: '/work', status: '500' })).toBe(3);
  });
});

describe('HTTP metrics on the Node server', () => {
  it('counts the bytes written to the socket, for string bodies and streamed ones, without touching the body', async () => {
    const { metrics, scrape } = withMetrics(true);
    const app = new Hono<AppEnv>()
      .use(telemetryFor(metrics, new Set(['/json', '/stream'])))
      .get('/json', (c) => c.json({ greeting: 'grüße, 世界 😀' }))
      .get(
        '/stream',
        () =>
          new Response(
            new ReadableStream<Uint8Array>({
              start(controller) {
                controller.enqueue(utf8.encode('chunk one, '));
                controller.enqueue(utf8.encode('chunk twö'));
                controller.close();
              },
            }),
          ),
      );
    const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' });
    await new Promise((resolve) => server.once('listening', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const json = await fetch(`http://127.0.0.1:${port}/json`);
      const jsonBytes = (await json.arrayBuffer()).byteLength;
      const stream = await fetch(`http://127.0.0.1:${port}/stream`);
      expect(stream.headers.get('content-length')).toBeNull();
      const streamBytes = (await stream.arrayBuffer()).byteLength;
      await eventually(async () => total(await scrape(), `${SIZES}_count`) === 2, 'both sizes are recorded');

      const samples = await scrape();
      expect(total(samples, `${SIZES}_sum`, { endpoint: '/json' })).toBe(jsonBytes);
      expect(total(samples, `${SIZES}_sum`, { endpoint: '/stream' })).toBe(streamBytes);
      expect(streamBytes).toBe(utf8.encode('chunk one, chunk twö').byteLength);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('HTTP telemetry: the request log, the span and what each leaves out', () => {
  it('writes one line per request: method, route template, path without the query, status, duration and request id, in that order', async () => {
    const { metrics } = withMetrics();
    const { lines, logger } = requestLines();
    const app = new Hono<AppEnv>()
      .use(requestId())
      .use(telemetryFor(metrics, new Set(['/items/:id']), logger))
      .post('/items/:id', (c) => c.json({ ok: true }, 201));

    await app.request('/items/7?access_token=secret', { method: 'POST', headers: { 'x-request-id': 'req-7' } });
    await app.request('/no/such/path', { headers: { 'x-request-id': 'req-8' } });

    expect(lines.map((line) => Object.keys(line))).toEqual(
      Array(2).fill(['method', 'route', 'path', 'status', 'duration_ms', 'request_id']),
    );
    expect(lines).toEqual([
      {
        method: 'POST',
        route: '/items/:id',
        path: '/items/7',
        status: 201,
        duration_ms: expect.any(Number),
        request_id: 'req-7',
      },
      {
        method: 'GET',
        route: 'unmatched',
        path: '/no/such/path',
        status: 404,
        duration_ms: expect.any(Number),
        request_id: 'req-8',
      },
    ]);
  });

  it('traces and logs a path only the metrics leave out, and counts a path only tracing leaves out', async () => {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    const metrics = createTestMetrics({ tracer: provider.getTracer('test') });
    const { lines, logger } = requestLines();
    const app = new Hono<AppEnv>()
      .use(requestId())
      .use(
        httpTelemetry({
          telemetry: metrics.telemetry,
          logger,
          routes: new Set(['/probe', '/scrape']),
          metricsExclude: ['/probe'],
          tracingExclude: ['/scrape'],
        }),
      )
      .get('/probe', (c) => c.text('up'))
      .get('/scrape', (c) => c.text('# EOF'));

    const probe = await app.request('/probe');
    const scrape = await app.request('/scrape');
    await provider.forceFlush();

    const spans = exporter.getFinishedSpans();
    expect(spans.map((span) => span.name)).toEqual(['GET /probe']);
    expect(probe.headers.get('x-trace-id')).toBe(spans[0]?.spanContext().traceId);
    expect(scrape.headers.get('x-trace-id')).toBeNull();
    expect(lines.map((line) => line.path)).toEqual(['/probe']);
    const samples = parseSamples(await metrics.render());
    expect(total(samples, REQUESTS, { endpoint: '/scrape', status: '200' })).toBe(1);
    expect(total(samples, REQUESTS, { endpoint: '/probe' })).toBe(0);
  });

  it('answers a request that fails in the first middleware after it with the one error shape and its request id, and counts it', async () => {
    const { metrics, scrape } = withMetrics();
    const { lines, logger } = requestLines();
    const services = { telemetry: metrics.telemetry, logger } as unknown as Services;
    const settings: AppSettings = { serviceName: 'lexecon', version: 'test', maxBodyBytes: 1024 };
    const routes = new Set(['/work']);
    // The app's own order (src/http/app.ts): services, request id, telemetry, then the rest.
    const app = new Hono<AppEnv>()
      .use(provide({ services, settings, routes }))
      .use(requestId())
      .use(telemetryFor(metrics, routes, logger))
      .use(async () => {
        throw new Error('the first middleware failed');
      })
      .get('/work', (c) => c.text('never reached'))
      .onError(handleError);

    const res = await app.request('/work', { headers: { 'x-request-id': 'early-1' } });
    expect(res.status).toBe(500);
    expect(res.headers.get('x-request-id')).toBe('early-1');
    expect(await res.json()).toEqual({ error: { code: 'INTERNAL', message: 'Internal error', requestId: 'early-1' } });

    const samples = await scrape();
    expect(total(samples, REQUESTS, { method: 'GET', status: '500' })).toBe(1);
    expect(total(samples, 'lexecon_errors_total', { error_type: 'INTERNAL' })).toBe(1);
    expect(total(samples, IN_FLIGHT)).toBe(0);
    expect(lines).toEqual([expect.objectContaining({ status: 500, request_id: 'early-1' })]);
  });
});

describe('head sampling: a request is chosen before any span exists', () => {
  const SAMPLED_PARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
  const UNSAMPLED_PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00';

  // What the runtime entries install: W3C Trace Context.
  beforeAll(() => {
    propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  });
  afterAll(() => {
    propagation.disable();
  });

  /** The app over the SDK's sampler, counting every span anything asks the tracer for. */
  function sampledApp(sampling: Sampling) {
    const exporter = new InMemorySpanExporter();
    const provider = new TracerProvider({
      sampler: createSampler(sampling.sampleRate),
      spanProcessors: [new SimpleSpanProcessor({ exporter })],
    });
    const real = provider.getTracer('test');
    const asked = { spans: 0 };
    const tracer = {
      startSpan: (...args: Parameters<Tracer['startSpan']>) => {
        asked.spans++;
        return real.startSpan(...args);
      },
      startActiveSpan: (...args: unknown[]) => {
        asked.spans++;
        return (real.startActiveSpan as (...a: unknown[]) => unknown)(...args);
      },
    } as Tracer;
    const metrics = createTestMetrics({ tracer, sampling });
    const { lines, logger } = requestLines();
    const routes = new Set(['/items/:id', '/other']);
    const app = new Hono<AppEnv>()
      .use(requestId())
      .use(telemetryFor(metrics, routes, logger))
      .get('/items/:id', (c) => c.text(`item ${c.req.param('id')}`))
      .get('/other', (c) => c.text('other'));
    const get = (path: string, traceparent?: string) =>
      app.request(path, { headers: traceparent ? { traceparent } : {} });
    const spans = async () => {
      await provider.forceFlush();
      return exporter.getFinishedSpans();
    };
    return { get, spans, asked, lines };
  }

  it('asks for no span at all for a request not sampled, and still logs it', async () => {
    const { get, spans, asked, lines } = sampledApp({ sampleRate: 0 });
    const answers = [];
    for (let i = 0; i < 20; i++) answers.push(await get('/other'));
    answers.push(await get('/items/1', UNSAMPLED_PARENT), await get('/nowhere'));
    expect(answers.map((res) => res.headers.get('x-trace-id'))).toEqual(Array(22).fill(null));
    expect(answers.map((res) => res.headers.get('traceresponse'))).toEqual(Array(22).fill(null));
    expect(asked.spans).toBe(0);
    expect(await spans()).toEqual([]);
    expect(lines).toHaveLength(22);
    expect(lines.every((line) => line.trace_id === undefined)).toBe(true);
  });

  it('traces every new request to a route configured at 1 over a global rate of 0, under its template', async () => {
    const { get, spans, asked } = sampledApp({ sampleRate: 0, routeSampleRates: { 'GET /items/:id': 1 } });
    const traced = [await get('/items/1'), await get('/items/2'), await get('/items/3', '00-malformed-01')];
    const untraced = [await get('/other'), await get('/nowhere'), await get('/items/4', UNSAMPLED_PARENT)];
    const recorded = await spans();
    expect(recorded.map((span) => span.name)).toEqual(['GET /items/:id', 'GET /items/:id', 'GET /items/:id']);
    expect(traced.map((res) => res.headers.get('x-trace-id'))).toEqual(
      recorded.map((span) => span.spanContext().traceId),
    );
    // A malformed traceparent starts a new trace, at the route's ratio.
    expect(recorded.map((span) => span.parentSpanContext?.spanId)).toEqual([undefined, undefined, undefined]);
    expect(untraced.map((res) => res.headers.get('x-trace-id'))).toEqual([null, null, null]);
    expect(asked.spans).toBe(3);
  });

  it('follows a sampled caller on a route configured at 0, as a child of the caller', async () => {
    const { get, spans } = sampledApp({ sampleRate: 1, routeSampleRates: { 'GET /other': 0 } });
    const alone = await get('/other');
    const followed = await get('/other', SAMPLED_PARENT);
    const elsewhere = await get('/items/9');
    expect(alone.headers.get('x-trace-id')).toBeNull();
    expect(followed.headers.get('x-trace-id')).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    const recorded = await spans();
    expect(recorded.map((span) => [span.name, span.parentSpanContext?.spanId])).toEqual([
      ['GET /other', '00f067aa0ba902b7'],
      ['GET /items/:id', undefined],
    ]);
    expect(elsewhere.headers.get('x-trace-id')).toBe(recorded[1]?.spanContext().traceId);
  });
});
