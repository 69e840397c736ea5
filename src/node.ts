import { createHash, scrypt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { createHashingCapacity } from './auth/hashing-capacity';
import { followEnded } from './auth/invalidation';
import { createPasswordHasher, DEFAULT_SCRYPT, type Scrypt } from './auth/password';
import { DEFAULT_SESSION_SETTINGS } from './auth/sessions';
import { type Config, describeConfigErrors, parseConfig } from './config';
import { type Database, openPglite, openPostgres } from './db/client';
import { DataDirLockedError, lockDataDir } from './db/data-dir-lock';
import type { DbObserver } from './db/instrument';
import { readStartupSetting, settingIsOn } from './flags/store';
import { compilePolicy, unwrapPolicyDocument } from './governance/policy';
import { startEventLoopMonitor } from './health/event-loop';
import { createLifecycle } from './health/lifecycle';
import { answerWhileStarting } from './health/starting';
import { createApp } from './http/app';
import { createClientIpResolver } from './http/client-ip';
import { generateSigningKey, importPublicKey, importSigningKey, privateKeyPem, type SigningKey } from './ledger/crypto';
import { createServices } from './services';
import { summarizeError } from './telemetry/error-summary';
import { createJsonLogger, type Logger } from './telemetry/logger';
import { createNodeTelemetry } from './telemetry/node-telemetry';
import { noopTelemetry, type Telemetry } from './telemetry/telemetry';

const SERVICE_NAME = 'lexecon';

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
  const logger = createJsonLogger(config.logLevel, undefined, () => activeIds());
  const version = readVersion();
  // A broken policy file is reported before anything slow (opening the database) happens.
  const policyDocument = config.policy.file ? readPolicyFile(config.policy.file) : undefined;

  const instanceId = `${hostname()}-${process.pid}`;
  const lifecycle = createLifecycle();
  // Started once serving: PGlite's startup blocks the loop for seconds, which says nothing about liveness.
  let eventLoop: ReturnType<typeof startEventLoopMonitor> | undefined;
  // Listen at once: until the app exists, probes say "starting" instead of connections being refused.
  let app: { fetch(request: Request, env: unknown): Response | Promise<Response> } | undefined;
  const server = serve({
    fetch: (request, env) => (app ? app.fetch(request, env) : answerWhileStarting(request, lifecycle)),
    port: config.http.port,
    hostname: config.http.host,
    // Node checks header and request timeouts on this interval (default 30 s): make them mean what they say.
    serverOptions: { connectionsCheckingInterval: 1_000 },
  }) as Server;
  limitSlowClients(server);
  const stop = createShutdown({ server, lifecycle, logger, config: config.lifecycle });
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
  const services = createServices({
    db: database.db,
    signingKey,
    trustedKeys,
    sha256: (text) => createHash('sha256').update(text).digest('hex'),
    telemetry,
    logger,
    policyRefreshMs: config.policy.refreshMs,
    instanceId,
    lifecycle,
    probes: { eventLoopLagMs: () => eventLoop?.lagMs() ?? 0, exportStatus },
    databaseState: () => database.connectionState(),
    health: config.health,
    verification: config.verification,
    flags: config.flags,
    passwords: createPasswordHasher(nodeScrypt, DEFAULT_SCRYPT, createHashingCapacity(config.auth.passwordHashing)),
    sessions: { ...DEFAULT_SESSION_SETTINGS, idleMs: config.auth.sessionIdleMs, maxAgeMs: config.auth.sessionMaxAgeMs },
    requireMfaForAdmin: config.auth.requireMfaForAdmin,
    rateLimits: config.rateLimit,
  });

  await services.ledger.ensureGenesis();
  const head = await services.ledger.head();
  const trusted = new Set([signingKey.keyId, ...trustedKeys.map((k) => k.keyId)]);
  if (head && !trusted.has(head.key_id)) {
    throw new StartupError(
      `the ledger head (entry ${head.index}) is signed by key ${head.key_id}, but this instance signs with ${signingKey.keyId}. ` +
        'Every instance sharing a database must use the same LEXECON_SIGNING_KEY; add retired keys to LEXECON_TRUSTED_PUBLIC_KEYS.',
    );
  }
  if (config.bootstrapAdminKey) {
    const result = await services.apiKeys.ensureBootstrapAdmin(config.bootstrapAdminKey);
    if (result === 'revoked') logger.warn('LEXECON_BOOTSTRAP_ADMIN_KEY was revoked through the API and stays revoked');
    else logger.info('bootstrap admin key ready', { result });
  }
  // Keys revoked, sessions ended and users disabled on other instances leave this one's caches at once.
  stop.before(await followEnded(database, services, logger));
  if (config.auth.bootstrapAdmin) {
    const { username, password } = config.auth.bootstrapAdmin;
    const result = await services.users.ensureBootstrapAdmin(username, password);
    logger.info('bootstrap admin user', { username, result });
  }
  if (config.policy.file) {
    const result = await services.policies.load(policyDocument, `policy-file:${basename(config.policy.file)}`);
    const { version: loaded, hash } = result.policy;
    logger.info('policy file applied', { file: config.policy.file, status: result.status, version: loaded, hash });
  }
  await services.policies.active();
  lifecycle.completed('policy');

  app = createApp({
    services,
    metrics,
    settings: {
      serviceName: SERVICE_NAME,
      version,
      maxBodyBytes: config.http.maxBodyBytes,
      maxDecisionBytes: config.http.maxDecisionBytes,
      metricsToken: config.telemetry.metricsToken,
      metricsExclude: config.telemetry.metricsExclude,
      tracingExclude: config.telemetry.tracing.exclude,
      corsAllowedOrigins: config.http.corsAllowedOrigins,
      clientIp: createClientIpResolver({
        peer: (c) => getConnInfo(c).remote.address,
        trustedProxies: config.http.trustedProxies,
      }),
    },
  });
  lifecycle.serving();
  eventLoop = startEventLoopMonitor();
  const address = server.address() as AddressInfo;
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

/**
 * Node's defaults let a slow client hold a connection for minutes; these bound how long a client
 * may take to send headers (10 s), a whole request (30 s), and how long an idle keep-alive
 * connection stays open (5 s; load balancers in front should idle out first or reuse sooner).
 */
function limitSlowClients(server: Server): void {
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  server.keepAliveTimeout = 5_000;
}

/**
 * SIGTERM/SIGINT: readiness turns 503 at once; after the delay (load balancers and the endpoints
 * controller catch up meanwhile) the server stops accepting connections and in-flight requests
 * finish; then the registered steps run in reverse order (telemetry flush, database close) and the
 * process exits 0 — all inside the grace period, which must be shorter than Kubernetes' (30 s).
 */
function createShutdown(options: {
  server: Server;
  lifecycle: ReturnType<typeof createLifecycle>;
  logger: Logger;
  config: Config['lifecycle'];
}) {
  const { server, lifecycle, logger, config } = options;
  const steps: (() => Promise<unknown>)[] = [];
  let stopping = false;

  async function stop(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + config.shutdownGraceMs;
    lifecycle.draining();
    logger.info('draining', { signal, delay_ms: config.shutdownDelayMs, grace_ms: config.shutdownGraceMs });
    // Leave time at the end for flushing telemetry and closing the pool.
    const flushBudget = Math.min(5_000, config.shutdownGraceMs / 4);
    await sleep(Math.min(config.shutdownDelayMs, deadline - Date.now() - flushBudget));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 250);
    const drained = await Promise.race([
      closed.then(() => true),
      sleep(deadline - Date.now() - flushBudget).then(() => false),
    ]);
    clearInterval(idleSweep);
    if (!drained) {
      logger.warn('grace period over: closing the connections still open');
      server.closeAllConnections();
    }
    // Each step gets an equal share of the time left: a telemetry flush retrying against a dead
    // collector would otherwise use it all, and the database would close after the deadline.
    const ordered = steps.reverse();
    for (const [i, step] of ordered.entries()) {
      await Promise.race([
        step().catch((err) => logger.warn('shutdown step failed', { error: err })),
        sleep((deadline - Date.now()) / (ordered.length - i)),
      ]);
    }
    logger.info('stopped', { signal, drained });
    process.exit(0);
  }

  return Object.assign(stop, {
    /** Registers a step to run at shutdown (later registrations run first). */
    before(step: () => Promise<unknown>) {
      steps.push(step);
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

class StartupError extends Error {}

async function openDatabase(
  config: Config,
  logger: Logger,
  options: { observer: DbObserver; applicationName: string },
): Promise<Database> {
  if (config.database.url) {
    logger.info('using PostgreSQL', { pool_max: config.database.poolMax });
    return openPostgres(config.database.url, {
      poolMax: config.database.poolMax,
      statementTimeoutMs: config.database.statementTimeoutMs,
      ...options,
    });
  }
  // Taken before PGlite touches a file: a second process on the directory would fork the ledger.
  const lock = await lockDataDir(resolve(config.dataDir)).catch((err: unknown) => {
    throw err instanceof DataDirLockedError ? new StartupError(err.message) : err;
  });
  if (!lock.exclusive) logger.warn('this platform cannot stop a second process on the data dir', { dir: lock.dir });
  const dataDir = join(resolve(config.dataDir), 'pglite');
  mkdirSync(dataDir, { recursive: true });
  logger.info('using embedded PGlite', { data_dir: dataDir });
  const database = await openPglite({ dataDir, observer: options.observer });
  return {
    ...database,
    async close() {
      await database.close();
      await lock.release();
    },
  };
}

/**
 * LEXECON_SIGNING_KEY wins; otherwise a key file in the data dir, created (mode 0600) on first
 * start. Several instances on one Postgres must share LEXECON_SIGNING_KEY: a per-instance file
 * would sign with different keys, which startup refuses.
 */
async function loadSigningKey(config: Config, logger: Logger): Promise<SigningKey> {
  if (config.signing.privateKey) {
    try {
      return await importSigningKey(config.signing.privateKey);
    } catch (err) {
      throw new StartupError(`LEXECON_SIGNING_KEY: ${(err as Error).message}`);
    }
  }
  const dir = resolve(config.dataDir);
  const file = join(dir, 'signing-key.pem');
  if (existsSync(file)) {
    try {
      return await importSigningKey(readFileSync(file, 'utf8'));
    } catch (err) {
      throw new StartupError(`${file}: ${(err as Error).message}`);
    }
  }
  mkdirSync(dir, { recursive: true });
  const key = await generateSigningKey();
  writeFileSync(file, privateKeyPem(await key.exportPkcs8()), { mode: 0o600, flag: 'wx' });
  logger.warn('generated a new ledger signing key; back it up, or set LEXECON_SIGNING_KEY', {
    file,
    key_id: key.keyId,
  });
  return key;
}

function readPolicyFile(file: string): unknown {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StartupError(`LEXECON_POLICY_FILE: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const compiled = compilePolicy(unwrapPolicyDocument(document));
  if (!compiled.ok) {
    const problems = compiled.problems.map((p) => `  ${p.path}: ${p.message}`).join('\n');
    throw new StartupError(`LEXECON_POLICY_FILE: ${file} is not a valid policy:\n${problems}`);
  }
  return document;
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

/**
 * Node's scrypt runs on the libuv thread pool: hashing a password does not block the event loop. The
 * pool also signs every decision (WebCrypto), which is why the hashing capacity bounds it.
 */
const nodeScrypt: Scrypt = (password, salt, { ln, r, p }, length) =>
  new Promise((resolve, reject) => {
    const N = 2 ** ln;
    scrypt(password, salt, length, { N, r, p, maxmem: 2 * 128 * N * r }, (err, key) =>
      err ? reject(err) : resolve(new Uint8Array(key)),
    );
  });
