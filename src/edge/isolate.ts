import { version } from '../../package.json';
import { nobleScrypt } from '../auth/password';
import type { ConfigError } from '../config';
import { createLifecycle, type Lifecycle } from '../health/lifecycle';
import { createApp } from '../http/app';
import { importPublicKey, importSigningKey, type PublicKey, type Sha256Hex, type SigningKey } from '../ledger/crypto';
import { createServices, type Services } from '../services';
import { appSettings, type BootstrapReport, bootstrap, passwordHasherFor, StartupError, serviceDeps } from '../startup';
import { createEdgeTelemetry, type EdgeTelemetry } from '../telemetry/edge-telemetry';
import { createJsonLogger, type Logger } from '../telemetry/logger';
import { parseWorkerConfig, type WorkerBindings, type WorkerConfig } from './config';
import { appliedSchema, openRequestDatabase, type RequestDatabase } from './database';
import { createRequestScope, type RequestScope } from './request-scope';

/**
 * What one Workers isolate keeps between requests: validated configuration, imported keys,
 * telemetry and the app. Nothing here holds an I/O object, so any request may use it; everything
 * that does I/O is built per request by `servicesFor`.
 */
export interface Isolate {
  readonly kind: 'serving';
  readonly worker: WorkerConfig;
  readonly instanceId: string;
  readonly logger: Logger;
  readonly telemetry: EdgeTelemetry;
  readonly lifecycle: Lifecycle;
  readonly scope: RequestScope;
  readonly app: ReturnType<typeof createApp>;
  /** The request's connections and the services over them. */
  servicesFor(): { services: Services; database: RequestDatabase };
}

export interface MisconfiguredIsolate {
  readonly kind: 'misconfigured';
  readonly errors: ConfigError[];
}

/** Validates the bindings and builds the isolate's state; never throws (bad bindings are returned). */
export async function startIsolate(
  bindings: WorkerBindings,
  sha256: Sha256Hex,
): Promise<Isolate | MisconfiguredIsolate> {
  const parsed = parseWorkerConfig(bindings);
  if (!parsed.ok) return misconfiguredBy(parsed.errors);
  const { worker } = parsed;
  const imported = await importKeys(worker);
  if ('errors' in imported) return misconfiguredBy(imported.errors);
  const keys = imported;

  const instanceId = `edge-${crypto.randomUUID().slice(0, 8)}`;
  const telemetry = createEdgeTelemetry(worker.config.telemetry, { version, instanceId, headers: worker.otlpHeaders });
  const logger = createJsonLogger(
    worker.config.logLevel,
    (line) => console.log(line),
    () => telemetry.telemetry.activeIds(),
  );
  const lifecycle = createLifecycle();
  lifecycle.completed('signing_key');
  const scope = createRequestScope({ telemetry: telemetry.telemetry, logger });
  const config = worker.config;
  const app = createApp({
    services: scope.services,
    // Never reached: the entry answers GET /metrics itself (501, scrape the collector).
    metrics: { render: async () => '' },
    // Cloudflare's edge sets the caller's address; X-Forwarded-For from the caller is never trusted.
    settings: appSettings(config, { version, clientIp: { peer: (c) => c.req.header('cf-connecting-ip') } }),
  });
  // Made once per isolate, so its bounded hashing capacity holds across the requests it serves.
  const passwords = passwordHasherFor(config, nobleScrypt);

  function servicesFor() {
    const database = openRequestDatabase(worker.database.url, {
      statementTimeoutMs: config.database.statementTimeoutMs,
      applicationName: `lexecon/${instanceId}`,
      observer: {
        query: telemetry.telemetry.dbQuery,
        failed: telemetry.telemetry.dbFailed,
        transaction: telemetry.telemetry.dbTransaction,
        trace: telemetry.telemetry.inSpan,
      },
    });
    const services = createServices(
      serviceDeps(config, {
        db: database.db,
        ...keys,
        sha256,
        telemetry: telemetry.telemetry,
        logger,
        instanceId,
        lifecycle,
        probes: { exportStatus: telemetry.exportStatus },
        passwords,
        // In memory, a bucket would live one request: limits hold only in the shared table.
        rateLimitStore: 'postgres',
      }),
    );
    return { services, database };
  }

  return { kind: 'serving', worker, instanceId, logger, telemetry, lifecycle, scope, app, servicesFor };
}

function misconfiguredBy(errors: ConfigError[]): MisconfiguredIsolate {
  // The log gets what is wrong with each variable; responses name the variables only.
  for (const error of errors)
    console.error(
      JSON.stringify({ level: 'error', message: 'invalid binding', variable: error.variable, problem: error.message }),
    );
  return { kind: 'misconfigured', errors };
}

async function importKeys(
  worker: WorkerConfig,
): Promise<{ signingKey: SigningKey; trustedKeys: PublicKey[] } | { errors: ConfigError[] }> {
  let signingKey: SigningKey;
  try {
    signingKey = await importSigningKey(worker.signingKey);
  } catch (err) {
    return { errors: [{ variable: 'LEXECON_SIGNING_KEY', message: (err as Error).message }] };
  }
  try {
    const trustedKeys = await Promise.all(worker.config.signing.trustedPublicKeys.map(importPublicKey));
    return { signingKey, trustedKeys };
  } catch (err) {
    return { errors: [{ variable: 'LEXECON_TRUSTED_PUBLIC_KEYS', message: (err as Error).message }] };
  }
}

/**
 * Once per isolate, before its first answer: the schema is current (Node migrates instead), then the
 * bootstrap both runtimes share. Every step is idempotent, so concurrent first requests may each run it.
 */
export async function prepareIsolate(isolate: Isolate, services: Services, database: RequestDatabase): Promise<void> {
  const schema = await appliedSchema(database.db);
  if (!schema.current) {
    throw new StartupError(
      `the database schema is at ${schema.applied ?? 'nothing'}, this build needs ${schema.expected}: run npm run db:migrate against it`,
    );
  }
  isolate.lifecycle.completed('migrations');
  const { config, policy } = isolate.worker;
  await bootstrap({
    config,
    services,
    policy: policy === undefined ? undefined : { document: policy, loadedBy: 'policy-binding:LEXECON_POLICY' },
    report: bootstrapReport(isolate.logger),
  });
  isolate.lifecycle.serving();
}

/** The edge logs a newly applied LEXECON_POLICY only; the other steps run on every isolate's start. */
function bootstrapReport(logger: Logger): BootstrapReport {
  return {
    untrustedHead: (head) =>
      `the ledger head (entry ${head.index}) is signed by ${head.signer}, which is neither LEXECON_SIGNING_KEY nor in LEXECON_TRUSTED_PUBLIC_KEYS`,
    policyApplied(result) {
      if (result.status === 'loaded') logger.info('policy binding applied', { version: result.policy.version });
    },
  };
}
