import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { decisionRequest } from './support/app';
import {
  cleanUpProcesses,
  freshRequest,
  type LexeconProcess,
  policyFile,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { APPEND_LOCK_KEY, openPostgresFixture, type PostgresFixture } from './support/postgres-fixture';

/**
 * Readiness tells whether this instance can write: the real process while another PostgreSQL
 * session holds the ledger's locks past the statement deadline, and after.
 */
afterAll(cleanUpProcesses);

const STATEMENT_TIMEOUT_MS = 1_000;
const postgresTemplate = inject('postgresTemplate');

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
const ledgerCheck = (body: any) => body.checks.find((c: { name: string }) => c.name === 'ledger');

describe.runIf(postgresTemplate)('readiness of the Node process while ledger writes stall on PostgreSQL', () => {
  let fixture: PostgresFixture;
  let superuser: postgres.Sql;
  let service: LexeconProcess;
  const answered: string[] = [];

  beforeAll(async () => {
    fixture = await openPostgresFixture('ready_writes');
    superuser = fixture.superuser;
    service = await spawnLexecon({
      DATABASE_URL: fixture.directUrl,
      DB_POOL_MAX: '4',
      LEXECON_DB_STATEMENT_TIMEOUT_MS: String(STATEMENT_TIMEOUT_MS),
      LEXECON_DATA_DIR: tempDir(),
      LEXECON_POLICY_FILE: policyFile(),
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

  const decide = async () => {
    const res = await freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest() });
    if (res.status === 200) answered.push(res.body.decision_id);
    return res;
  };
  const ready = () => freshRequest(service.port, 'GET', '/health/ready', { key: null });

  /**
   * Holds `lock` in a superuser transaction while `during` runs, then releases it and expects
   * readiness back with no decision in between, and decisions working after.
   */
  async function stallWrites(lock: string) {
    expect((await decide()).status).toBe(200);
    const holder = await superuser.reserve();
    try {
      await holder`begin`;
      await holder.unsafe(lock);
      const refused = await decide();
      expect(refused.status).toBe(503);
      expect(refused.body.error.code).toBe('DATABASE_UNAVAILABLE');
      expect(refused.body.allowed).toBeUndefined();

      for (const res of [await ready(), await freshRequest(service.port, 'GET', '/health', { key: null })]) {
        expect(res.status).toBe(503);
        expect(ledgerCheck(res.body)).toMatchObject({
          status: 'unhealthy',
          details: {
            writes: {
              since: expect.any(String),
              consecutive_failures: expect.any(Number),
              error: expect.stringMatching(/^[A-Z0-9_]+$/),
            },
            message: expect.stringContaining('ledger appends are failing'),
          },
        });
      }
    } finally {
      await holder`rollback`;
      holder.release();
    }

    const decisionsBefore = answered.length;
    await waitFor('readiness to return to 200 without decision traffic', async () => {
      const res = await ready();
      return res.status === 200 ? res : undefined;
    });
    expect(answered.length).toBe(decisionsBefore);
    for (let i = 0; i < 3; i++) {
      const res = await decide();
      expect(res.status, JSON.stringify(res.body)).toBe(200);
      expect(res.body.allowed).toBe(true);
    }
  }

  it('answers readiness 503 with the reason while another session holds the append lock past the statement deadline, and 200 again after it is released, before any decision', async () => {
    await stallWrites(`select pg_advisory_xact_lock(${APPEND_LOCK_KEY})`);
  }, 60_000);

  it('answers readiness 503 with the reason while the ledger table is locked past the statement deadline, and 200 again after it is released, before any decision', async () => {
    await stallWrites('lock table ledger_entries in access exclusive mode');
  }, 60_000);

  it('keeps every answered decision in the verified chain', async () => {
    expect((await freshRequest(service.port, 'GET', '/api/ledger/verify')).body).toMatchObject({ valid: true });
    for (const id of answered) {
      const found = await freshRequest(service.port, 'GET', `/api/audit/decisions/${id}`);
      expect(found.status, id).toBe(200);
    }
  });
});
