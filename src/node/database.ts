import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { Config } from '../config';
import { type Database, openPglite, openPostgres } from '../db/client';
import { DataDirLockedError, lockDataDir } from '../db/data-dir-lock';
import type { DbObserver } from '../db/instrument';
import { StartupError } from '../startup';
import type { Logger } from '../telemetry/logger';

/** PostgreSQL when DATABASE_URL is set, else PGlite in the data dir, which this process then holds alone. */
export async function openDatabase(
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
