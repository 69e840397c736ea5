/**
 * The one parser of environment variables. Pure: it takes an env record and returns a typed Config
 * or every problem found, each naming the variable and what it allows. Entries decide how to fail.
 */

import { DEFAULT_HASHING_CAPACITY, type HashingCapacitySettings } from './auth/hashing-capacity';
import { passwordProblem, USERNAME } from './auth/password';
import { FLAG_NAMES, type FlagName, type FlagSetting, flagVariable } from './flags/definitions';
import { parseCidr } from './rate-limit/ip-address';
import { DEFAULT_RATE_LIMITS, type RateLimitSettings } from './rate-limit/settings';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

/**
 * LEXECON_MAX_DECISION_BYTES when unset: room for a full 64 KiB `context` and generous fields, far
 * below what 1,000 data classes of 512 characters make (~575 KB), which every read of the ledger
 * would then carry.
 */
export const DEFAULT_MAX_DECISION_BYTES = 128 * 1024;

/** LEXECON_MAX_BODY_BYTES when unset: the largest JSON body, a policy load's included. */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface Config {
  http: {
    port: number;
    host: string;
    maxBodyBytes: number;
    /** LEXECON_MAX_DECISION_BYTES: the largest decision request (every one is stored in the ledger). */
    maxDecisionBytes: number;
    /** CORS_ALLOWED_ORIGINS: exact origins browsers may call from; empty: no CORS headers at all. */
    corsAllowedOrigins: string[];
    /** LEXECON_TRUSTED_PROXIES: peers whose X-Forwarded-For names the client; none by default. */
    trustedProxies: string[];
  };
  rateLimit: RateLimitSettings;
  /** Feature flag defaults (`FEATURE_FLAG_<NAME>`); the database's settings override them. */
  flags: { defaults: Record<FlagName, FlagSetting>; refreshMs: number };
  database: { url: string | undefined; poolMax: number; statementTimeoutMs: number };
  dataDir: string;
  signing: {
    privateKey: string | undefined;
    trustedPublicKeys: string[];
    /** LEXECON_LOG_ORIGIN: the checkpoints' origin line and note key name; unset: `lexecon/<key id>`. */
    logOrigin: string | undefined;
  };
  bootstrapAdminKey: string | undefined;
  auth: {
    /** Creates the first admin user when no user exists (both or neither). */
    bootstrapAdmin: { username: string; password: string } | undefined;
    requireMfaForAdmin: boolean;
    sessionIdleMs: number;
    sessionMaxAgeMs: number;
    /** Password hashes running at once and waiting on this instance; beyond them sign-ins get 429. */
    passwordHashing: HashingCapacitySettings;
  };
  policy: { file: string | undefined; refreshMs: number };
  logLevel: LogLevel;
  lifecycle: {
    /** After SIGTERM: keep serving (readiness already 503) while load balancers stop sending. */
    shutdownDelayMs: number;
    /** Everything (delay, drain, flush, close) fits in this; keep it under terminationGracePeriodSeconds. */
    shutdownGraceMs: number;
  };
  health: {
    timeoutMs: number;
    cacheMs: number;
    maxEventLoopLagMs: number;
  };
  verification: { incrementalEveryMs: number; fullEveryMs: number };
  telemetry: {
    /** OTEL_SDK_DISABLED: no SDK at all; instruments are the API's no-ops. */
    disabled: boolean;
    /** OTEL_SERVICE_NAME, else the spec's SERVICE_NAME. */
    serviceName: string;
    resourceAttributes: Record<string, string>;
    tracing: {
      enabled: boolean;
      /** Parent-based trace-id-ratio sampling: the share of new traces recorded. */
      sampleRate: number;
      /**
       * LEXECON_TRACE_SAMPLE_RATES: the share of new traces recorded per `METHOD /route/template`,
       * over sampleRate (parent-based like it).
       */
      routeSampleRates: Record<string, number>;
      tracesEndpoint: string;
      exclude: string[];
      /** The spec's JAEGER_ENDPOINT (agent UDP, retired): accepted and explained, never used. */
      jaegerEndpoint: string | undefined;
    };
    metricsExporter: 'prometheus' | 'otlp' | 'both';
    metricsEndpoint: string;
    metricExportIntervalMs: number;
    /**
     * FEATURE_FLAG_METRICS_DETAILED fully on: per-endpoint summary, response sizes, per-table query
     * timing. The Node entry decides with the flag store instead (database setting, rollout by instance).
     */
    detailedMetrics: boolean;
    metricsToken: string | undefined;
    /** Path prefixes left out of the HTTP metrics. */
    metricsExclude: string[];
  };
}

export interface ConfigError {
  variable: string;
  message: string;
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; errors: ConfigError[] };

type Env = Record<string, string | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];
const HTTP_METHODS: readonly string[] = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'];

export function parseConfig(env: Env): ConfigResult {
  const errors: ConfigError[] = [];
  const read = createReader(env, errors);
  // The standard OTLP/HTTP base URL; per-signal variables override it (OpenTelemetry SDK spec).
  const otlpBase = (read.url('OTEL_EXPORTER_OTLP_ENDPOINT') ?? 'http://localhost:4318').replace(/\/+$/, '');

  const config: Config = {
    http: {
      port: read.integer('PORT', { min: 1, max: 65535, fallback: 8000 }),
      host: read.string('HOST', { fallback: '0.0.0.0' }),
      maxBodyBytes: read.integer('LEXECON_MAX_BODY_BYTES', {
        min: 1024,
        max: 64 * 1024 * 1024,
        fallback: DEFAULT_MAX_BODY_BYTES,
      }),
      maxDecisionBytes: read.integer('LEXECON_MAX_DECISION_BYTES', {
        min: 4 * 1024,
        max: 16 * 1024 * 1024,
        fallback: DEFAULT_MAX_DECISION_BYTES,
      }),
      corsAllowedOrigins: read.origins('CORS_ALLOWED_ORIGINS'),
      trustedProxies: read.cidrs('LEXECON_TRUSTED_PROXIES'),
    },
    rateLimit: {
      store: read.oneOf('RATE_LIMIT_STORE', ['memory', 'postgres'] as const, DEFAULT_RATE_LIMITS.store),
      loginPerMinute: read.integer('RATE_LIMIT_LOGIN_PER_MINUTE', {
        min: 1,
        max: 10_000,
        fallback: DEFAULT_RATE_LIMITS.loginPerMinute,
      }),
      loginInstancePerSecond: read.integer('RATE_LIMIT_LOGIN_INSTANCE_PER_SECOND', {
        min: 1,
        max: 10_000,
        fallback: DEFAULT_RATE_LIMITS.loginInstancePerSecond,
      }),
      loginInstanceBurst: read.integer('RATE_LIMIT_LOGIN_INSTANCE_BURST', {
        min: 1,
        max: 100_000,
        fallback: DEFAULT_RATE_LIMITS.loginInstanceBurst,
      }),
      mfaPerMinute: read.integer('RATE_LIMIT_MFA_PER_MINUTE', {
        min: 1,
        max: 10_000,
        fallback: DEFAULT_RATE_LIMITS.mfaPerMinute,
      }),
      apiPerSecond: read.integer('RATE_LIMIT_API_PER_SECOND', {
        min: 1,
        max: 1_000_000,
        fallback: DEFAULT_RATE_LIMITS.apiPerSecond,
      }),
      apiBurst: read.integer('RATE_LIMIT_API_BURST', {
        min: 1,
        max: 1_000_000,
        fallback: DEFAULT_RATE_LIMITS.apiBurst,
      }),
    },
    flags: {
      defaults: Object.fromEntries(FLAG_NAMES.map((name) => [name, read.flag(flagVariable(name))])) as Record<
        FlagName,
        FlagSetting
      >,
      refreshMs: read.integer('LEXECON_FEATURE_FLAG_REFRESH_MS', { min: 1_000, max: 3_600_000, fallback: 10_000 }),
    },
    database: {
      url: read.databaseUrl('DATABASE_URL'),
      poolMax: read.integer('DB_POOL_MAX', { min: 1, max: 200, fallback: 10 }),
      statementTimeoutMs: read.integer('LEXECON_DB_STATEMENT_TIMEOUT_MS', { min: 100, max: 600_000, fallback: 5_000 }),
    },
    dataDir: read.string('LEXECON_DATA_DIR', { fallback: './data' }),
    signing: {
      privateKey: read.optional('LEXECON_SIGNING_KEY'),
      trustedPublicKeys: read.list('LEXECON_TRUSTED_PUBLIC_KEYS'),
      logOrigin: read.noteKeyName('LEXECON_LOG_ORIGIN'),
    },
    bootstrapAdminKey: read.secret('LEXECON_BOOTSTRAP_ADMIN_KEY', { minLength: 32 }),
    auth: {
      bootstrapAdmin: bootstrapAdmin(read, errors),
      requireMfaForAdmin: read.boolean('LEXECON_REQUIRE_MFA_FOR_ADMIN', false),
      sessionIdleMs: 1000 * read.integer('SESSION_IDLE_TIMEOUT_SECONDS', { min: 60, max: 86_400, fallback: 1_800 }),
      sessionMaxAgeMs: 1000 * read.integer('SESSION_MAX_AGE_SECONDS', { min: 300, max: 30 * 86_400, fallback: 43_200 }),
      passwordHashing: {
        inFlight: read.integer('LEXECON_PASSWORD_HASHES_IN_FLIGHT', {
          min: 1,
          max: 64,
          fallback: DEFAULT_HASHING_CAPACITY.inFlight,
        }),
        queued: read.integer('LEXECON_PASSWORD_HASH_QUEUE', {
          min: 0,
          max: 10_000,
          fallback: DEFAULT_HASHING_CAPACITY.queued,
        }),
      },
    },
    policy: {
      file: read.optional('LEXECON_POLICY_FILE'),
      refreshMs: read.integer('LEXECON_POLICY_REFRESH_MS', { min: 100, max: 3_600_000, fallback: 1000 }),
    },
    logLevel: read.oneOf('LEXECON_LOG_LEVEL', LOG_LEVELS, 'info'),
    lifecycle: {
      shutdownDelayMs: read.integer('LEXECON_SHUTDOWN_DELAY_MS', { min: 0, max: 60_000, fallback: 5_000 }),
      shutdownGraceMs: read.integer('LEXECON_SHUTDOWN_GRACE_MS', { min: 1_000, max: 600_000, fallback: 25_000 }),
    },
    health: {
      timeoutMs: read.integer('LEXECON_HEALTH_TIMEOUT_MS', { min: 50, max: 30_000, fallback: 1_000 }),
      cacheMs: read.integer('LEXECON_HEALTH_CACHE_MS', { min: 0, max: 60_000, fallback: 1_000 }),
      maxEventLoopLagMs: read.integer('LEXECON_LIVENESS_MAX_LAG_MS', { min: 100, max: 600_000, fallback: 2_000 }),
    },
    verification: {
      incrementalEveryMs: read.integer('LEXECON_LEDGER_VERIFY_INTERVAL_MS', {
        min: 1_000,
        max: 86_400_000,
        fallback: 60_000,
      }),
      fullEveryMs: read.integer('LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS', {
        min: 10_000,
        max: 30 * 86_400_000,
        fallback: 3_600_000,
      }),
    },
    telemetry: {
      disabled: read.boolean('OTEL_SDK_DISABLED', false),
      serviceName: read.optional('OTEL_SERVICE_NAME') ?? read.string('SERVICE_NAME', { fallback: 'lexecon' }),
      resourceAttributes: read.keyValues('OTEL_RESOURCE_ATTRIBUTES'),
      tracing: {
        enabled: read.boolean('TRACING_ENABLED', false),
        sampleRate: read.ratio('OTEL_SAMPLE_RATE', 0.1),
        routeSampleRates: read.routeRatios('LEXECON_TRACE_SAMPLE_RATES'),
        tracesEndpoint: read.url('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT') ?? `${otlpBase}/v1/traces`,
        exclude: read.paths('LEXECON_TRACING_EXCLUDE_PATHS', ['/metrics', '/health']),
        jaegerEndpoint: read.optional('JAEGER_ENDPOINT'),
      },
      metricsExporter: read.oneOf('METRICS_EXPORTER', ['prometheus', 'otlp', 'both'] as const, 'prometheus'),
      metricsEndpoint: read.url('OTEL_EXPORTER_OTLP_METRICS_ENDPOINT') ?? `${otlpBase}/v1/metrics`,
      metricExportIntervalMs: read.integer('OTEL_METRIC_EXPORT_INTERVAL', {
        min: 1000,
        max: 3_600_000,
        fallback: 15_000,
      }),
      detailedMetrics: fullyOn(read.flag('FEATURE_FLAG_METRICS_DETAILED', { silent: true })),
      metricsToken: read.secret('METRICS_TOKEN', { minLength: 16 }),
      metricsExclude: read.paths('LEXECON_METRICS_EXCLUDE_PATHS', ['/metrics', '/health']),
    },
  };

  return errors.length === 0 ? { ok: true, config } : { ok: false, errors };
}

function fullyOn(setting: FlagSetting): boolean {
  return setting.enabled && setting.rolloutPercent === 100;
}

/** Formats config errors for a human reading a crash log. */
export function describeConfigErrors(errors: ConfigError[]): string {
  return ['Invalid configuration:', ...errors.map((e) => `  ${e.variable}: ${e.message}`)].join('\n');
}

function createReader(env: Env, errors: ConfigError[]) {
  const raw = (name: string): string | undefined => {
    const value = env[name];
    return value === undefined || value.trim() === '' ? undefined : value.trim();
  };
  const fail = <T>(variable: string, message: string, fallback: T): T => {
    errors.push({ variable, message });
    return fallback;
  };

  return {
    optional: raw,
    string(name: string, opts: { fallback: string }): string {
      return raw(name) ?? opts.fallback;
    },
    integer(name: string, opts: { min: number; max: number; fallback: number }): number {
      const value = raw(name);
      if (value === undefined) return opts.fallback;
      const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
      if (!Number.isSafeInteger(parsed) || parsed < opts.min || parsed > opts.max) {
        return fail(name, `must be an integer from ${opts.min} to ${opts.max}, got "${value}"`, opts.fallback);
      }
      return parsed;
    },
    oneOf<T extends string>(name: string, allowed: readonly T[], fallback: T): T {
      const value = raw(name);
      if (value === undefined) return fallback;
      if ((allowed as readonly string[]).includes(value)) return value as T;
      return fail(name, `must be one of ${allowed.join(', ')}, got "${value}"`, fallback);
    },
    boolean(name: string, fallback: boolean): boolean {
      const value = raw(name)?.toLowerCase();
      if (value === undefined) return fallback;
      if (['true', '1', 'yes', 'on'].includes(value)) return true;
      if (['false', '0', 'no', 'off'].includes(value)) return false;
      return fail(name, `must be true or false, got "${value}"`, fallback);
    },
    /** `true`/`false` (all or nothing) or a rollout percentage such as `25%` (on for 25% of keys). */
    flag(name: string, opts: { silent?: boolean } = {}): FlagSetting {
      const value = raw(name)?.toLowerCase();
      const off = { enabled: false, rolloutPercent: 100 };
      if (value === undefined) return off;
      if (['true', '1', 'yes', 'on'].includes(value)) return { enabled: true, rolloutPercent: 100 };
      if (['false', '0', 'no', 'off'].includes(value)) return off;
      const percent = /^\d{1,3}%$/.test(value) ? Number(value.slice(0, -1)) : Number.NaN;
      if (percent >= 0 && percent <= 100) return { enabled: true, rolloutPercent: percent };
      if (opts.silent) return off;
      return fail(name, `must be true, false or a rollout percentage from 0% to 100%, got "${value}"`, off);
    },
    /** Exact origins (`https://app.example.com`, port if not the default): never a pattern or `*`. */
    origins(name: string): string[] {
      const value = raw(name);
      if (value === undefined) return [];
      const origins = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      for (const origin of origins) {
        let parsed: string | undefined;
        try {
          parsed = new URL(origin).origin;
        } catch {}
        if (parsed !== origin || !/^https?:\/\/[^*]+$/.test(origin)) {
          return fail(
            name,
            `must be comma-separated exact origins such as https://app.example.com (scheme, host, optional port; no path, no wildcard), got "${origin}"`,
            [],
          );
        }
      }
      return origins;
    },
    paths(name: string, fallback: string[]): string[] {
      const value = raw(name);
      if (value === undefined) return fallback;
      const paths = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = paths.find((p) => !/^\/[\w\-./]*$/.test(p));
      if (bad !== undefined)
        return fail(name, `must be a comma-separated list of paths starting with /, got "${bad}"`, fallback);
      return paths.map((p) => (p.length > 1 ? p.replace(/\/+$/, '') : p));
    },
    ratio(name: string, fallback: number): number {
      const value = raw(name);
      if (value === undefined) return fallback;
      const parsed = /^(?:0|1|0?\.\d+|1\.0+)$/.test(value) ? Number(value) : Number.NaN;
      if (!(parsed >= 0 && parsed <= 1)) return fail(name, `must be a number from 0 to 1, got "${value}"`, fallback);
      return parsed;
    },
    /**
     * `METHOD /route/template=ratio` entries separated by commas (`POST /api/decide=1`); templates
     * as the HTTP metrics' `endpoint` label spells them, parameters as `:name`.
     */
    routeRatios(name: string): Record<string, number> {
      const value = raw(name);
      const rates: Record<string, number> = {};
      if (value === undefined) return rates;
      for (const entry of value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)) {
        const match = /^([A-Z]+) +(\/[\w\-./:]*) *= *(.*)$/.exec(entry);
        const ratio = match && /^(?:0|1|0?\.\d+|1\.0+)$/.test(match[3] as string) ? Number(match[3]) : Number.NaN;
        if (!match || !HTTP_METHODS.includes(match[1] as string) || !(ratio >= 0 && ratio <= 1)) {
          return fail(
            name,
            `must be comma-separated METHOD /route/template=ratio entries (such as POST /api/decide=1), with a method of ${HTTP_METHODS.join(', ')} and a ratio from 0 to 1; got "${entry}"`,
            {},
          );
        }
        const key = `${match[1]} ${match[2]}`;
        if (key in rates) return fail(name, `names ${key} twice`, {});
        rates[key] = ratio;
      }
      return rates;
    },
    url(name: string): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      try {
        const url = new URL(value);
        if (url.protocol === 'http:' || url.protocol === 'https:') return value;
      } catch {}
      return fail(name, `must be an http:// or https:// URL, got "${value}"`, undefined);
    },
    /** `key=value,key=value` with percent-encoded values (the OTEL_RESOURCE_ATTRIBUTES format). */
    keyValues(name: string): Record<string, string> {
      const value = raw(name);
      const result: Record<string, string> = {};
      if (value === undefined) return result;
      for (const pair of value.split(',')) {
        const at = pair.indexOf('=');
        const key = pair.slice(0, at).trim();
        if (at <= 0 || !key) return fail(name, `must be key=value pairs separated by commas, got "${pair}"`, {});
        try {
          result[key] = decodeURIComponent(pair.slice(at + 1).trim());
        } catch {
          return fail(name, `has a value that is not valid percent-encoding: "${pair}"`, {});
        }
      }
      return result;
    },
    /** Comma-separated IP addresses and CIDR ranges (`10.0.0.0/8`, `2001:db8::/32`). */
    cidrs(name: string): string[] {
      const value = raw(name);
      if (value === undefined) return [];
      const entries = value
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = entries.find((entry) => !parseCidr(entry));
      if (bad !== undefined) {
        return fail(name, `must be comma-separated IP addresses or CIDR ranges such as 10.0.0.0/8, got "${bad}"`, []);
      }
      return entries;
    },
    /** A C2SP signed-note key name: non-empty UTF-8 without spaces, control characters or `+`. */
    noteKeyName(name: string): string | undefined {
      const value = raw(name);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: a key name may not contain control characters.
      if (value === undefined || (value.isWellFormed() && !/[\p{White_Space}+\x00-\x1f]/u.test(value))) return value;
      return fail(
        name,
        `must be a signed-note key name (no spaces, control characters or "+"), got "${value}"`,
        undefined,
      );
    },
    list(name: string): string[] {
      const value = raw(name);
      return value === undefined
        ? []
        : value
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean);
    },
    secret(name: string, opts: { minLength: number }): string | undefined {
      // Not trimmed beyond emptiness: a secret is taken byte for byte, and never echoed in errors.
      const value = env[name];
      if (value === undefined || value === '') return undefined;
      if (value.length < opts.minLength) {
        return fail(name, `must be at least ${opts.minLength} characters (got ${value.length})`, undefined);
      }
      return value;
    },
    databaseUrl(name: string): string | undefined {
      const value = raw(name);
      if (value === undefined) return undefined;
      let url: URL | undefined;
      try {
        url = new URL(value);
      } catch {
        url = undefined;
      }
      if (!url || (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:')) {
        return fail(name, 'must be a postgres:// or postgresql:// URL', undefined);
      }
      return value;
    },
  };
}

export const CONFIG_VARIABLES = [
  'PORT',
  'HOST',
  'LEXECON_MAX_BODY_BYTES',
  'LEXECON_MAX_DECISION_BYTES',
  'DATABASE_URL',
  'DB_POOL_MAX',
  'LEXECON_DB_STATEMENT_TIMEOUT_MS',
  'LEXECON_DATA_DIR',
  'LEXECON_SIGNING_KEY',
  'LEXECON_TRUSTED_PUBLIC_KEYS',
  'LEXECON_LOG_ORIGIN',
  'LEXECON_BOOTSTRAP_ADMIN_KEY',
  'LEXECON_BOOTSTRAP_ADMIN_USER',
  'LEXECON_BOOTSTRAP_ADMIN_PASSWORD',
  'LEXECON_REQUIRE_MFA_FOR_ADMIN',
  'SESSION_IDLE_TIMEOUT_SECONDS',
  'SESSION_MAX_AGE_SECONDS',
  'LEXECON_PASSWORD_HASHES_IN_FLIGHT',
  'LEXECON_PASSWORD_HASH_QUEUE',
  'LEXECON_POLICY_FILE',
  'LEXECON_POLICY_REFRESH_MS',
  'LEXECON_LOG_LEVEL',
  'OTEL_SDK_DISABLED',
  'FEATURE_FLAG_METRICS_DETAILED',
  'LEXECON_FEATURE_FLAG_REFRESH_MS',
  'CORS_ALLOWED_ORIGINS',
  'METRICS_TOKEN',
  'LEXECON_METRICS_EXCLUDE_PATHS',
  'TRACING_ENABLED',
  'OTEL_SAMPLE_RATE',
  'LEXECON_TRACE_SAMPLE_RATES',
  'SERVICE_NAME',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_METRICS_ENDPOINT',
  'LEXECON_TRACING_EXCLUDE_PATHS',
  'JAEGER_ENDPOINT',
  'METRICS_EXPORTER',
  'OTEL_METRIC_EXPORT_INTERVAL',
  'LEXECON_SHUTDOWN_DELAY_MS',
  'LEXECON_SHUTDOWN_GRACE_MS',
  'LEXECON_HEALTH_TIMEOUT_MS',
  'LEXECON_HEALTH_CACHE_MS',
  'LEXECON_LIVENESS_MAX_LAG_MS',
  'LEXECON_LEDGER_VERIFY_INTERVAL_MS',
  'LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS',
  'LEXECON_TRUSTED_PROXIES',
  'RATE_LIMIT_STORE',
  'RATE_LIMIT_LOGIN_PER_MINUTE',
  'RATE_LIMIT_LOGIN_INSTANCE_PER_SECOND',
  'RATE_LIMIT_LOGIN_INSTANCE_BURST',
  'RATE_LIMIT_MFA_PER_MINUTE',
  'RATE_LIMIT_API_PER_SECOND',
  'RATE_LIMIT_API_BURST',
] as const;

/** LEXECON_BOOTSTRAP_ADMIN_USER and _PASSWORD go together; the password must pass the password policy. */
function bootstrapAdmin(read: ReturnType<typeof createReader>, errors: ConfigError[]) {
  const username = read.optional('LEXECON_BOOTSTRAP_ADMIN_USER')?.toLowerCase();
  const password = read.optional('LEXECON_BOOTSTRAP_ADMIN_PASSWORD');
  if (username === undefined && password === undefined) return undefined;
  if (username === undefined || password === undefined) {
    const missing = username === undefined ? 'LEXECON_BOOTSTRAP_ADMIN_USER' : 'LEXECON_BOOTSTRAP_ADMIN_PASSWORD';
    errors.push({
      variable: missing,
      message: 'must be set together with the other LEXECON_BOOTSTRAP_ADMIN_* variable',
    });
    return undefined;
  }
  if (!USERNAME.test(username)) {
    errors.push({
      variable: 'LEXECON_BOOTSTRAP_ADMIN_USER',
      message: 'must be 3–64 characters: letters, digits and . _ @ -',
    });
    return undefined;
  }
  // The message names the rule, never the value: it is a secret.
  const problem = passwordProblem(password, username);
  if (problem) {
    errors.push({ variable: 'LEXECON_BOOTSTRAP_ADMIN_PASSWORD', message: problem });
    return undefined;
  }
  return { username, password };
}
