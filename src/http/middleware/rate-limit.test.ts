import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestMetrics, TEST_RATE_LIMITS, type TestApp } from '../../../tests/support/app';
import { backends, type TestDatabase } from '../../../tests/support/databases';
import type { RateLimitSettings } from '../../rate-limit/settings';
import type { Services } from '../../services';
import { createClientIpResolver } from '../client-ip';
import type { AppEnv, AppSettings } from '../context';
import { handleError } from '../errors';
import { rateLimitByClientIp } from './rate-limit';
import { requestId } from './request-id';

/** A small app with the sign-in limiters mounted the way the auth routes mount them. */
function signInApp(services: Services, trustedProxies: string[] = []) {
  const settings: AppSettings = {
    serviceName: 'lexecon',
    version: 'test',
    maxBodyBytes: 1024,
    clientIp: createClientIpResolver({ peer: (c) => getConnInfo(c).remote.address, trustedProxies }),
  };
  const app = new Hono<AppEnv>();
  app.use(requestId());
  app.use(async (c, next) => {
    c.set('services', services);
    c.set('settings', settings);
    c.set('routes', new Set());
    await next();
  });
  app.post('/login', rateLimitByClientIp('login'), (c) => c.json({ ok: true }));
  app.post('/mfa', rateLimitByClientIp('mfa'), (c) => c.json({ ok: true }));
  app.onError(handleError);
  // What @hono/node-server passes as the env: the socket the request came in on.
  return (path: string, peer: string, headers: Record<string, string> = {}) =>
    app.request(path, { method: 'POST', headers }, { incoming: { socket: { remoteAddress: peer } } });
}

function counted(exposition: string, limiter: string): number {
  const match = new RegExp(`^lexecon_rate_limit_hits_total\\{[^}]*limiter="${limiter}"[^}]*\\} (\\d+)`, 'm').exec(
    exposition,
  );
  return Number(match?.[1]);
}

const limits = (overrides: Partial<RateLimitSettings>): RateLimitSettings => ({ ...TEST_RATE_LIMITS, ...overrides });

describe.each(backends())('rate limit middleware on $name', (backend) => {
  let tdb: TestDatabase;

  beforeAll(async () => {
    tdb = await backend.open();
  });
  afterAll(() => tdb.close());

  describe.each(['memory', 'postgres'] as const)('with the %s store', (store) => {
    it('ends a brute-force run of sign-ins in 429s with Retry-After and RateLimit headers, counted by limiter', async () => {
      const metrics = createTestMetrics();
      const t = await createTestApp(tdb.database, {
        metrics,
        services: { rateLimits: limits({ store, loginPerMinute: 5 }) },
      });
      const post = signInApp(t.services);
      const peer = `203.0.113.${store === 'memory' ? 1 : 2}`;

      const statuses: number[] = [];
      let last: Response | undefined;
      for (let i = 0; i < 8; i++) {
        last = await post('/login', peer);
        statuses.push(last.status);
      }
      expect(statuses).toEqual([200, 200, 200, 200, 200, 429, 429, 429]);
      const res = last as Response;
      expect(await res.json()).toEqual({
        error: {
          code: 'RATE_LIMITED',
          message: expect.stringMatching(/retry in \d+ s/),
          requestId: expect.any(String),
          details: { retry_after_seconds: 12 },
        },
      });
      expect(res.headers.get('retry-after')).toBe('12');
      expect(res.headers.get('ratelimit-limit')).toBe('5');
      expect(res.headers.get('ratelimit-remaining')).toBe('0');
      expect(Number(res.headers.get('ratelimit-reset'))).toBeGreaterThan(55);
      expect(res.headers.get('ratelimit-policy')).toBe('5;w=60');
      const exposition = await metrics.render();
      expect(counted(exposition, 'login')).toBe(3);
      expect(counted(exposition, 'mfa')).toBe(0);
      expect(exposition).not.toContain(peer);
    });

    it('ignores a spoofed X-Forwarded-For when no proxy is trusted', async () => {
      const t = await createTestApp(tdb.database, { services: { rateLimits: limits({ store, loginPerMinute: 3 }) } });
      const post = signInApp(t.services);
      const statuses: number[] = [];
      for (let i = 0; i < 6; i++) {
        const res = await post('/login', `198.51.100.${store === 'memory' ? 1 : 2}`, {
          'x-forwarded-for': `192.0.2.${i}`,
          'x-real-ip': `192.0.2.${i}`,
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([200, 200, 200, 429, 429, 429]);
    });

    it('believes X-Forwarded-For from a trusted proxy, one bucket per client behind it', async () => {
      const t = await createTestApp(tdb.database, { services: { rateLimits: limits({ store, loginPerMinute: 2 }) } });
      const post = signInApp(t.services, ['10.0.0.0/8']);
      const proxy = store === 'memory' ? '10.1.1.1' : '10.2.2.2';
      const a = [];
      for (let i = 0; i < 3; i++) a.push((await post('/login', proxy, { 'x-forwarded-for': '192.0.2.10' })).status);
      expect(a).toEqual([200, 200, 429]);
      // Another client behind the same proxy, and a client that prepends a forged hop, are both counted as themselves.
      expect((await post('/login', proxy, { 'x-forwarded-for': '192.0.2.11' })).status).toBe(200);
      expect((await post('/login', proxy, { 'x-forwarded-for': '192.0.2.99, 192.0.2.10' })).status).toBe(429);
    });

    it('keeps the login and MFA budgets and different clients apart', async () => {
      const t = await createTestApp(tdb.database, {
        services: { rateLimits: limits({ store, loginPerMinute: 1, mfaPerMinute: 1 }) },
      });
      const post = signInApp(t.services);
      const peer = store === 'memory' ? '2001:db8:1:1::5' : '2001:db8:2:2::5';
      expect((await post('/login', peer)).status).toBe(200);
      expect((await post('/login', peer)).status).toBe(429);
      expect((await post('/mfa', peer)).status).toBe(200);
      expect((await post('/login', '192.0.2.200')).status).toBe(200);
    });
  });

  it('resolves settings.clientIp to the canonical client address the sign-in code records', async () => {
    const resolve = createClientIpResolver({ peer: (c) => c.req.header('x-peer'), trustedProxies: ['10.0.0.0/8'] });
    const app = new Hono<AppEnv>().get('/', (c) => c.text(resolve(c)));
    const ip = async (headers: Record<string, string>) => (await app.request('/', { headers })).text();
    expect(await ip({ 'x-peer': '::ffff:203.0.113.9' })).toBe('203.0.113.9');
    expect(await ip({ 'x-peer': '10.0.0.1', 'x-forwarded-for': '2001:DB8:0:0::7' })).toBe('2001:db8::7');
    expect(await ip({ 'x-forwarded-for': '192.0.2.1' })).toBe('unknown');
  });

  describe('the API limiter', () => {
    let t: TestApp;
    let metrics: ReturnType<typeof createTestMetrics>;

    beforeAll(async () => {
      metrics = createTestMetrics();
      t = await createTestApp(tdb.database, {
        metrics,
        // A slow refill, so a slow machine cannot earn a token back mid-test.
        services: { rateLimits: limits({ apiPerSecond: 0.01, apiBurst: 3 }) },
      });
    });

    it('limits each API key on its own, after authentication', async () => {
      const admin = [];
      for (let i = 0; i < 4; i++) admin.push(await t.request('GET', '/api/keys'));
      expect(admin.map((r) => r.status)).toEqual([200, 200, 200, 429]);
      expect(admin[0]?.headers.get('ratelimit-remaining')).toBe('2');
      expect(admin[0]?.headers.get('ratelimit-policy')).toBe('3;w=300');
      expect(admin[3]?.body.error.code).toBe('RATE_LIMITED');
      expect(admin[3]?.headers.get('retry-after')).toBe('100');

      // Another key has its own budget; no credentials is still 401, and public routes are not limited.
      expect((await t.request('GET', '/api/policies', { key: t.keys.auditor })).status).not.toBe(429);
      expect((await t.request('GET', '/api/keys', { key: null })).status).toBe(401);
      expect((await t.request('GET', '/api/keys', { key: 'lxk_not-a-real-key-at-all-0000000000000000' })).status).toBe(
        401,
      );
      expect((await t.request('GET', '/', { key: null })).headers.get('ratelimit-limit')).toBeNull();
      expect(counted(await metrics.render(), 'api')).toBe(1);
    });
  });

  it('holds the API limit across two app instances sharing the database', async () => {
    const settings = { services: { rateLimits: limits({ store: 'postgres', apiPerSecond: 0.01, apiBurst: 4 }) } };
    const first = await createTestApp(tdb.database, settings);
    const second = await createTestApp(await tdb.openInstance(), settings);
    const statuses = [];
    for (let i = 0; i < 6; i++) {
      statuses.push((await (i % 2 ? first : second).request('GET', '/api/keys', { key: first.keys.admin })).status);
    }
    expect(statuses).toEqual([200, 200, 200, 200, 429, 429]);
  });
});
