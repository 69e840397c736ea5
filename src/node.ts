import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { serve } from '@hono/node-server';
import { createApp } from './app';
import { type Config, describeConfigErrors, parseConfig } from './config';
import { type Database, openPglite, openPostgres } from './db/client';
import type { DbObserver } from './db/instrument';
import { compilePolicy, unwrapPolicyDocument } from './governance/policy';
import { generateSigningKey, importPublicKey, importSigningKey, privateKeyPem, type SigningKey } from './ledger/crypto';
import { createServices } from './services';
import { createJsonLogger, type Logger } from './telemetry/logger';
import { createNodeTelemetry } from './telemetry/node-telemetry';

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
  const {
    telemetry,
    metrics,
    shutdown: shutdownTelemetry,
  } = createNodeTelemetry(config.telemetry, {
    version,
    instanceId,
    logger,
  });
  activeIds = telemetry.activeIds;
  const database = await openDatabase(config, logger, {
    observer: {
      query: telemetry.dbQuery,
      failed: telemetry.dbFailed,
      transaction: telemetry.dbTransaction,
      trace: telemetry.inSpan,
    },
    applicationName: `lexecon/${instanceId}`,
  });
  telemetry.observeConnections(() => database.connectionState());
  await database.migrate();
  const signingKey = await loadSigningKey(config, logger);
  const trustedKeys = await Promise.all(config.signing.trustedPublicKeys.map(importPublicKey));
  const services = createServices({
    db: database.db,
    signingKey,
    trustedKeys,
    sha256: (text) => createHash('sha256').update(text).digest('hex'),
    telemetry,
    logger,
    policyRefreshMs: config.policy.refreshMs,
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
  if (config.policy.file) {
    const result = await services.policies.load(policyDocument, `policy-file:${basename(config.policy.file)}`);
    const { version: loaded, hash } = result.policy;
    logger.info('policy file applied', { file: config.policy.file, status: result.status, version: loaded, hash });
  }

  const app = createApp({
    services,
    metrics,
    settings: {
      serviceName: SERVICE_NAME,
      version,
      maxBodyBytes: config.http.maxBodyBytes,
      metricsToken: config.telemetry.metricsToken,
      metricsExclude: config.telemetry.metricsExclude,
      tracingExclude: config.telemetry.tracing.exclude,
    },
  });
  const server = serve({ fetch: app.fetch, port: config.http.port, hostname: config.http.host }, (info) => {
    logger.info('listening', {
      address: info.address,
      port: info.port,
      database: database.kind,
      key_id: signingKey.keyId,
    });
  });

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info('shutting down', { signal });
    server.close(async () => {
      await shutdownTelemetry();
      await database.close();
      process.exit(0);
    });
    setTimeout(() => process.exit(1), 10_000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

class StartupError extends Error {}

async function openDatabase(
  config: Config,
  logger: Logger,
  options: { observer: DbObserver; applicationName: string },
): Promise<Database> {
  if (config.database.url) {
    logger.info('using PostgreSQL', { pool_max: config.database.poolMax });
    return openPostgres(config.database.url, { poolMax: config.database.poolMax, ...options });
  }
  const dataDir = join(resolve(config.dataDir), 'pglite');
  mkdirSync(dataDir, { recursive: true });
  logger.info('using embedded PGlite', { data_dir: dataDir });
  return openPglite({ dataDir, observer: options.observer });
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
  else console.error('lexecon: cannot start:', err);
  process.exit(1);
});
