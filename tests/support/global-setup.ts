import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import type { TestProject } from 'vitest/node';
import { openPglite, openPostgres } from '../../src/db/client';

declare module 'vitest' {
  export interface ProvidedContext {
    pgliteTemplate: string;
    postgresTemplate: { adminUrl: string; template: string } | null;
  }
}

/**
 * Migrates databases once per run: a PGlite data-dir dump (a fresh initdb costs ~7 s and ~1 GB,
 * loading the dump ~1 s) and, when TEST_DATABASE_URL is set, a Postgres template database that
 * each test file clones with CREATE DATABASE … TEMPLATE.
 */
export default async function setup(project: TestProject) {
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-test-'));
  const pglite = await openPglite();
  await pglite.migrate();
  const dump = await pglite.client.dumpDataDir('gzip');
  await pglite.close();
  const templateFile = join(dir, 'pglite-template.tar.gz');
  writeFileSync(templateFile, new Uint8Array(await dump.arrayBuffer()));
  project.provide('pgliteTemplate', templateFile);

  const adminUrl = process.env.TEST_DATABASE_URL;
  let template: string | undefined;
  if (adminUrl) {
    template = `lexecon_template_${process.pid}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${template}`);
    await admin.unsafe(`create database ${template}`);
    const migrated = openPostgres(withDatabase(adminUrl, template), { poolMax: 1 });
    await migrated.migrate();
    await migrated.close();
    await admin.end();
    project.provide('postgresTemplate', { adminUrl, template });
  } else {
    project.provide('postgresTemplate', null);
    console.warn('\nTEST_DATABASE_URL is not set: database suites run on PGlite only, not on PostgreSQL.\n');
  }

  return async () => {
    rmSync(dir, { recursive: true, force: true });
    if (adminUrl && template) {
      const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${template} with (force)`);
      await admin.end();
    }
  };
}

export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}
