import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { TracerProvider } from '@opentelemetry/sdk-trace';
import type postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { fromBase32, timeStep, totpAt } from '../src/auth/totp';
import { type Database, openPostgres } from '../src/db/client';
import { createJsonLogger } from '../src/telemetry/logger';
import { createResource, createTracerProvider } from '../src/telemetry/sdk';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestMetrics,
} from './support/app';
import { backends, type TestDatabase } from './support/databases';
import { waitFor } from './support/lexecon-process';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver';
import { openPostgresFixture, type PostgresFixture } from './support/postgres-fixture';

/**
 * Every place telemetry and errors can carry text — log lines, exported spans, the metrics
 * exposition, error responses — captured while real credentials are used, mistyped and refused,
 * then searched for those credentials.
 */

const PASSWORD = 'canary-password-5d1e77a0';
const WRONG_PASSWORD = 'canary-wrong-password-91c3';

beforeAll(() => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
});

afterAll(() => {
  context.disable();
  propagation.disable();
});

describe.each(backends())('secrets on $name', (backend) => {
  let receiver: OtlpReceiver;
  let provider: TracerProvider;
  let database: TestDatabase;
  let metrics: TestMetrics;
  let t: TestApp;
  const logs: string[] = [];
  const responses: string[] = [];
  const secrets: Record<string, string> = { password: PASSWORD, wrongPassword: WRONG_PASSWORD };

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    provider = createTracerProvider({
      resource: createResource({ serviceName: 'lexecon', serviceVersion: 'test', instanceId: 'secrets' }),
      sampleRate: 1,
      tracesEndpoint: `${receiver.url}/v1/traces`,
      scheduledDelayMillis: 20,
    });
    metrics = createTestMetrics({ tracer: provider.getTracer('lexecon', 'test'), detailed: true });
    database = await backend.open({ observer: { ...metrics.observer, trace: metrics.telemetry.inSpan } });
    const logger = createJsonLogger(
      'debug',
      (line) => logs.push(line),
      () => metrics.telemetry.activeIds(),
    );
    t = await createTestApp(database.database, { metrics, logger });

    const call = async (...args: Parameters<TestApp['request']>) => {
      const res = await t.request(...args);
      responses.push(JSON.stringify(res.body), JSON.stringify([...res.headers]));
      return res;
    };
    secrets.adminKey = t.keys.admin;
    expect((await call('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    expect(
      (await call('POST', '/api/users', { body: { username: 'alice', password: PASSWORD, role: 'admin' } })).status,
    ).toBe(201);

    // A session: signed in, used, MFA enrolled, then refused after logout.
    const login = await t.request('POST', '/api/auth/login', {
      key: null,
      body: { username: 'alice', password: PASSWORD },
    });
    secrets.sessionToken = login.body.token;
    const enroll = await t.request('POST', '/api/auth/mfa/enroll', { key: secrets.sessionToken });
    secrets.totpSecret = enroll.body.secret;
    const code = totpAt(fromBase32(enroll.body.secret), timeStep(Date.now()));
    const confirm = await t.request('POST', '/api/auth/mfa/confirm', { key: secrets.sessionToken, body: { code } });
    secrets.backupCode = confirm.body.backup_codes[0];
    await call('POST', '/api/decide', { key: secrets.sessionToken, body: decisionRequest() });
    await call('GET', '/api/auth/me', { key: secrets.sessionToken });
    await call('POST', '/api/auth/logout', { key: secrets.sessionToken });
    await call('GET', '/api/auth/me', { key: secrets.sessionToken });

    // Sign-in again: pending, a backup code, then a wrong password and a guessed user.
    const pending = await t.request('POST', '/api/auth/login', {
      key: null,
      body: { username: 'alice', password: PASSWORD },
    });
    secrets.pendingToken = pending.body.token;
    await call('GET', '/api/ledger/head', { key: secrets.pendingToken });
    await call('POST', '/api/auth/mfa/verify', { key: secrets.pendingToken, body: { code: secrets.backupCode } });
    await call('POST', '/api/auth/login', { key: null, body: { username: 'alice', password: WRONG_PASSWORD } });
    await call('POST', '/api/auth/login', { key: null, body: { username: 'nobody', password: WRONG_PASSWORD } });

    // API keys: a new one used and refused after revocation; a made-up one; an oversized one.
    const created = await t.request('POST', '/api/keys', { body: { name: 'canary-key', role: 'agent' } });
    secrets.agentKey = created.body.secret;
    await call('POST', '/api/decide', { key: secrets.agentKey, body: decisionRequest() });
    await call('DELETE', `/api/keys/${created.body.key.id}`);
    await call('POST', '/api/decide', { key: secrets.agentKey, body: decisionRequest() });
    secrets.madeUpKey = 'lxk_canary-made-up-key-0b9f4e2d';
    await call('GET', '/api/ledger/head', { key: secrets.madeUpKey });
    // A password sent where an API key goes, and a malformed body carrying one.
    await call('GET', '/api/ledger/head', { key: PASSWORD });
    await call('POST', '/api/auth/login', { key: null, rawBody: `{"username":"alice","password":"${PASSWORD}"` });
    await call('POST', '/api/users', { body: { username: 'bob', password: PASSWORD, role: 'admin', extra: PASSWORD } });
    await provider.forceFlush();
  });

  afterAll(async () => {
    await provider?.shutdown();
    await receiver?.close();
    await database?.close();
  });

  it('used every credential for real (the search below is not vacuous)', () => {
    for (const [name, value] of Object.entries(secrets)) expect(value, name).toEqual(expect.any(String));
    expect(secrets.sessionToken).toMatch(/^lxs_/);
    expect(receiver.spans.length).toBeGreaterThan(50);
    expect(logs.length).toBeGreaterThan(15);
  });

  it('writes none of them to a log line', () => {
    const text = logs.join('\n');
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
  });

  it('puts none of them in a span, its attributes or its events', () => {
    const text = JSON.stringify(receiver.spans);
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
  });

  it('exposes none of them as a metric label', async () => {
    const text = await metrics.render();
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
    expect(text).not.toContain('alice');
  });

  it('echoes none of them in an error response', () => {
    const text = responses.join('\n');
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
  });

  it('records none of them in the ledger', async () => {
    const entries = await t.request('GET', '/api/ledger/entries?limit=500');
    const text = JSON.stringify(entries.body);
    expect(entries.body.entries.length).toBeGreaterThan(10);
    for (const [name, value] of Object.entries(secrets)) expect(text.includes(value), name).toBe(false);
  });
});

const postgresTemplate = inject('postgresTemplate');

/**
 * MFA enrollment while PostgreSQL stalls: the UPDATE that stores the new TOTP secret waits on a
 * locked row past the statement deadline, or its answer is lost in a network gone silent after the
 * server committed it. Either way the caller gets 503, and neither the secret nor any other query
 * parameter reaches a log line, a span or a response; no secret nobody was shown stays behind.
 */
describe.runIf(postgresTemplate)('secrets when PostgreSQL stalls during MFA enrollment', () => {
  // Long enough for the test to see the UPDATE wait, silence the network and release the row in time.
  const STATEMENT_TIMEOUT_MS = 4_000;
  // A TOTP secret as enrollment returns it: 20 random bytes in base32.
  const TOTP_SECRET = /[A-Z2-7]{32}/;
  let fixture: PostgresFixture;
  let superuser: postgres.Sql;
  let proxy: PostgresFixture['proxy'];
  let database: Database;
  let receiver: OtlpReceiver;
  let provider: TracerProvider;
  let t: TestApp;
  let token: string;
  // A parameter of every statement that touches carol's row.
  let userId: string;
  const logs: string[] = [];
  const responses: string[] = [];

  beforeAll(async () => {
    fixture = await openPostgresFixture('secrets_stall');
    ({ superuser, proxy } = fixture);
    receiver = await startOtlpReceiver();
    provider = createTracerProvider({
      resource: createResource({ serviceName: 'lexecon', serviceVersion: 'test', instanceId: 'secrets-stall' }),
      sampleRate: 1,
      tracesEndpoint: `${receiver.url}/v1/traces`,
      scheduledDelayMillis: 20,
    });
    const metrics = createTestMetrics({ tracer: provider.getTracer('lexecon', 'test') });
    database = openPostgres(fixture.url, {
      poolMax: 4,
      statementTimeoutMs: STATEMENT_TIMEOUT_MS,
      observer: { ...metrics.observer, trace: metrics.telemetry.inSpan },
    });
    const logger = createJsonLogger(
      'debug',
      (line) => logs.push(line),
      () => metrics.telemetry.activeIds(),
    );
    t = await createTestApp(database, { metrics, logger });
    const created = await t.request('POST', '/api/users', {
      body: { username: 'carol', password: PASSWORD, role: 'admin' },
    });
    expect(created.status).toBe(201);
    userId = created.body.user.id;
    expect(userId).toMatch(/^usr_/);
    const login = await t.request('POST', '/api/auth/login', {
      key: null,
      body: { username: 'carol', password: PASSWORD },
    });
    token = login.body.token;
  });

  afterAll(async () => {
    await provider?.shutdown();
    await receiver?.close();
    await database?.close();
    await fixture?.close();
  });

  async function enroll() {
    const res = await t.request('POST', '/api/auth/mfa/enroll', { key: token });
    if (res.status !== 200) responses.push(JSON.stringify(res.body), JSON.stringify([...res.headers]));
    return res;
  }

  async function pendingSecret(): Promise<string | null> {
    const [row] = await superuser`select mfa_secret from users where username = 'carol'`;
    return (row as { mfa_secret: string | null }).mfa_secret;
  }

  /** Holds carol's row locked in a transaction of its own until `release`. */
  async function lockCarol() {
    const holder = await superuser.reserve();
    await holder`begin`;
    await holder`select 1 from users where username = 'carol' for update`;
    return async () => {
      await holder`rollback`;
      holder.release();
    };
  }

  it('answers 503 while the row is locked past the deadline, and the server commits no secret afterwards', async () => {
    expect((await t.request('GET', '/api/auth/me', { key: token })).status).toBe(200);
    const release = await lockCarol();
    try {
      const res = await enroll();
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
    } finally {
      await release();
    }
    // Anything still running would commit now that the lock is gone: a later write on the row
    // waits for it, so by its end the row shows what committed.
    await superuser`update users set role = role where username = 'carol'`;
    expect(await pendingSecret()).toBeNull();
  }, 30_000);

  it('answers 503 when the answer is lost after the server committed, and clears that secret once the database is back', async () => {
    expect((await t.request('GET', '/api/auth/me', { key: token })).status).toBe(200);
    const release = await lockCarol();
    const answered = enroll();
    try {
      // The UPDATE has reached the server and waits for the row: now the network goes silent, and
      // the lock goes, so the server commits a secret whose answer never arrives.
      await waitFor(
        'the enrollment to wait for the row lock',
        async () => {
          const rows = await superuser`
          select 1 from pg_stat_activity
          where wait_event_type = 'Lock' and query like 'update "users" set "mfa_secret"%'`;
          return rows.length > 0 ? true : undefined;
        },
        10_000,
        10,
      );
      proxy.stall();
    } finally {
      await release();
    }
    expect(await waitFor('the committed secret', async () => (await pendingSecret()) ?? undefined)).toMatch(
      TOTP_SECRET,
    );
    const res = await answered;
    await proxy.resume();
    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('DATABASE_UNAVAILABLE');
    await waitFor(
      'the secret nobody was shown to be cleared',
      async () => ((await pendingSecret()) === null ? true : undefined),
      30_000,
    );
  }, 60_000);

  it('enrolls again once the database answers', async () => {
    const res = await waitFor('enrollment to work again', async () => {
      const attempt = await t.request('POST', '/api/auth/mfa/enroll', { key: token });
      return attempt.status === 200 ? attempt : undefined;
    });
    const code = totpAt(fromBase32(res.body.secret), timeStep(Date.now()));
    const confirmed = await t.request('POST', '/api/auth/mfa/confirm', { key: token, body: { code } });
    expect(confirmed.status).toBe(200);
    expect(await pendingSecret()).toBe(res.body.secret);
  }, 60_000);

  it('writes no TOTP secret, query parameter or credential to a log line, a span or an error response', async () => {
    await provider.forceFlush();
    const searched = { logs: logs.join('\n'), spans: JSON.stringify(receiver.spans), responses: responses.join('\n') };
    expect(logs.some((line) => line.includes('"DATABASE_UNAVAILABLE"'))).toBe(true);
    expect(receiver.spans.some((span) => span.events.some((event) => event.name === 'exception'))).toBe(true);
    for (const [where, text] of Object.entries(searched)) {
      expect(text, where).not.toMatch(TOTP_SECRET);
      expect(text, where).not.toContain('params');
      expect(text, where).not.toContain(token);
      expect(text, where).not.toContain(PASSWORD);
      expect(text, where).not.toContain(userId);
    }
  }, 60_000);
});
