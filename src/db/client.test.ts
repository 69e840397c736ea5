import { eq, sql } from 'drizzle-orm';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { failure } from '../../tests/support/failure';
import { withDatabase } from '../../tests/support/global-setup';
import { startTcpProxy, type TcpProxy } from '../../tests/support/tcp-proxy';
import { clientDeadlineMs, type Database, openPostgres } from './client';
import { classifyDbError, isDatabaseUnavailable } from './errors';
import { backgroundTasks } from './schema';
import { rowsOf } from './sql';

const postgresTemplate = inject('postgresTemplate');

describe('the client deadline', () => {
  it('waits past the server’s statement_timeout: half as long again, at least 1 s more', () => {
    expect(clientDeadlineMs(100)).toBe(1_100);
    expect(clientDeadlineMs(5_000)).toBe(7_500);
  });
});

describe.runIf(postgresTemplate)('the PostgreSQL pool', () => {
  const settings = postgresTemplate as { adminUrl: string; template: string };
  const name = `lexecon_client_${process.pid}`;
  const STATEMENT_TIMEOUT_MS = 300;
  let admin: postgres.Sql;
  let proxy: TcpProxy;
  let database: Database;

  beforeAll(async () => {
    admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name} template ${settings.template}`);
    const target = new URL(settings.adminUrl);
    proxy = await startTcpProxy({ host: target.hostname, port: Number(target.port || 5432) });
    const url = new URL(withDatabase(settings.adminUrl, name));
    url.hostname = '127.0.0.1';
    url.port = String(proxy.port);
    database = openPostgres(url.toString(), { poolMax: 1, statementTimeoutMs: STATEMENT_TIMEOUT_MS });
  });

  afterAll(async () => {
    await database?.close();
    await proxy?.close();
    await admin?.unsafe(`drop database if exists ${name} with (force)`);
    await admin?.end();
  });

  const backendPid = async () =>
    rowsOf<{ pid: number }>(await database.db.execute(sql`select pg_backend_pid() as pid`))[0]?.pid;

  it('has the server cancel a statement past LEXECON_DB_STATEMENT_TIMEOUT_MS as a timeout, on a connection it keeps using', async () => {
    const before = await backendPid();
    const err = await failure(() => database.db.execute(sql`select pg_sleep(5)`));
    expect(isDatabaseUnavailable(err)).toBe(true);
    expect(classifyDbError(err)).toBe('timeout');
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('57014');
    expect(await backendPid()).toBe(before);
  });

  it('replaces its pool after a silent network with one that stores JSON as the first does', async () => {
    const write = (state: Record<string, unknown>) =>
      database.db
        .insert(backgroundTasks)
        .values({ name: 'client-test', holder: 'test', leaseUntil: new Date(), state })
        .onConflictDoUpdate({ target: backgroundTasks.name, set: { state } });
    await write({ round: 1 });
    const before = await backendPid();

    proxy.stall();
    const err = await failure(() => database.db.execute(sql`select 1`));
    await proxy.resume();
    expect((err as { cause?: { code?: string } }).cause?.code).toBe('STATEMENT_TIMEOUT');

    await write({ round: 2 });
    expect(await backendPid()).not.toBe(before);
    const [row] = await database.db
      .select({ state: backgroundTasks.state, type: sql<string>`jsonb_typeof(${backgroundTasks.state})` })
      .from(backgroundTasks)
      .where(eq(backgroundTasks.name, 'client-test'));
    expect(row).toEqual({ state: { round: 2 }, type: 'object' });
  });
});
