import type { CacheStatsSource } from '../cache/lru';
import type { ConnectionState } from '../db/client';
import type { LedgerAuditor } from '../ledger/auditor';
import type { Ledger } from '../ledger/store';
import type { FirstInvalid } from '../ledger/verify';
import type { PolicyStore } from '../policies/store';
import type { CheckResult, HealthCheck } from './checker';
import type { Lifecycle } from './lifecycle';

/** Signals only a runtime can give: a Node process measures its event loop and its exporters. */
export interface RuntimeProbes {
  /** The longest event-loop delay seen recently, in ms. */
  eventLoopLagMs?(): number;
  exportStatus?(): Record<string, ExporterStatus>;
  /** How requests are sampled for tracing, shown with the telemetry check. */
  tracing?: TracingSettings;
}

export interface TracingSettings {
  enabled: boolean;
  /** OTEL_SAMPLE_RATE: the share of new traces recorded. */
  sample_rate: number;
  /** LEXECON_TRACE_SAMPLE_RATES: the share per `METHOD /route/template`, over sample_rate. */
  sample_rates: Record<string, number>;
}

export interface ExporterStatus {
  last_success_at: string | null;
  last_failure_at: string | null;
  last_error: string | null;
}

export interface HealthCheckDeps {
  lifecycle: Lifecycle;
  pingDatabase(): Promise<void>;
  databaseState(): Promise<ConnectionState>;
  policies: PolicyStore;
  ledger: Ledger;
  auditor: LedgerAuditor;
  /** Every cache of the instance. */
  caches: readonly CacheStatsSource[];
  probes: RuntimeProbes;
  maxEventLoopLagMs: number;
  /** How long the ledger check waits for a write probe before answering with the failure it knows. */
  writeProbeWaitMs: number;
  now?: () => number;
}

/** Which checks each probe runs: Kubernetes acts differently on each (see README, Health probes). */
export const PROBES = {
  // Only the process itself: a restart would not fix a database that is down.
  live: ['event_loop'],
  // Whether this instance can serve decisions right now.
  ready: ['shutdown', 'startup', 'database', 'policy_engine', 'ledger'],
  startup: ['startup'],
} as const;

const DB_SLOW_MS = 250;

export function createHealthChecks(deps: HealthCheckDeps): HealthCheck[] {
  const now = deps.now ?? Date.now;
  const ok = (details: Record<string, unknown>): CheckResult => ({ status: 'healthy', details });

  return [
    {
      name: 'startup',
      cache: false,
      run: () => {
        const done = Object.values(deps.lifecycle.steps).every(Boolean);
        const details = { phase: deps.lifecycle.phase, ...deps.lifecycle.steps };
        return done && deps.lifecycle.phase !== 'starting' ? ok(details) : { status: 'unhealthy', details };
      },
    },
    {
      name: 'shutdown',
      cache: false,
      run: () =>
        deps.lifecycle.phase === 'draining'
          ? { status: 'unhealthy', details: { phase: 'draining', message: 'shutting down: new work goes elsewhere' } }
          : ok({ phase: deps.lifecycle.phase }),
    },
    {
      name: 'event_loop',
      cache: false,
      run: () => {
        const lag = deps.probes.eventLoopLagMs?.();
        if (lag === undefined) return ok({ measured: false });
        const details = { lag_ms: Math.round(lag * 100) / 100, threshold_ms: deps.maxEventLoopLagMs };
        return lag > deps.maxEventLoopLagMs ? { status: 'unhealthy', details } : ok(details);
      },
    },
    {
      name: 'database',
      async run() {
        const started = performance.now();
        await deps.pingDatabase();
        const latency = Math.round((performance.now() - started) * 100) / 100;
        const pool = await deps.databaseState();
        const details = { latency_ms: latency, pool };
        return latency > DB_SLOW_MS ? { status: 'degraded', details } : ok(details);
      },
    },
    {
      name: 'policy_engine',
      async run() {
        const active = await deps.policies.active();
        const refreshedAt = deps.policies.lastRefreshedAt();
        const details = {
          policies_loaded: active ? 1 : 0,
          active_policy_hash: active?.summary.hash ?? null,
          active_version: active?.summary.version ?? null,
          loaded_at: active?.summary.loaded_at ?? null,
          last_refresh_age_s: refreshedAt === undefined ? null : Math.round((now() - refreshedAt) / 100) / 10,
        };
        // No policy is a valid state (everything is denied) but never the intended one.
        return active
          ? ok(details)
          : { status: 'degraded', details: { ...details, message: 'no policy loaded: every decision is denied' } };
      },
    },
    {
      name: 'ledger',
      async run() {
        // An instance that cannot append cannot decide. While appends fail, every run probes the
        // write path, so readiness returns as soon as a write succeeds, with no traffic needed.
        if (deps.ledger.writeFailure() && !(await within(deps.ledger.probeWrite(), deps.writeProbeWaitMs))) {
          const writes = deps.ledger.writeFailure();
          // What the auditor found stays visible (a truncation is why appends stop), unless the
          // database that holds the shared passes is what fails.
          const integrity = await deps.auditor.status().then(lowestFailure, () => undefined);
          return {
            status: 'unhealthy',
            details: {
              writes,
              message: `ledger appends are failing (${writes?.error}): decisions cannot be recorded`,
              ...(integrity ? { integrity } : {}),
            },
          };
        }
        const head = await deps.ledger.head();
        if (!head) return { status: 'unhealthy', details: { error: 'ledger not initialised' } };
        const status = await deps.auditor.status();
        const integrity = lowestFailure(status);
        const details = {
          head_index: head.index,
          head_hash: head.entry_hash,
          last_verification: status.shared,
          ...(integrity ? { integrity } : {}),
        };
        // An integrity failure is a security incident for people (the alert, this check), not by
        // itself a reason to stop deciding: every replica shares the ledger, so failing readiness
        // would stop them all and record nothing more, while the evidence is already in the
        // database. Only appending over lost entries would sign a fork; the writer refuses that
        // on its own (LEDGER_TRUNCATED), which the branch above reports.
        return integrity ? { status: 'degraded', details } : ok(details);
      },
    },
    {
      name: 'cache',
      cache: false,
      run: () =>
        ok(
          Object.fromEntries(
            deps.caches.map((cache) => {
              const stats = cache.stats();
              const lookups = stats.hits + stats.misses;
              const hitRate = lookups > 0 ? Math.round((stats.hits / lookups) * 1000) / 1000 : null;
              return [cache.name, { hit_rate: hitRate, ...stats }];
            }),
          ),
        ),
    },
    {
      name: 'telemetry',
      cache: false,
      run: () => {
        const exporters = deps.probes.exportStatus?.() ?? {};
        const tracing = deps.probes.tracing;
        // An exporter whose last attempt failed makes telemetry degraded; it never stops decisions.
        const failing = Object.entries(exporters).filter(
          ([, s]) =>
            s.last_failure_at !== null && (s.last_success_at === null || s.last_failure_at > s.last_success_at),
        );
        return failing.length > 0
          ? { status: 'degraded', details: { exporters, tracing, failing: failing.map(([name]) => name) } }
          : ok({ exporters, tracing });
      },
    },
  ];
}

/** Whether `pending` resolves to true within `ms`; it keeps running either way. */
async function within(pending: Promise<boolean>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([pending, late]);
  } finally {
    clearTimeout(timer);
  }
}

function describeIntegrity(found: FirstInvalid, failure: { at: string; found_by: string }) {
  return { ...found, at: failure.at, found_by: failure.found_by, message: integrityMessage(found) };
}

function integrityMessage(found: FirstInvalid): string {
  switch (found.reason) {
    case 'truncated':
      return `the ledger ends before index ${found.index}, but entries up to ${found.watermark?.index} were verified or committed: its tail was removed`;
    case 'rewritten':
      return `entry ${found.index} is not the entry verified or committed at that index before: it was replaced`;
    case 'unknown_key':
      return `entries from index ${found.index} are signed by key ${found.key_id}, which this instance does not trust: add that public key to LEXECON_TRUSTED_PUBLIC_KEYS (or give this instance the signing key)`;
    default:
      return `entry ${found.index} failed verification (${found.reason})`;
  }
}

/** The lowest failing index this instance knows of, its own or the shared passes', described. */
function lowestFailure({ shared, here }: Awaited<ReturnType<LedgerAuditor['status']>>) {
  const failures = [
    ...(here ? [{ ...here, found_by: 'this instance' }] : []),
    ...Object.values(shared).flatMap((record) =>
      record?.first_invalid ? [{ ...record, found_by: 'the shared background verification' }] : [],
    ),
  ].sort((a, b) => (a.first_invalid?.index ?? 0) - (b.first_invalid?.index ?? 0));
  const integrity = failures[0];
  return integrity?.first_invalid ? describeIntegrity(integrity.first_invalid, integrity) : undefined;
}
