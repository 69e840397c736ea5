import { connect } from 'node:net';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decisionRequest, samplePolicy } from './support/app';
import {
  ADMIN_KEY,
  cleanUpProcesses,
  freshRequest,
  type LexeconProcess,
  metricValue,
  policyFile,
  seededDataDir,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { APPEND_LOCK_KEY, openPostgresFixture, type PostgresFixture } from './support/postgres-fixture';

/**
 * The real process against faults of the database client: PostgreSQL holding a lock past the
 * statement deadline, a network that goes silent, and a client that hangs up mid-upload.
 */
afterAll(cleanUpProcesses);

const STATEMENT_TIMEOUT_MS = 1_000;
const postgresTemplate = inject('postgresTemplate');

async function scrape(service: LexeconProcess): Promise<string> {
  const res = await fetch(`${service.url}/metrics`);
  expect(res.status).toBe(200);
  return res.text();
}

describe.runIf(postgresTemplate)('the Node process when PostgreSQL stalls past the statement deadline', () => {
  let fixture: PostgresFixture;
  let superuser: postgres.Sql;
  let proxy: PostgresFixture['proxy'];
  let service: LexeconProcess;
  let policyVersion = 1;

  beforeAll(async () => {
    fixture = await openPostgresFixture('dbfaults');
    ({ superuser, proxy } = fixture);
    service = await spawnLexecon({
      DATABASE_URL: fixture.url,
      DB_POOL_MAX: '4',
      LEXECON_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      LEXECON_DATA_DIR: tempDir(),
      LEXECON_POLICY_FILE: policyFile(),
      LEXECON_POLICY_REFRESH_MS: '200',
      LEXECON_LEDGER_VERIFY_INTERVAL_MS: '1000',
      LEXECON_HEALTH_CACHE_MS: '0',
      LEXECON_SHUTDOWN_DELAY_MS: '0',
    });
    await service.listening;
  });

  afterAll(async () => {
    if (service && service.child.exitCode === null) {
      service.child.kill('SIGTERM');
      await service.exited;
    }
    await fixture?.close();
  });

  const decide = (requestId: string) =>
    freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest({ request_id: requestId }) });

  async function committedWith(prefix: string): Promise<number> {
    const [row] = await superuser.unsafe(
      `select count(*)::int as n from ledger_entries where data->>'request_id' like $1`,
      [`${prefix}%`],
    );
    return (row as unknown as { n: number }).n;
  }

  /** Decides, loads a policy, creates a key and lets the auditor write its state: all on this instance. */
  async function expectWritesWork(label: string) {
    const since = new Date();
    const decided = await waitFor(`${label}: a decision answered 200 again`, async () => {
      const res = await decide(`${label}-after`);
      return res.status === 200 ? res : undefined;
    });
    expect(decided.body.allowed).toBe(true);
    for (let i = 0; i < 3; i++) {
      const res = await decide(`${label}-after-${i}`);
      expect(res.status, JSON.stringify(res.body)).toBe(200);
    }
    policyVersion++;
    const loaded = await freshRequest(service.port, 'POST', '/api/policies', {
      body: { ...samplePolicy, version: `${policyVersion}.0` },
    });
    expect(loaded.status, JSON.stringify(loaded.body)).toBe(201);
    const key = await freshRequest(service.port, 'POST', '/api/keys', {
      body: { name: `${label}-key`, role: 'agent' },
    });
    expect(key.status, JSON.stringify(key.body)).toBe(201);
    // The auditor's next pass writes its shared state: a JSON object, never a JSON string of one.
    const tasks = await waitFor(`${label}: the auditor to write its state after recovery`, async () => {
      const rows = (await superuser.unsafe(
        `select name, jsonb_typeof(state) as type, state->'last'->>'at' as at from background_tasks`,
      )) as unknown as { name: string; type: string; at: string | null }[];
      const incremental = rows.find((row) => row.name === 'ledger_verify_incremental');
      if (rows.some((row) => row.type !== 'object')) return rows;
      return incremental?.at && new Date(incremental.at) > since ? rows : undefined;
    });
    for (const task of tasks) expect(task.type, task.name).toBe('object');
    const verification = await freshRequest(service.port, 'GET', '/api/ledger/verify');
    expect(verification.body).toMatchObject({ valid: true });
  }

  it('answers 503 DATABASE_UNAVAILABLE while the ledger table is locked, commits none of those decisions, and then writes again without a restart', async () => {
    expect((await decide('table-before')).status).toBe(200);
    const holder = await superuser.reserve();
    try {
      await holder`begin`;
      await holder`lock table ledger_entries in access exclusive mode`;
      const during = await Promise.all([decide('table-stalled-1'), decide('table-stalled-2')]);
      for (const res of during) {
        expect(res.status).toBe(503);
        expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
      }
    } finally {
      await holder`rollback`;
      holder.release();
    }
    await expectWritesWork('table');
    // Cancelled by the server before the client gave up: nothing of them committed once the lock went.
    expect(await committedWith('table-stalled')).toBe(0);
  }, 60_000);

  it('answers 503 while another session holds the ledger append lock, commits none of those decisions, and then writes again without a restart', async () => {
    const holder = await superuser.reserve();
    try {
      await holder.unsafe(`select pg_advisory_lock(${APPEND_LOCK_KEY})`);
      const res = await decide('advisory-stalled');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await holder.unsafe(`select pg_advisory_unlock(${APPEND_LOCK_KEY})`);
      holder.release();
    }
    await expectWritesWork('advisory');
    expect(await committedWith('advisory-stalled')).toBe(0);
  }, 60_000);

  it('answers 503 when the network goes silent, replaces its pool, and then writes again with JSON intact without a restart', async () => {
    proxy.stall();
    try {
      const res = await decide('silent-stalled');
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await proxy.resume();
    }
    await expectWritesWork('silent');
  }, 90_000);
});

describe('the Node process when a client hangs up mid-upload', () => {
  it('counts one REQUEST_ABORTED, no DATABASE_UNAVAILABLE and no database error', async () => {
    const service = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_POLICY_FILE: policyFile(),
      LEXECON_SHUTDOWN_DELAY_MS: '0',
    });
    await service.listening;
    const before = await scrape(service);

    // Headers, then (once the server has taken the request: its 100 Continue) part of a chunked
    // body, then the socket is destroyed.
    const socket = connect(service.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    const continued = new Promise<void>((resolve) => {
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString();
        if (received.includes('100 Continue')) resolve();
      });
    });
    socket.write(
      `POST /api/decide HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${ADMIN_KEY}\r\n` +
        'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n',
    );
    await continued;
    const part = '{"actor":"user",';
    await new Promise((resolve) => socket.write(`${part.length.toString(16)}\r\n${part}\r\n`, resolve));
    socket.destroy();
    await waitFor('the aborted request to be answered', async () =>
      service.logs().find((line) => line.message === 'request' && line.path === '/api/decide'),
    );

    const after = await scrape(service);
    const counted = (text: string, code: string) => metricValue(text, 'lexecon_errors_total', { error_type: code });
    expect(counted(after, 'REQUEST_ABORTED') - counted(before, 'REQUEST_ABORTED')).toBe(1);
    expect(metricValue(after, 'lexecon_errors_total', { error_type: 'REQUEST_ABORTED', severity: 'info' })).toBe(1);
    expect(counted(after, 'DATABASE_UNAVAILABLE')).toBe(counted(before, 'DATABASE_UNAVAILABLE'));
    expect(metricValue(after, 'lexecon_db_errors_total')).toBe(metricValue(before, 'lexecon_db_errors_total'));

    // The service carries on.
    expect((await service.call('POST', '/api/decide', decisionRequest())).status).toBe(200);
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  }, 60_000);
});
