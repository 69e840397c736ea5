import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sql } from 'drizzle-orm';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { withDatabase } from '../../../tests/support/global-setup';
import { generateSigningKey, portableSha256Hex, type SigningKey } from '../../ledger/crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type UnsignedEntry } from '../../ledger/entry';
import { createLedger } from '../../ledger/store';
import { noopTelemetry } from '../../telemetry/telemetry';
import { type Database, type Db, openPglite, openPostgres } from '../client';
import { rowsOf } from '../sql';

const MIGRATIONS = fileURLToPath(new URL('../migrations', import.meta.url));
const ADDS_DATA_BYTES = '0004_ledger_data_bytes';
const folders: string[] = [];

/** The committed migrations up to, not including, `tag`: the schema a ledger had before it. */
function migrationsBefore(tag: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-migrations-'));
  folders.push(dir);
  const folder = join(dir, 'migrations');
  cpSync(MIGRATIONS, folder, { recursive: true });
  const journalFile = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(readFileSync(journalFile, 'utf8')) as { entries: { idx: number; tag: string }[] };
  const cut = journal.entries.findIndex((e) => e.tag === tag);
  expect(cut).toBeGreaterThan(0);
  writeFileSync(journalFile, JSON.stringify({ ...journal, entries: journal.entries.slice(0, cut) }));
  return folder;
}

/** Appends as a build from before the Merkle tree did: a genesis, then entries, hashed and signed, no tree. */
async function appendAsOldBuild(db: Db, key: SigningKey, decisions: Record<string, unknown>[]) {
  const events: Pick<UnsignedEntry, 'event_type' | 'data'>[] = [
    { event_type: 'genesis', data: { message: 'Lexecon ledger initialized' } },
    ...decisions.map((data) => ({ event_type: 'decision' as const, data })),
  ];
  let previousHash = GENESIS_PREVIOUS_HASH;
  for (const [index, { event_type, data }] of events.entries()) {
    const entry = { index, entry_id: `ent_old_${index}`, event_type, timestamp: new Date().toISOString(), data };
    const entryHash = computeEntryHash({ ...entry, previous_hash: previousHash }, portableSha256Hex);
    await db.execute(sql`
      insert into ledger_entries (seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id)
      values (${index}, ${entry.entry_id}, ${event_type}, ${entry.timestamp}, ${JSON.stringify(data)}::jsonb,
        ${previousHash}, ${entryHash}, ${await key.sign(entryHash)}, ${key.keyId})`);
    previousHash = entryHash;
  }
}

interface OldDatabase {
  database: Database;
  /** Applies the migrations before `tag` only. */
  migrateBefore(tag: string): Promise<void>;
  close(): Promise<void>;
}

async function openPgliteOld(): Promise<OldDatabase> {
  const database = await openPglite();
  return {
    database,
    async migrateBefore(tag) {
      await migratePglite(drizzlePglite(database.client), { migrationsFolder: migrationsBefore(tag) });
    },
    close: () => database.close(),
  };
}

async function openPostgresOld(): Promise<OldDatabase> {
  const settings = inject('postgresTemplate');
  if (!settings) throw new Error('TEST_DATABASE_URL is not set');
  const name = `lexecon_t_migration_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
  await admin.unsafe(`create database ${name}`);
  const url = withDatabase(settings.adminUrl, name);
  const database = openPostgres(url, { poolMax: 4 });
  return {
    database,
    async migrateBefore(tag) {
      const single = postgres(url, { max: 1, onnotice: () => {} });
      await migratePostgres(drizzlePostgres(single), { migrationsFolder: migrationsBefore(tag) });
      await single.end();
    },
    async close() {
      await database.close();
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

const backends = [{ name: 'pglite', open: openPgliteOld }];
if (inject('postgresTemplate')) backends.push({ name: 'postgres', open: openPostgresOld });

describe.each(backends)('ledger_entries.data_bytes on $name', (backend) => {
  let old: OldDatabase | undefined;
  afterEach(async () => {
    await old?.close();
    for (const dir of folders.splice(0)) rmSync(dir, { recursive: true, force: true });
  });

  it('is added to a ledger that already holds entries, sized like the data the database sends, and the chain still verifies', async () => {
    old = await backend.open();
    await old.migrateBefore(ADDS_DATA_BYTES);
    const { db } = old.database;
    const signingKey = await generateSigningKey();
    const written = [
      { decision_id: 'dec_small', actor: 'agent' },
      { decision_id: 'dec_unicode', note: 'größe — 大きさ 📏', nested: { list: [1, 2.5, 'x'], flag: true } },
      { decision_id: 'dec_large', padding: 'p'.repeat(300_000) },
    ];
    await appendAsOldBuild(db, signingKey, written);

    await old.database.migrate();
    const ledger = createLedger({ db, signingKey, telemetry: noopTelemetry });
    // Startup also builds the Merkle tree (added later still) over the entries already there.
    await ledger.ensureGenesis();
    expect((await ledger.checkpoint())?.treeSize).toBe(4);

    const rows = rowsOf<{ seq: number; data_bytes: number; text_bytes: number }>(
      await db.execute(
        sql`select seq, data_bytes, octet_length(data::text) as text_bytes from ledger_entries order by seq`,
      ),
    );
    expect(rows.map((r) => Number(r.seq))).toEqual([0, 1, 2, 3]);
    for (const row of rows) expect(row.data_bytes).toBe(row.text_bytes);
    expect(rows[3]?.data_bytes).toBeGreaterThan(300_000);

    // The chain is untouched (the rewrite fired no trigger and changed no hash), and new entries get a size too.
    const { receipt } = await ledger.append({ eventType: 'decision', data: { decision_id: 'dec_after' } });
    expect(receipt).toMatchObject({ index: 4, tree_size: 5 });
    expect(await ledger.verify()).toMatchObject({ valid: true, entries_checked: 5 });
    const page = await ledger.entries({ order: 'asc', limit: 10 });
    expect(page.entries.map((e) => e.data.decision_id)).toEqual([
      undefined,
      ...written.map((d) => d.decision_id),
      'dec_after',
    ]);
  });
});
