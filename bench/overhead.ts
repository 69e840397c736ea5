/**
 * The overhead mode of `npm run bench`: a bare Hono hello-world, then the same build of the service with
 * telemetry off, on (lean), detailed, and detailed plus tracing at 10 % and 100 %, all on PGlite, then
 * decide on PostgreSQL with telemetry off, in interleaved rounds (bare, off, on, …, off on PostgreSQL,
 * bare, …) so that drift in the machine's load falls on all of them alike. With more than one runtime,
 * each server runs under each Node in turn, next to each other. Every server is a fresh process with a
 * fresh PGlite data directory or PostgreSQL database.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import autocannon, { type Request, type Result } from 'autocannon';
import { checkLedger, verifyLedger } from './ledger-check';
import { monotonicMicros, type ProfileWindow, stagesIn } from './profile';
import type { MetricsCheck, OverheadLedgerCheck, OverheadSample, TelemetryMode, Variant } from './report';
import type { Runtime } from './runtimes';
import {
  backendCpuBetween,
  backendCpuSeconds,
  createScratchDatabase,
  type ScratchDatabase,
  type ServiceProcess,
  startService,
} from './server';

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
  /** Environment shared by every configuration of the service (admin key, policy file). */
  env: Record<string, string | undefined>;
  adminKey: string;
  endpoints: { root: Endpoint; decide: Endpoint };
  runtimes: Runtime[];
  /** Where to create a scratch database for decide on PostgreSQL. */
  postgresUrl: string;
  rounds: number;
  connections: number;
  durationSeconds: number;
  warmUpSeconds: number;
  cpuProfile: boolean;
}

export interface OverheadResult {
  samples: OverheadSample[];
  checks: MetricsCheck[];
  ledgerChecks: OverheadLedgerCheck[];
  serverProblems: string[];
  /** The PostgreSQL server decide ran on, or why it did not. */
  postgres: { description?: string; skipped?: string };
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

/** One server of a round: what runs, against what storage, and what it is asked. */
interface ServerPlan {
  variant: Variant;
  endpoints: Endpoint[];
  /** The bare Hono script instead of the service. */
  bare?: boolean;
  postgres?: boolean;
  env: Record<string, string | undefined>;
}

function plans(setup: OverheadSetup, sinkUrl: string): ServerPlan[] {
  const { root, decide } = setup.endpoints;
  const service = { ...setup.env, ...UNFILTERED_METRICS, OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl };
  return [
    { variant: 'bare-hono', endpoints: [root], bare: true, env: {} },
    ...(Object.keys(CONFIGURATIONS) as TelemetryMode[]).map((mode) => ({
      variant: mode,
      endpoints: [root, decide],
      env: { ...service, ...CONFIGURATIONS[mode], DATABASE_URL: undefined },
    })),
    { variant: 'off-postgres', endpoints: [decide], postgres: true, env: { ...service, ...CONFIGURATIONS.off } },
  ];
}

export async function benchOverhead(setup: OverheadSetup): Promise<OverheadResult> {
  const result: OverheadResult = { samples: [], checks: [], ledgerChecks: [], serverProblems: [], postgres: {} };
  const sink = await startOtlpSink();
  try {
    for (let round = 1; round <= setup.rounds; round++) {
      for (const plan of plans(setup, sink.url)) {
        for (const runtime of setup.runtimes) {
          if (plan.postgres && result.postgres.skipped) continue;
          await benchServer(setup, plan, runtime, round, result);
        }
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

/**
 * One fresh server: warm-up and measured run per endpoint, then (telemetry on) the metrics check and
 * (decide) the ledger check. On PostgreSQL, the database's backends' CPU is measured beside the server's.
 */
async function benchServer(
  setup: OverheadSetup,
  plan: ServerPlan,
  runtime: Runtime,
  round: number,
  out: OverheadResult,
): Promise<void> {
  const name = `${plan.variant}-${round}-${runtime.label.replace(/\W+/g, '')}`;
  console.log(`\nround ${round}, ${plan.variant}, ${runtime.label}`);
  const database = plan.postgres ? await scratchDatabase(setup, out) : undefined;
  if (plan.postgres && !database) return;
  const profileDir = join(setup.work, 'profiles', name);
  const profiled: { sample: OverheadSample; window: ProfileWindow }[] = [];
  const service = await startService({
    root: setup.root,
    env: {
      ...plan.env,
      LEXECON_DATA_DIR: join(setup.work, name),
      DATABASE_URL: database?.url ?? plan.env.DATABASE_URL,
    },
    logFile: join(setup.work, `${name}-server.log`),
    node: runtime.binary,
    ...(plan.bare ? { entry: 'bench/bare-hono.ts', readyPath: '/' } : {}),
    nodeFlags: setup.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
  });
  try {
    const decides = plan.endpoints.some((e) => e.path === '/api/decide');
    const entriesBefore = decides ? (await verifyLedger(service.baseUrl, setup.adminKey)).entries_checked : 0;
    const traffic: { endpoint: Endpoint; runs: Result[] }[] = [];
    for (const endpoint of plan.endpoints) {
      const warmUp = await load(service, endpoint, setup.connections, setup.warmUpSeconds);
      const cpuBefore = service.cpuSeconds();
      const dbBefore = database && (await backendCpuSeconds(database.admin, database.name));
      const startUs = monotonicMicros();
      const run = await load(service, endpoint, setup.connections, setup.durationSeconds);
      const endUs = monotonicMicros();
      const cpu = service.cpuSeconds() - cpuBefore;
      const dbAfter = database && (await backendCpuSeconds(database.admin, database.name));
      const dbCpu = dbBefore && dbAfter ? backendCpuBetween(dbBefore, dbAfter) : undefined;
      const measured = sample(endpoint, plan.variant, runtime, round, run, cpu, dbCpu);
      out.samples.push(measured);
      profiled.push({ sample: measured, window: { startUs, endUs, requests: run['2xx'] + run.non2xx } });
      traffic.push({ endpoint, runs: [warmUp, run] });
    }
    await sleep(SETTLE_MS);
    if (!plan.bare && plan.variant !== 'off' && plan.variant !== 'off-postgres') {
      out.checks.push(...(await checkMetrics(service, traffic, plan.variant, runtime, round)));
    }
    const decided = traffic.find((t) => t.endpoint.path === '/api/decide');
    if (decided) {
      const ledger = checkLedger(decided.runs, await verifyLedger(service.baseUrl, setup.adminKey), entriesBefore);
      console.log(
        `  ledger ${ledger.ok ? 'ok' : 'PROBLEM'}: valid=${ledger.valid}, +${ledger.grew} (${ledger.acknowledged}–${ledger.atMost} expected)`,
      );
      out.ledgerChecks.push({ ...ledger, round, variant: plan.variant, runtime: runtime.label });
    }
  } finally {
    const exitCode = await service.stop();
    if (exitCode !== 0) out.serverProblems.push(`${name}: the server exited with code ${exitCode} on SIGTERM`);
    out.serverProblems.push(...service.problems().map((line) => `${name}: ${line}`));
    await database?.drop();
  }
  // The profile is written when the process exits.
  if (setup.cpuProfile) for (const { sample, window } of profiled) sample.stages = stagesIn(profileDir, window);
}

/** A new database for one server, or undefined (and PostgreSQL skipped from then on) if the server is unreachable. */
async function scratchDatabase(setup: OverheadSetup, out: OverheadResult): Promise<ScratchDatabase | undefined> {
  let database: ScratchDatabase;
  try {
    database = await createScratchDatabase(setup.postgresUrl, 'lexecon_overhead');
  } catch (err) {
    out.postgres.skipped = `PostgreSQL is unreachable (${(err as Error).message})`;
    console.log(`  skipped: ${out.postgres.skipped}`);
    return undefined;
  }
  if (!out.postgres.description) {
    const [row] =
      await database.admin`select current_setting('server_version') as version, current_setting('fsync') as fsync, current_setting('synchronous_commit') as sync`;
    out.postgres.description = `PostgreSQL ${row?.version} on ${new URL(database.url).host} (fsync=${row?.fsync}, synchronous_commit=${row?.sync})`;
  }
  return database;
}

function load(service: ServiceProcess, endpoint: Endpoint, connections: number, duration: number): Promise<Result> {
  return autocannon({ url: service.baseUrl, connections, duration, requests: endpoint.requests });
}

function sample(
  endpoint: Endpoint,
  variant: Variant,
  runtime: Runtime,
  round: number,
  result: Result,
  cpuSeconds: number,
  databaseCpuSeconds: number | undefined,
): OverheadSample {
  const served = Math.max(1, result['2xx'] + result.non2xx);
  const measured: OverheadSample = {
    endpoint: endpoint.label,
    variant,
    runtime: runtime.label,
    round,
    rps: result['2xx'] / result.duration,
    cpuPerRequest: cpuSeconds / served,
    ...(databaseCpuSeconds !== undefined ? { databaseCpuPerRequest: databaseCpuSeconds / served } : {}),
    p99Ms: result.latency.p99,
    failed: result.non2xx + result.errors,
  };
  const database =
    measured.databaseCpuPerRequest !== undefined
      ? ` + ${(measured.databaseCpuPerRequest * 1e6).toFixed(1)} µs in PostgreSQL`
      : '';
  console.log(
    `  ${endpoint.label}: ${Math.round(measured.rps)} req/s, ${(measured.cpuPerRequest * 1e6).toFixed(1)} µs server CPU/request${database}, ` +
      `p99 ${measured.p99Ms} ms, ${measured.failed} failed`,
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
  variant: Variant,
  runtime: Runtime,
  round: number,
): Promise<MetricsCheck[]> {
  const res = await fetch(`${service.baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const exposition = await res.text();
  return traffic.flatMap(({ endpoint, runs }) => {
    const answered = sum(runs.map((r) => r.requests.total ?? r['2xx'] + r.non2xx));
    const sent = sum(runs.map((r) => r.requests.sent ?? 0));
    const series: { metric: string; labels: Record<string, string> }[] = [
      { metric: 'lexecon_http_requests_total', labels: { method: endpoint.method, endpoint: endpoint.path } },
      // Response sizes are recorded by default, lean or detailed.
      { metric: 'lexecon_api_response_size_bytes_count', labels: { endpoint: endpoint.path } },
    ];
    return series.map(({ metric, labels }) => {
      const counted = sumSamples(exposition, metric, labels);
      const ok = counted >= answered && counted <= sent;
      console.log(`  ${ok ? 'ok' : 'PROBLEM'}: ${metric} ${endpoint.label} ${counted} (${answered}–${sent} expected)`);
      return { round, variant, runtime: runtime.label, endpoint: endpoint.label, metric, counted, answered, sent, ok };
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
