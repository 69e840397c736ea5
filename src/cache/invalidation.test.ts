import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestMetrics,
} from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { CONDITION_TIMEOUT_MS } from '../../tests/support/wait';
import { createApiKeyStore } from '../auth/api-keys';
import { announceEnded, followEnded } from '../auth/invalidation';
import { portableSha256Hex } from '../ledger/crypto';
import { createLedger } from '../ledger/store';
import { silentLogger } from '../telemetry/logger';
import { noopTelemetry } from '../telemetry/telemetry';
import type { LruCache } from './lru';

const evictions = (text: string, cache: string, reason: string) =>
  Number(
    new RegExp(`^lexecon_cache_evictions_total\\{cache_name="${cache}",reason="${reason}"\\} (\\d+)$`, 'm').exec(
      text,
    )?.[1],
  );

describe.each(backends())('cache invalidation on $name', (backend) => {
  let tdb: TestDatabase;
  let metrics: TestMetrics;
  let t: TestApp;

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    // A refresh interval longer than any test, so only invalidation can change what is served.
    t = await createTestApp(tdb.database, { metrics, policyRefreshMs: 3_600_000 });
  });
  afterEach(() => tdb.close());

  it('never serves a revoked API key from the cache, and counts the revocation as an invalidation', async () => {
    const created = (await t.request('POST', '/api/keys', { body: { name: 'cached agent', role: 'agent' } })).body;
    for (let i = 0; i < 2; i++) {
      const res = await t.request('POST', '/api/decide', { key: created.secret, body: decisionRequest() });
      expect(res.status).toBe(200);
    }
    expect(t.services.apiKeys.cache.stats().hits).toBeGreaterThanOrEqual(1);

    expect((await t.request('DELETE', `/api/keys/${created.key.id}`)).status).toBe(200);
    const refused = await t.request('POST', '/api/decide', { key: created.secret, body: decisionRequest() });
    expect(refused.status).toBe(401);
    expect(evictions(await metrics.render(), 'api_keys', 'invalidated')).toBe(1);
  });

  it('keys cached credentials by their SHA-256, so the cache never holds a secret', async () => {
    await t.request('GET', '/api/policies', { key: t.keys.auditor });
    const keys: string[] = [];
    (t.services.apiKeys.cache as LruCache<string, unknown>).deleteWhere((_value, key) => {
      keys.push(key);
      return false;
    });
    expect(keys).toContain(portableSha256Hex(t.keys.auditor));
    for (const secret of Object.values(t.keys)) expect(keys).not.toContain(secret);
  });

  it('stops accepting a key revoked by another instance once its short cache TTL has passed', async () => {
    const clock = { now: Date.now() };
    const other = await tdb.openInstance();
    const ledger = createLedger({ db: other.db, signingKey: t.signingKey, telemetry: noopTelemetry });
    const store = createApiKeyStore({ db: other.db, ledger, telemetry: noopTelemetry, now: () => clock.now });
    const created = (await t.request('POST', '/api/keys', { body: { name: 'shared agent', role: 'agent' } })).body;
    expect(await store.authenticate(created.secret)).toMatchObject({ id: created.key.id });

    await t.request('DELETE', `/api/keys/${created.key.id}`);
    clock.now += 5_000;
    expect(await store.authenticate(created.secret)).toBeUndefined();
  });

  it('serves a newly loaded policy at once, long before the refresh interval, counting the old one invalidated', async () => {
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    const permitted = await t.request('POST', '/api/decide', { body: decisionRequest() });
    expect(permitted.body.decision).toBe('permit');
    const before = evictions(await metrics.render(), 'policy', 'invalidated');

    const withoutRead = { ...samplePolicy, relations: samplePolicy.relations.slice(1) };
    expect((await t.request('POST', '/api/policies', { body: withoutRead })).status).toBe(201);
    const denied = await t.request('POST', '/api/decide', { body: decisionRequest() });
    expect(denied.body.decision).toBe('deny');

    expect(evictions(await metrics.render(), 'policy', 'invalidated')).toBe(before + 1);
    expect(t.services.policies.cache.stats()).toMatchObject({ items: 1 });
  });
});

// Announcements need a server other instances listen to: PostgreSQL (an embedded PGlite has no other instance).
const postgres = backends().find((backend) => backend.name === 'postgres');

describe.runIf(postgres)('credentials ended on one instance, on PostgreSQL', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let other: TestApp;
  let stopFollowing: () => Promise<void>;
  // Frozen: no cache entry ever expires, so only an announcement can make the other instance forget.
  const clock = { now: () => Date.parse('2026-11-27T12:00:00Z') };

  beforeEach(async () => {
    tdb = await (postgres as NonNullable<typeof postgres>).open();
    t = await createTestApp(tdb.database, { services: { now: clock.now } });
    const second = await tdb.openInstance();
    other = await createTestApp(second, { signingKey: t.signingKey, services: { now: clock.now } });
    stopFollowing = await followEnded(second, other.services, silentLogger);
  });
  afterEach(async () => {
    await stopFollowing?.();
    await tdb.close();
  });

  /**
   * Retries until `check` holds: the announcement crosses the server asynchronously. The clock is
   * frozen, so however long that takes, only the announcement can make it hold.
   */
  async function eventually(check: () => Promise<boolean>): Promise<boolean> {
    const deadline = Date.now() + CONDITION_TIMEOUT_MS;
    while (Date.now() < deadline) {
      if (await check()) return true;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return false;
  }

  it('refuses, on every instance, a key revoked on one, while its cached entry is still fresh', async () => {
    const created = (await t.request('POST', '/api/keys', { body: { name: 'shared agent', role: 'agent' } })).body;
    expect(
      (await other.request('POST', '/api/decide', { key: created.secret, body: decisionRequest() })).status,
    ).not.toBe(401);
    expect(other.services.apiKeys.cache.stats().items).toBeGreaterThan(0);
    await t.request('DELETE', `/api/keys/${created.key.id}`);
    const refused = await eventually(
      async () => (await other.request('GET', '/api/auth/me', { key: created.secret })).status === 401,
    );
    expect(refused).toBe(true);
  });

  it('refuses, on every instance, a session logged out or a user disabled on one', async () => {
    const password = 'a long enough passphrase';
    const user = await t.services.users.create({ username: 'alice', password, role: 'auditor', createdBy: 'test' });
    const signIn = async () =>
      (await t.request('POST', '/api/auth/login', { key: null, body: { username: 'alice', password } })).body.token;
    const [loggedOut, disabled] = [await signIn(), await signIn()];
    for (const token of [loggedOut, disabled]) {
      expect((await other.request('GET', '/api/auth/me', { key: token })).status).toBe(200);
    }
    await t.request('POST', '/api/auth/logout', { key: loggedOut });
    expect(
      await eventually(async () => (await other.request('GET', '/api/auth/me', { key: loggedOut })).status === 401),
    ).toBe(true);
    expect((await other.request('GET', '/api/auth/me', { key: disabled })).status).toBe(200);
    await t.request('POST', `/api/users/${user.id}/disable`);
    expect(
      await eventually(async () => (await other.request('GET', '/api/auth/me', { key: disabled })).status === 401),
    ).toBe(true);
  });

  it('announces nothing for a revocation whose transaction rolled back', async () => {
    const created = (await t.request('POST', '/api/keys', { body: { name: 'kept agent', role: 'agent' } })).body;
    expect((await other.request('GET', '/api/auth/me', { key: created.secret })).status).toBe(200);
    await expect(
      tdb.database.db.transaction(async (tx) => {
        await announceEnded(tx, { kind: 'api_key', id: created.key.id });
        throw new Error('rolled back');
      }),
    ).rejects.toThrow('rolled back');
    // A later announcement arrives after the rolled-back one would have: once it is seen, the first was not sent.
    const marker = (await t.request('POST', '/api/keys', { body: { name: 'marker', role: 'agent' } })).body;
    expect((await other.request('GET', '/api/auth/me', { key: marker.secret })).status).toBe(200);
    await t.request('DELETE', `/api/keys/${marker.key.id}`);
    expect(
      await eventually(async () => (await other.request('GET', '/api/auth/me', { key: marker.secret })).status === 401),
    ).toBe(true);
    expect((await other.request('GET', '/api/auth/me', { key: created.secret })).status).toBe(200);
    expect(other.services.apiKeys.cache.stats().hits).toBeGreaterThan(0);
  });
});
