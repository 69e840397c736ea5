import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { getConnInfo } from '@hono/node-server/conninfo';
import { followEnded } from './auth/invalidation';
import { type Config, describeConfigErrors, parseConfig } from './config';
import { readStartupSetting, settingIsOn } from './flags/store';
import { startEventLoopMonitor } from './health/event-loop';
import { createLifecycle } from './health/lifecycle';
import { createApp } from './http/app';
import { importPublicKey, type SigningKey } from './ledger/crypto';
import { openDatabase } from './node/database';
import { readPolicyFile } from './node/policy-file';
import { nodeScrypt } from './node/scrypt';
import { listenAtOnce } from './node/server';
import { createShutdown } from './node/shutdown';
import { loadSigningKey, nativeSigner } from './node/signing-key';
import { createStdoutLog } from './node/stdout-log';
import { createServices } from './services';
import { appSettings, type BootstrapReport, bootstrap, passwordHasherFor, StartupError, serviceDeps } from './startup';
import { summarizeError } from './telemetry/error-summary';
import { createJsonLogger, type Logger } from './telemetry/logger';
import { createNodeTelemetry } from './telemetry/node-telemetry';
import { noopTelemetry, type Telemetry } from './telemetry/telemetry';

/** Node entry: configuration, database, keys, bootstrap, then serve until SIGTERM/SIGINT. */
async function main(): Promise<void> {
  const parsed = parseConfig(process.env);
  if (!parsed.ok) {
    console.error(describeConfigErrors(parsed.errors));
    process.exit(1);
  }
  const config = parsed.config;
  // Log lines carry the active span's ids once tracing exists (it is created a few lines below).
  let activeIds: () => { trace_id: string; span_id: string } | undefined = () => undefined;
  // One write to stdout per turn of the event loop, not per line; what waits is written on exit.
  const logger = createJsonLogger(config.logLevel, createStdoutLog().line, () => activeIds());
  const version = readVersion();
  // A broken policy file is reported before anything slow (opening the database) happens.
  const policy = config.policy.file ? readPolicyFile(config.policy.file) : undefined;

  const instanceId = `${hostname()}-${process.pid}`;
  const lifecycle = createLifecycle();
  // Started once serving: PGlite's startup blocks the loop for seconds, which says nothing about liveness.
  let eventLoop: ReturnType<typeof startEventLoopMonitor> | undefined;
  const listener = listenAtOnce(config.http, lifecycle);
  const stop = createShutdown({ server: listener.server, lifecycle, logger, config: config.lifecycle });
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));

  // The SDK is created once the database says whether metrics are detailed (the metrics_detailed
  // flag shapes its Views); statements before that (the migrations) are not measured.
  let telemetry: Telemetry = noopTelemetry;
  const database = await openDatabase(config, logger, {
    observer: {
      query: (operation, table, seconds) => telemetry.dbQuery(operation, table, seconds),
      failed: (errorType) => telemetry.dbFailed(errorType),
      transaction: (seconds) => telemetry.dbTransaction(seconds),
      trace: (name, attributes, run) => telemetry.inSpan(name, attributes, run),
    },
    applicationName: `lexecon/${instanceId}`,
  });
  stop.before(() => database.close());
  await database.migrate();
  lifecycle.completed('migrations');
  const detailed = await readStartupSetting(database.db, 'metrics_detailed', config.flags.defaults.metrics_detailed);
  const {
    telemetry: created,
    metrics,
    exportStatus,
    shutdown: shutdownTelemetry,
  } = createNodeTelemetry(
    // Rolled out by instance: with 25%, about a quarter of the instances report detailed metrics.
    { ...config.telemetry, detailedMetrics: settingIsOn('metrics_detailed', detailed, instanceId) },
    { version, instanceId, logger },
  );
  telemetry = created;
  activeIds = telemetry.activeIds;
  stop.before(shutdownTelemetry);
  telemetry.observeConnections(() => database.connectionState());
  const signingKey = await loadSigningKey(config, logger);
  const trustedKeys = await Promise.all(config.signing.trustedPublicKeys.map(importPublicKey));
  lifecycle.completed('signing_key');
  const services = createServices(
    serviceDeps(config, {
      db: database.db,
      signingKey,
      trustedKeys,
      sha256: (text) => createHash('sha256').update(text).digest('hex'),
      signBytes: await nativeSigner(signingKey),
      telemetry,
      logger,
      instanceId,
      lifecycle,
      probes: { eventLoopLagMs: () => eventLoop?.lagMs() ?? 0, exportStatus },
      databaseState: () => database.connectionState(),
      passwords: passwordHasherFor(config, nodeScrypt),
    }),
  );

  await bootstrap({ config, services, policy, report: bootstrapReport(config, signingKey, logger) });
  // Keys revoked, sessions ended and users disabled on other instances leave this one's caches at once.
  stop.before(await followEnded(database, services, logger));

  listener.ready(
    createApp({
      services,
      metrics,
      settings: appSettings(config, {
        version,
        clientIp: { peer: (c) => getConnInfo(c).remote.address, trustedProxies: config.http.trustedProxies },
      }),
    }),
  );
  lifecycle.serving();
  eventLoop = startEventLoopMonitor();
  const address = listener.server.address() as AddressInfo;
  logger.info('listening', {
    address: address.address,
    port: address.port,
    database: database.kind,
    key_id: signingKey.keyId,
  });

  // Background ledger verification: due-ness is decided cluster-wide (see src/ledger/auditor.ts).
  const verifying = setInterval(
    () => void services.auditor.tick(),
    Math.min(config.verification.incrementalEveryMs, 15_000),
  );
  verifying.unref();
  void services.auditor.tick();
  stop.before(async () => {
    clearInterval(verifying);
    eventLoop?.stop();
  });
}

/** Node logs every bootstrap step; a key mismatch is explained in terms of instances sharing a database. */
function bootstrapReport(config: Config, signingKey: SigningKey, logger: Logger): BootstrapReport {
  return {
    untrustedHead: (head) =>
      `the ledger head (entry ${head.index}) is signed by ${head.signer}, but this instance signs with key ${signingKey.keyId}. ` +
      'Every instance sharing a database must use the same LEXECON_SIGNING_KEY; add retired keys to LEXECON_TRUSTED_PUBLIC_KEYS.',
    adminKey(result) {
      if (result === 'revoked')
        logger.warn('LEXECON_BOOTSTRAP_ADMIN_KEY was revoked through the API and stays revoked');
      else logger.info('bootstrap admin key ready', { result });
    },
    adminUser: (username, result) => logger.info('bootstrap admin user', { username, result }),
    policyApplied({ status, policy }) {
      logger.info('policy file applied', {
        file: config.policy.file,
        status,
        version: policy.version,
        hash: policy.hash,
      });
    },
  };
}

function readVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

main().catch((err: unknown) => {
  if (err instanceof StartupError) console.error(`lexecon: cannot start: ${err.message}`);
  // Its summary: a failed statement's parameters (key and password hashes at bootstrap) stay out.
  else console.error('lexecon: cannot start:', JSON.stringify(summarizeError(err)));
  process.exit(1);
});
