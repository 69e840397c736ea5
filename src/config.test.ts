import { describe, expect, it } from 'vitest';
import { describeConfigErrors, parseConfig } from './config';

describe('parseConfig', () => {
  it('runs with no configuration at all: port 8000, PGlite in ./data, 1 MiB bodies', () => {
    const result = parseConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.http).toEqual({
      port: 8000,
      host: '0.0.0.0',
      maxBodyBytes: 1024 * 1024,
      maxDecisionBytes: 128 * 1024,
      corsAllowedOrigins: [],
      trustedProxies: [],
    });
    expect(result.config.rateLimit).toEqual({
      store: 'memory',
      loginPerMinute: 10,
      loginInstancePerSecond: 2,
      loginInstanceBurst: 9,
      mfaPerMinute: 10,
      apiPerSecond: 500,
      apiBurst: 1000,
    });
    expect(result.config.auth.passwordHashing).toEqual({ inFlight: 1, queued: 8 });
    expect(result.config.database).toEqual({ url: undefined, poolMax: 10, statementTimeoutMs: 5000 });
    expect(result.config.dataDir).toBe('./data');
    expect(result.config.bootstrapAdminKey).toBeUndefined();
  });

  it('reads every documented variable', () => {
    const result = parseConfig({
      PORT: '9000',
      HOST: '127.0.0.1',
      LEXECON_MAX_BODY_BYTES: '2048',
      LEXECON_MAX_DECISION_BYTES: '65536',
      DATABASE_URL: 'postgres://u:p@db:5432/lexecon',
      DB_POOL_MAX: '25',
      LEXECON_DATA_DIR: '/var/lib/lexecon',
      LEXECON_SIGNING_KEY: 'c2VlZA==',
      LEXECON_TRUSTED_PUBLIC_KEYS: 'a, b',
      LEXECON_LOG_ORIGIN: 'governance.example.com/lexecon',
      LEXECON_BOOTSTRAP_ADMIN_KEY: 'x'.repeat(32),
      LEXECON_BOOTSTRAP_ADMIN_USER: 'Root',
      LEXECON_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough passphrase',
      LEXECON_REQUIRE_MFA_FOR_ADMIN: 'true',
      SESSION_IDLE_TIMEOUT_SECONDS: '600',
      SESSION_MAX_AGE_SECONDS: '3600',
      LEXECON_PASSWORD_HASHES_IN_FLIGHT: '2',
      LEXECON_PASSWORD_HASH_QUEUE: '0',
      LEXECON_POLICY_FILE: 'policy.json',
      LEXECON_POLICY_REFRESH_MS: '250',
      LEXECON_LOG_LEVEL: 'debug',
      OTEL_SDK_DISABLED: 'true',
      FEATURE_FLAG_METRICS_DETAILED: 'yes',
      LEXECON_FEATURE_FLAG_REFRESH_MS: '30000',
      CORS_ALLOWED_ORIGINS: 'https://console.example.com, http://localhost:5173',
      METRICS_TOKEN: 'scrape-token-0123456789',
      LEXECON_METRICS_EXCLUDE_PATHS: '/metrics, /health/, /internal',
      TRACING_ENABLED: '1',
      OTEL_SAMPLE_RATE: '0.25',
      LEXECON_TRACE_SAMPLE_RATES:
        'POST /api/decide=1, GET /api/audit/decisions = 0.05,GET /api/ledger/proof/inclusion=0',
      SERVICE_NAME: 'ignored-when-otel-name-is-set',
      OTEL_SERVICE_NAME: 'lexecon-eu',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod,team=gov%20ops',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318/',
      OTEL_EXPORTER_OTLP_METRICS_ENDPOINT: 'http://other:4318/v1/metrics',
      LEXECON_TRACING_EXCLUDE_PATHS: '/health',
      JAEGER_ENDPOINT: 'jaeger:6831',
      METRICS_EXPORTER: 'both',
      OTEL_METRIC_EXPORT_INTERVAL: '5000',
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      LEXECON_SHUTDOWN_GRACE_MS: '20000',
      LEXECON_HEALTH_TIMEOUT_MS: '500',
      LEXECON_HEALTH_CACHE_MS: '250',
      LEXECON_LIVENESS_MAX_LAG_MS: '3000',
      LEXECON_LEDGER_VERIFY_INTERVAL_MS: '30000',
      LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS: '600000',
      LEXECON_TRUSTED_PROXIES: '10.0.0.0/8, fd00::/8, 192.0.2.1',
      RATE_LIMIT_STORE: 'postgres',
      RATE_LIMIT_LOGIN_PER_MINUTE: '20',
      RATE_LIMIT_LOGIN_INSTANCE_PER_SECOND: '4',
      RATE_LIMIT_LOGIN_INSTANCE_BURST: '16',
      RATE_LIMIT_MFA_PER_MINUTE: '5',
      RATE_LIMIT_API_PER_SECOND: '200',
      RATE_LIMIT_API_BURST: '400',
    });
    expect(result).toEqual({
      ok: true,
      config: {
        http: {
          port: 9000,
          host: '127.0.0.1',
          maxBodyBytes: 2048,
          maxDecisionBytes: 65_536,
          corsAllowedOrigins: ['https://console.example.com', 'http://localhost:5173'],
          trustedProxies: ['10.0.0.0/8', 'fd00::/8', '192.0.2.1'],
        },
        rateLimit: {
          store: 'postgres',
          loginPerMinute: 20,
          loginInstancePerSecond: 4,
          loginInstanceBurst: 16,
          mfaPerMinute: 5,
          apiPerSecond: 200,
          apiBurst: 400,
        },
        flags: { defaults: { metrics_detailed: { enabled: true, rolloutPercent: 100 } }, refreshMs: 30_000 },
        database: { url: 'postgres://u:p@db:5432/lexecon', poolMax: 25, statementTimeoutMs: 5000 },
        dataDir: '/var/lib/lexecon',
        signing: {
          privateKey: 'c2VlZA==',
          trustedPublicKeys: ['a', 'b'],
          logOrigin: 'governance.example.com/lexecon',
        },
        bootstrapAdminKey: 'x'.repeat(32),
        auth: {
          bootstrapAdmin: { username: 'root', password: 'a long enough passphrase' },
          requireMfaForAdmin: true,
          sessionIdleMs: 600_000,
          sessionMaxAgeMs: 3_600_000,
          passwordHashing: { inFlight: 2, queued: 0 },
        },
        policy: { file: 'policy.json', refreshMs: 250 },
        logLevel: 'debug',
        lifecycle: { shutdownDelayMs: 0, shutdownGraceMs: 20_000 },
        health: { timeoutMs: 500, cacheMs: 250, maxEventLoopLagMs: 3000 },
        verification: { incrementalEveryMs: 30_000, fullEveryMs: 600_000 },
        telemetry: {
          disabled: true,
          serviceName: 'lexecon-eu',
          resourceAttributes: { 'deployment.environment.name': 'prod', team: 'gov ops' },
          tracing: {
            enabled: true,
            sampleRate: 0.25,
            routeSampleRates: {
              'POST /api/decide': 1,
              'GET /api/audit/decisions': 0.05,
              'GET /api/ledger/proof/inclusion': 0,
            },
            tracesEndpoint: 'http://collector:4318/v1/traces',
            exclude: ['/health'],
            jaegerEndpoint: 'jaeger:6831',
          },
          metricsExporter: 'both',
          metricsEndpoint: 'http://other:4318/v1/metrics',
          metricExportIntervalMs: 5000,
          detailedMetrics: true,
          metricsToken: 'scrape-token-0123456789',
          metricsExclude: ['/metrics', '/health', '/internal'],
        },
      },
    });
  });

  it('reports every bad value at once, each naming its variable and what is allowed', () => {
    const result = parseConfig({
      PORT: '80a',
      DB_POOL_MAX: '0',
      DATABASE_URL: 'mysql://localhost/x',
      LEXECON_LOG_LEVEL: 'verbose',
      LEXECON_MAX_BODY_BYTES: '-5',
      OTEL_SDK_DISABLED: 'maybe',
      LEXECON_METRICS_EXCLUDE_PATHS: 'metrics',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.variable).sort()).toEqual([
      'DATABASE_URL',
      'DB_POOL_MAX',
      'LEXECON_LOG_LEVEL',
      'LEXECON_MAX_BODY_BYTES',
      'LEXECON_METRICS_EXCLUDE_PATHS',
      'OTEL_SDK_DISABLED',
      'PORT',
    ]);
    const text = describeConfigErrors(result.errors);
    expect(text).toContain('PORT: must be an integer from 1 to 65535, got "80a"');
    expect(text).toContain('LEXECON_LOG_LEVEL: must be one of debug, info, warn, error, got "verbose"');
    expect(text).toContain('DATABASE_URL: must be a postgres:// or postgresql:// URL');
  });

  it('reads LEXECON_TRACE_SAMPLE_RATES as METHOD /route/template=ratio entries, refusing a bad one by name', () => {
    const rates = (value: string) => parseConfig({ LEXECON_TRACE_SAMPLE_RATES: value });
    const unset = parseConfig({});
    expect(unset.ok && unset.config.telemetry.tracing.routeSampleRates).toEqual({});
    const good = rates('POST /api/decide=1,GET /api/ledger/proof/:kind=0.5,');
    expect(good.ok && good.config.telemetry.tracing.routeSampleRates).toEqual({
      'POST /api/decide': 1,
      'GET /api/ledger/proof/:kind': 0.5,
    });
    for (const [value, entry] of [
      ['POST /api/decide=1,GET /api/audit/decisions=5%', 'GET /api/audit/decisions=5%'],
      ['POST /api/decide=1.5', 'POST /api/decide=1.5'],
      ['post /api/decide=1', 'post /api/decide=1'],
      ['FETCH /api/decide=1', 'FETCH /api/decide=1'],
      ['/api/decide=1', '/api/decide=1'],
      ['POST api/decide=1', 'POST api/decide=1'],
      ['POST /api/decide', 'POST /api/decide'],
      ['POST /api/decide?x=1=1', 'POST /api/decide?x=1=1'],
    ]) {
      const result = rates(value as string);
      expect(result.ok, value).toBe(false);
      if (result.ok) continue;
      expect(result.errors).toEqual([
        {
          variable: 'LEXECON_TRACE_SAMPLE_RATES',
          message: expect.stringContaining(`METHOD /route/template=ratio`),
        },
      ]);
      expect(result.errors[0]?.message).toContain(`got "${entry}"`);
    }
    const twice = rates('POST /api/decide=1,POST /api/decide=0');
    expect(twice.ok ? [] : twice.errors).toEqual([
      { variable: 'LEXECON_TRACE_SAMPLE_RATES', message: 'names POST /api/decide twice' },
    ]);
  });

  it('accepts as LEXECON_LOG_ORIGIN only a signed-note key name: no spaces, control characters or "+"', () => {
    const origin = (value: string) => parseConfig({ LEXECON_LOG_ORIGIN: value });
    expect(origin('example.com/log')).toMatchObject({
      ok: true,
      config: { signing: { logOrigin: 'example.com/log' } },
    });
    for (const bad of ['a b', 'a+b', 'tab\there']) {
      expect(origin(bad), bad).toMatchObject({ ok: false, errors: [{ variable: 'LEXECON_LOG_ORIGIN' }] });
    }
  });

  it('caps decision requests at LEXECON_MAX_DECISION_BYTES, from 4 KiB to 16 MiB', () => {
    const read = (value: string) => {
      const result = parseConfig({ LEXECON_MAX_DECISION_BYTES: value });
      return result.ok ? result.config.http.maxDecisionBytes : result.errors;
    };
    expect(read('4096')).toBe(4096);
    expect(read('16777216')).toBe(16 * 1024 * 1024);
    for (const bad of ['4095', '16777217', '128k']) {
      expect(read(bad), bad).toEqual([
        {
          variable: 'LEXECON_MAX_DECISION_BYTES',
          message: `must be an integer from 4096 to 16777216, got "${bad}"`,
        },
      ]);
    }
  });

  it('rejects a short bootstrap admin key without echoing it', () => {
    const result = parseConfig({ LEXECON_BOOTSTRAP_ADMIN_KEY: 'hunter2-short' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors).toEqual([
      { variable: 'LEXECON_BOOTSTRAP_ADMIN_KEY', message: 'must be at least 32 characters (got 13)' },
    ]);
    expect(describeConfigErrors(result.errors)).not.toContain('hunter2');
  });

  it('treats empty variables as unset', () => {
    const result = parseConfig({ PORT: '', DATABASE_URL: '  ', LEXECON_BOOTSTRAP_ADMIN_KEY: '' });
    expect(result.ok && result.config.http.port).toBe(8000);
    expect(result.ok && result.config.database.url).toBeUndefined();
  });

  it('reads a feature flag as true, false or a rollout percentage', () => {
    const flag = (value: string) => {
      const result = parseConfig({ FEATURE_FLAG_METRICS_DETAILED: value });
      return result.ok
        ? { setting: result.config.flags.defaults.metrics_detailed, detailed: result.config.telemetry.detailedMetrics }
        : result.errors;
    };
    expect(flag('true')).toEqual({ setting: { enabled: true, rolloutPercent: 100 }, detailed: true });
    expect(flag('off')).toEqual({ setting: { enabled: false, rolloutPercent: 100 }, detailed: false });
    expect(flag('25%')).toEqual({ setting: { enabled: true, rolloutPercent: 25 }, detailed: false });
    expect(flag('100%')).toEqual({ setting: { enabled: true, rolloutPercent: 100 }, detailed: true });
    expect(flag('0%')).toEqual({ setting: { enabled: true, rolloutPercent: 0 }, detailed: false });
    for (const bad of ['101%', '-5%', '25', '2.5%', 'sometimes']) {
      expect(flag(bad), bad).toEqual([
        {
          variable: 'FEATURE_FLAG_METRICS_DETAILED',
          message: `must be true, false or a rollout percentage from 0% to 100%, got "${bad}"`,
        },
      ]);
    }
  });

  it('accepts only exact origins in CORS_ALLOWED_ORIGINS', () => {
    const good = parseConfig({ CORS_ALLOWED_ORIGINS: 'https://a.example.com,https://b.example.com:8443' });
    expect(good.ok && good.config.http.corsAllowedOrigins).toEqual([
      'https://a.example.com',
      'https://b.example.com:8443',
    ]);
    for (const bad of [
      '*',
      'https://*.example.com',
      'https://a.example.com/',
      'https://a.example.com/app',
      'a.example.com',
      'ftp://a.example.com',
      'null',
    ]) {
      const result = parseConfig({ CORS_ALLOWED_ORIGINS: `https://ok.example.com,${bad}` });
      expect(result.ok, bad).toBe(false);
      if (result.ok) continue;
      expect(result.errors.map((e) => e.variable)).toEqual(['CORS_ALLOWED_ORIGINS']);
      expect(result.errors[0]?.message).toContain(`got "${bad}"`);
    }
  });

  it('bounds LEXECON_FEATURE_FLAG_REFRESH_MS', () => {
    const result = parseConfig({ LEXECON_FEATURE_FLAG_REFRESH_MS: '10' });
    expect(!result.ok && result.errors).toEqual([
      { variable: 'LEXECON_FEATURE_FLAG_REFRESH_MS', message: 'must be an integer from 1000 to 3600000, got "10"' },
    ]);
  });

  it('accepts only addresses and CIDR ranges in LEXECON_TRUSTED_PROXIES, and bounds the rate limits and the hashing capacity', () => {
    const result = parseConfig({
      LEXECON_TRUSTED_PROXIES: '10.0.0.0/8, *',
      RATE_LIMIT_STORE: 'redis',
      RATE_LIMIT_LOGIN_PER_MINUTE: '0',
      RATE_LIMIT_LOGIN_INSTANCE_PER_SECOND: '0.5',
      RATE_LIMIT_LOGIN_INSTANCE_BURST: '0',
      RATE_LIMIT_API_BURST: '10000000',
      LEXECON_PASSWORD_HASHES_IN_FLIGHT: '0',
      LEXECON_PASSWORD_HASH_QUEUE: '-1',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.errors.map((e) => e.variable)).toEqual([
      'LEXECON_TRUSTED_PROXIES',
      'RATE_LIMIT_STORE',
      'RATE_LIMIT_LOGIN_PER_MINUTE',
      'RATE_LIMIT_LOGIN_INSTANCE_PER_SECOND',
      'RATE_LIMIT_LOGIN_INSTANCE_BURST',
      'RATE_LIMIT_API_BURST',
      'LEXECON_PASSWORD_HASHES_IN_FLIGHT',
      'LEXECON_PASSWORD_HASH_QUEUE',
    ]);
    expect(result.errors[0]?.message).toContain('"*"');
  });

  it('refuses a bootstrap admin without both variables, with a bad username or a weak password, never echoing it', () => {
    const errors = (env: Record<string, string>) => {
      const result = parseConfig(env);
      return result.ok ? [] : result.errors;
    };
    expect(errors({ LEXECON_BOOTSTRAP_ADMIN_USER: 'root' })).toEqual([
      { variable: 'LEXECON_BOOTSTRAP_ADMIN_PASSWORD', message: expect.stringMatching(/must be set together/) },
    ]);
    expect(errors({ LEXECON_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough passphrase' })).toEqual([
      { variable: 'LEXECON_BOOTSTRAP_ADMIN_USER', message: expect.stringMatching(/must be set together/) },
    ]);
    expect(
      errors({ LEXECON_BOOTSTRAP_ADMIN_USER: 'a b', LEXECON_BOOTSTRAP_ADMIN_PASSWORD: 'a long enough passphrase' }),
    ).toEqual([{ variable: 'LEXECON_BOOTSTRAP_ADMIN_USER', message: expect.stringMatching(/3–64 characters/) }]);
    const weak = errors({ LEXECON_BOOTSTRAP_ADMIN_USER: 'root', LEXECON_BOOTSTRAP_ADMIN_PASSWORD: 'hunter2' });
    expect(weak).toEqual([{ variable: 'LEXECON_BOOTSTRAP_ADMIN_PASSWORD', message: 'must be at least 12 characters' }]);
    expect(JSON.stringify(weak)).not.toContain('hunter2');
  });
});
