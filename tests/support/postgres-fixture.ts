import postgres from 'postgres';
import { inject } from 'vitest';
import { withDatabase } from './global-setup';
import { startTcpProxy, type TcpProxy } from './tcp-proxy';

/** The ledger's writers' lock (src/ledger/store.ts), for suites that hold it from outside. */
export const APPEND_LOCK_KEY = 0x6c78_6c64;

/**
 * A PostgreSQL database of a suite's own, cloned from the migrated template, reached by the service
 * through a TCP proxy the suite can cut or stall, and directly by a superuser that can lock,
 * tamper and inspect behind the service's back.
 */
export interface PostgresFixture {
  /** What the service connects to: through the proxy. */
  readonly url: string;
  /** The same database, not through the proxy. */
  readonly directUrl: string;
  readonly proxy: TcpProxy;
  /** Two direct connections, as a superuser. */
  readonly superuser: postgres.Sql;
  close(): Promise<void>;
}

/** Needs TEST_DATABASE_URL (suites using it run under `describe.runIf(inject('postgresTemplate'))`). */
export async function openPostgresFixture(name: string): Promise<PostgresFixture> {
  const settings = inject('postgresTemplate');
  if (!settings) throw new Error('TEST_DATABASE_URL is not set');
  const database = `lexecon_${name}_${process.pid}`;
  const admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`drop database if exists ${database} with (force)`);
  await admin.unsafe(`create database ${database} template ${settings.template}`);
  const directUrl = withDatabase(settings.adminUrl, database);
  const target = new URL(directUrl);
  const proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
  const proxied = new URL(directUrl);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  const superuser = postgres(directUrl, { max: 2, onnotice: () => {} });
  return {
    url: proxied.toString(),
    directUrl,
    proxy,
    superuser,
    async close() {
      await proxy.close();
      await superuser.end({ timeout: 1 });
      await admin.unsafe(`drop database if exists ${database} with (force)`);
      await admin.end();
    },
  };
}
