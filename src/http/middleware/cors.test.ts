import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../tests/support/app';
import { backends, type TestDatabase } from '../../../tests/support/databases';

const [pglite] = backends();
const ALLOWED = 'https://console.example.com';
const OTHER = 'https://evil.example.net';

describe('CORS', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let closed: TestApp;

  beforeAll(async () => {
    tdb = await pglite!.open();
    t = await createTestApp(tdb.database, { settings: { corsAllowedOrigins: [ALLOWED, 'http://localhost:5173'] } });
    closed = await createTestApp(tdb.database);
  });
  afterAll(() => tdb.close());

  const corsHeaders = (headers: Headers) =>
    [...headers.keys()].filter((name) => name.startsWith('access-control-')).sort();
  const preflight = (app: TestApp, origin: string, path = '/api/decide', method = 'POST') =>
    app.request('OPTIONS', path, {
      key: null,
      headers: {
        origin,
        'access-control-request-method': method,
        'access-control-request-headers': 'authorization, content-type',
      },
    });

  it('echoes an allowed origin on an actual request, with Vary: Origin', async () => {
    const res = await t.request('GET', '/api/keys', { headers: { origin: ALLOWED } });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
    expect(res.headers.get('access-control-allow-credentials')).toBeNull();
    expect(res.headers.get('access-control-expose-headers')).toContain('X-Request-ID');
    expect(res.headers.get('vary')).toContain('Origin');
  });

  it('keeps CORS headers on error answers for an allowed origin, so the browser can read the error', async () => {
    const res = await t.request('GET', '/api/keys', { key: null, headers: { origin: ALLOWED } });
    expect(res.status).toBe(401);
    expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
  });

  it('answers an allowed origin’s preflight with 204 before authentication, allowing Authorization', async () => {
    for (const [path, method] of [
      ['/api/decide', 'POST'],
      ['/api/flags/metrics_detailed', 'PUT'],
      ['/api/keys/key_00000000000000000000000000', 'DELETE'],
    ] as const) {
      const res = await preflight(t, ALLOWED, path, method);
      expect(res.status, path).toBe(204);
      expect(res.headers.get('access-control-allow-origin')).toBe(ALLOWED);
      expect(res.headers.get('access-control-allow-methods')?.split(', ')).toContain(method);
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
      expect(res.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('content-type');
      expect(res.headers.get('access-control-max-age')).toBe('600');
      expect(res.headers.get('vary')).toContain('Origin');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    }
  });

  it('gives any other origin no CORS headers at all, on requests and preflights, and never reflects it', async () => {
    for (const origin of [OTHER, `${ALLOWED}.evil.example.net`, 'null', ALLOWED.toUpperCase(), `${ALLOWED}/`]) {
      const actual = await t.request('GET', '/api/keys', { headers: { origin } });
      expect(actual.status).toBe(200);
      expect(corsHeaders(actual.headers), origin).toEqual([]);
      expect(actual.headers.get('vary')).toContain('Origin');

      const pre = await preflight(t, origin);
      expect(pre.status).not.toBe(204);
      expect(corsHeaders(pre.headers), origin).toEqual([]);
    }
  });

  it('adds no CORS headers anywhere when no origin is configured', async () => {
    const actual = await closed.request('GET', '/api/keys', { headers: { origin: ALLOWED } });
    expect(actual.status).toBe(200);
    expect(corsHeaders(actual.headers)).toEqual([]);
    const pre = await preflight(closed, ALLOWED);
    expect(pre.status).not.toBe(204);
    expect(corsHeaders(pre.headers)).toEqual([]);
  });

  it('treats a request without Origin as same-origin or non-browser: no CORS headers', async () => {
    const res = await t.request('GET', '/api/keys');
    expect(res.status).toBe(200);
    expect(corsHeaders(res.headers)).toEqual([]);
  });
});
