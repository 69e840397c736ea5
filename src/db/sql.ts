import { sql } from 'drizzle-orm';
import type { Db } from './client';

/**
 * Driver-neutral helpers over a drizzle handle. Kept apart from the client factory so runtimes
 * without PGlite or a file system (Workers) can use them without bundling either.
 */

/** Rows of a raw `db.execute()` result: postgres.js returns an array, PGlite an object with `rows`. */
export function rowsOf<T>(result: unknown): T[] {
  return (Array.isArray(result) ? result : (result as { rows: T[] }).rows) as T[];
}

export async function ping(db: Db): Promise<void> {
  await db.execute(sql`select 1`);
}
