import { sql } from 'drizzle-orm';
import type { Database, Db, Tx } from '../db/client';
import type { Logger } from '../telemetry/logger';
import type { Principal } from './permissions';

/**
 * Credentials ended on one instance (a key revoked, a session ended, a user disabled) are announced
 * on this PostgreSQL channel, so every instance drops them from its caches at once instead of
 * serving them until the cache entry's 5 s TTL runs out. The TTL stays as the bound for the moments
 * an instance's listening connection is down.
 */
export const CREDENTIALS_CHANNEL = 'credentials_ended';

export interface EndedCredential {
  kind: 'api_key' | 'session' | 'user';
  id: string;
}

const PAYLOAD = /^(api_key|session|user):([A-Za-z0-9_]{1,64})$/;

/**
 * What an end makes stale on this instance: the API-key and session stores, by the little of them
 * this needs (they import this file to announce ends, so it names no store type).
 */
export interface CredentialCaches {
  apiKeys: { forget(id: string): void };
  sessions: { cache: { deleteWhere(predicate: (principal: Principal) => boolean): number } };
}

/** Announces an end; inside a transaction PostgreSQL delivers it only if and when that commits. */
export async function announceEnded(db: Db | Tx, ended: EndedCredential): Promise<void> {
  await db.execute(sql`select pg_notify(${CREDENTIALS_CHANNEL}, ${`${ended.kind}:${ended.id}`})`);
}

export function parseEnded(payload: string): EndedCredential | undefined {
  const match = PAYLOAD.exec(payload);
  return match ? { kind: match[1] as EndedCredential['kind'], id: match[2] as string } : undefined;
}

/** Drops what an end makes stale from this instance's caches. */
export function forgetEnded(caches: CredentialCaches, ended: EndedCredential): void {
  if (ended.kind === 'api_key') caches.apiKeys.forget(ended.id);
  else if (ended.kind === 'session') caches.sessions.cache.deleteWhere((principal) => principal.id === ended.id);
  else caches.sessions.cache.deleteWhere((principal) => principal.kind === 'session' && principal.userId === ended.id);
}

/** Listens for ends announced by any instance; resolves to the function that stops listening. */
export async function followEnded(
  database: Pick<Database, 'listen'>,
  caches: CredentialCaches,
  logger: Logger,
): Promise<() => Promise<void>> {
  if (!database.listen) return async () => {};
  return database.listen(CREDENTIALS_CHANNEL, (payload) => {
    const ended = parseEnded(payload);
    if (ended) forgetEnded(caches, ended);
    else logger.warn('ignored a malformed credential notification', { channel: CREDENTIALS_CHANNEL });
  });
}
