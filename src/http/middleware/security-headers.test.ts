import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../tests/support/app';
import { backends, type TestDatabase } from '../../../tests/support/databases';
import type { AppEnv } from '../context';
import { requestId } from './request-id';
import { securityHeaders } from './security-headers';

const [pglite] = backends();

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const expectSecureHeaders = (headers: Headers) => {
  expect(headers.get('x-content-type-options')).toBe('nosniff');
  expect(headers.get('x-frame-options')).toBe('DENY');
  expect(headers.get('referrer-policy')).toBe('no-referrer');
  expect(headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'");
  expect(headers.get('strict-transport-security')).toBe('max-age=63072000; includeSubDomains');
  expect(headers.get('cross-origin-opener-policy')).toBe('same-origin');
  expect(headers.get('cross-origin-resource-policy')).toBe('same-origin');
  expect(headers.get('x-powered-by')).toBeNull();
};

/** Serves `app` with the Node adapter the service uses, on a port of its own. */
async function serveOnNode(app: { fetch: (request: Request, env: unknown) => Response | Promise<Response> }) {
  const server = serve({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
  await new Promise((resolve) => server.once('listening', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, close: () => new Promise((resolve) => server.close(resolve)) };
}

describe('security headers', () => {
  let tdb: TestDatabase;
  let t: TestApp;

  beforeAll(async () => {
    tdb = await pglite!.open();
    t = await createTestApp(tdb.database);
  });
  afterAll(() => tdb.close());

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

describe('security headers and the request id on a Node server', () => {
  let tdb: TestDatabase;
  let t: TestApp;
  let node: Awaited<ReturnType<typeof serveOnNode>>;

  beforeAll(async () => {
    tdb = await pglite!.open();
    t = await createTestApp(tdb.database);
    node = await serveOnNode(t.app);
  });
  afterAll(async () => {
    await node?.close();
    await tdb.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetch(`${node.url}${path}`, { headers });

  it('sets them once on a successful API response, with no-store and a generated request id', async () => {
    const res = await get('/api/keys', { authorization: `Bearer ${t.keys.admin}` });
    expect(res.status).toBe(200);
    expectSecureHeaders(res.headers);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(res.headers.get('x-request-id')).toMatch(UUID);
  });

  it('sets them on public routes, leaving their caching alone', async () => {
    const res = await get('/openapi.json');
    expect(res.status).toBe(200);
    expectSecureHeaders(res.headers);
    expect(res.headers.get('cache-control')).toBeNull();
  });

  it('sets them on 401, 404, 405 and 500 answers, whose bodies name the request id answered', async () => {
    const original = t.services.flags.list;
    t.services.flags.list = async () => {
      throw new Error('something internal broke');
    };
    try {
      const answers = [
        await get('/api/keys'),
        await get('/api/nothing-here', { 'x-request-id': 'req-2026.11.27:0001_x' }),
        await fetch(`${node.url}/api/keys`, { method: 'PATCH', headers: { 'x-request-id': 'has spaces' } }),
        await get('/api/flags', { authorization: `Bearer ${t.keys.admin}` }),
      ];
      expect(answers.map((res) => res.status)).toEqual([401, 404, 405, 500]);
      for (const res of answers) {
        expectSecureHeaders(res.headers);
        expect(res.headers.get('cache-control')).toBe('no-store');
        const body = (await res.json()) as { error: { requestId: string } };
        expect(body.error.requestId).toBe(res.headers.get('x-request-id'));
      }
      expect(answers[1]?.headers.get('x-request-id')).toBe('req-2026.11.27:0001_x');
      expect(answers[2]?.headers.get('x-request-id')).toMatch(UUID);
    } finally {
      t.services.flags.list = original;
    }
  });

  it('lets a route choose its own caching, and sets them on responses built without the context', async () => {
    const app = new Hono<AppEnv>();
    app.use(requestId());
    app.use(securityHeaders());
    app.get('/api/cached', (c) => {
      c.header('Cache-Control', 'max-age=60');
      return c.json({ cached: true });
    });
    app.get('/api/own-headers', (c) => c.json({ own: true }, 200, { 'Cache-Control': 'private' }));
    app.get('/api/text', (c) => c.text('plain'));
    app.get('/api/response', () => new Response('built by hand', { headers: { 'content-type': 'text/plain' } }));
    const server = await serveOnNode(app);
    try {
      const expected = { cached: 'max-age=60', 'own-headers': 'private', text: 'no-store', response: 'no-store' };
      for (const [path, cacheControl] of Object.entries(expected)) {
        const res = await fetch(`${server.url}/api/${path}`, { headers: { 'x-request-id': `id-${path}` } });
        expect(res.status).toBe(200);
        expectSecureHeaders(res.headers);
        expect(res.headers.get('cache-control'), path).toBe(cacheControl);
        expect(res.headers.get('x-request-id'), path).toBe(`id-${path}`);
      }
    } finally {
      await server.close();
    }
  });
});
