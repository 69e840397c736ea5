import { getTableName, sql } from 'drizzle-orm';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { waitFor } from '../../tests/support/wait';
import { openPostgres } from './client';
import type { DbErrorType } from './errors';
import { DB_OPERATIONS, type DbObserver, type DbOperation, describeStatement } from './instrument';
import { apiKeys, ledgerEntries, policies } from './schema';

/** Our tables, the catalogue view the connection gauges read, and the one overflow value. */
const KNOWN_TABLES = new Set([
  getTableName(ledgerEntries),
  getTableName(policies),
  getTableName(apiKeys),
  'pg_stat_activity',
  'other',
]);

function recorder() {
  const queries: { operation: DbOperation; table: string; seconds: number }[] = [];
  const failures: DbErrorType[] = [];
  const transactions: number[] = [];
  const observer: DbObserver = {
    query: (operation, table, seconds) => void queries.push({ operation, table, seconds }),
    failed: (errorType) => void failures.push(errorType),
    transaction: (seconds) => void transactions.push(seconds),
  };
  return {
    observer,
    queries,
    failures,
    transactions,
    /** Forgets what was recorded so far; returns the statements as `operation table`. */
    clear() {
      queries.length = 0;
      failures.length = 0;
      transactions.length = 0;
    },
    statements: () => queries.map((q) => `${q.operation} ${q.table}`),
  };
}

describe.each(backends())('statement telemetry on $name', (backend) => {
  const recorded = recorder();
  const everything: { operation: DbOperation; table: string; seconds: number }[] = [];
  let tdb: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    tdb = await backend.open({ observer: recorded.observer });
    t = await createTestApp(tdb.database);
  });
  afterAll(async () => {
    await tdb.close();
  });

  function fresh() {
    everything.push(...recorded.queries);
    recorded.clear();
  }

  it('reports a policy load as inserts into policies and ledger_entries, in a timed transaction', async () => {
    fresh();
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    expect(recorded.statements()).toEqual(expect.arrayContaining(['insert policies', 'insert ledger_entries']));
    expect(recorded.transactions.length).toBeGreaterThanOrEqual(1);
    for (const seconds of recorded.transactions) expect(seconds).toBeGreaterThan(0);
    expect(recorded.failures).toEqual([]);
  });

  it('reports a decision as an insert into ledger_entries', async () => {
    fresh();
    expect((await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() })).status).toBe(200);
    expect(recorded.statements()).toContain('insert ledger_entries');
    expect(recorded.statements()).not.toContain('insert policies');
  });

  it('reports reads as selects from the table they read', async () => {
    fresh();
    await t.request('GET', '/api/policies');
    expect(recorded.statements()).toContain('select policies');
    fresh();
    await t.request('GET', '/api/ledger/entries');
    expect(recorded.statements()).toContain('select ledger_entries');
    fresh();
    await t.request('GET', '/api/keys');
    expect(recorded.statements()).toContain('select api_keys');
  });

  it('reports a key creation as an insert into api_keys and its revocation as an update of api_keys', async () => {
    fresh();
    const created = await t.services.apiKeys.create({ name: 'instrumented', role: 'agent', createdBy: 'test' });
    expect(recorded.statements()).toEqual(expect.arrayContaining(['insert api_keys', 'insert ledger_entries']));
    fresh();
    await t.services.apiKeys.revoke(created.key.id, 'test');
    expect(recorded.statements()).toEqual(expect.arrayContaining(['update api_keys', 'insert ledger_entries']));
    expect(recorded.transactions).toHaveLength(1);
  });

  it('times a transaction from its start to its commit, and one that rolls back', async () => {
    fresh();
    await tdb.database.db.transaction(async (tx) => {
      await tx.execute(sql`select pg_sleep(0.05)`);
    });
    expect(recorded.transactions).toHaveLength(1);
    expect(recorded.transactions[0]).toBeGreaterThanOrEqual(0.045);
    expect(recorded.transactions[0]).toBeLessThan(10);

    await expect(
      tdb.database.db.transaction(async (tx) => {
        await tx.execute(sql`select pg_sleep(0.02)`);
        throw new Error('changed my mind');
      }),
    ).rejects.toThrow('changed my mind');
    expect(recorded.transactions).toHaveLength(2);
    expect(recorded.transactions[1]).toBeGreaterThanOrEqual(0.015);
    expect(recorded.failures).toEqual([]);
  });

  it('classifies a unique violation as constraint and a malformed statement as query', async () => {
    fresh();
    const row = {
      id: `key_instrument_${backend.name}`,
      name: 'duplicate',
      role: 'agent',
      keyHash: `hash-${Math.random()}`,
      createdAt: new Date(),
      createdBy: 'test',
    };
    await tdb.database.db.insert(apiKeys).values(row);
    await expect(tdb.database.db.insert(apiKeys).values(row)).rejects.toThrow();
    expect(recorded.failures).toEqual(['constraint']);

    await expect(tdb.database.db.execute(sql.raw('selec 1'))).rejects.toThrow();
    expect(recorded.failures).toEqual(['constraint', 'query']);
  });

  it('labels every statement the app ran with a known table and a finite duration', () => {
    fresh();
    expect(everything.length).toBeGreaterThan(10);
    for (const q of everything) {
      expect(KNOWN_TABLES, `${q.operation} ${q.table}`).toContain(q.table);
      expect(DB_OPERATIONS).toContain(q.operation);
      expect(Number.isFinite(q.seconds) && q.seconds >= 0, String(q.seconds)).toBe(true);
    }
  });

  it('reports an idle database as open connections waiting for work, none active', async () => {
    const state = await tdb.database.connectionState();
    expect(Number.isInteger(state.active) && Number.isInteger(state.idle)).toBe(true);
    expect(state.active).toBe(0);
    // The app has run statements, so at least one connection is open, and nothing is running now.
    expect(state.idle).toBeGreaterThanOrEqual(1);
    if (backend.name === 'pglite') expect(state).toEqual({ active: 0, idle: 1 });
  });

  if (backend.name === 'postgres') {
    /** This instance's connections as the server lists them (the test's pool names itself lexecon/test-…). */
    const serverCount = async () =>
      Number(
        (
          await tdb.superuser(
            `select count(*)::int as n from pg_stat_activity
             where datname = current_database() and application_name like 'lexecon/test-%'`,
          )
        )[0]?.n,
      );

    it('counts exactly this instance’s open connections from pg_stat_activity, and those running a statement', async () => {
      const { db } = tdb.database;
      // Three statements at once make the pool open (at least) three connections.
      await Promise.all([1, 2, 3].map(() => db.execute(sql`select pg_sleep(0.05)`)));
      const rested = await tdb.database.connectionState();
      const open = await serverCount();
      expect(open).toBeGreaterThanOrEqual(3);
      expect(rested.active).toBe(0);
      expect(rested.active + rested.idle).toBe(open);

      // Another instance on the same database is not this instance's pool.
      const other = await tdb.openInstance();
      await Promise.all([1, 2, 3, 4].map(() => other.db.execute(sql`select pg_sleep(0.02)`)));
      expect(await tdb.database.connectionState()).toEqual(rested);

      // Long enough to be seen running on a loaded machine, short of the 5 s statement deadline.
      const sleeping = Promise.resolve(db.execute(sql`select pg_sleep(4)`));
      await waitFor(
        'the sleeping statement to run',
        async () => {
          const running = await tdb.superuser(
            `select 1 from pg_stat_activity where state = 'active' and query like 'select pg_sleep(4)%'`,
          );
          return running.length > 0 ? true : undefined;
        },
        4_000,
        10,
      );
      const busy = await tdb.database.connectionState();
      expect(busy.active).toBe(1);
      expect(busy.active + busy.idle).toBe(await serverCount());
      await sleeping;
    });
  }
});

describe('statement telemetry without a database', () => {
  it('classifies an unreachable PostgreSQL as a connection failure', async () => {
    const recorded = recorder();
    const database = openPostgres('postgres://postgres@127.0.0.1:1/x', { poolMax: 1, observer: recorded.observer });
    try {
      await expect(database.db.execute(sql`select 1`)).rejects.toThrow();
      expect(recorded.failures).toEqual(['connection']);
      expect(recorded.queries).toEqual([]);
    } finally {
      await database.close();
    }
  });

  it('names the operation and table of statements like the ones the app sends', () => {
    expect(describeStatement('insert into "ledger_entries" ("seq") values ($1)')).toEqual({
      operation: 'insert',
      table: 'ledger_entries',
    });
    expect(describeStatement('select "id", "name" from "policies" where "id" = $1')).toEqual({
      operation: 'select',
      table: 'policies',
    });
    expect(describeStatement('update "api_keys" set "revoked_at" = $1 where "id" = $2')).toEqual({
      operation: 'update',
      table: 'api_keys',
    });
    expect(describeStatement('delete from "api_keys" where "id" = $1')).toEqual({
      operation: 'delete',
      table: 'api_keys',
    });
    expect(
      describeStatement(`
      insert into ledger_entries (seq, entry_id)
      select r.index, r.entry_id from jsonb_to_recordset($1::jsonb) as r("index" bigint, entry_id text)`),
    ).toEqual({ operation: 'insert', table: 'ledger_entries' });
    expect(
      describeStatement('WITH head AS (SELECT max(seq) FROM policies) INSERT INTO "ledger_entries" SELECT 1'),
    ).toEqual({
      operation: 'insert',
      table: 'ledger_entries',
    });
    // A group commit: the entries' insert leads, the tree rows follow it.
    expect(
      describeStatement(`
      with entries as (
        insert into ledger_entries (seq) select r.index from jsonb_to_recordset($1::jsonb) as r("index" bigint)
        returning seq
      )
      insert into ledger_checkpoints (tree_size) select 1 where exists (select from entries)`),
    ).toEqual({ operation: 'insert', table: 'ledger_entries' });
    expect(describeStatement('select pg_advisory_xact_lock($1)')).toEqual({ operation: 'select', table: 'other' });
    expect(describeStatement('begin')).toEqual({ operation: 'other', table: 'other' });
  });

  it('never returns a table outside the known set, whatever the statement text', () => {
    const keyword = fc.constantFrom(
      'select * from ',
      'SELECT 1 FROM ',
      'insert into ',
      'INSERT INTO ',
      'update ',
      'delete from ',
      'with a as (select 1) delete from ',
      'with a as (select 1) insert into ',
      '',
    );
    const table = fc.oneof(
      fc.string(),
      fc.stringMatching(/^[a-z_][a-z0-9_]{0,40}$/),
      fc.constantFrom(...KNOWN_TABLES).map((t) => `${t}_shadow`),
      fc.constantFrom(...KNOWN_TABLES).map((t) => `"${t}x"`),
    );
    fc.assert(
      fc.property(keyword, table, fc.string(), (head, name, tail) => {
        const { operation, table: described } = describeStatement(`${head}${name} ${tail}`);
        expect(KNOWN_TABLES).toContain(described);
        expect(DB_OPERATIONS).toContain(operation);
      }),
      { numRuns: 2_000 },
    );
  });

  it('maps thousands of distinct unknown tables to one value', () => {
    const tables = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      tables.add(describeStatement(`insert into "tenant_${i}_secrets" values ($1)`).table);
      tables.add(describeStatement(`select * from users_${i}; drop table ledger_entries`).table);
      tables.add(describeStatement(`update "x${i}" set a = 1 -- from policies`).table);
    }
    expect(tables).toEqual(new Set(['other']));
  });
});
