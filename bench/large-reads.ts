/**
 * Large ledger entries, read back: the service's peak memory under six concurrent large reads, and
 * what four concurrent full verifications do to decide latency. Against the real service process,
 * on PGlite and on PostgreSQL:
 *
 *   npm run bench -- --large-reads   (or node --import tsx bench/large-reads.ts)
 *
 * 1. Writes LARGE_ENTRIES decisions of ~575 KB each (1000 data classes of 512 characters and a
 *    64 KiB context) through POST /api/decide, four at a time.
 * 2. Peak RSS, in a fresh process: resets its VmHWM (/proc/<pid>/clear_refs), sends six reads at
 *    once (three GET /api/ledger/entries?limit=500 in both orders and filtered,
 *    GET /api/audit/decisions?limit=500 and two GET /api/ledger/verify), and samples VmHWM until all
 *    have answered. Linux only.
 * 3. Decide p50, in another fresh process: DECIDE_SAMPLES small decisions one after another, alone,
 *    then again while four clients call GET /api/ledger/verify in a loop.
 *
 *   LARGE_ENTRIES       decisions written (default 500)
 *   DECIDE_SAMPLES      decisions timed per p50 (default 200; fewer if they take over a minute)
 *   BENCH_BACKENDS      comma-separated: pglite, postgres (default both)
 *   BENCH_POSTGRES_URL  a database to connect to for CREATE/DROP DATABASE
 *                       (default postgres://postgres@127.0.0.1:5432/postgres)
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DecisionRequestInput } from '../src/decisions/schemas';
import { createScratchDatabase, type ServiceProcess, startService } from './server';
import { BENCH_POLICY } from './workload';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ADMIN_KEY = randomBytes(24).toString('hex');
const ENTRIES = Number(process.env.LARGE_ENTRIES ?? 500);
const DECIDE_SAMPLES = Number(process.env.DECIDE_SAMPLES ?? 200);
const BACKENDS = (process.env.BENCH_BACKENDS ?? 'pglite,postgres').split(',');
const POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const WRITERS = 4;
const VERIFIERS = 4;
const SAMPLING_MS = 60_000;

/** ~575 KB of request JSON, within the request schema's limits. */
export function largeDecision(n: number): DecisionRequestInput {
  const filler = 'x'.repeat(9000);
  return {
    actor: 'research_agent',
    proposed_action: 'export_records',
    tool: 'bulk_exporter',
    user_intent: `large decision ${n}`,
    data_classes: Array.from({ length: 1000 }, (_, i) => `class-${n}-${i}-`.padEnd(512, 'd')),
    context: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`note_${i}`, filler])),
  };
}

const smallDecision: DecisionRequestInput = {
  actor: 'ai_clinical_assistant',
  proposed_action: 'analyze_medical_image',
  tool: 'radiology_viewer',
  user_intent: 'triage',
  data_classes: ['deidentified'],
  risk_level: 2,
};

async function send(service: ServiceProcess, method: string, path: string, body?: unknown) {
  try {
    const res = await fetch(`${service.baseUrl}${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    return { status: res.status, text: await res.text() };
  } catch (err) {
    return { status: 0, text: (err as Error).message };
  }
}

async function call(service: ServiceProcess, method: string, path: string, body?: unknown) {
  const { status, text } = await send(service, method, path, body);
  if (status !== 200) throw new Error(`${method} ${path}: ${status} ${text.slice(0, 300)}`);
  return text;
}

/** A read that may fail under the load (the unbounded reads did): its outcome, not an exception. */
async function read(service: ServiceProcess, path: string) {
  const started = performance.now();
  const { status, text } = await send(service, 'GET', path);
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  if (status !== 200) return `${path} → ${status || 'connection lost'} after ${seconds} s`;
  const body = JSON.parse(text) as {
    entries?: unknown[];
    decisions?: unknown[];
    valid?: boolean;
    entries_checked?: number;
  };
  const items = body.entries ?? body.decisions;
  const what = items
    ? `${items.length} items, ${(text.length / 1024 / 1024).toFixed(1)} MiB`
    : `${body.valid ? 'valid' : 'INVALID'}, ${body.entries_checked} entries`;
  return `${path} → ${what} in ${seconds} s`;
}

/** VmHWM (peak resident set since the last reset) of a process, in MB; undefined once it has exited. */
function peakRssMb(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
  } catch {
    return undefined;
  }
}

/**
 * Resets the process's VmHWM, then samples it until stopped: the peak survives a process that dies
 * of its reads (the last sample before it did).
 */
function watchPeakRss(pid: number) {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const atStart = peakRssMb(pid) ?? 0;
  let peak = atStart;
  const timer = setInterval(() => {
    peak = Math.max(peak, peakRssMb(pid) ?? 0);
  }, 50);
  return () => {
    clearInterval(timer);
    return { atStart, peak: Math.max(peak, peakRssMb(pid) ?? 0) };
  };
}

const p50 = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;

async function decideP50(service: ServiceProcess): Promise<string> {
  const latencies: number[] = [];
  let failed = 0;
  const deadline = performance.now() + SAMPLING_MS;
  for (let i = 0; i < DECIDE_SAMPLES && performance.now() < deadline; i++) {
    const started = performance.now();
    const { status } = await send(service, 'POST', '/api/decide', smallDecision);
    if (status === 200) latencies.push(performance.now() - started);
    else failed++;
  }
  const median = latencies.length > 0 ? `${p50(latencies).toFixed(1)} ms` : 'none answered';
  return `${median} over ${latencies.length} decisions${failed > 0 ? `, ${failed} failed` : ''}`;
}

async function measure(name: string, env: Record<string, string | undefined>, work: string) {
  const common = {
    ...env,
    LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    LEXECON_POLICY_FILE: join(work, 'policy.json'),
    LEXECON_MAX_BODY_BYTES: String(4 * 1024 * 1024),
    LEXECON_MAX_DECISION_BYTES: String(1024 * 1024),
    // Slow reads of the unbounded pages would otherwise end in 503s (and a replaced pool) before
    // their memory shows; the bounded ones never come near the default.
    LEXECON_DB_STATEMENT_TIMEOUT_MS: process.env.LEXECON_DB_STATEMENT_TIMEOUT_MS ?? '60000',
    RATE_LIMIT_API_PER_SECOND: '1000000',
    RATE_LIMIT_API_BURST: '1000000',
  };
  const start = (phase: string) =>
    startService({ root: ROOT, env: common, logFile: join(work, `${name}-${phase}.log`) });

  let service = await start('write');
  const writeStarted = performance.now();
  let next = 0;
  let writePeak: number | undefined;
  try {
    await Promise.all(
      Array.from({ length: WRITERS }, async () => {
        while (next < ENTRIES) await call(service, 'POST', '/api/decide', largeDecision(next++));
      }),
    );
    writePeak = peakRssMb(service.pid);
  } finally {
    await service.stop();
  }
  const writeSeconds = (performance.now() - writeStarted) / 1000;

  // A fresh process, so the peak is the reads' own.
  let readResult: { atStart: number; peak: number; readSeconds: number; reads: string[]; exitCode: number | null };
  service = await start('reads');
  try {
    const stopWatching = watchPeakRss(service.pid);
    const readStarted = performance.now();
    const reads = await Promise.all([
      read(service, '/api/ledger/entries?limit=500'),
      read(service, '/api/ledger/entries?limit=500&order=desc'),
      read(service, '/api/ledger/entries?limit=500&event_type=decision'),
      read(service, '/api/audit/decisions?limit=500'),
      read(service, '/api/ledger/verify'),
      read(service, '/api/ledger/verify'),
    ]);
    const readSeconds = (performance.now() - readStarted) / 1000;
    readResult = { ...stopWatching(), readSeconds, reads, exitCode: await service.stop() };
  } finally {
    await service.stop();
  }

  service = await start('latency');
  let quiet: string;
  let underVerify: string;
  const verifies: number[] = [];
  try {
    await decideP50(service); // warm-up
    quiet = await decideP50(service);
    let verifying = true;
    const verifiers = Array.from({ length: VERIFIERS }, async () => {
      while (verifying) verifies.push((await send(service, 'GET', '/api/ledger/verify')).status);
    });
    underVerify = await decideP50(service);
    verifying = false;
    await Promise.all(verifiers);
  } finally {
    await service.stop();
  }

  const answered = verifies.filter((status) => status === 200).length;
  return {
    name,
    writeSeconds,
    writePeak,
    quiet,
    underVerify,
    verifies: `${answered} of ${verifies.length}`,
    ...readResult,
  };
}

async function main() {
  const work = mkdtempSync(join(tmpdir(), 'lexecon-large-'));
  writeFileSync(join(work, 'policy.json'), JSON.stringify(BENCH_POLICY));
  const results = [];
  try {
    for (const backend of BACKENDS) {
      if (backend === 'pglite') {
        results.push(await measure('PGlite', { DATABASE_URL: undefined, LEXECON_DATA_DIR: join(work, 'data') }, work));
      } else {
        const database = await createScratchDatabase(POSTGRES_URL, 'lexecon_large');
        try {
          results.push(await measure('PostgreSQL', { DATABASE_URL: database.url }, work));
        } finally {
          await database.drop();
        }
      }
    }
  } catch (err) {
    console.error(`kept ${work} (server logs)`);
    throw err;
  }
  rmSync(work, { recursive: true, force: true });
  for (const r of results) {
    console.log(
      `\n${r.name}: ${ENTRIES} decisions of ~575 KB written in ${r.writeSeconds.toFixed(1)} s (writer's peak RSS ${r.writePeak?.toFixed(0)} MB)`,
    );
    console.log(`  decide p50 alone ${r.quiet}; during ${VERIFIERS} concurrent verifies ${r.underVerify}`);
    console.log(`  verifies answered 200 during that: ${r.verifies}`);
    console.log(
      `  six concurrent large reads: peak RSS ${r.peak.toFixed(0)} MB (${r.atStart.toFixed(0)} MB before them), all back in ${r.readSeconds.toFixed(1)} s, exit code ${r.exitCode}`,
    );
    for (const line of r.reads) console.log(`    ${line}`);
  }
}

await main();
