import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import type { Db } from '../db/client';
import { type DbObserver, instrumentPostgres } from '../db/instrument';
import journal from '../db/migrations/meta/_journal.json';
import * as schema from '../db/schema';
import { rowsOf } from '../db/sql';

/**
 * PostgreSQL from Workers: postgres.js over the runtime's TCP sockets (`cloudflare:sockets`, the
 * `workerd` build of postgres.js), to a Hyperdrive binding's connection string or to DATABASE_URL.
 * Workers forbid one request from using a socket another request opened, so every request opens its
 * own connections and closes them once answered; through Hyperdrive that costs a hop to a pool
 * near the worker instead of a TCP, TLS and auth handshake with the origin.
 */
export interface RequestDatabase {
  readonly db: Db;
  close(): Promise<void>;
}

export interface RequestDatabaseOptions {
  statementTimeoutMs: number;
  applicationName: string;
  observer: DbObserver;
}

// Opened lazily as a request needs them; Workers allow six simultaneous connections per request.
const CONNECTIONS_PER_REQUEST = 3;
const UNDEFINED_TABLE = new Set(['42P01', '3F000']);

export function openRequestDatabase(url: string, options: RequestDatabaseOptions): RequestDatabase {
  const client = postgres(url, {
    max: CONNECTIONS_PER_REQUEST,
    connect_timeout: 5,
    // Built-in type parsers suffice; fetching array types would cost a round trip per request.
    fetch_types: false,
    onnotice: () => {},
    connection: { application_name: options.applicationName },
  });
  const instrumented = instrumentPostgres(client, {
    observer: options.observer,
    deadlineMs: options.statementTimeoutMs,
    // Nothing to replace: these connections end with the request.
    onTimeout: () => {},
  });
  return {
    db: drizzle(instrumented, { schema }) as unknown as Db,
    close: () => client.end({ timeout: 1 }),
  };
}

/**
 * Workers cannot read the migration files, and applying DDL from an edge isolate would race every
 * other isolate; migrations run from Node (`npm run db:migrate`). The worker checks that the newest
 * migration it was built with has been applied, for its startup probe.
 */
export async function appliedSchema(db: Db): Promise<{ current: boolean; expected: string; applied: string | null }> {
  const latest = journal.entries.at(-1);
  const expected = latest?.tag ?? 'none';
  let appliedAt: number | null = null;
  try {
    const [row] = rowsOf<{ applied: string | null }>(
      await db.execute(sql`select max(created_at)::text as applied from drizzle.__drizzle_migrations`),
    );
    appliedAt = row?.applied ? Number(row.applied) : null;
  } catch (err) {
    // No migration table (or schema) yet means nothing was applied; anything else is an outage.
    if (!UNDEFINED_TABLE.has((err as { code?: string }).code ?? '')) throw err;
  }
  const applied = journal.entries.findLast((entry) => appliedAt !== null && entry.when <= appliedAt)?.tag ?? null;
  return { current: latest === undefined || (appliedAt !== null && appliedAt >= latest.when), expected, applied };
}
