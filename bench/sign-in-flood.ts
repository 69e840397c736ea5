/**
 * `npm run bench -- --sign-in-flood`: decide latency while unknown usernames flood the
 * sign-in route, on PGlite and on PostgreSQL, against the real service in its own process.
 *
 * Each backend gets a fresh service. Decisions are asked at a fixed rate (BENCH_DECIDE_RATE per
 * second, default 50), each on its own whatever the others are waiting for — an open loop, so a
 * stalled service shows as slow answers rather than as fewer questions (a closed loop would hide it:
 * its stalled deciders stop asking). Each round (BENCH_ROUNDS, default 3) measures a quiet window
 * (BENCH_QUIET_SECONDS, default 8) and then the flood: 40 clients, each behind an X-Forwarded-For
 * address of its own (the service trusts 127.0.0.1 as its proxy; fresh addresses every round), send
 * 10 sign-ins each for usernames that do not exist, one after another — 400 sign-ins, all inside
 * the per-address limit. The flood's p50 counts the decisions asked between the first sign-in sent
 * and the last one answered. Optionally (BENCH_SUSTAINED_SECONDS,
 * default 0) the same 40 clients then keep signing in for that long, each waiting out its
 * Retry-After, which keeps the hashing capacity as busy as the limits allow. Quiet and flood
 * windows alternate so that a change in the machine's other load shows up in both.
 *
 *   BENCH_ROOT           the checkout whose `src/node.ts` is run (default this one), e.g. an
 *                        export of an older commit with node_modules linked, for before/after
 *   BENCH_POSTGRES_URL   a database to connect to for CREATE/DROP DATABASE
 *                        (default postgres://postgres@127.0.0.1:5432/postgres)
 *   BENCH_BACKENDS       comma-separated: pglite,postgres (default both)
 *
 * Prints a markdown table per backend; bench/sign-in-flood.md keeps the numbers and how they were taken.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createScratchDatabase, type ServiceProcess, startService } from './server';
import { BENCH_POLICY, DECISION_REQUESTS } from './workload';

const ROOT = process.env.BENCH_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
const ADMIN_KEY = randomBytes(24).toString('hex');
const ADDRESSES = 40;
const SIGN_INS_PER_ADDRESS = 10;
const WARM_UP_SECONDS = 5;
/** A sign-in not answered by then counts as hung (the server's own request timeout is 30 s). */
const CLIENT_TIMEOUT_MS = 120_000;

interface Settings {
  decideRate: number;
  rounds: number;
  quietSeconds: number;
  sustainedSeconds: number;
  postgresUrl: string;
  backends: string[];
}

interface Timed {
  startMs: number;
  endMs: number;
  status: number;
}

interface PhaseResult {
  label: string;
  decisions: number;
  p50: number;
  p95: number;
  p99: number;
  failedDecisions: number;
  signIns?: { total: number; seconds: number; statuses: string; slowestMs: number };
}

async function main(): Promise<void> {
  const settings: Settings = {
    decideRate: Number(process.env.BENCH_DECIDE_RATE ?? 50),
    rounds: Number(process.env.BENCH_ROUNDS ?? 3),
    quietSeconds: Number(process.env.BENCH_QUIET_SECONDS ?? 8),
    sustainedSeconds: Number(process.env.BENCH_SUSTAINED_SECONDS ?? 0),
    postgresUrl: process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    backends: (process.env.BENCH_BACKENDS ?? 'pglite,postgres').split(','),
  };
  const work = mkdtempSync(join(tmpdir(), 'lexecon-flood-'));
  const policyFile = join(work, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(BENCH_POLICY));
  const common = {
    LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
    LEXECON_POLICY_FILE: policyFile,
    LEXECON_TRUSTED_PROXIES: '127.0.0.1',
    RATE_LIMIT_API_PER_SECOND: '1000000',
    RATE_LIMIT_API_BURST: '1000000',
  };
  const tables: string[] = [];
  for (const backend of settings.backends) {
    if (backend === 'pglite') {
      const env = { ...common, DATABASE_URL: undefined, LEXECON_DATA_DIR: join(work, 'pglite') };
      tables.push(await benchBackend('PGlite', env, settings, work));
    } else if (backend === 'postgres') {
      const database = await createScratchDatabase(settings.postgresUrl, 'lexecon_flood');
      try {
        const env = { ...common, DATABASE_URL: database.url, LEXECON_DATA_DIR: join(work, 'postgres') };
        tables.push(await benchBackend('PostgreSQL', env, settings, work));
      } finally {
        await database.drop();
      }
    } else throw new Error(`unknown backend ${backend}`);
  }
  console.log(`\n${tables.join('\n\n')}`);
  console.log(`\nload average (1 min) at the end: ${loadavg()[0]?.toFixed(2)}`);
  rmSync(work, { recursive: true, force: true });
}

async function benchBackend(
  name: string,
  env: Record<string, string | undefined>,
  settings: Settings,
  work: string,
): Promise<string> {
  console.log(`\n${name}`);
  const service = await startService({ root: ROOT, env, logFile: join(work, `${name}.log`) });
  const results: PhaseResult[] = [];
  try {
    await decideFor(service, { seconds: WARM_UP_SECONDS }, settings.decideRate);
    for (let round = 1; round <= settings.rounds; round++) {
      const quiet = await decideFor(service, { seconds: settings.quietSeconds }, settings.decideRate);
      results.push(summarize(`${round}: quiet`, quiet.decisions, quiet.startMs, quiet.endMs));
      results.push(
        await flood(service, settings, `${round}: 400 sign-ins from 40 addresses`, {
          perAddress: SIGN_INS_PER_ADDRESS,
          round,
        }),
      );
      if (settings.sustainedSeconds > 0) {
        results.push(
          await flood(service, settings, `${round}: 40 addresses for ${settings.sustainedSeconds} s`, {
            seconds: settings.sustainedSeconds,
            round: round + 100,
          }),
        );
      }
    }
    const verify = await fetch(`${service.baseUrl}/api/ledger/verify`, { headers: auth() });
    const chain = (await verify.json()) as { valid: boolean; entries_checked: number };
    console.log(`  ledger valid=${chain.valid}, ${chain.entries_checked} entries`);
    for (const line of service.problems().slice(0, 10)) console.log(`  server: ${line}`);
  } finally {
    await service.stop();
  }
  return render(name, results);
}

/** Decisions asked at `rate` per second until the stop condition; returns every decision's timing. */
async function decideFor(
  service: ServiceProcess,
  until: { seconds: number } | { signal: { done: boolean } },
  rate: number,
): Promise<{ decisions: Timed[]; startMs: number; endMs: number }> {
  const decisions: Timed[] = [];
  const pending: Promise<void>[] = [];
  const startMs = performance.now();
  const more = () => ('seconds' in until ? performance.now() - startMs < until.seconds * 1000 : !until.signal.done);
  for (let i = 0; more(); i++) {
    const body = JSON.stringify(DECISION_REQUESTS[i % DECISION_REQUESTS.length]);
    const start = performance.now();
    pending.push(
      fetch(`${service.baseUrl}/api/decide`, {
        method: 'POST',
        headers: { ...auth(), 'content-type': 'application/json' },
        body,
      }).then(
        async (res) => {
          await res.arrayBuffer();
          decisions.push({ startMs: start, endMs: performance.now(), status: res.status });
        },
        () => void decisions.push({ startMs: start, endMs: performance.now(), status: 0 }),
      ),
    );
    // The next question is due at its own time, however long this one takes to answer.
    await sleep(Math.max(0, startMs + ((i + 1) * 1000) / rate - performance.now()));
  }
  await Promise.all(pending);
  return { decisions, startMs, endMs: performance.now() };
}

/** Decisions are asked throughout; 40 sign-in clients run a fixed count each, or for a fixed time. */
async function flood(
  service: ServiceProcess,
  settings: Settings,
  label: string,
  shape: ({ perAddress: number } | { seconds: number }) & { round: number },
): Promise<PhaseResult> {
  const signal = { done: false };
  const deciding = decideFor(service, { signal }, settings.decideRate);
  // Let the decisions reach their stride before the flood starts.
  await sleep(1000);
  const floodStart = performance.now();
  const signIns: Timed[] = [];
  const over = (i: number) =>
    'perAddress' in shape ? i >= shape.perAddress : performance.now() - floodStart > shape.seconds * 1000;
  await Promise.all(
    Array.from({ length: ADDRESSES }, async (_, a) => {
      // Addresses of their own each round, so every round starts inside the per-address limits.
      const address = `10.${shape.round}.${a}.1`;
      for (let i = 0; !over(i); i++) {
        const start = performance.now();
        const { status, retryAfterSeconds } = await signIn(service, address, `nobody-${shape.round}-${a}-${i}`);
        signIns.push({ startMs: start, endMs: performance.now(), status });
        if ('seconds' in shape && status === 429) await sleep(retryAfterSeconds * 1000);
      }
    }),
  );
  const floodEnd = performance.now();
  signal.done = true;
  const { decisions } = await deciding;
  const result = summarize(label, decisions, floodStart, floodEnd);
  const counts = new Map<number, number>();
  for (const s of signIns) counts.set(s.status, (counts.get(s.status) ?? 0) + 1);
  result.signIns = {
    total: signIns.length,
    seconds: (floodEnd - floodStart) / 1000,
    statuses: [...counts].map(([status, n]) => `${status}×${n}`).join(' '),
    slowestMs: Math.max(...signIns.map((s) => s.endMs - s.startMs)),
  };
  // Let what is still queued drain and the instance budget refill, so the next window starts quiet.
  await sleep(6000);
  return result;
}

async function signIn(
  service: ServiceProcess,
  address: string,
  username: string,
): Promise<{ status: number; retryAfterSeconds: number }> {
  try {
    const res = await fetch(`${service.baseUrl}/api/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
      body: JSON.stringify({ username, password: 'a guessed passphrase 42' }),
      signal: AbortSignal.timeout(CLIENT_TIMEOUT_MS),
    });
    await res.arrayBuffer();
    return { status: res.status, retryAfterSeconds: Number(res.headers.get('retry-after') ?? 1) };
  } catch {
    return { status: 0, retryAfterSeconds: 1 };
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function summarize(label: string, decisions: Timed[], fromMs: number, toMs: number): PhaseResult {
  // Asked inside the window, however long the answer took.
  const inWindow = decisions.filter((d) => d.startMs >= fromMs && d.startMs <= toMs);
  const latencies = inWindow.map((d) => d.endMs - d.startMs).sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? Number.NaN;
  const result = {
    label,
    decisions: inWindow.length,
    p50: at(0.5),
    p95: at(0.95),
    p99: at(0.99),
    failedDecisions: inWindow.filter((d) => d.status !== 200).length,
  };
  console.log(
    `  ${label}: ${result.decisions} decisions, p50 ${result.p50.toFixed(1)} ms, p95 ${result.p95.toFixed(1)} ms, non-200 ${result.failedDecisions}`,
  );
  return result;
}

function render(name: string, results: PhaseResult[]): string {
  let quiet = Number.NaN;
  const rows = results.map((r) => {
    const s = r.signIns;
    if (!s) quiet = r.p50;
    const signIns = s
      ? `${s.total} in ${s.seconds.toFixed(1)} s (${s.statuses}), slowest ${(s.slowestMs / 1000).toFixed(1)} s`
      : '—';
    const ratio = s ? `${(r.p50 / quiet).toFixed(2)}×` : '';
    return `| ${r.label} | ${r.decisions} | ${r.p50.toFixed(1)} | ${ratio} | ${r.p95.toFixed(1)} | ${r.p99.toFixed(1)} | ${r.failedDecisions} | ${signIns} |`;
  });
  const floods = results.filter((r) => r.signIns?.total === ADDRESSES * SIGN_INS_PER_ADDRESS);
  const quiets = results.filter((r) => !r.signIns);
  const median = (values: number[]) => values.sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? Number.NaN;
  const quietP50 = median(quiets.map((r) => r.p50));
  const floodP50 = median(floods.map((r) => r.p50));
  return [
    `**${name}**: median p50 quiet ${quietP50.toFixed(1)} ms, under the 400-sign-in flood ${floodP50.toFixed(1)} ms (${(floodP50 / quietP50).toFixed(2)}×)`,
    '',
    '| Round: phase | Decisions | p50 ms | p50 ÷ quiet before it | p95 ms | p99 ms | Non-200 | Sign-ins |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
    ...rows,
  ].join('\n');
}

function auth(): Record<string, string> {
  return { authorization: `Bearer ${ADMIN_KEY}` };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
