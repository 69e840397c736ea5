/**
 * The overhead mode of `npm run bench`: the same build with telemetry off, on (lean), detailed, and
 * detailed plus tracing at 10 % and 100 %, in interleaved rounds (off, on, detailed, traced10,
 * traced100, off, …) so that drift in the machine's load falls on all five alike. Every configuration gets a fresh process and PGlite data directory per round.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon, { type Request, type Result } from 'autocannon';
import type { MetricsCheck, OverheadSample, TelemetryMode } from './report';
import { type ServiceProcess, startService } from './server';

export interface Endpoint {
  label: string;
  method: string;
  /** The route template, as the `endpoint` label of the HTTP metrics names it. */
  path: string;
  requests: Request[];
}

export interface OverheadSetup {
  root: string;
  work: string;
  /** Environment shared by every configuration (admin key, policy file). */
  env: Record<string, string | undefined>;
  endpoints: Endpoint[];
  rounds: number;
  connections: number;
  durationSeconds: number;
  warmUpSeconds: number;
  cpuProfile: boolean;
}

export interface OverheadResult {
  samples: OverheadSample[];
  checks: MetricsCheck[];
  serverProblems: string[];
}

// Set explicitly, so that whatever the caller's shell exports cannot blur the comparison.
const UNTRACED = { TRACING_ENABLED: 'false', OTEL_SAMPLE_RATE: undefined };
const CONFIGURATIONS: Record<TelemetryMode, Record<string, string | undefined>> = {
  off: { OTEL_SDK_DISABLED: 'true', FEATURE_FLAG_METRICS_DETAILED: undefined, ...UNTRACED },
  on: { OTEL_SDK_DISABLED: undefined, FEATURE_FLAG_METRICS_DETAILED: undefined, ...UNTRACED },
  detailed: { OTEL_SDK_DISABLED: undefined, FEATURE_FLAG_METRICS_DETAILED: 'true', ...UNTRACED },
  // Every metric plus tracing, exporting over OTLP/HTTP to a sink in this process (a real export path).
  traced10: {
    OTEL_SDK_DISABLED: undefined,
    FEATURE_FLAG_METRICS_DETAILED: 'true',
    TRACING_ENABLED: 'true',
    OTEL_SAMPLE_RATE: '0.1',
  },
  traced100: {
    OTEL_SDK_DISABLED: undefined,
    FEATURE_FLAG_METRICS_DETAILED: 'true',
    TRACING_ENABLED: 'true',
    OTEL_SAMPLE_RATE: '1',
  },
};
const UNFILTERED_METRICS = { METRICS_TOKEN: undefined, LEXECON_METRICS_EXCLUDE_PATHS: undefined };
// Requests still in flight when autocannon stops finish on the server; let them land before scraping.
const SETTLE_MS = 1000;

export async function benchOverhead(setup: OverheadSetup): Promise<OverheadResult> {
  const result: OverheadResult = { samples: [], checks: [], serverProblems: [] };
  const sink = await startOtlpSink();
  try {
    for (let round = 1; round <= setup.rounds; round++) {
      for (const telemetry of Object.keys(CONFIGURATIONS) as TelemetryMode[]) {
        await benchServer(
          { ...setup, env: { ...setup.env, OTEL_EXPORTER_OTLP_ENDPOINT: sink.url } },
          telemetry,
          round,
          result,
        );
      }
    }
  } finally {
    await sink.close();
  }
  console.log(
    `\nthe OTLP sink received ${sink.requests()} export request(s), ${(sink.bytes() / 2 ** 20).toFixed(1)} MiB`,
  );
  return result;
}

/** Accepts OTLP/HTTP exports and answers 200 like a healthy collector; counts what arrives. */
async function startOtlpSink() {
  let requests = 0;
  let bytes = 0;
  const server = createServer((req, res) => {
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
    });
    req.on('end', () => {
      requests++;
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => requests,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** One fresh server: warm-up and measured run per endpoint, then (telemetry on) the metrics check. */
async function benchServer(setup: OverheadSetup, telemetry: TelemetryMode, round: number, out: OverheadResult) {
  const name = `${telemetry}-${round}`;
  console.log(`\nround ${round}, telemetry ${telemetry}`);
  const service = await startService({
    root: setup.root,
    env: {
      ...setup.env,
      ...UNFILTERED_METRICS,
      ...CONFIGURATIONS[telemetry],
      LEXECON_DATA_DIR: join(setup.work, name),
    },
    logFile: join(setup.work, `${name}-server.log`),
    nodeFlags: setup.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${join(setup.work, 'profiles', name)}`] : [],
  });
  try {
    const traffic: { endpoint: Endpoint; runs: Result[] }[] = [];
    for (const endpoint of setup.endpoints) {
      const warmUp = await load(service, endpoint, setup.connections, setup.warmUpSeconds);
      const cpuBefore = service.cpuSeconds();
      const run = await load(service, endpoint, setup.connections, setup.durationSeconds);
      out.samples.push(sample(endpoint, telemetry, round, run, service.cpuSeconds() - cpuBefore));
      traffic.push({ endpoint, runs: [warmUp, run] });
    }
    if (telemetry !== 'off') out.checks.push(...(await checkMetrics(service, traffic, telemetry, round)));
  } finally {
    const exitCode = await service.stop();
    if (exitCode !== 0) out.serverProblems.push(`${name}: the server exited with code ${exitCode} on SIGTERM`);
    out.serverProblems.push(...service.problems().map((line) => `${name}: ${line}`));
  }
}

function load(service: ServiceProcess, endpoint: Endpoint, connections: number, duration: number): Promise<Result> {
  return autocannon({ url: service.baseUrl, connections, duration, requests: endpoint.requests });
}

function sample(
  endpoint: Endpoint,
  telemetry: TelemetryMode,
  round: number,
  result: Result,
  cpuSeconds: number,
): OverheadSample {
  const served = result['2xx'] + result.non2xx;
  const measured: OverheadSample = {
    endpoint: endpoint.label,
    telemetry,
    round,
    rps: result['2xx'] / result.duration,
    cpuPerRequest: cpuSeconds / served,
    p99Ms: result.latency.p99,
    failed: result.non2xx + result.errors,
  };
  console.log(
    `  ${endpoint.label}: ${Math.round(measured.rps)} req/s, ${(measured.cpuPerRequest * 1e6).toFixed(1)} µs server CPU/request, p99 ${measured.p99Ms} ms, ` +
      `${measured.failed} failed`,
  );
  return measured;
}

/**
 * One scrape: the request counter (and, detailed, the response-size histogram) must have counted at
 * least every response autocannon received and at most every request it sent, warm-up included.
 */
async function checkMetrics(
  service: ServiceProcess,
  traffic: { endpoint: Endpoint; runs: Result[] }[],
  telemetry: TelemetryMode,
  round: number,
): Promise<MetricsCheck[]> {
  await sleep(SETTLE_MS);
  const res = await fetch(`${service.baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const exposition = await res.text();
  return traffic.flatMap(({ endpoint, runs }) => {
    const answered = sum(runs.map((r) => r.requests.total ?? r['2xx'] + r.non2xx));
    const sent = sum(runs.map((r) => r.requests.sent ?? 0));
    const series: { metric: string; labels: Record<string, string> }[] = [
      { metric: 'lexecon_http_requests_total', labels: { method: endpoint.method, endpoint: endpoint.path } },
      ...(telemetry !== 'on'
        ? [{ metric: 'lexecon_api_response_size_bytes_count', labels: { endpoint: endpoint.path } }]
        : []),
    ];
    return series.map(({ metric, labels }) => {
      const counted = sumSamples(exposition, metric, labels);
      const ok = counted >= answered && counted <= sent;
      console.log(`  ${ok ? 'ok' : 'PROBLEM'}: ${metric} ${endpoint.label} ${counted} (${answered}–${sent} expected)`);
      return { round, telemetry, endpoint: endpoint.label, metric, counted, answered, sent, ok };
    });
  });
}

/** The sum of the samples of `name` (Prometheus text format) whose labels include `labels`. */
function sumSamples(exposition: string, name: string, labels: Record<string, string>): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    const match = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (match?.[1] !== name) continue;
    const found = new Map([...(match[2] ?? '').matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => found.get(key) === value)) total += Number(match[3]);
  }
  return total;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
