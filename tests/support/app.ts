import type { Tracer } from '@opentelemetry/api';
import { createPasswordHasher, nobleScrypt } from '../../src/auth/password';
import type { Database } from '../../src/db/client';
import type { DbObserver } from '../../src/db/instrument';
import { createApp } from '../../src/http/app';
import type { AppSettings } from '../../src/http/context';
import { generateSigningKey, type SigningKey } from '../../src/ledger/crypto';
import type { RateLimitSettings } from '../../src/rate-limit/settings';
import { createServices, type ServiceDeps, type Services } from '../../src/services';
import { type Logger, silentLogger } from '../../src/telemetry/logger';
import { createMetricsTelemetry } from '../../src/telemetry/metrics';
import { createPrometheusMetrics } from '../../src/telemetry/prometheus';
import { type MetricsRenderer, noopTelemetry, noopTracing, type Telemetry } from '../../src/telemetry/telemetry';
import { createTracing, type Sampling } from '../../src/telemetry/tracing';

export interface TestApp {
  app: ReturnType<typeof createApp>;
  services: Services;
  signingKey: SigningKey;
  keys: { admin: string; auditor: string; agent: string };
  request(method: string, path: string, options?: RequestOptions): Promise<TestResponse>;
}

export interface RequestOptions {
  /** API key to send; defaults to the admin key, `null` sends none. */
  key?: string | null;
  body?: unknown;
  /** Sent as-is instead of JSON-encoding `body`. */
  rawBody?: string;
  headers?: Record<string, string>;
}

export interface TestResponse {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
  headers: Headers;
}

export interface TestAppOptions {
  signingKey?: SigningKey;
  logger?: Logger;
  policyRefreshMs?: number;
  maxBodyBytes?: number;
  /** Real OpenTelemetry metrics (see createTestMetrics); no-op telemetry by default. */
  metrics?: TestMetrics;
  settings?: Partial<AppSettings>;
  /** Extra wiring for one test (session lifetimes, a login throttle, MFA for admins, ...). */
  services?: Partial<ServiceDeps>;
}

/**
 * Limits no ordinary suite reaches (every request there comes from one `unknown` address and a few
 * keys); rate-limit tests pass their own through `services.rateLimits`.
 */
export const TEST_RATE_LIMITS: RateLimitSettings = {
  store: 'memory',
  loginPerMinute: 10_000,
  loginInstancePerSecond: 10_000,
  loginInstanceBurst: 10_000,
  mfaPerMinute: 10_000,
  apiPerSecond: 1_000_000,
  apiBurst: 1_000_000,
};

/** scrypt at N = 2^10: the production algorithm and format at a cost tests can afford. */
export const TEST_PASSWORDS = createPasswordHasher(nobleScrypt, { ln: 10, r: 8, p: 1 });

export interface TestMetrics extends MetricsRenderer {
  telemetry: Telemetry;
  /** For a test's own database: times every statement like the Node entry does. */
  observer: DbObserver;
}

/** The SDK wiring the Node entry uses, for tests that read /metrics (and, given a tracer, trace). */
export function createTestMetrics(
  options: { detailed?: boolean; tracer?: Tracer; sampling?: Sampling } = {},
): TestMetrics {
  const detailed = options.detailed ?? false;
  const prometheus = createPrometheusMetrics({
    serviceName: 'lexecon',
    serviceVersion: 'test',
    instanceId: 'test-1',
    detailed,
  });
  const metrics = createMetricsTelemetry(prometheus.provider.getMeter('lexecon', 'test'), { detailed });
  const telemetry: Telemetry = {
    ...metrics,
    ...(options.tracer ? createTracing(options.tracer, options.sampling ?? { sampleRate: 1 }) : noopTracing),
  };
  telemetry.flagEvaluated('metrics_detailed', detailed);
  return {
    telemetry,
    render: () => prometheus.render(),
    observer: { query: telemetry.dbQuery, failed: telemetry.dbFailed, transaction: telemetry.dbTransaction },
  };
}

/** The real app over a real database, with one API key per role. */
export async function createTestApp(database: Database, options: TestAppOptions = {}): Promise<TestApp> {
  const signingKey = options.signingKey ?? (await generateSigningKey());
  const services = createServices({
    db: database.db,
    signingKey,
    telemetry: options.metrics?.telemetry ?? noopTelemetry,
    logger: options.logger ?? silentLogger,
    policyRefreshMs: options.policyRefreshMs ?? 1000,
    passwords: TEST_PASSWORDS,
    rateLimits: TEST_RATE_LIMITS,
    ...options.services,
  });
  await services.ledger.ensureGenesis();
  // What src/node.ts wires beside the app: the connection gauges read this database.
  options.metrics?.telemetry.observeConnections(() => database.connectionState());
  const app = createApp({
    services,
    metrics: options.metrics ?? { render: async () => '' },
    settings: {
      serviceName: 'lexecon',
      version: 'test',
      maxBodyBytes: options.maxBodyBytes ?? 1024 * 1024,
      ...options.settings,
    },
  });
  const key = async (role: 'admin' | 'auditor' | 'agent') =>
    (await services.apiKeys.create({ name: `test ${role}`, role, createdBy: 'test' })).secret;
  const keys = { admin: await key('admin'), auditor: await key('auditor'), agent: await key('agent') };

  async function request(method: string, path: string, opts: RequestOptions = {}): Promise<TestResponse> {
    const headers: Record<string, string> = { ...opts.headers };
    const key = opts.key === undefined ? keys.admin : opts.key;
    if (key) headers.authorization = `Bearer ${key}`;
    let body: string | undefined = opts.rawBody;
    if (body === undefined && opts.body !== undefined) {
      body = JSON.stringify(opts.body);
      headers['content-type'] ??= 'application/json';
    }
    const res = await app.request(path, { method, headers, body });
    const text = await res.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {}
    return { status: res.status, body: parsed, headers: res.headers };
  }

  return { app, services, signingKey, keys, request };
}

/** A small policy used across suites: a permit, a forbid under a framework, a requirement. */
export const samplePolicy = {
  name: 'Sample',
  version: '1.0',
  mode: 'strict',
  compliance_frameworks: ['GDPR'],
  terms: [
    { id: 'actor:user', type: 'actor', name: 'user' },
    { id: 'actor:model', type: 'actor', name: 'model' },
    { id: 'action:read', type: 'action', name: 'read' },
    { id: 'action:write', type: 'action', name: 'write' },
    { id: 'action:search', type: 'action', name: 'search' },
    { id: 'data:pii', type: 'data_class', name: 'pii', sensitivity: 'high' },
    { id: 'data:public', type: 'data_class', name: 'public', sensitivity: 'low' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:user', action: 'action:read', justification: 'Users may read' },
    { type: 'permits', subject: 'actor:model', action: 'action:search', object: 'data:public' },
    {
      type: 'forbids',
      subject: 'actor:model',
      action: 'action:write',
      object: 'data:pii',
      justification: 'No model writes to PII',
    },
  ],
};

export function decisionRequest(overrides: Record<string, unknown> = {}) {
  return { actor: 'user', proposed_action: 'read', tool: 'file_reader', user_intent: 'read a file', ...overrides };
}
