import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import { type ClientRequest, createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { CONDITION_TIMEOUT_MS } from './wait';

/**
 * A stand-in for the collector sidecar: an OTLP/HTTP receiver (JSON encoding) on 127.0.0.1 that
 * decodes what an exporter really sends. It can be told to answer 500, to hang (read the request and
 * never answer), or be closed, so tests can watch the service with a collector that misbehaves.
 */
export type AttributeValue = string | number | boolean | AttributeValue[] | undefined;

export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  /** Empty for a root span. */
  parentSpanId: string;
  /** W3C tracestate carried by the span. */
  traceState: string;
  name: string;
  /** OTLP SpanKind: 1 internal, 2 server, 3 client, 4 producer, 5 consumer. */
  kind: number;
  attributes: Record<string, AttributeValue>;
  /** OTLP StatusCode: 0 unset, 1 ok, 2 error. */
  status: { code: number; message?: string };
  events: { name: string; attributes: Record<string, AttributeValue> }[];
  links: { traceId: string; spanId: string }[];
  resource: Record<string, AttributeValue>;
  scope: string;
}

export interface ReceivedMetric {
  name: string;
  resource: Record<string, AttributeValue>;
  /** The OTLP data field present: sum, gauge, histogram, … */
  type: string;
  monotonic: boolean;
}

export type ReceiverMode = 'ok' | 'error' | 'hang';

export interface OtlpReceiver {
  /** Base URL, as OTEL_EXPORTER_OTLP_ENDPOINT takes it. */
  readonly url: string;
  readonly spans: ReceivedSpan[];
  readonly metrics: ReceivedMetric[];
  /** Export requests received per signal, answered or not. */
  readonly requests: { traces: number; metrics: number };
  /** Everything any export carried, raw, for searching it for text that must never leave the service. */
  readonly bodies: string[];
  answer(mode: ReceiverMode): void;
  /**
   * Export requests this process sent the receiver that have no answer yet, seen through Node's
   * HTTP client diagnostics channels: an export can be on its way before the receiver knows of it.
   */
  inFlight(): number;
  /** Waits until `done` holds for the spans received, or fails after `timeoutMs`. */
  waitFor(done: (spans: ReceivedSpan[]) => boolean, timeoutMs?: number): Promise<ReceivedSpan[]>;
  close(): Promise<void>;
}

interface AnyValue {
  stringValue?: string;
  intValue?: number | string;
  doubleValue?: number;
  boolValue?: boolean;
  arrayValue?: { values?: AnyValue[] };
}
interface KeyValue {
  key: string;
  value?: AnyValue;
}

function decodeValue(value: AnyValue | undefined): AttributeValue {
  if (!value) return undefined;
  if (value.stringValue !== undefined) return value.stringValue;
  if (value.intValue !== undefined) return Number(value.intValue);
  if (value.doubleValue !== undefined) return value.doubleValue;
  if (value.boolValue !== undefined) return value.boolValue;
  if (value.arrayValue) return (value.arrayValue.values ?? []).map(decodeValue);
  return undefined;
}

export function decodeAttributes(attributes: KeyValue[] | undefined): Record<string, AttributeValue> {
  const decoded: Record<string, AttributeValue> = {};
  for (const { key, value } of attributes ?? []) decoded[key] = decodeValue(value);
  return decoded;
}

interface TracesRequest {
  resourceSpans?: {
    resource?: { attributes?: KeyValue[] };
    scopeSpans?: {
      scope?: { name?: string };
      spans?: {
        traceId: string;
        spanId: string;
        parentSpanId?: string;
        traceState?: string;
        name: string;
        kind?: number;
        attributes?: KeyValue[];
        status?: { code?: number; message?: string };
        events?: { name: string; attributes?: KeyValue[] }[];
        links?: { traceId: string; spanId: string }[];
      }[];
    }[];
  }[];
}

interface MetricsRequest {
  resourceMetrics?: {
    resource?: { attributes?: KeyValue[] };
    scopeMetrics?: { metrics?: ({ name: string } & Record<string, { isMonotonic?: boolean } | string>)[] }[];
  }[];
}

function decodeSpans(body: TracesRequest): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const resourceSpans of body.resourceSpans ?? []) {
    const resource = decodeAttributes(resourceSpans.resource?.attributes);
    for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
      for (const span of scopeSpans.spans ?? []) {
        spans.push({
          traceId: span.traceId,
          spanId: span.spanId,
          parentSpanId: span.parentSpanId ?? '',
          traceState: span.traceState ?? '',
          name: span.name,
          kind: span.kind ?? 0,
          attributes: decodeAttributes(span.attributes),
          status: { code: span.status?.code ?? 0, message: span.status?.message },
          events: (span.events ?? []).map((e) => ({ name: e.name, attributes: decodeAttributes(e.attributes) })),
          links: (span.links ?? []).map((l) => ({ traceId: l.traceId, spanId: l.spanId })),
          resource,
          scope: scopeSpans.scope?.name ?? '',
        });
      }
    }
  }
  return spans;
}

const METRIC_DATA = ['sum', 'gauge', 'histogram', 'exponentialHistogram', 'summary'];

function decodeMetrics(body: MetricsRequest): ReceivedMetric[] {
  const metrics: ReceivedMetric[] = [];
  for (const resourceMetrics of body.resourceMetrics ?? []) {
    const resource = decodeAttributes(resourceMetrics.resource?.attributes);
    for (const scopeMetrics of resourceMetrics.scopeMetrics ?? []) {
      for (const metric of scopeMetrics.metrics ?? []) {
        const type = METRIC_DATA.find((field) => metric[field] !== undefined) ?? 'unknown';
        const data = metric[type] as { isMonotonic?: boolean } | undefined;
        metrics.push({ name: metric.name, resource, type, monotonic: data?.isMonotonic === true });
      }
    }
  }
  return metrics;
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const raw = Buffer.concat(chunks);
  return (request.headers['content-encoding'] === 'gzip' ? gunzipSync(raw) : raw).toString('utf8');
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const spans: ReceivedSpan[] = [];
  const metrics: ReceivedMetric[] = [];
  const bodies: string[] = [];
  const requests = { traces: 0, metrics: 0 };
  const sockets = new Set<Socket>();
  let mode: ReceiverMode = 'ok';

  async function handle(request: IncomingMessage, response: ServerResponse) {
    const body = await readBody(request);
    const signal = request.url?.split('?')[0];
    if (signal === '/v1/traces') requests.traces++;
    else if (signal === '/v1/metrics') requests.metrics++;
    else {
      response.writeHead(404).end();
      return;
    }
    if (mode === 'hang') return;
    if (mode === 'error') {
      response.writeHead(500, { 'content-type': 'application/json' }).end('{"code":13,"message":"collector down"}');
      return;
    }
    bodies.push(body);
    const parsed = JSON.parse(body) as TracesRequest & MetricsRequest;
    if (signal === '/v1/traces') spans.push(...decodeSpans(parsed));
    else metrics.push(...decodeMetrics(parsed));
    response.writeHead(200, { 'content-type': 'application/json' }).end('{}');
  }

  const server = createServer((request, response) => {
    handle(request, response).catch(() => response.writeHead(400).end());
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const unanswered = new Set<ClientRequest>();
  const started = ({ request }: { request: ClientRequest }) => {
    if (request.getHeader('host') === `127.0.0.1:${port}`) unanswered.add(request);
  };
  const ended = ({ request }: { request: ClientRequest }) => unanswered.delete(request);
  subscribe('http.client.request.start', started as (message: unknown) => void);
  subscribe('http.client.response.finish', ended as (message: unknown) => void);
  subscribe('http.client.request.error', ended as (message: unknown) => void);

  return {
    url: `http://127.0.0.1:${port}`,
    spans,
    metrics,
    requests,
    bodies,
    answer(next) {
      mode = next;
    },
    async waitFor(done, timeoutMs = CONDITION_TIMEOUT_MS) {
      const deadline = Date.now() + timeoutMs;
      while (!done(spans)) {
        if (Date.now() > deadline) {
          const names = spans.map((s) => s.name).join(', ');
          throw new Error(`the receiver did not get the expected spans in ${timeoutMs} ms; it has: ${names}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      return spans;
    },
    inFlight: () => unanswered.size,
    async close() {
      unsubscribe('http.client.request.start', started as (message: unknown) => void);
      unsubscribe('http.client.response.finish', ended as (message: unknown) => void);
      unsubscribe('http.client.request.error', ended as (message: unknown) => void);
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      // A hanging receiver holds requests open; a closed collector drops them.
      for (const socket of sockets) socket.destroy();
      await closed;
    },
  };
}
