import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import type { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromBase32, timeStep, totpAt } from '../src/auth/totp';
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
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver';

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
  let provider: BasicTracerProvider;
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
