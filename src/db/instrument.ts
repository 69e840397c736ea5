import type { PGlite, Transaction } from '@electric-sql/pglite';
import type postgres from 'postgres';
import { classifyDbError, type DbErrorType, markDatabaseError } from './errors';

/** What a statement does, as a bounded label (lexecon_db_query_duration_seconds{operation}). */
export const DB_OPERATIONS = ['select', 'insert', 'update', 'delete', 'other'] as const;
export type DbOperation = (typeof DB_OPERATIONS)[number];

/** What the driver wrappers report: every statement and transaction, timed, with bounded labels. */
export interface DbObserver {
  query(operation: DbOperation, table: string, seconds: number): void;
  failed(errorType: DbErrorType): void;
  transaction(seconds: number): void;
  /** Runs a statement in a span (see Tracing.inSpan); absent: no spans. */
  trace?<T>(name: string, attributes: Record<string, string>, run: () => T): T;
}

const TABLES = new Set(['ledger_entries', 'policies', 'api_keys', 'pg_stat_activity']);
const described = new Map<string, { operation: DbOperation; table: string }>();

/**
 * Operation and table of a statement, from its text. Statements are parameterised, so their texts
 * are few; the table is one of ours or `other`, so no statement can create a new label value.
 */
export function describeStatement(text: string): { operation: DbOperation; table: string } {
  let description = described.get(text);
  if (description) return description;
  const head = text.slice(0, 400).toLowerCase();
  // A statement led by a data-modifying CTE (`with x as (insert into t …) …`) is that write.
  const leadingWrite = /^\s*with\s+\w+\s+as\s+\(\s*(insert|update|delete)\b/.exec(head)?.[1];
  const keyword = leadingWrite ?? /^\s*(?:with\b[\s\S]*?\)\s*)?(select|insert|update|delete)\b/.exec(head)?.[1];
  const operation = (keyword ?? 'other') as DbOperation;
  const target =
    operation === 'insert'
      ? /\binto\s+"?(\w+)"?/.exec(head)
      : operation === 'update'
        ? /\bupdate\s+"?(\w+)"?/.exec(head)
        : /\bfrom\s+"?(\w+)"?/.exec(head);
  const table = target?.[1] && TABLES.has(target[1]) ? target[1] : 'other';
  description = { operation, table };
  if (described.size < 1_000) described.set(text, description);
  return description;
}

function timed<T>(observer: DbObserver, text: string, run: () => PromiseLike<T>): Promise<T> {
  const { operation, table } = describeStatement(text);
  const measured = async () => {
    const started = performance.now();
    try {
      const result = await run();
      observer.query(operation, table, (performance.now() - started) / 1000);
      return result;
    } catch (err) {
      observer.failed(classifyDbError(markDatabaseError(err)));
      throw err;
    }
  };
  if (!observer.trace) return measured();
  // OpenTelemetry database semantic conventions; the text is parameterised, so it holds no values.
  return observer.trace(
    `${operation} ${table}`,
    {
      'db.system.name': 'postgresql',
      'db.operation.name': operation,
      'db.collection.name': table,
      'db.query.text': text.length > 2000 ? `${text.slice(0, 2000)}…` : text,
    },
    measured,
  );
}

export interface PostgresGuard {
  observer?: DbObserver;
  /**
   * A statement (or transaction, twice this) the server has not answered by then fails as the
   * database being unavailable. Longer than the server's own statement_timeout (src/db/client.ts),
   * so it fires only when the server cannot answer at all.
   */
  deadlineMs: number;
  /** Called on such a timeout: the pool's connections may be silently dead and should be replaced. */
  onTimeout(): void;
}

const silentObserver: DbObserver = { query() {}, failed() {}, transaction() {} };

/**
 * postgres.js as drizzle uses it: `unsafe(text, params)` (awaited directly or through `.values()`)
 * and `begin(fn)` for transactions, whose `fn` gets a client that must be wrapped too. Besides
 * timing, every statement gets a deadline: a connection to a server that stopped answering (a
 * network that drops packets) would otherwise hold a request, and the serial ledger commit behind
 * it, forever. Every error raised here is marked as the database's (see src/db/errors.ts).
 */
export function instrumentPostgres(sql: postgres.Sql, guard: PostgresGuard): postgres.Sql {
  const observer = guard.observer ?? silentObserver;
  return new Proxy(sql, {
    get(target, property) {
      if (property === 'unsafe') {
        return (text: string, params?: unknown[], options?: unknown) => {
          const query = (target.unsafe as (...args: unknown[]) => postgres.PendingQuery<postgres.Row[]>)(
            text,
            params,
            options,
          );
          const run = (execute: () => PromiseLike<unknown>) =>
            timed(observer, text, () => withDeadline(execute, guard.deadlineMs, guard.onTimeout));
          return {
            values: () => run(() => query.values()),
            // biome-ignore lint/suspicious/noThenProperty: drizzle awaits the query object itself
            then: (onFulfilled?: (value: unknown) => unknown, onRejected?: (reason: unknown) => unknown) =>
              run(() => query).then(onFulfilled, onRejected),
          };
        };
      }
      if (property === 'begin') {
        return async (...args: unknown[]) => {
          const callback = args.at(-1) as (client: postgres.TransactionSql) => Promise<unknown>;
          const started = performance.now();
          try {
            return await markingTransaction(callback, (scoped) =>
              withDeadline(
                () =>
                  (target.begin as (...a: unknown[]) => Promise<unknown>)(
                    ...args.slice(0, -1),
                    (client: postgres.TransactionSql) =>
                      scoped(
                        instrumentPostgres(
                          client as unknown as postgres.Sql,
                          guard,
                        ) as unknown as postgres.TransactionSql,
                      ),
                  ),
                guard.deadlineMs * 2,
                guard.onTimeout,
              ),
            );
          } finally {
            observer.transaction((performance.now() - started) / 1000);
          }
        };
      }
      return bound(target, property);
    },
  });
}

/**
 * Runs a transaction whose body is `callback`, started by `begin` with a wrapper of it. BEGIN,
 * COMMIT, ROLLBACK and the deadline fail as the database's (marked); the callback's own errors pass
 * as they are (its statements' errors are marked already).
 */
async function markingTransaction<C, T>(
  callback: (client: C) => Promise<T>,
  begin: (scoped: (client: C) => Promise<T>) => Promise<T>,
): Promise<T> {
  let thrownByCallback: unknown;
  try {
    return await begin(async (client) => {
      try {
        return await callback(client);
      } catch (err) {
        thrownByCallback = err;
        throw err;
      }
    });
  } catch (err) {
    throw err === thrownByCallback ? err : markDatabaseError(err);
  }
}

/** Rejects with a STATEMENT_TIMEOUT (a connection-class failure: 503, retry) when `run` takes too long. */
function withDeadline<T>(run: () => PromiseLike<T>, ms: number, onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onTimeout();
      reject(
        markDatabaseError(
          Object.assign(new Error(`no answer from the database within ${ms} ms`), { code: 'STATEMENT_TIMEOUT' }),
        ),
      );
    }, ms);
  });
  return Promise.race([Promise.resolve(run()), deadline]).finally(() => clearTimeout(timer));
}

/** A property of the real object, methods bound to it (drivers use private fields and closures). */
function bound(target: object, property: string | symbol): unknown {
  const value = Reflect.get(target, property);
  return typeof value === 'function' ? value.bind(target) : value;
}

/**
 * PGlite as drizzle uses it: `query`, `exec` and `transaction(fn)`; also counts queries in flight
 * and marks every error as the database's.
 */
export function instrumentPglite(
  client: PGlite,
  observer: DbObserver = silentObserver,
): { client: PGlite; inFlight(): number } {
  let inFlight = 0;
  const track = <T>(text: string, run: () => Promise<T>) => {
    inFlight++;
    return timed(observer, text, run).finally(() => {
      inFlight--;
    });
  };
  const wrapQueries = <C extends PGlite | Transaction>(target: C): C =>
    new Proxy(target, {
      get(t, property) {
        if (property === 'query' || property === 'exec') {
          const run = bound(t, property) as (text: string, ...rest: unknown[]) => Promise<unknown>;
          return (text: string, ...rest: unknown[]) => track(text, () => run(text, ...rest));
        }
        return bound(t, property);
      },
    });
  const wrapped = new Proxy(client, {
    get(target, property) {
      if (property === 'transaction') {
        return async <T>(callback: (tx: Transaction) => Promise<T>) => {
          const started = performance.now();
          try {
            return await markingTransaction(callback, (scoped) => target.transaction((tx) => scoped(wrapQueries(tx))));
          } finally {
            observer.transaction((performance.now() - started) / 1000);
          }
        };
      }
      if (property === 'query' || property === 'exec') return Reflect.get(wrapQueries(target), property);
      return bound(target, property);
    },
  });
  return { client: wrapped, inFlight: () => inFlight };
}
