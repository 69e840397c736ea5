import { fileURLToPath } from 'node:url';
import { PGlite } from '@electric-sql/pglite';
import type { ExtractTablesWithRelations } from 'drizzle-orm';
import type { PgDatabase, PgQueryResultHKT, PgTransaction } from 'drizzle-orm/pg-core';
import { drizzle as drizzlePglite } from 'drizzle-orm/pglite';
import { migrate as migratePglite } from 'drizzle-orm/pglite/migrator';
import { drizzle as drizzlePostgres } from 'drizzle-orm/postgres-js';
import { migrate as migratePostgres } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { type DbObserver, instrumentPglite, instrumentPostgres } from './instrument';
import * as schema from './schema';

export type Schema = typeof schema;
export type Db = PgDatabase<PgQueryResultHKT, Schema>;
export type Tx = PgTransaction<PgQueryResultHKT, Schema, ExtractTablesWithRelations<Schema>>;

/** A database handle either backend satisfies; stores only ever see `db`. */
export interface Database {
  readonly kind: 'pglite' | 'postgres';
  readonly db: Db;
  migrate(): Promise<void>;
  /** This instance's connections: running a statement, and open but waiting. */
  connectionState(): Promise<ConnectionState>;
  /**
   * Calls `onMessage` for every NOTIFY on `channel` from any instance (PostgreSQL only: an embedded
   * PGlite has no other instance); resolves to the function that stops listening.
   */
  listen?(channel: string, onMessage: (payload: string) => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

export interface ConnectionState {
  active: number;
  idle: number;
}

const MIGRATIONS_FOLDER = fileURLToPath(new URL('./migrations', import.meta.url));
// Arbitrary constant shared by every instance so that concurrent starts migrate one at a time.
const MIGRATION_LOCK_KEY = 0x6c78_6d67;

export interface PgliteSource {
  /** A directory (persistent), or undefined for an in-memory database. */
  dataDir?: string;
  /** A data-dir dump (see PGlite#dumpDataDir) to start from, e.g. a migrated test template. */
  loadDataDir?: Blob;
  /** Times every statement and transaction (see instrument.ts). */
  observer?: DbObserver;
}

export async function openPglite(source: PgliteSource = {}): Promise<Database & { client: PGlite }> {
  const client = await PGlite.create({ dataDir: source.dataDir, loadDataDir: source.loadDataDir });
  const instrumented = instrumentPglite(client, source.observer);
  const db = drizzlePglite(instrumented.client, { schema }) as unknown as Db;
  return {
    kind: 'pglite',
    db,
    client,
    // One in-process connection: active while a statement runs.
    async connectionState() {
      const active = Math.min(1, instrumented.inFlight());
      return { active, idle: 1 - active };
    },
    async migrate() {
      await migratePglite(db as never, { migrationsFolder: MIGRATIONS_FOLDER });
    },
    async close() {
      if (!client.closed) await client.close();
    },
  };
}

export interface PostgresOptions {
  poolMax: number;
  /** LEXECON_DB_STATEMENT_TIMEOUT_MS (default 5 s): the server's statement_timeout; see serverDeadlines. */
  statementTimeoutMs?: number;
  /** Unique per instance, so pg_stat_activity can tell this instance's connections apart. */
  applicationName?: string;
  observer?: DbObserver;
}

/**
 * How long the client waits for an answer: past the server's statement_timeout by a margin (half
 * of it, at least 1 s) for the cancellation to travel back. Only a server that cannot answer at all
 * (a silent network, a frozen host) reaches it; the pool is then replaced.
 */
export function clientDeadlineMs(statementTimeoutMs: number): number {
  return statementTimeoutMs + Math.max(1_000, Math.round(statementTimeoutMs / 2));
}

/**
 * Session settings sent with every connection of the pool, so PostgreSQL itself enforces the
 * deadline: a statement running or waiting for a lock past statement_timeout is cancelled (57014,
 * answered 503) and nothing of it commits, while the connection stays usable. statement_timeout
 * covers lock waits too, so lock_timeout is left unset. A session idle inside a transaction for as
 * long as the client would wait for a whole transaction is one the client has given up on; the
 * server ends it, releasing its locks (the ledger's append lock among them).
 */
export function serverDeadlines(statementTimeoutMs: number): Record<string, string> {
  return {
    statement_timeout: String(statementTimeoutMs),
    idle_in_transaction_session_timeout: String(clientDeadlineMs(statementTimeoutMs) * 2),
  };
}

export function openPostgres(url: string, options: PostgresOptions): Database & { client: postgres.Sql } {
  const applicationName = options.applicationName ?? 'lexecon';
  const statementTimeoutMs = options.statementTimeoutMs ?? 5_000;
  // Every pool, the first and each replacement, comes from here and is configured the same way.
  const createPool = () => {
    const pool = postgres(url, {
      max: options.poolMax,
      connect_timeout: 5,
      idle_timeout: 60,
      onnotice: () => {},
      connection: { application_name: applicationName, ...serverDeadlines(statementTimeoutMs) },
    });
    // drizzle's postgres-js driver adjusts the type handling of the client it is given (dates and
    // JSON pass through as drizzle serialised them); a pool it never saw would encode JSON twice.
    drizzlePostgres(pool);
    return pool;
  };
  // A pool whose connections may be silently dead (no answer by the client's deadline) is swapped
  // for a fresh one; everything holds this stable proxy, which always reaches the current pool.
  let current = createPool();
  const listeners: postgres.Sql[] = [];
  const client = new Proxy(current, {
    apply: (_target, _this, args: unknown[]) => (current as unknown as (...a: unknown[]) => unknown)(...args),
    get: (_target, property) => {
      const value = Reflect.get(current, property);
      return typeof value === 'function' ? value.bind(current) : value;
    },
  }) as postgres.Sql;
  const replacePool = () => {
    const stale = current;
    current = createPool();
    void stale.end({ timeout: 0 }).catch(() => {});
  };
  const instrumented = instrumentPostgres(client, {
    observer: options.observer,
    deadlineMs: clientDeadlineMs(statementTimeoutMs),
    onTimeout: replacePool,
  });
  const db = drizzlePostgres(instrumented, { schema }) as unknown as Db;
  return {
    kind: 'postgres',
    db,
    client,
    // The server's view of this instance's pool; the connection asking counts as idle, as it is
    // the moment the answer is read.
    async connectionState() {
      const [row] = (await instrumented.unsafe(
        `select count(*) filter (where state = 'active')::int - 1 as active,
                count(*) filter (where state = 'idle')::int + 1 as idle
         from pg_stat_activity where application_name = $1`,
        [applicationName],
      )) as unknown as { active: number; idle: number }[];
      return { active: Math.max(0, row?.active ?? 0), idle: row?.idle ?? 1 };
    },
    async migrate() {
      // A one-connection client holds a session-level advisory lock for the whole migration run.
      const single = postgres(url, { max: 1, connect_timeout: 5, onnotice: () => {} });
      try {
        await single`select pg_advisory_lock(${MIGRATION_LOCK_KEY})`;
        await migratePostgres(drizzlePostgres(single, { schema }), { migrationsFolder: MIGRATIONS_FOLDER });
      } finally {
        await single.end({ timeout: 5 });
      }
    },
    async listen(channel, onMessage) {
      // Its own connection: it lives as long as the instance, outside the pool that statement
      // deadlines may replace; postgres.js re-subscribes after a reconnect.
      const listener = postgres(url, {
        max: 1,
        connect_timeout: 5,
        onnotice: () => {},
        connection: { application_name: applicationName },
      });
      listeners.push(listener);
      await listener.listen(channel, onMessage);
      return () => listener.end({ timeout: 1 });
    },
    async close() {
      await Promise.all([current.end({ timeout: 5 }), ...listeners.map((listener) => listener.end({ timeout: 1 }))]);
    },
  };
}
