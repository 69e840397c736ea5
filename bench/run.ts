/**
 * `npm run bench`: GET / and POST /api/decide throughput and latency, on PGlite and on PostgreSQL,
 * against the real service in its own process; verifies the ledger after every decide run and
 * writes docs/benchmarks.md. docs/benchmarks.md explains the method.
 *
 * `npm run bench -- --overhead`: the service against a bare Hono hello-world, and what telemetry costs.
 * Bare Hono, the same endpoints on PGlite with telemetry off (OTEL_SDK_DISABLED=true), on (lean), detailed
 * (FEATURE_FLAG_METRICS_DETAILED=true) and traced, and decide on PostgreSQL, in interleaved rounds of fresh
 * servers (bench/overhead.ts): throughput and server CPU per request, ratios against off and against bare
 * Hono, the issue's targets as met or not, and checks that the metrics and the ledger counted the load.
 * Rewrites only the overhead section of docs/benchmarks.md; a run without --overhead keeps it as it was.
 *
 * `--node 24` (or `--node x.y.z`, `--node <path>`, BENCH_NODE=<path>): with --overhead, every server of
 * every round runs under that Node too, next to the one running the benchmark, and the report shows both;
 * without it, the servers run under that Node instead. A version is fetched once into .cache/ (bench/runtimes.ts).
 *
 * `npm run bench -- --sign-in-flood`: decide latency quiet and under a flood of 400 sign-ins
 * (bench/sign-in-flood.ts, results in bench/sign-in-flood.md). `npm run bench -- --large-reads`: peak
 * resident memory under six concurrent large reads and decide latency under four verifications
 * (bench/large-reads.ts). Each script's header gives its method and variables.
 *
 *   BENCH_DURATION       seconds per measured run (default 10)
 *   BENCH_CONNECTIONS    comma-separated connection counts (default 10,50,100)
 *   BENCH_POSTGRES_URL   a database to connect to for CREATE/DROP DATABASE
 *                        (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_ROUNDS         --overhead: rounds of the five configurations (default 5)
 *   BENCH_OVERHEAD_CONNECTIONS   --overhead: connections of every run (default 50)
 *   BENCH_CPU_PROF       set to 1 to run the server with --cpu-prof; profiles stay in the work dir, and
 *                        --overhead condenses them into µs per request per stage (bench/profile.ts)
 *   BENCH_NODE           a Node binary, as --node <path>
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import autocannon, { type Request, type Result } from 'autocannon';
import type { DecisionResponse } from '../src/decisions/schemas';
import { checkLedger, verifyLedger } from './ledger-check';
import { benchOverhead, type Endpoint } from './overhead';
import {
  type BackendReport,
  type LoadResult,
  type Measured,
  type OverheadRun,
  overheadSectionOf,
  overheadTargets,
  type ResultRow,
  renderOverhead,
  renderReport,
  replaceOverheadSection,
  TARGET_RATIO,
} from './report';
import { currentRuntime, type Runtime, resolveRuntime } from './runtimes';
import { createScratchDatabase, type ScratchDatabase, type ServiceProcess, startService } from './server';
import { BENCH_POLICY, DECISION_REQUESTS } from './workload';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPORT_FILE = join(ROOT, 'docs', 'benchmarks.md');
const ADMIN_KEY = randomBytes(24).toString('hex');
const WARM_UP_SECONDS = 3;
// Requests still in flight when autocannon stops finish on the server; let them land before verifying.
const SETTLE_MS = 1000;
const VERSIONED_PACKAGES = [
  'hono',
  '@hono/node-server',
  '@hono/zod-openapi',
  '@electric-sql/pglite',
  'drizzle-orm',
  'postgres',
  'autocannon',
];

interface Settings {
  overhead: boolean;
  durationSeconds: number;
  connections: number[];
  postgresUrl: string;
  rounds: number;
  overheadConnections: number;
  cpuProfile: boolean;
  /** Another Node to run the servers under (--node, BENCH_NODE), if any. */
  otherNode?: string;
}

interface Backend {
  name: string;
  storage: string;
  env: Record<string, string | undefined>;
}

async function main(): Promise<void> {
  const settings = readSettings(process.env, process.argv.slice(2));
  const other = settings.otherNode ? resolveRuntime(settings.otherNode, ROOT) : undefined;
  const machine = describeMachine();
  const work = mkdtempSync(join(tmpdir(), 'lexecon-bench-'));
  const policyFile = join(work, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(BENCH_POLICY, null, 2));
  const common = {
    LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    LEXECON_POLICY_FILE: policyFile,
    // One key drives all the load: the per-key API limit would measure 429s, not the service.
    RATE_LIMIT_API_PER_SECOND: '1000000',
    RATE_LIMIT_API_BURST: '1000000',
  };

  const clean = settings.overhead
    ? await runOverhead(settings, work, common, machine, other ? [currentRuntime(), other] : [currentRuntime()])
    : await runBackends(settings, work, common, machine, other ?? currentRuntime());
  if (clean && !settings.cpuProfile) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work} (server logs${settings.cpuProfile ? ', CPU profiles' : ''})`);
  if (!clean) process.exitCode = 1;
}

/** The default mode: both backends; the file is rewritten except for its overhead section. */
async function runBackends(
  settings: Settings,
  work: string,
  common: Record<string, string>,
  machine: string[],
  runtime: Runtime,
): Promise<boolean> {
  const requestMix: string[] = [];
  const pglite: Backend = {
    name: 'PGlite',
    storage: `Embedded PGlite ${packageVersion('@electric-sql/pglite')} (Postgres compiled to WebAssembly, running on the server's main thread) in a fresh data directory on local disk.`,
    env: { ...common, DATABASE_URL: undefined, LEXECON_DATA_DIR: join(work, 'pglite-data') },
  };
  const pgliteReport = await benchBackend(pglite, settings, work, requestMix, runtime);
  const postgresRun = await benchPostgres(settings, work, common, requestMix, runtime);
  const reports = [pgliteReport, postgresRun.report];

  const report = renderReport(
    {
      date: new Date().toISOString(),
      machine,
      versions: {
        Node: runtime.label.replace(/^Node /, 'v'),
        PostgreSQL: postgresRun.version ?? 'not reached',
        ...packageVersions(),
      },
      durationSeconds: settings.durationSeconds,
      warmUpSeconds: WARM_UP_SECONDS,
      connections: settings.connections,
      requestMix,
    },
    reports,
  );
  const overhead = overheadSectionOf(readReport());
  writeFileSync(REPORT_FILE, overhead ? replaceOverheadSection(report, overhead) : report);
  console.log('wrote docs/benchmarks.md');
  return reports.every(isClean);
}

/** --overhead: bare Hono, telemetry off to traced on PGlite, decide on PostgreSQL; rewrites only the overhead section. */
async function runOverhead(
  settings: Settings,
  work: string,
  common: Record<string, string>,
  machine: string[],
  runtimes: Runtime[],
): Promise<boolean> {
  const endpoints = {
    root: { label: 'GET /', method: 'GET', path: '/', requests: rootRequest() },
    decide: { label: 'POST /api/decide', method: 'POST', path: '/api/decide', requests: decideRequests() },
  } satisfies Record<string, Endpoint>;
  const date = new Date().toISOString();
  const run = {
    rounds: settings.rounds,
    connections: settings.overheadConnections,
    durationSeconds: settings.durationSeconds,
    warmUpSeconds: WARM_UP_SECONDS,
  };
  const result = await benchOverhead({
    ...run,
    root: ROOT,
    work,
    env: { ...common, DATABASE_URL: undefined },
    adminKey: ADMIN_KEY,
    endpoints,
    runtimes,
    postgresUrl: settings.postgresUrl,
    cpuProfile: settings.cpuProfile,
  });
  const report: OverheadRun = {
    ...run,
    ...result,
    date,
    machine: [...machine, `Load average (1 min) when the run ended: ${loadavg()[0]?.toFixed(2)}`],
    runtimes: runtimes.map((r) => r.label),
  };
  writeFileSync(REPORT_FILE, replaceOverheadSection(readReport(), renderOverhead(report)));
  console.log('\nwrote the overhead section of docs/benchmarks.md\n');
  const ratio = ({ median, low, high }: Measured) =>
    `${median.toFixed(2)}× (rounds ${low.toFixed(2)}–${high.toFixed(2)})`;
  for (const t of overheadTargets(report)) {
    const verdict = (met: boolean) => (met ? 'met' : `NOT MET${t.blocked ? ` (${t.blocked})` : ''}`);
    console.log(
      `${t.runtime}: ${t.name.replaceAll('`', '')}: req/s ${ratio(t.rps)}, target ≥ ${t.goal.toFixed(2)}× ${verdict(t.rpsMet)}; ` +
        `CPU/request ${ratio(t.cpu)}, target ≤ ${(1 / t.goal).toFixed(2)}× ${verdict(t.cpuMet)}`,
    );
  }
  for (const line of result.serverProblems.slice(0, 20)) console.log(`  server: ${line}`);
  const failed = result.samples.some((s) => s.failed > 0);
  const checked = result.checks.every((c) => c.ok) && result.ledgerChecks.every((c) => c.ok);
  return !failed && result.serverProblems.length === 0 && checked;
}

function readReport(): string {
  return existsSync(REPORT_FILE) ? readFileSync(REPORT_FILE, 'utf8') : '';
}

function isClean(report: BackendReport): boolean {
  if (report.skipped) return true;
  const ledgerOk = report.rows.every((row) => row.ledger.ok);
  return !report.failure && report.exitCode === 0 && report.serverProblems.length === 0 && ledgerOk;
}

function readSettings(env: Record<string, string | undefined>, args: string[]): Settings {
  const durationSeconds = Number(env.BENCH_DURATION ?? 10);
  const connections = (env.BENCH_CONNECTIONS ?? '10,50,100').split(',').map(Number);
  const rounds = Number(env.BENCH_ROUNDS ?? 5);
  const overheadConnections = Number(env.BENCH_OVERHEAD_CONNECTIONS ?? 50);
  const { overhead, node, unknown } = readArgs(args);
  if (unknown !== undefined)
    fail(`unknown argument ${unknown}; the arguments are --overhead and --node <24|x.y.z|path>`);
  if (!Number.isInteger(durationSeconds) || durationSeconds < 1)
    fail('BENCH_DURATION must be a whole number of seconds ≥ 1');
  if (connections.some((c) => !Number.isInteger(c) || c < 1)) fail('BENCH_CONNECTIONS must be like 10,50,100');
  if (!Number.isInteger(rounds) || rounds < 1) fail('BENCH_ROUNDS must be a whole number ≥ 1');
  if (!Number.isInteger(overheadConnections) || overheadConnections < 1)
    fail('BENCH_OVERHEAD_CONNECTIONS must be a whole number ≥ 1');
  const otherNode = node ?? env.BENCH_NODE;
  return {
    overhead,
    ...(otherNode ? { otherNode } : {}),
    durationSeconds,
    connections,
    postgresUrl: env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    rounds,
    overheadConnections,
    cpuProfile: env.BENCH_CPU_PROF === '1',
  };
}

/** --overhead, and --node <value> or --node=<value>; the first argument that is neither, if any. */
function readArgs(args: string[]): { overhead: boolean; node?: string; unknown?: string } {
  const read: { overhead: boolean; node?: string; unknown?: string } = { overhead: false };
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string;
    if (arg === '--overhead') read.overhead = true;
    else if (arg === '--node' && args[i + 1] !== undefined) read.node = args[++i];
    else if (arg.startsWith('--node=')) read.node = arg.slice('--node='.length);
    else read.unknown ??= arg;
  }
  return read;
}

function fail(message: string): never {
  console.error(`bench: ${message}`);
  process.exit(2);
}

async function benchBackend(
  backend: Backend,
  settings: Settings,
  work: string,
  requestMix: string[],
  runtime: Runtime,
): Promise<BackendReport> {
  const slug = backend.name.toLowerCase();
  const profileDir = join(work, `${slug}-profiles`);
  if (settings.cpuProfile) mkdirSync(profileDir);
  const report: BackendReport = { ...backend, rows: [], serverProblems: [], exitCode: null };
  let service: ServiceProcess | undefined;
  console.log(`\n${backend.name}: starting the service`);
  try {
    service = await startService({
      root: ROOT,
      env: backend.env,
      logFile: join(work, `${slug}-server.log`),
      node: runtime.binary,
      nodeFlags: settings.cpuProfile ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`] : [],
    });
    const mix = await sampleOutcomes(service);
    if (requestMix.length === 0) requestMix.push(...mix);
    await measure(service, settings, report.rows);
  } catch (err) {
    report.failure = (err as Error).message;
    console.log(`  FAILED: ${report.failure}`);
  }
  if (service) {
    report.exitCode = await service.stop();
    report.serverProblems = service.problems();
    for (const line of report.serverProblems.slice(0, 20)) console.log(`  server: ${line}`);
  }
  printSummary(report);
  return report;
}

function printSummary({ name, rows }: BackendReport): void {
  if (rows.length === 0) return;
  const ratio = Math.max(...rows.map((r) => r.decide.rps)) / Math.max(...rows.map((r) => r.root.rps));
  console.log(`${name}: best decide ÷ best GET / = ${(ratio * 100).toFixed(1)} % (target ${TARGET_RATIO * 100} %)`);
}

/** The same run against a database created for it (and dropped after), or a skip if the server is unreachable. */
async function benchPostgres(
  settings: Settings,
  work: string,
  common: Record<string, string>,
  requestMix: string[],
  runtime: Runtime,
): Promise<{ report: BackendReport; version?: string }> {
  const database = await createDatabase(settings.postgresUrl);
  if ('skipped' in database) {
    console.log(`\nPostgreSQL skipped: ${database.skipped}`);
    const report = { name: 'PostgreSQL', storage: '', skipped: database.skipped, rows: [], serverProblems: [] };
    return { report: { ...report, exitCode: null } };
  }
  try {
    const env = { ...common, DATABASE_URL: database.url, LEXECON_DATA_DIR: join(work, 'postgres-data') };
    const backend = { name: 'PostgreSQL', storage: database.storage, env };
    return { report: await benchBackend(backend, settings, work, requestMix, runtime), version: database.version };
  } finally {
    await database.drop();
  }
}

async function measure(service: ServiceProcess, settings: Settings, rows: ResultRow[]): Promise<void> {
  await load(service, rootRequest(), 10, WARM_UP_SECONDS);
  await load(service, decideRequests(), 10, WARM_UP_SECONDS);
  const roots = [];
  for (const connections of settings.connections) {
    roots.push(summarize('GET /', await load(service, rootRequest(), connections, settings.durationSeconds)));
  }
  await sleep(SETTLE_MS);
  let entries = (await verifyLedger(service.baseUrl, ADMIN_KEY)).entries_checked;
  for (const [i, connections] of settings.connections.entries()) {
    const cpuBefore = service.cpuSeconds();
    const signedBefore = await checkpointsSigned(service);
    const run = await load(service, decideRequests(), connections, settings.durationSeconds);
    await sleep(SETTLE_MS);
    const cpuSeconds = service.cpuSeconds() - cpuBefore;
    const signatures = (await checkpointsSigned(service)) - signedBefore;
    const verification = await verifyLedger(service.baseUrl, ADMIN_KEY);
    const ledger = checkLedger([run.result], verification, entries);
    entries = verification.entries_checked;
    const decide = summarize('POST /api/decide', run);
    // Entries carry no signature of their own: each group commit's checkpoint is the only one.
    const cost = {
      cpuPerDecision: cpuSeconds / Math.max(1, run.result['2xx']),
      signaturesPer1000: (signatures * 1000) / Math.max(1, ledger.grew),
    };
    console.log(
      `  ledger ${ledger.ok ? 'ok' : 'PROBLEM'}: valid=${ledger.valid}, +${ledger.grew} (${ledger.acknowledged}–${ledger.atMost} expected); ` +
        `${(cost.cpuPerDecision * 1e6).toFixed(0)} µs server CPU/decision, ${cost.signaturesPer1000.toFixed(1)} signatures/1,000 entries`,
    );
    rows.push({ root: roots[i] as LoadResult, decide, ledger, cost });
  }
}

interface LoadRun {
  connections: number;
  result: Result;
}

async function load(
  service: ServiceProcess,
  requests: Request[],
  connections: number,
  duration: number,
): Promise<LoadRun> {
  const result = await autocannon({ url: service.baseUrl, connections, duration, requests });
  return { connections, result };
}

function rootRequest(): Request[] {
  return [{ method: 'GET', path: '/' }];
}

function decideRequests(): Request[] {
  const headers = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };
  return DECISION_REQUESTS.map((body) => ({
    method: 'POST',
    path: '/api/decide',
    headers,
    body: JSON.stringify(body),
  }));
}

function summarize(label: string, { connections, result }: LoadRun): LoadResult {
  const summary: LoadResult = {
    connections,
    rps: result['2xx'] / result.duration,
    p50: result.latency.p50,
    p99: result.latency.p99,
    non2xx: result.non2xx,
    errors: result.errors,
  };
  const codes = Object.entries(result.statusCodeStats).map(([code, { count }]) => `${code}×${count}`);
  console.log(
    `  ${label} c=${connections}: ${Math.round(summary.rps)} req/s, p50 ${summary.p50} ms, p99 ${summary.p99} ms, ` +
      `status ${codes.join(' ')}, errors ${summary.errors} (timeouts ${result.timeouts})`,
  );
  return summary;
}

/** Checkpoints the server signed so far, from its lexecon_ledger_checkpoints_total. */
async function checkpointsSigned(service: ServiceProcess): Promise<number> {
  const res = await fetch(`${service.baseUrl}/metrics`);
  if (!res.ok) throw new Error(`GET /metrics answered ${res.status}`);
  const line = (await res.text()).split('\n').find((l) => l.startsWith('lexecon_ledger_checkpoints_total'));
  return Number(line?.split(' ').at(-1) ?? Number.NaN);
}

/** One answer per request of the mix, so the report shows which outcomes the load exercises. */
async function sampleOutcomes(service: ServiceProcess): Promise<string[]> {
  const lines = [];
  for (const request of decideRequests()) {
    const res = await fetch(`${service.baseUrl}${request.path}`, request);
    if (res.status !== 200) throw new Error(`POST /api/decide answered ${res.status}: ${await res.text()}`);
    const answer = (await res.json()) as DecisionResponse;
    const asked = JSON.parse(request.body as string) as (typeof DECISION_REQUESTS)[number];
    const violations = answer.violations.map((v) => v.type).join(', ');
    lines.push(
      `\`${asked.actor}\` → \`${asked.proposed_action}\` on ${asked.data_classes.join(', ')}: **${answer.decision}** (${answer.reason_code})` +
        (violations ? `, violations: ${violations}` : '') +
        (answer.obligations.length > 0 ? `, obligations: ${answer.obligations.join(', ')}` : ''),
    );
  }
  return lines;
}

type PreparedDatabase = { url: string; version: string; storage: string; drop(): Promise<void> } | { skipped: string };

/** A new database for this run, on the server BENCH_POSTGRES_URL points at; skipped if it is unreachable. */
async function createDatabase(adminUrl: string): Promise<PreparedDatabase> {
  let database: ScratchDatabase;
  try {
    database = await createScratchDatabase(adminUrl, 'lexecon_bench');
  } catch (err) {
    return { skipped: `PostgreSQL at ${redact(adminUrl)} is unreachable (${(err as Error).message})` };
  }
  const [row] =
    await database.admin`select version() as version, current_setting('fsync') as fsync, current_setting('synchronous_commit') as sync`;
  const settings = `fsync=${row?.fsync}, synchronous_commit=${row?.sync}`;
  return {
    url: database.url,
    version: String(row?.version).replace(/^PostgreSQL /, ''),
    storage: `PostgreSQL on ${new URL(database.url).host} (${settings}), a new database; the service's pool is DB_POOL_MAX (default 10).`,
    drop: () => database.drop(),
  };
}

function redact(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

function describeMachine(): string[] {
  const cpuinfo = readFileSync('/proc/cpuinfo', 'utf8').match(/^model name\s*:\s*(.+)$/m)?.[1];
  return [
    `CPU: ${cpuinfo ?? cpus()[0]?.model ?? 'unknown'}, ${availableParallelism()} cores available`,
    `RAM: ${(totalmem() / 2 ** 30).toFixed(1)} GiB`,
    `OS: ${type()} ${release()}`,
    // Anything else running competes with both client and server for the same cores.
    `Load average (1 min) when the run started: ${loadavg()[0]?.toFixed(2)}`,
  ];
}

function packageVersions(): Record<string, string> {
  return Object.fromEntries(VERSIONED_PACKAGES.map((name) => [name, packageVersion(name)]));
}

function packageVersion(name: string): string {
  const file = join(ROOT, 'node_modules', name, 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

// Scenarios of their own, each a script that runs when imported.
const SCENARIOS: Record<string, string> = {
  '--sign-in-flood': './sign-in-flood.ts',
  '--large-reads': './large-reads.ts',
};
const scenario = process.argv.slice(2).find((arg) => arg in SCENARIOS);
if (scenario) {
  await import(SCENARIOS[scenario] as string);
} else {
  main().catch((err: unknown) => {
    console.error('bench failed:', err);
    process.exit(1);
  });
}
