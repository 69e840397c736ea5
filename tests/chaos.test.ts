import { writeFileSync } from 'node:fs';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import {
  cleanUpProcesses,
  freshRequest,
  type LexeconProcess,
  metricValue,
  policyFile,
  seededDataDir,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { APPEND_LOCK_KEY, openPostgresFixture } from './support/postgres-fixture';
import {
  auditChain,
  createWitness,
  drain,
  measureRecovery,
  p50,
  peakRssMiB,
  readiness,
  reportCase,
  type Witness,
} from './support/witness';

/**
 * The chaos suite: the real process under every fault issue 11 found, each case asserting the same
 * three promises —
 * - nothing answered is lost: every 2xx decision is in the verified chain, at the index and hash it
 *   was answered with;
 * - nothing wrong is answered: no `allowed: true` without its entry, every refusal a precise status
 *   (503 DATABASE_UNAVAILABLE while the database is away) that carries no decision;
 * - recovery without restart: the same instance decides again once the fault ends, readiness told
 *   the truth meanwhile, and no decision after recovery gets a 5xx.
 * Each case prints one `chaos: {...}` line with its figures (and appends it to LEXECON_CHAOS_REPORT).
 */
afterAll(cleanUpProcesses);

/** The statement deadline the PostgreSQL cases run with: short, so a stall past it is quick to stage. */
const STATEMENT_TIMEOUT_MS = 1_000;

const postgresTemplate = inject('postgresTemplate');

/**
 * Each case's budget: generous, because a case spawns processes, stages a fault and waits on
 * conditions (never on a guessed delay); it holds at a load of twice the cores.
 */
const CASE_BUDGET = { timeout: 300_000 };

// biome-ignore lint/suspicious/noExplicitAny: health bodies are read field by field
const check = (body: any, name: string) => body?.checks?.find((c: { name: string }) => c.name === name);

async function scrape(service: LexeconProcess): Promise<string> {
  return (await fetch(`${service.url}/metrics`)).text();
}

/** The promises every case ends with. */
async function expectNothingLost(service: LexeconProcess, witness: Witness) {
  const audit = await auditChain(service, witness);
  expect(witness.anomalies, 'answers that broke a promise').toEqual([]);
  expect(audit.verification, 'the chain verifies').toMatchObject({ valid: true });
  expect(audit.missing, 'answered decisions missing from the chain').toEqual([]);
  return audit;
}

/** A database of its own behind a TCP proxy, and the service's environment on it. */
async function postgresFixture(name: string) {
  const fixture = await openPostgresFixture(`chaos_${name}`);
  return {
    ...fixture,
    env: (extra: Record<string, string> = {}) => ({
      DATABASE_URL: fixture.url,
      DB_POOL_MAX: '4',
      LEXECON_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      LEXECON_DATA_DIR: tempDir(),
      LEXECON_POLICY_FILE: policyFile(),
      LEXECON_HEALTH_TIMEOUT_MS: '500',
      LEXECON_HEALTH_CACHE_MS: '0',
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      ...extra,
    }),
  };
}

type Fixture = Awaited<ReturnType<typeof postgresFixture>>;

/**
 * Runs `fault` while decisions keep arriving, waits until the service has refused some of them and
 * readiness says 503, ends the fault, and measures recovery on the same instance.
 */
async function underFault(
  label: string,
  service: LexeconProcess,
  witness: Witness,
  fault: { start(): Promise<void>; end(): Promise<void> },
) {
  const load = witness.load(service, 4);
  const answeredBefore = witness.answered.size;
  await waitFor('decisions answered before the fault', async () =>
    witness.answered.size >= answeredBefore + 20 ? true : undefined,
  );
  const from = witness.outcomes.length;
  await fault.start();
  let refusedReadiness: unknown;
  try {
    await waitFor('decisions refused with 503 during the fault', async () =>
      witness.since(from).filter((o) => o.status === 503).length >= 3 ? true : undefined,
    );
    refusedReadiness = await waitFor('readiness 503 during the fault', async () => {
      const res = await readiness(service);
      return res.status === 503 ? res.body : undefined;
    });
  } finally {
    await fault.end();
  }
  const during = witness.since(from);
  const recovery = await measureRecovery(service, witness);
  await load.stop();
  const audit = await expectNothingLost(service, witness);

  const refusals = during.filter((o) => o.status !== 200);
  expect(
    refusals.filter((o) => o.status !== 503 || o.code !== 'DATABASE_UNAVAILABLE'),
    'refusals other than 503 DATABASE_UNAVAILABLE',
  ).toEqual([]);
  expect(recovery.serverErrorsAfter, '5xx after recovery').toBe(0);
  reportCase({
    fault: label,
    backend: 'postgres',
    answered: witness.answered.size,
    in_chain: audit.answeredFound,
    refused_during_fault: refusals.length,
    server_errors_after_recovery: recovery.serverErrorsAfter,
    recover_decide_ms: recovery.decideMs,
    recover_ready_ms: recovery.readyMs,
  });
  return { refusedReadiness, recovery };
}

describe.runIf(postgresTemplate)(
  'chaos on PostgreSQL: the database stalls, refuses and goes silent',
  CASE_BUDGET,
  () => {
    let fixture: Fixture;
    let service: LexeconProcess;
    const witness = createWitness();

    beforeAll(async () => {
      fixture = await postgresFixture('db');
      service = await spawnLexecon(fixture.env());
      await service.listening;
    }, CASE_BUDGET.timeout);
    afterAll(async () => {
      service?.child.kill('SIGKILL');
      await fixture?.close();
    });

    it("survives a stall past the statement deadline on the writers' lock: 503s meanwhile, readiness 503 with the reason, then writes again without a restart", async () => {
      let holder: postgres.ReservedSql | undefined;
      const { refusedReadiness } = await underFault(
        'stall past the statement deadline (writers lock)',
        service,
        witness,
        {
          async start() {
            holder = await fixture.superuser.reserve();
            await holder`select pg_advisory_lock(${APPEND_LOCK_KEY})`;
          },
          async end() {
            if (!holder) return;
            await holder`select pg_advisory_unlock(${APPEND_LOCK_KEY})`;
            holder.release();
          },
        },
      );
      expect(check(refusedReadiness, 'ledger')?.status).toBe('unhealthy');
      // Everything that writes works again on the same instance: a policy load, a key, the auditor's state.
      const key = await freshRequest(service.port, 'POST', '/api/keys', {
        body: { name: 'after-stall', role: 'agent' },
      });
      expect(key.status).toBe(201);
      const [state] = await fixture.superuser`select jsonb_typeof(state) as type from background_tasks limit 1`;
      if (state) expect(state.type).toBe('object');
    });

    it('survives a stall past the statement deadline on the ledger table itself', async () => {
      let release: () => void = () => {};
      let transaction: Promise<unknown> | undefined;
      await underFault('stall past the statement deadline (table lock)', service, witness, {
        async start() {
          const locked = new Promise<void>((resolve) => {
            transaction = fixture.superuser.begin(async (sql) => {
              await sql`lock table ledger_entries in access exclusive mode`;
              resolve();
              await new Promise<void>((done) => {
                release = done;
              });
            });
          });
          await locked;
        },
        async end() {
          release();
          await transaction;
        },
      });
    });

    it('survives the database refusing connections', async () => {
      await underFault('connection refused', service, witness, {
        start: () => fixture.proxy.cut(),
        end: () => fixture.proxy.resume(),
      });
    });

    it('survives a database that accepts connections but never answers', async () => {
      await underFault('connection accepted but silent', service, witness, {
        start: async () => fixture.proxy.stall(),
        end: () => fixture.proxy.resume(),
      });
    });

    it('stops with exit code 0 after the faults', async () => {
      service.child.kill('SIGTERM');
      expect((await service.exited).code).toBe(0);
    });
  },
);

/**
 * kill -9 while decisions are in flight, then a new process on the same database: every decision
 * answered before the kill is in the chain, and the chain holds at most the in-flight ones besides.
 */
async function killMidLoad(backend: 'postgres' | 'pglite', env: Record<string, string>) {
  const witness = createWitness();
  const concurrency = 8;
  const first = await spawnLexecon(env);
  await first.listening;
  const load = witness.load(first, concurrency);
  await waitFor('decisions answered before the kill', async () => (witness.answered.size >= 60 ? true : undefined));
  first.child.kill('SIGKILL');
  await first.exited;
  await load.stop();
  const answeredBeforeKill = witness.answered.size;

  const restarted = Date.now();
  const second = await spawnLexecon(env);
  await second.listening;
  const startupMs = Date.now() - restarted;
  const recovery = await measureRecovery(second, witness);
  const audit = await expectNothingLost(second, witness);
  // Decisions that committed but whose answer died with the process: at most the ones in flight.
  const unanswered = audit.decisionsInChain - witness.answered.size;
  expect(unanswered).toBeGreaterThanOrEqual(0);
  expect(unanswered).toBeLessThanOrEqual(concurrency);
  expect(recovery.serverErrorsAfter).toBe(0);
  reportCase({
    fault: 'kill -9 mid-load, restart',
    backend,
    answered_before_kill: answeredBeforeKill,
    answered: witness.answered.size,
    in_chain: audit.answeredFound,
    committed_unanswered: unanswered,
    server_errors_after_recovery: recovery.serverErrorsAfter,
    restart_listening_ms: startupMs,
    restart_to_first_decision_ms: startupMs + recovery.decideMs,
  });
  second.child.kill('SIGTERM');
  expect((await second.exited).code).toBe(0);
}

/** server.requestTimeout in src/node.ts: no request may take longer to be answered than this. */
const SERVER_REQUEST_TIMEOUT_MS = 30_000;

/** One sign-in for a username that does not exist, from `address` (X-Forwarded-For, the proxy trusted). */
async function signIn(service: LexeconProcess, address: string, username: string) {
  const res = await fetch(`${service.url}/api/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ username, password: 'a guessed passphrase 42' }),
    signal: AbortSignal.timeout(SERVER_REQUEST_TIMEOUT_MS),
  });
  const text = await res.text();
  return { status: res.status, retryAfter: res.headers.get('retry-after'), code: text.includes('RATE_LIMITED') };
}

/**
 * 400 sign-ins for usernames that do not exist, from 40 addresses (ten each, inside the per-address
 * limit), sent at once while decisions keep coming. Password hashing is bounded per instance, so
 * the flood is answered — a few checked (401), the rest refused at once (429 with Retry-After) —
 * instead of queuing hundreds of scrypt runs ahead of the signature every decision needs. Every
 * decision is answered and recorded; the median decision latency quiet and under the flood is
 * reported (speed is measured here, asserted nowhere; bench/sign-in-flood.ts is the benchmark).
 */
async function signInFlood(backend: 'postgres' | 'pglite', env: Record<string, string>) {
  const witness = createWitness();
  const service = await spawnLexecon({ ...env, LEXECON_TRUSTED_PROXIES: '127.0.0.1' });
  await service.listening;
  // Warm up, then the quiet median.
  for (let i = 0; i < 20; i++) await witness.decide(service);
  const quietFrom = witness.outcomes.length;
  const quiet = witness.load(service, 2);
  await waitFor('150 quiet decisions', async () => (witness.outcomes.length - quietFrom >= 150 ? true : undefined));
  await quiet.stop();
  const quietP50 = p50(witness.since(quietFrom));

  const floodFrom = witness.outcomes.length;
  const during = witness.load(service, 2);
  const signIns = await Promise.all(
    Array.from({ length: 400 }, (_, i) => signIn(service, `198.51.100.${i % 40}`, `ghost-${i}`)),
  ).finally(() => during.stop());
  const flood = witness.since(floodFrom);
  const floodP50 = p50(flood);

  // Every sign-in was answered: checked (401), or refused before any hash (429) and told when to retry.
  expect([...new Set(signIns.map((s) => s.status))].sort()).toEqual([401, 429]);
  const refused = signIns.filter((s) => s.status === 429);
  for (const res of refused) {
    expect(res.code).toBe(true);
    expect(Number(res.retryAfter)).toBeGreaterThanOrEqual(1);
  }
  const exposition = await scrape(service);
  const counted =
    metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login_instance' }) +
    metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'password_hashing' });
  expect(counted).toBe(refused.length);
  expect(metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login' })).toBe(0);
  // Every decision during the flood was answered 200, and each is in the chain.
  expect(
    flood.filter((o) => o.status !== 200),
    'decisions refused during the flood',
  ).toEqual([]);
  expect(flood.length).toBeGreaterThan(2);
  const audit = await expectNothingLost(service, witness);
  // The process still signs people in once the budget refills.
  let attempt = 0;
  await waitFor('a sign-in checked again once the budget refills', async () =>
    (await signIn(service, `203.0.113.${attempt++ % 250}`, 'nobody-after')).status === 401 ? true : undefined,
  );
  reportCase({
    fault: 'sign-in flood (400 unknown users, 40 addresses)',
    backend,
    answered: witness.answered.size,
    in_chain: audit.answeredFound,
    decisions_during_flood: flood.length,
    sign_ins_checked: signIns.length - refused.length,
    sign_ins_refused: refused.length,
    decide_p50_quiet_ms: Math.round(quietP50 * 10) / 10,
    decide_p50_flood_ms: Math.round(floodP50 * 10) / 10,
    ratio: Math.round((floodP50 / quietP50) * 100) / 100,
  });
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
}

/** ~575 KB: 1000 data classes of 512 characters and a 64 KiB context, the most the schema allows. */
function largeDecision(i: number) {
  const dataClasses = Array.from({ length: 1000 }, (_, j) => `c${i}-${j}-`.padEnd(512, 'x'));
  const context = Object.fromEntries(Array.from({ length: 8 }, (_, j) => [`k${j}`, `v${i}-`.padEnd(7_900, 'y')]));
  return { data_classes: dataClasses, context };
}

/**
 * Six large reads at once over ~120 entries of ~575 KB, by a fresh process (so what the writes left
 * in memory does not count), while decisions keep coming: pages and verification stay bounded by
 * bytes. On PostgreSQL the process stays under 512 MB; embedded PGlite's own WebAssembly heap is
 * ~450 MB of the process before any read, so there the reads' share is bounded instead.
 */
const LARGE_ENTRIES = 120;
const RSS_LIMIT_MIB = 512;
const PGLITE_READS_LIMIT_MIB = 128;

async function largeReads(backend: 'postgres' | 'pglite', env: Record<string, string>) {
  const witness = createWitness();
  const large = {
    ...env,
    // The decision size cap, raised to let these through; the body limit above it.
    LEXECON_MAX_DECISION_BYTES: String(1024 * 1024),
    LEXECON_MAX_BODY_BYTES: String(2 * 1024 * 1024),
  };
  const writer = await spawnLexecon(large);
  await writer.listening;
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < LARGE_ENTRIES) expect((await witness.decide(writer, largeDecision(next++))).status).toBe(200);
    }),
  );
  writer.child.kill('SIGTERM');
  expect((await writer.exited).code).toBe(0);

  const reader = await spawnLexecon(large);
  await reader.listening;
  const pid = reader.child.pid as number;
  const sixReads = () =>
    Promise.all([
      drain(reader.port, '/api/ledger/entries?limit=500'),
      drain(reader.port, '/api/ledger/entries?limit=500&order=desc'),
      drain(reader.port, '/api/ledger/entries?limit=500&event_type=decision'),
      drain(reader.port, '/api/audit/decisions?limit=500'),
      drain(reader.port, '/api/ledger/verify'),
      drain(reader.port, '/api/ledger/verify'),
    ]);
  // Once before measuring: the first reads make PGlite's query code hot, and Node 24 then compiles
  // that WebAssembly again with its optimising compiler, a one-time cost bounded by the code, not the data.
  if (backend === 'pglite') await sixReads();
  // VmHWM starts over from the resident set of now (clear_refs, proc(5)).
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  const before = peakRssMiB(pid);
  const load = witness.load(reader, 1);
  const readsFrom = witness.outcomes.length;
  const reads = await sixReads();
  await load.stop();
  const peak = peakRssMiB(pid);
  expect(reads.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
  // A page ends before 1 MiB of entry JSON (plus the envelope around the entries).
  for (const page of reads.slice(0, 4)) expect(page.bytes).toBeLessThan(1.1 * 1024 * 1024);
  const audit = await expectNothingLost(reader, witness);
  reportCase({
    fault: `six concurrent large reads (${LARGE_ENTRIES} entries of ~575 KB)`,
    backend,
    answered: witness.answered.size,
    in_chain: audit.answeredFound,
    rss_before_reads_mib: Math.round(before),
    peak_rss_during_reads_mib: Math.round(peak),
    largest_response_bytes: Math.max(...reads.map((r) => r.bytes)),
    decide_p50_during_reads_ms: Math.round(p50(witness.since(readsFrom)) * 10) / 10,
  });
  const memory = `peak RSS ${Math.round(peak)} MiB, ${Math.round(before)} MiB before the reads`;
  if (backend === 'postgres') expect(peak, memory).toBeLessThan(RSS_LIMIT_MIB);
  else expect(peak - before, memory).toBeLessThan(PGLITE_READS_LIMIT_MIB);
  reader.child.kill('SIGTERM');
  expect((await reader.exited).code).toBe(0);
}

describe.runIf(postgresTemplate)('chaos on PostgreSQL: the process and its callers', CASE_BUDGET, () => {
  const fixtures: Fixture[] = [];
  const fixture = async (name: string) => {
    const created = await postgresFixture(name);
    fixtures.push(created);
    return created;
  };
  afterAll(async () => {
    await Promise.all(fixtures.map((f) => f.close()));
  });

  it('loses no answered decision when the process is killed with -9 mid-load, and a new process carries on', async () => {
    const { env } = await fixture('kill');
    await killMidLoad('postgres', env());
  });

  it('keeps deciding through a sign-in flood', async () => {
    const { env } = await fixture('flood');
    await signInFlood('postgres', env());
  });

  it('keeps six concurrent large reads under 512 MB of resident memory', async () => {
    const { env } = await fixture('large');
    await largeReads('postgres', env());
  });

  it('reports a deleted tail in verify, /health and the integrity metric, refuses to fork the signed tree, and resumes once the rows are back', async () => {
    const { env, superuser } = await fixture('tail');
    const witness = createWitness();
    const service = await spawnLexecon(env({ LEXECON_LEDGER_VERIFY_INTERVAL_MS: '1000' }));
    await service.listening;
    for (let i = 0; i < 10; i++) expect((await witness.decide(service)).status).toBe(200);
    const verified = (await freshRequest(service.port, 'GET', '/api/ledger/verify')).body;
    expect(verified.valid).toBe(true);
    const head = verified.head_index as number;
    const failuresBefore = metricValue(await scrape(service), 'lexecon_ledger_integrity_checks_total', {
      result: 'failure',
    });

    // The newest three entries disappear behind the database's back (triggers bypassed); their
    // leaves stay in the signed tree. A copy is kept to restore them later.
    await superuser.begin(async (sql) => {
      await sql`set local session_replication_role = replica`;
      await sql`create table ledger_tail_copy as select * from ledger_entries where seq > ${head - 3}`;
      await sql`delete from ledger_entries where seq > ${head - 3}`;
    });
    const firstMissing = head - 2;

    const truncated = (await freshRequest(service.port, 'GET', '/api/ledger/verify')).body;
    expect(truncated.valid).toBe(false);
    expect(truncated.first_invalid).toMatchObject({ reason: 'truncated', index: firstMissing });
    const health = await waitFor('/health to report the truncation', async () => {
      const res = await freshRequest(service.port, 'GET', '/health', { key: null });
      return JSON.stringify(res.body).includes('truncated') ? res : undefined;
    });
    expect(health.body.status).not.toBe('healthy');
    await waitFor('the background auditor to count an integrity failure', async () =>
      metricValue(await scrape(service), 'lexecon_ledger_integrity_checks_total', { result: 'failure' }) >
      failuresBefore
        ? true
        : undefined,
    );

    // Chaining onto the survivors would sign a second tree of a size already signed: every decision
    // is refused, with its own code and error metric, and readiness says the instance cannot write.
    for (let i = 0; i < 3; i++) {
      const refused = await witness.decide(service);
      expect(refused).toMatchObject({ status: 503, code: 'LEDGER_TRUNCATED' });
    }
    expect(
      metricValue(await scrape(service), 'lexecon_errors_total', {
        error_type: 'LEDGER_TRUNCATED',
        severity: 'critical',
        component: 'ledger',
      }),
    ).toBeGreaterThanOrEqual(3);
    const notReady = await waitFor('readiness to report the refused appends', async () => {
      const res = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
      return res.status === 503 ? res : undefined;
    });
    expect(JSON.stringify(notReady.body)).toContain('LEDGER_TRUNCATED');
    expect(witness.anomalies).toEqual([]);

    // The rows come back: the service writes again without a restart, and nothing answered is lost.
    await superuser.begin(async (sql) => {
      await sql`set local session_replication_role = replica`;
      await sql`
        insert into ledger_entries (seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id)
        select seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id from ledger_tail_copy`;
      await sql`drop table ledger_tail_copy`;
    });
    await waitFor('decisions to be answered again', async () =>
      (await witness.decide(service)).status === 200 ? true : undefined,
    );
    await waitFor('readiness to recover', async () =>
      (await freshRequest(service.port, 'GET', '/health/ready', { key: null })).status === 200 ? true : undefined,
    );
    const restored = (await freshRequest(service.port, 'GET', '/api/ledger/verify')).body;
    expect(restored).toMatchObject({ valid: true });
    const audit = await auditChain(service, witness);
    expect(audit.missing).toEqual([]);
    reportCase({
      fault: 'tail deletion (3 entries, triggers bypassed), then restored',
      backend: 'postgres',
      answered: witness.answered.size,
      in_chain: audit.answeredFound,
      refused_while_truncated: 3,
      reason: truncated.first_invalid.reason,
      index: truncated.first_invalid.index,
    });
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  });
});

describe('chaos on PGlite: the process, a second process, and its callers', CASE_BUDGET, () => {
  const pgliteEnv = async () => ({
    LEXECON_DATA_DIR: await seededDataDir(),
    LEXECON_POLICY_FILE: policyFile(),
    LEXECON_HEALTH_CACHE_MS: '0',
    LEXECON_SHUTDOWN_DELAY_MS: '0',
  });

  it('loses no answered decision when the process is killed with -9 mid-load, and the next start is not blocked', async () => {
    await killMidLoad('pglite', await pgliteEnv());
  });

  it('refuses a second process on the same data directory, naming it and the holder, while the first keeps serving', async () => {
    const env = await pgliteEnv();
    const witness = createWitness();
    const first = await spawnLexecon(env);
    await first.listening;
    const load = witness.load(first, 2);
    await waitFor('decisions answered', async () => (witness.answered.size >= 10 ? true : undefined));
    const second = await spawnLexecon(env);
    const started = await Promise.race([
      second.exited,
      second.listening.then(
        () => 'listening' as const,
        () => 'exited' as const,
      ),
    ]);
    expect(started, 'the second process must refuse to start, not serve').not.toBe('listening');
    const exit = await second.exited;
    expect(exit.code).toBe(1);
    const message = second.lines.join('\n');
    expect(message).toContain(env.LEXECON_DATA_DIR);
    expect(message).toContain(String(first.child.pid));
    await waitFor('more decisions answered by the first process', async () =>
      witness.answered.size >= 30 ? true : undefined,
    );
    await load.stop();
    const audit = await expectNothingLost(first, witness);
    expect((await readiness(first)).status).toBe(200);
    reportCase({
      fault: 'second process on one data directory',
      backend: 'pglite',
      answered: witness.answered.size,
      in_chain: audit.answeredFound,
      second_exit_code: exit.code,
    });
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);
  });

  it('keeps deciding through a sign-in flood', async () => {
    await signInFlood('pglite', await pgliteEnv());
  });

  it('bounds the memory six concurrent large reads take', async () => {
    await largeReads('pglite', await pgliteEnv());
  });
});
