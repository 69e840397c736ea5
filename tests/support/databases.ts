import { readFileSync } from 'node:fs';
import postgres from 'postgres';
import { inject } from 'vitest';
import { type Database, openPglite, openPostgres } from '../../src/db/client';
import type { DbObserver } from '../../src/db/instrument';
import { rowsOf } from '../../src/db/sql';
import { withDatabase } from './global-setup';

/** A migrated, empty database of one backend, owned by one test file or suite. */
export interface TestDatabase {
  readonly backend: BackendName;
  readonly database: Database;
  /** Runs SQL as a superuser, bypassing the app: for tampering and inspection. */
  superuser(query: string): Promise<Record<string, unknown>[]>;
  /** A second, independent connection to the same data, as another service instance would have. */
  openInstance(): Promise<Database>;
  close(): Promise<void>;
}

export type BackendName = 'pglite' | 'postgres';

export interface Backend {
  name: BackendName;
  open(options?: { observer?: DbObserver }): Promise<TestDatabase>;
}

async function openPgliteTest(options: { observer?: DbObserver } = {}): Promise<TestDatabase> {
  const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
  const database = await openPglite({ loadDataDir: template, observer: options.observer });
  return {
    backend: 'pglite',
    database,
    async superuser(query) {
      const results = await database.client.exec(query);
      return (results.at(-1)?.rows ?? []) as Record<string, unknown>[];
    },
    // PGlite is one in-process database: a second instance shares the same client.
    async openInstance() {
      return { ...database, close: async () => {} };
    },
    close: () => database.close(),
  };
}

async function openPostgresTest(options: { observer?: DbObserver } = {}): Promise<TestDatabase> {
  const settings = inject('postgresTemplate');
  if (!settings) throw new Error('TEST_DATABASE_URL is not set');
  const name = `lexecon_t_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name} template ${settings.template}`);
  const url = withDatabase(settings.adminUrl, name);
  const superuser = postgres(url, { max: 1, onnotice: () => {} });
  const instances: Database[] = [];
  const applicationName = `lexecon/test-${name}`;
  const database = openPostgres(url, { poolMax: 10, observer: options.observer, applicationName });
  instances.push(database);
  return {
    backend: 'postgres',
    database,
    async superuser(query) {
      return rowsOf<Record<string, unknown>>(await superuser.unsafe(query));
    },
    async openInstance() {
      const instance = openPostgres(url, { poolMax: 10, applicationName: 'lexecon-second-instance' });
      instances.push(instance);
      return instance;
    },
    async close() {
      await Promise.all(instances.map((i) => i.close()));
      await superuser.end();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

/** PGlite always; PostgreSQL too when TEST_DATABASE_URL is set (global setup says when it is not). */
export function backends(): Backend[] {
  const list: Backend[] = [{ name: 'pglite', open: openPgliteTest }];
  if (inject('postgresTemplate')) list.push({ name: 'postgres', open: openPostgresTest });
  return list;
}
