import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../tests/support/app';
import { backends, type TestDatabase } from '../../../tests/support/databases';

const [pglite] = backends();

describe('security headers', () => {
  let tdb: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    tdb = await pglite!.open();
    t = await createTestApp(tdb.database);
  });
  afterAll(() => tdb.close());

  const expectSecureHeaders = (headers: Headers) => {
    expect(headers.get('x-content-type-options')).toBe('nosniff');
    expect(headers.get('x-frame-options')).toBe('DENY');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    expect(headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
    expect(headers.get('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
    expect(headers.get('x-powered-by')).toBeNull();
  };

  it('sets them on a successful response, and no-store on the API', async () => {
    const res = await t.request('GET', '/api/keys');
    expect(res.status).toBe(200);
    expectSecureHeaders(res.headers);
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('sets them on public routes too, leaving their caching alone', async () => {
    const res = await t.request('GET', '/openapi.json', { key: null });
    expect(res.status).toBe(200);
    expectSecureHeaders(res.headers);
    expect(res.headers.get('cache-control')).toBeNull();
  });

  it('sets them on 401, 404 and 405 answers', async () => {
    const unauthenticated = await t.request('GET', '/api/keys', { key: null });
    const missing = await t.request('GET', '/api/nothing-here');
    const wrongMethod = await t.request('PATCH', '/api/keys');
    expect([unauthenticated.status, missing.status, wrongMethod.status]).toEqual([401, 404, 405]);
    for (const res of [unauthenticated, missing, wrongMethod]) {
      expectSecureHeaders(res.headers);
      expect(res.headers.get('cache-control')).toBe('no-store');
    }
  });

  it('sets them on a 500 that a handler did not expect', async () => {
    const original = t.services.flags.list;
    t.services.flags.list = async () => {
      throw new Error('something internal broke');
    };
    try {
      const res = await t.request('GET', '/api/flags');
      expect(res.status).toBe(500);
      expect(res.body.error.code).toBe('INTERNAL');
      expect(JSON.stringify(res.body)).not.toContain('something internal broke');
      expectSecureHeaders(res.headers);
      expect(res.headers.get('cache-control')).toBe('no-store');
    } finally {
      t.services.flags.list = original;
    }
  });
});
