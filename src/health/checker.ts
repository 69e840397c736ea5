/**
 * Runs named health checks, each with its own timeout (a hanging dependency answers "unhealthy,
 * timed out" inside the probe's budget instead of hanging the probe) and a short result cache (a
 * probe storm costs one round trip per check per cache period, not one per probe).
 */
export type HealthStatus = 'healthy' | 'degraded' | 'unhealthy';

export interface CheckResult {
  status: HealthStatus;
  details: Record<string, unknown>;
}

export interface HealthCheck {
  name: string;
  run(): Promise<CheckResult> | CheckResult;
  /** Overrides the checker's default timeout. */
  timeoutMs?: number;
  /** Results are cached unless this is false (e.g. checks that only read memory). */
  cache?: boolean;
}

export interface CheckReport extends CheckResult {
  name: string;
  latency_ms: number;
  /** The age of a cached result, when it was cached. */
  cached_ms?: number;
}

export interface HealthReport {
  status: HealthStatus;
  timestamp: number;
  checks: CheckReport[];
}

export interface HealthCheckerOptions {
  timeoutMs: number;
  cacheMs: number;
  now?: () => number;
}

export interface HealthChecker {
  readonly names: readonly string[];
  /** Runs `names` (all when omitted) minus `exclude`; unknown names are ignored by the caller's choice. */
  report(names?: readonly string[], exclude?: ReadonlySet<string>): Promise<HealthReport>;
}

const RANK: Record<HealthStatus, number> = { healthy: 0, degraded: 1, unhealthy: 2 };

export function createHealthChecker(checks: readonly HealthCheck[], options: HealthCheckerOptions): HealthChecker {
  const now = options.now ?? Date.now;
  const byName = new Map(checks.map((check) => [check.name, check]));
  const cached = new Map<string, { at: number; report: CheckReport }>();
  const inFlight = new Map<string, Promise<CheckReport>>();

  async function execute(check: HealthCheck): Promise<CheckReport> {
    const started = performance.now();
    const timeoutMs = check.timeoutMs ?? options.timeoutMs;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timedOut = new Promise<CheckResult>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'unhealthy', details: { error: `no answer within ${timeoutMs} ms` } }),
        timeoutMs,
      );
    });
    let result: CheckResult;
    try {
      result = await Promise.race([Promise.resolve().then(() => check.run()), timedOut]);
    } catch (err) {
      result = { status: 'unhealthy', details: { error: describe(err) } };
    } finally {
      clearTimeout(timer);
    }
    return { name: check.name, ...result, latency_ms: round(performance.now() - started) };
  }

  function reportOf(check: HealthCheck): Promise<CheckReport> {
    const hit = cached.get(check.name);
    if (hit && check.cache !== false && now() - hit.at < options.cacheMs) {
      return Promise.resolve({ ...hit.report, cached_ms: now() - hit.at });
    }
    let pending = inFlight.get(check.name);
    if (!pending) {
      pending = execute(check).then((report) => {
        cached.set(check.name, { at: now(), report });
        inFlight.delete(check.name);
        return report;
      });
      inFlight.set(check.name, pending);
    }
    return pending;
  }

  return {
    names: checks.map((c) => c.name),
    async report(names, exclude) {
      const selected = (names ?? [...byName.keys()])
        .filter((name) => !exclude?.has(name))
        .map((name) => byName.get(name))
        .filter((check): check is HealthCheck => check !== undefined);
      const reports = await Promise.all(selected.map(reportOf));
      const status = reports.reduce<HealthStatus>(
        (worst, r) => (RANK[r.status] > RANK[worst] ? r.status : worst),
        'healthy',
      );
      return { status, timestamp: now() / 1000, checks: reports };
    },
  };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/**
 * A failure's kind (a driver code such as ECONNREFUSED, or the error's class), never its message:
 * health output is public and messages carry hosts, ports and statements.
 */
function describe(err: unknown): string {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string' && /^[A-Z0-9_]{2,40}$/.test(code)) return code;
    current = (current as { cause?: unknown }).cause;
  }
  return err instanceof Error ? err.name : 'error';
}
