import { describe, expect, it } from 'vitest';
import { describeConfigErrors, parseConfig } from './config';

describe('parseConfig', () => {
  it('runs with no configuration at all: port 8000, PGlite in ./data, 1 MiB bodies', () => {
    const result = parseConfig({});
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.config.http).toEqual({ port: 8000, host: '0.0.0.0', maxBodyBytes: 1024 * 1024 });
    expect(result.config.database).toEqual({ url: undefined, poolMax: 10, statementTimeoutMs: 5000 });
    expect(result.config.dataDir).toBe('./data');
    expect(result.config.bootstrapAdminKey).toBeUndefined();
  });

  it('reads every documented variable', () => {
    const result = parseConfig({
      PORT: '9000',
      HOST: '127.0.0.1',
      LEXECON_MAX_BODY_BYTES: '2048',
      DATABASE_URL: 'postgres://u:p@db:5432/lexecon',
      DB_POOL_MAX: '25',
      LEXECON_DATA_DIR: '/var/lib/lexecon',
      LEXECON_SIGNING_KEY: 'c2VlZA==',
      LEXECON_TRUSTED_PUBLIC_KEYS: 'a, b',
      LEXECON_BOOTSTRAP_ADMIN_KEY: 'x'.repeat(32),
      LEXECON_POLICY_FILE: 'policy.json',
      LEXECON_POLICY_REFRESH_MS: '250',
      LEXECON_LOG_LEVEL: 'debug',
      OTEL_SDK_DISABLED: 'true',
      FEATURE_FLAG_METRICS_DETAILED: 'yes',
      METRICS_TOKEN: 'scrape-token-0123456789',
      LEXECON_METRICS_EXCLUDE_PATHS: '/metrics, /health/, /internal',
      TRACING_ENABLED: '1',
      OTEL_SAMPLE_RATE: '0.25',
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
    });
    expect(result).toEqual({
      ok: true,
      config: {
        http: { port: 9000, host: '127.0.0.1', maxBodyBytes: 2048 },
        database: { url: 'postgres://u:p@db:5432/lexecon', poolMax: 25, statementTimeoutMs: 5000 },
        dataDir: '/var/lib/lexecon',
        signing: { privateKey: 'c2VlZA==', trustedPublicKeys: ['a', 'b'] },
        bootstrapAdminKey: 'x'.repeat(32),
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
});
