import { afterEach, describe, expect, it, vi } from 'vitest';
import { type CheckResult, createHealthChecker, type HealthCheck, type HealthStatus } from './checker';

const fixed = (name: string, status: HealthStatus, details: Record<string, unknown> = {}): HealthCheck => ({
  name,
  run: () => ({ status, details }),
});

/** A check that counts its runs and answers after a tick, like a database round trip. */
function counting(name: string, options: Partial<HealthCheck> = {}) {
  const check = {
    name,
    runs: 0,
    async run(): Promise<CheckResult> {
      check.runs++;
      await new Promise((resolve) => setTimeout(resolve, 5));
      return { status: 'healthy', details: { run: check.runs } };
    },
    ...options,
  };
  return check;
}

const never = (): Promise<CheckResult> => new Promise(() => {});

afterEach(() => {
  vi.useRealTimers();
});

describe('health report status', () => {
  it('is healthy when every check is healthy, and when there is nothing to check', async () => {
    const checker = createHealthChecker([fixed('a', 'healthy'), fixed('b', 'healthy')], { timeoutMs: 100, cacheMs: 0 });
    expect((await checker.report()).status).toBe('healthy');
    expect((await checker.report([])).status).toBe('healthy');
  });

  it('takes the worst check: one degraded makes it degraded, one unhealthy makes it unhealthy', async () => {
    const checks = [fixed('ok', 'healthy'), fixed('slow', 'degraded'), fixed('down', 'unhealthy')];
    const checker = createHealthChecker(checks, { timeoutMs: 100, cacheMs: 0 });
    expect((await checker.report(['ok', 'slow'])).status).toBe('degraded');
    expect((await checker.report(['down', 'ok'])).status).toBe('unhealthy');
    expect((await checker.report(['slow', 'down', 'ok'])).status).toBe('unhealthy');
  });

  it('lists each check run with its name, status, details and latency, and a timestamp in seconds', async () => {
    const checker = createHealthChecker([fixed('database', 'healthy', { latency_ms: 2 }), fixed('cache', 'degraded')], {
      timeoutMs: 100,
      cacheMs: 0,
      now: () => 1_706_400_000_500,
    });
    const report = await checker.report();
    expect(report.timestamp).toBe(1_706_400_000.5);
    expect(report.checks).toEqual([
      { name: 'database', status: 'healthy', details: { latency_ms: 2 }, latency_ms: expect.any(Number) },
      { name: 'cache', status: 'degraded', details: {}, latency_ms: expect.any(Number) },
    ]);
    expect(checker.names).toEqual(['database', 'cache']);
  });

  it('leaves excluded checks out of the report and out of the status, and ignores unknown names', async () => {
    const down = counting('down', {
      run: async () => {
        down.runs++;
        return { status: 'unhealthy', details: {} };
      },
    });
    const checker = createHealthChecker([fixed('ok', 'healthy'), down], { timeoutMs: 100, cacheMs: 0 });
    const report = await checker.report(undefined, new Set(['down', 'no_such_check']));
    expect(report.status).toBe('healthy');
    expect(report.checks.map((c) => c.name)).toEqual(['ok']);
    expect(down.runs).toBe(0);
    expect((await checker.report(['ok', 'no_such_check'])).checks.map((c) => c.name)).toEqual(['ok']);
  });
});

describe('a check that hangs', () => {
  it('answers unhealthy once its own timeout passes, while the check never settles', async () => {
    vi.useFakeTimers();
    const checker = createHealthChecker([{ name: 'database', run: never }, fixed('cache', 'healthy')], {
      timeoutMs: 1_000,
      cacheMs: 0,
    });
    let answered: Awaited<ReturnType<typeof checker.report>> | undefined;
    void checker.report().then((report) => {
      answered = report;
    });
    await vi.advanceTimersByTimeAsync(999);
    expect(answered).toBeUndefined();
    await vi.advanceTimersByTimeAsync(1);
    expect(answered?.status).toBe('unhealthy');
    expect(answered?.checks.find((c) => c.name === 'database')).toMatchObject({
      status: 'unhealthy',
      details: { error: 'no answer within 1000 ms' },
    });
    expect(answered?.checks.find((c) => c.name === 'cache')?.status).toBe('healthy');
  });

  it("uses the check's own timeout over the checker's default", async () => {
    vi.useFakeTimers();
    const checker = createHealthChecker([{ name: 'ledger', run: never, timeoutMs: 200 }], {
      timeoutMs: 5_000,
      cacheMs: 0,
    });
    let answered: Awaited<ReturnType<typeof checker.report>> | undefined;
    void checker.report().then((report) => {
      answered = report;
    });
    await vi.advanceTimersByTimeAsync(200);
    expect(answered?.checks[0]).toMatchObject({ status: 'unhealthy', details: { error: 'no answer within 200 ms' } });
  });

  it('answers within its budget on the real clock too', async () => {
    const checker = createHealthChecker([{ name: 'database', run: never }], { timeoutMs: 100, cacheMs: 0 });
    const report = await checker.report();
    expect(report.status).toBe('unhealthy');
    expect(report.checks[0]?.latency_ms).toBeGreaterThanOrEqual(99);
  });
});

describe('a check that fails', () => {
  const secret = 'connect ECONNREFUSED 10.20.30.40:5432 for postgres://admin:hunter2@db.internal/lexecon';

  it('is unhealthy with the driver code of the failure, never its message', async () => {
    const refused = Object.assign(new Error(secret), { code: 'ECONNREFUSED' });
    const checker = createHealthChecker([{ name: 'database', run: () => Promise.reject(refused) }], {
      timeoutMs: 100,
      cacheMs: 0,
    });
    const report = await checker.report();
    expect(report.status).toBe('unhealthy');
    expect(report.checks[0]?.details).toEqual({ error: 'ECONNREFUSED' });
    const text = JSON.stringify(report);
    for (const leak of ['hunter2', '10.20.30.40', 'db.internal', 'admin:']) expect(text).not.toContain(leak);
  });

  it("finds the code in the error's cause, where query builders put the driver's error", async () => {
    const driver = Object.assign(new Error(secret), { code: '57P01' });
    const wrapped = new Error(`Failed query: select 1 -- ${secret}`, { cause: driver });
    const checker = createHealthChecker([{ name: 'database', run: () => Promise.reject(wrapped) }], {
      timeoutMs: 100,
      cacheMs: 0,
    });
    const report = await checker.report();
    expect(report.checks[0]?.details).toEqual({ error: '57P01' });
    expect(JSON.stringify(report)).not.toContain('hunter2');
  });

  it('names only the error class when there is no code, also for synchronous throws and non-errors', async () => {
    const checker = createHealthChecker(
      [
        {
          name: 'sync',
          run: () => {
            throw new TypeError(secret);
          },
        },
        { name: 'rejects_string', run: () => Promise.reject(secret) },
        // A "code" that is really a sentence is not echoed either.
        { name: 'odd_code', run: () => Promise.reject(Object.assign(new RangeError(secret), { code: secret })) },
      ],
      { timeoutMs: 100, cacheMs: 0 },
    );
    const report = await checker.report();
    expect(report.status).toBe('unhealthy');
    expect(report.checks.map((c) => [c.name, c.status, c.details.error])).toEqual([
      ['sync', 'unhealthy', 'TypeError'],
      ['rejects_string', 'unhealthy', 'error'],
      ['odd_code', 'unhealthy', 'RangeError'],
    ]);
    expect(JSON.stringify(report)).not.toContain('hunter2');
  });
});

describe('result cache', () => {
  it('runs each check once per cache period however many probes arrive at once', async () => {
    let clock = 1_000_000;
    const database = counting('database');
    const ledger = counting('ledger');
    const checker = createHealthChecker([database, ledger], { timeoutMs: 1_000, cacheMs: 1_000, now: () => clock });

    const storm = await Promise.all(Array.from({ length: 100 }, () => checker.report()));
    expect(storm.every((r) => r.status === 'healthy')).toBe(true);
    expect([database.runs, ledger.runs]).toEqual([1, 1]);

    clock += 999;
    await Promise.all(Array.from({ length: 100 }, () => checker.report()));
    expect([database.runs, ledger.runs]).toEqual([1, 1]);

    clock += 1;
    await Promise.all(Array.from({ length: 100 }, () => checker.report()));
    expect([database.runs, ledger.runs]).toEqual([2, 2]);
  });

  it('reports the age of a cached result', async () => {
    let clock = 1_000_000;
    const database = counting('database');
    const checker = createHealthChecker([database], { timeoutMs: 1_000, cacheMs: 1_000, now: () => clock });
    const fresh = await checker.report();
    expect(fresh.checks[0]?.cached_ms).toBeUndefined();
    clock += 400;
    const cached = await checker.report();
    expect(cached.checks[0]).toMatchObject({ name: 'database', details: { run: 1 }, cached_ms: 400 });
  });

  it('always runs checks marked cache: false, and caches nothing with a cache period of 0', async () => {
    const clock = 1_000_000;
    const shutdown = counting('shutdown', { cache: false });
    const database = counting('database');
    const cached = createHealthChecker([shutdown, database], { timeoutMs: 1_000, cacheMs: 60_000, now: () => clock });
    for (let i = 0; i < 5; i++) await cached.report();
    expect([shutdown.runs, database.runs]).toEqual([5, 1]);

    const uncachedDatabase = counting('database');
    const uncached = createHealthChecker([uncachedDatabase], { timeoutMs: 1_000, cacheMs: 0, now: () => clock });
    for (let i = 0; i < 5; i++) await uncached.report();
    expect(uncachedDatabase.runs).toBe(5);
  });

  it('caches a timed-out answer too, so a hanging dependency is not asked again by every probe', async () => {
    vi.useFakeTimers();
    let runs = 0;
    const checker = createHealthChecker(
      [
        {
          name: 'database',
          run: () => {
            runs++;
            return never();
          },
        },
      ],
      { timeoutMs: 100, cacheMs: 1_000 },
    );
    const first = checker.report();
    await vi.advanceTimersByTimeAsync(100);
    expect((await first).status).toBe('unhealthy');
    const again = await Promise.all(Array.from({ length: 20 }, () => checker.report()));
    expect(again.every((r) => r.status === 'unhealthy')).toBe(true);
    expect(runs).toBe(1);
  });
});
