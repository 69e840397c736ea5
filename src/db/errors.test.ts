import { sql } from 'drizzle-orm';
import { describe, expect, it } from 'vitest';
import { backends } from '../../tests/support/databases';
import { failure } from '../../tests/support/failure';
import { type Database, openPostgres } from './client';
import { classifyDbError, isDatabaseError, isDatabaseUnavailable } from './errors';

describe('where an error came from', () => {
  it('reads a refused connection as the database being unavailable', async () => {
    const database = openPostgres('postgres://postgres@127.0.0.1:1/x', { poolMax: 1 });
    try {
      const err = await failure(() => database.db.execute(sql`select 1`));
      expect(isDatabaseError(err)).toBe(true);
      expect(isDatabaseUnavailable(err)).toBe(true);
      expect(classifyDbError(err)).toBe('connection');
    } finally {
      await database.close();
    }
  });

  it('does not read a socket error from elsewhere (a client hanging up mid-upload) as the database', () => {
    for (const code of ['ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'STATEMENT_TIMEOUT', '57014', '08006']) {
      const err = Object.assign(new Error('aborted'), { code });
      expect(isDatabaseUnavailable(err), code).toBe(false);
      expect(isDatabaseUnavailable(new Error('wrapped', { cause: err })), code).toBe(false);
    }
  });

  // The migrated template, not a fresh initdb.
  const openPglite = async () => (await backends()[0]?.open())?.database as Database;

  it('reads an embedded database closed under a request as unavailable, and a closed one only then', async () => {
    const database = await openPglite();
    await database.close();
    const err = await failure(() => database.db.execute(sql`select 1`));
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(isDatabaseUnavailable(new Error('PGlite is closed'))).toBe(false);
  });

  it('keeps a statement that is merely wrong a query error, not an outage', async () => {
    const database = await openPglite();
    try {
      const err = await failure(() => database.db.execute(sql`select * from no_such_table`));
      expect(isDatabaseError(err)).toBe(true);
      expect(isDatabaseUnavailable(err)).toBe(false);
      expect(classifyDbError(err)).toBe('query');
    } finally {
      await database.close();
    }
  });
});
