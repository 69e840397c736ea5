import { Hono } from 'hono';
import { HTTPException } from 'hono/http-exception';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfig } from '../src/config';
import { type Database, openPostgres } from '../src/db/client';
import type { ErrorCode } from '../src/errors';
import { createApp } from '../src/http/app';
import type { AppEnv } from '../src/http/context';
import { handleError } from '../src/http/errors';
import { provide } from '../src/http/middleware/provide';
import { requestId } from '../src/http/middleware/request-id';
import { generateSigningKey } from '../src/ledger/crypto';
import type { Services } from '../src/services';
import { createServices } from '../src/services';
import type { Logger } from '../src/telemetry/logger';
import { silentLogger } from '../src/telemetry/logger';
import { noopTelemetry } from '../src/telemetry/telemetry';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from './support/app';
import { backends, type TestDatabase } from './support/databases';

const SMALL_LIMIT = 1024;
const JSON_ROUTES = ['/api/decide', '/api/decide/verify', '/api/policies', '/api/keys'] as const;
const JSON_HEADERS = { 'content-type': 'application/json' };
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
  headers: Headers;
}

/** Sends a Request built by hand (streams, byte bodies, odd headers) and parses the reply like TestApp#request. */
async function send(app: { request(input: Request): Response | Promise<Response> }, request: Request): Promise<Reply> {
  const res = await app.request(request);
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, body, headers: res.headers };
}

function requestTo(path: string, init: RequestInit & { duplex?: 'half' }): Request {
  return new Request(new URL(path, 'http://localhost'), init as RequestInit);
}

/** The one error shape: exactly {error:{code,message,requestId,details?}}, its id the response's X-Request-ID. */
function expectError(res: Reply, status: number, code: ErrorCode) {
  expect({ status: res.status, code: res.body?.error?.code }).toEqual({ status, code });
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  expect(Object.keys(res.body)).toEqual(['error']);
  const allowed = ['code', 'message', 'requestId', 'details'];
  expect(Object.keys(res.body.error).filter((k) => !allowed.includes(k))).toEqual([]);
  expect(typeof res.body.error.message).toBe('string');
  expect(res.body.error.message.length).toBeGreaterThan(0);
  const header = res.headers.get('x-request-id');
  expect(header).toBeTruthy();
  expect(res.body.error.requestId).toBe(header);
}

function problemPaths(res: Reply): string[] {
  return (res.body.error.details?.problems ?? []).map((p: { path: string }) => p.path);
}

function nested(depth: number, leaf: string): string {
  return '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

describe.each(backends())('bad input on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  /** The same database behind a 1 KiB body limit. */
  let small: TestApp;

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    small = await createTestApp(tdb.database, { maxBodyBytes: SMALL_LIMIT, signingKey: t.signingKey });
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });
  afterAll(() => tdb.close());

  const postRaw = (app: TestApp, path: string, rawBody: string, key?: string) =>
    app.request('POST', path, { rawBody, headers: JSON_HEADERS, key: key ?? app.keys.admin });

  describe('malformed JSON', () => {
    it.each([
      ['a truncated object', '{"actor": "user", "tool":'],
      ['an object followed by trailing garbage', '{"actor": "user"} and more'],
      ['two objects back to back', '{}{}'],
      ['an empty body', ''],
      ['a bare word', 'hello'],
      ['single-quoted keys', "{'actor': 'user'}"],
      ['a trailing comma', '{"actor": "user",}'],
    ])('answers 400 INVALID_JSON to %s', async (_, raw) => {
      for (const path of JSON_ROUTES) expectError(await postRaw(t, path, raw), 400, 'INVALID_JSON');
    });

    it('answers 400 INVALID_JSON to a body that is not UTF-8', async () => {
      const bytes = new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]); // {"a":"\xff\xfe"}
      const res = await send(
        t.app,
        requestTo('/api/decide', {
          method: 'POST',
          body: bytes,
          headers: { ...JSON_HEADERS, authorization: `Bearer ${t.keys.agent}` },
        }),
      );
      expectError(res, 400, 'INVALID_JSON');
    });
  });

  describe('content type', () => {
    it.each([
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/jsonp',
      'application/xml',
      'json',
    ])('answers 415 UNSUPPORTED_MEDIA_TYPE to a JSON body sent as %s', async (contentType) => {
      for (const path of JSON_ROUTES) {
        const res = await t.request('POST', path, {
          rawBody: JSON.stringify(decisionRequest()),
          headers: { 'content-type': contentType },
        });
        expectError(res, 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('answers 415 UNSUPPORTED_MEDIA_TYPE to a JSON body sent without any content type', async () => {
      for (const path of JSON_ROUTES) {
        const request = requestTo(path, {
          method: 'POST',
          body: new TextEncoder().encode(JSON.stringify(decisionRequest())),
          headers: { authorization: `Bearer ${t.keys.admin}` },
        });
        expect(request.headers.get('content-type')).toBeNull();
        expectError(await send(t.app, request), 415, 'UNSUPPORTED_MEDIA_TYPE');
      }
    });

    it('accepts application/json with a charset and structured +json types', async () => {
      for (const contentType of [
        'application/json; charset=utf-8',
        'Application/JSON',
        'application/vnd.lexecon+json',
      ]) {
        const res = await t.request('POST', '/api/decide', {
          key: t.keys.agent,
          rawBody: JSON.stringify(decisionRequest()),
          headers: { 'content-type': contentType },
        });
        expect(res.status).toBe(200);
      }
    });
  });

  describe('body size', () => {
    it('answers 413 PAYLOAD_TOO_LARGE, naming the limit, to a body whose Content-Length is over the limit', async () => {
      const raw = JSON.stringify(decisionRequest({ user_intent: 'x'.repeat(SMALL_LIMIT) }));
      for (const path of JSON_ROUTES) {
        const res = await postRaw(small, path, raw);
        expectError(res, 413, 'PAYLOAD_TOO_LARGE');
        expect(res.body.error.details).toEqual({ limit_bytes: SMALL_LIMIT });
      }
    });

    it('answers 413 on the declared Content-Length alone, before reading the body', async () => {
      const request = requestTo('/api/decide', {
        method: 'POST',
        body: '{}',
        headers: {
          ...JSON_HEADERS,
          'content-length': String(SMALL_LIMIT + 1),
          authorization: `Bearer ${small.keys.agent}`,
        },
      });
      expectError(await send(small.app, request), 413, 'PAYLOAD_TOO_LARGE');
    });

    it('answers 413 to a streamed body without Content-Length once it passes the limit, and stops reading it', async () => {
      let pulled = 0;
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          pulled++;
          if (pulled > 1000) controller.close();
          else controller.enqueue(new TextEncoder().encode(' '.repeat(512)));
        },
      });
      const request = requestTo('/api/decide', {
        method: 'POST',
        body,
        duplex: 'half',
        headers: { ...JSON_HEADERS, authorization: `Bearer ${small.keys.agent}` },
      });
      expect(request.headers.get('content-length')).toBeNull();
      const res = await send(small.app, request);
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(res.body.error.details).toEqual({ limit_bytes: SMALL_LIMIT });
      expect(pulled).toBeLessThan(20);
    });

    it('accepts a streamed body without Content-Length that stays under the limit', async () => {
      const chunks = [JSON.stringify(decisionRequest()).slice(0, 20), JSON.stringify(decisionRequest()).slice(20)];
      const body = new ReadableStream<Uint8Array>({
        pull(controller) {
          const next = chunks.shift();
          if (next === undefined) controller.close();
          else controller.enqueue(new TextEncoder().encode(next));
        },
      });
      const request = requestTo('/api/decide', {
        method: 'POST',
        body,
        duplex: 'half',
        headers: { ...JSON_HEADERS, authorization: `Bearer ${small.keys.agent}` },
      });
      const res = await send(small.app, request);
      expect(res.status).toBe(200);
      expect(res.body.decision).toBeDefined();
    });

    it('answers 413 past the default limit of 1 MiB', async () => {
      // Decisions have a smaller cap of their own (LEXECON_MAX_DECISION_BYTES): a policy shows the general one.
      const raw = JSON.stringify({ ...samplePolicy, name: 'x'.repeat(1024 * 1024) });
      const res = await postRaw(t, '/api/policies', raw);
      expectError(res, 413, 'PAYLOAD_TOO_LARGE');
      expect(res.body.error.details).toEqual({ limit_bytes: 1024 * 1024 });
    });

    it('takes the limit from LEXECON_MAX_BODY_BYTES, 1 MiB when unset', () => {
      const unset = parseConfig({});
      const set = parseConfig({ LEXECON_MAX_BODY_BYTES: '2048' });
      expect(unset.ok && unset.config.http.maxBodyBytes).toBe(1024 * 1024);
      expect(set.ok && set.config.http.maxBodyBytes).toBe(2048);
    });
  });

  describe('values that cannot be stored', () => {
    const body = (field: string, rawValue: string) =>
      JSON.stringify(decisionRequest()).replace(/}$/, `,"${field}":${rawValue}}`);

    it.each([
      ['a string with an escaped NUL', body('request_id', '"a\\u0000b"')],
      ['a NUL inside context', body('context', '{"note":"x\\u0000"}')],
      ['a key with an escaped NUL', body('context', '{"k\\u0000":"v"}')],
      ['a lone high surrogate', body('request_id', '"\\ud800"')],
      ['a lone low surrogate in context', body('context', '{"note":"\\udc00x"}')],
      ['a number that overflows to infinity (1e400)', body('risk_level', '1e400')],
      ['a negative overflow (-1e400) in context', body('context', '{"n":-1e400}')],
      ['objects nested 100 deep', body('context', nested(100, '1'))],
      ['arrays nested 100 deep', body('context', `{"a":${'['.repeat(100)}${']'.repeat(100)}}`)],
    ])('answers 400 INVALID_STRING to %s', async (_, raw) => {
      expectError(await postRaw(t, '/api/decide', raw, t.keys.agent), 400, 'INVALID_STRING');
    });

    it('answers 400 INVALID_STRING on every JSON route, not just /api/decide', async () => {
      for (const path of JSON_ROUTES) {
        expectError(await postRaw(t, path, '{"name":"a\\u0000b","role":"agent"}'), 400, 'INVALID_STRING');
        expectError(await postRaw(t, path, '{"name":"\\ud83d","role":"agent"}'), 400, 'INVALID_STRING');
      }
    });

    it('accepts a properly paired surrogate (an emoji written as escapes)', async () => {
      const res = await postRaw(t, '/api/decide', body('context', '{"note":"\\ud83d\\ude00"}'), t.keys.agent);
      expect(res.status).toBe(200);
    });
  });

  describe('decision request validation', () => {
    it('lists every field of the wrong type with its path', async () => {
      const res = await t.request('POST', '/api/decide', {
        key: t.keys.agent,
        body: {
          actor: 42,
          proposed_action: ['read'],
          tool: null,
          user_intent: false,
          data_classes: 'pii',
          risk_level: 'high',
          requested_output_type: 7,
          policy_mode: 'lenient',
          context: [],
        },
      });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(
        new Set([
          'actor',
          'proposed_action',
          'tool',
          'user_intent',
          'data_classes',
          'risk_level',
          'requested_output_type',
          'policy_mode',
          'context',
        ]),
      );
      for (const problem of res.body.error.details.problems) expect(problem.message).toEqual(expect.any(String));
    });

    it('lists every missing required field', async () => {
      const res = await t.request('POST', '/api/decide', { key: t.keys.agent, body: {} });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(new Set(['actor', 'proposed_action', 'tool', 'user_intent']));
    });

    it('points into arrays and out-of-range values by path', async () => {
      const res = await t.request('POST', '/api/decide', {
        key: t.keys.agent,
        body: decisionRequest({ data_classes: ['pii', 7, ''], risk_level: 9, actor: 'has spaces' }),
      });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(
        new Set(['data_classes[1]', 'data_classes[2]', 'risk_level', 'actor']),
      );
    });

    it('rejects unknown fields, listing each one at its own path', async () => {
      const res = await t.request('POST', '/api/decide', {
        key: t.keys.agent,
        body: decisionRequest({ admin: true, allowed: true }),
      });
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(new Set(['admin', 'allowed']));
    });

    it('rejects a body that is JSON but not an object', async () => {
      for (const raw of ['[]', '"a string"', '42', 'null', 'true']) {
        expectError(await postRaw(t, '/api/decide', raw, t.keys.agent), 400, 'VALIDATION_FAILED');
      }
    });
  });

  describe('context limits', () => {
    const decide = (context: unknown) =>
      t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ context }) });
    const deep = (levels: number): Record<string, unknown> =>
      levels === 1 ? { leaf: 'x' } : { next: deep(levels - 1) };

    it('accepts context at every limit: 5 levels, 100 keys, 10,000-character strings', async () => {
      expect((await decide(deep(5))).status).toBe(200);
      expect((await decide(Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`k${i}`, i])))).status).toBe(200);
      expect((await decide({ s: 'x'.repeat(10_000) })).status).toBe(200);
    });

    it.each([
      ['a null value', { ok: 1, gone: null }, 'context.gone'],
      ['a null inside an array', { list: [1, null] }, 'context.list[1]'],
      ['nesting deeper than 5 levels', deep(6), 'context.next.next.next.next.next'],
      ['more than 100 keys', Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])), 'context'],
      ['a string longer than 10,000 characters', { s: 'x'.repeat(10_001) }, 'context.s'],
      ['an array longer than 1,000 items', { list: Array(1001).fill(1) }, 'context.list'],
      [
        'more than 64 KiB of JSON',
        Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`k${i}`, 'x'.repeat(7000)])),
        'context',
      ],
      ['an empty key', { '': 'x' }, 'context'],
    ])('answers 400 VALIDATION_FAILED to context with %s, pointing at it', async (_, context, path) => {
      const res = await decide(context);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(problemPaths(res).some((p) => p === path || p.startsWith(`${path}.`) || p.startsWith(`${path}[`))).toBe(
        true,
      );
    });
  });

  describe('query parameters', () => {
    it.each([
      ['/api/ledger/entries?limit=abc', 'query.limit'],
      ['/api/ledger/entries?limit=0', 'query.limit'],
      ['/api/ledger/entries?limit=501', 'query.limit'],
      ['/api/ledger/entries?limit=1.5', 'query.limit'],
      ['/api/ledger/entries?cursor=-1', 'query.cursor'],
      ['/api/ledger/entries?cursor=abc', 'query.cursor'],
      ['/api/ledger/entries?cursor=9999999999999999', 'query.cursor'],
      ['/api/ledger/entries?from=yesterday', 'query.from'],
      ['/api/ledger/entries?to=2024-02-30T00:00:00Z', 'query.to'],
      ['/api/ledger/entries?event_type=bogus', 'query.event_type'],
      ['/api/ledger/entries?order=sideways', 'query.order'],
      ['/api/audit/decisions?decision=maybe', 'query.decision'],
      ['/api/audit/decisions?risk_level=extreme', 'query.risk_level'],
      ['/api/audit/decisions?actor=has%20space', 'query.actor'],
      ['/api/audit/decisions?limit=-5', 'query.limit'],
      ['/api/audit/stats?from=yesterday', 'query.from'],
      ['/api/policies?limit=abc', 'query.limit'],
      // Years PostgreSQL cannot store: the schema must refuse them rather than let the query fail.
      ['/api/ledger/entries?from=0000-01-01T00:00:00Z', 'query.from'],
      ['/api/audit/stats?from=0000-01-01T00:00:00Z', 'query.from'],
      ['/api/audit/decisions?to=9999-12-31T23:59:59-23:59', 'query.to'],
    ])('answers 400 VALIDATION_FAILED to GET %s', async (path, problem) => {
      const res = await t.request('GET', path);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(problemPaths(res)).toContain(problem);
    });

    it('lists every bad query parameter at once', async () => {
      const res = await t.request('GET', '/api/ledger/entries?limit=0&cursor=-1&order=up&event_type=x');
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(
        new Set(['query.limit', 'query.cursor', 'query.order', 'query.event_type']),
      );
    });

    it('accepts well-formed filters', async () => {
      const from = encodeURIComponent('2000-01-01T00:00:00+02:00');
      for (const path of [
        `/api/ledger/entries?limit=500&order=desc&event_type=decision&from=${from}&cursor=5`,
        `/api/audit/decisions?decision=deny&risk_level=low&actor=user&limit=1&from=${from}`,
        `/api/audit/stats?from=${from}`,
        '/api/policies?limit=1',
      ]) {
        expect((await t.request('GET', path)).status).toBe(200);
      }
    });
  });

  describe('path parameters', () => {
    it.each([
      ['GET', '/api/policies/abc', 'param.version'],
      ['GET', '/api/policies/0', 'param.version'],
      ['GET', '/api/policies/-1', 'param.version'],
      ['GET', '/api/policies/1.5', 'param.version'],
      ['GET', '/api/policies/99999999999', 'param.version'],
      ['GET', '/api/ledger/entries/abc', 'param.index'],
      ['GET', '/api/ledger/entries/-1', 'param.index'],
      ['GET', '/api/ledger/entries/99999999999999999999', 'param.index'],
      ['GET', '/api/audit/decisions/not-a-decision', 'param.id'],
      ['GET', '/api/audit/decisions/dec_lowercase0000000000000000', 'param.id'],
      ['DELETE', '/api/keys/not-a-key', 'param.id'],
      ['DELETE', '/api/keys/key_%00', 'param.id'],
    ])('answers 400 VALIDATION_FAILED to %s %s', async (method, path, problem) => {
      const res = await t.request(method, path);
      expectError(res, 400, 'VALIDATION_FAILED');
      expect(new Set(problemPaths(res))).toEqual(new Set([problem]));
    });

    it.each([
      ['GET', '/api/policies/2147483647'],
      ['GET', '/api/ledger/entries/9007199254740991'],
      ['GET', `/api/audit/decisions/dec_${'A'.repeat(26)}`],
      ['DELETE', `/api/keys/key_${'A'.repeat(26)}`],
    ])('answers 404 NOT_FOUND to %s %s, well-formed but absent', async (method, path) => {
      expectError(await t.request(method, path), 404, 'NOT_FOUND');
    });
  });

  describe('routing', () => {
    it.each([
      ['GET', '/nope'],
      ['GET', '/api'],
      ['POST', '/api/decidex'],
      ['GET', '/api/ledger/entries/1/extra'],
      ['DELETE', '/api/unknown/thing'],
      ['GET', '/%2e%2e/etc/passwd'],
    ])('answers 404 NOT_FOUND in the JSON error shape to %s %s', async (method, path) => {
      for (const key of [t.keys.admin, null]) expectError(await t.request(method, path, { key }), 404, 'NOT_FOUND');
    });

    it.each([
      ['GET', '/api/decide', ['POST']],
      ['DELETE', '/api/decide', ['POST']],
      ['PUT', '/api/decide/verify', ['POST']],
      ['PUT', '/api/policies', ['GET', 'HEAD', 'POST']],
      ['DELETE', '/api/policies/1', ['GET', 'HEAD']],
      ['POST', '/api/ledger/verify', ['GET', 'HEAD']],
      ['PATCH', '/api/keys', ['GET', 'HEAD', 'POST']],
      ['GET', `/api/keys/key_${'A'.repeat(26)}`, ['DELETE']],
      ['POST', '/health', ['GET', 'HEAD']],
      ['POST', '/openapi.json', ['GET', 'HEAD']],
    ])('answers 405 METHOD_NOT_ALLOWED to %s %s with an Allow header', async (method, path, allowed) => {
      for (const key of [t.keys.admin, null]) {
        const res = await t.request(method, path, { key });
        expectError(res, 405, 'METHOD_NOT_ALLOWED');
        const allow = (res.headers.get('allow') ?? '').split(',').map((m) => m.trim());
        expect(new Set(allow)).toEqual(new Set(allowed));
      }
    });
  });

  describe('X-Request-ID', () => {
    it.each(['abc', 'req-2026.11.27:0001_x', 'A'.repeat(128)])(
      'echoes a valid X-Request-ID (%s) in the header and in error bodies',
      async (id) => {
        const error = await t.request('GET', '/nope', { headers: { 'x-request-id': id } });
        expectError(error, 404, 'NOT_FOUND');
        expect(error.headers.get('x-request-id')).toBe(id);
        expect(error.body.error.requestId).toBe(id);
        const invalid = await t.request('POST', '/api/decide', {
          key: t.keys.agent,
          body: {},
          headers: { 'x-request-id': id },
        });
        expect(invalid.body.error.requestId).toBe(id);
        const ok = await t.request('GET', '/health', { headers: { 'x-request-id': id } });
        expect(ok.status).toBe(200);
        expect(ok.headers.get('x-request-id')).toBe(id);
      },
    );

    it.each([
      ['spaces', 'has spaces in it'],
      ['200 characters', 'a'.repeat(200)],
      ['129 characters', 'a'.repeat(129)],
      ['non-ASCII', 'caf\u00e9'],
      ['a slash', 'a/b'],
      ['quotes', '"quoted"'],
    ])('replaces an X-Request-ID with %s by a generated one', async (_, id) => {
      const res = await t.request('GET', '/nope', { headers: { 'x-request-id': id } });
      expectError(res, 404, 'NOT_FOUND');
      expect(res.headers.get('x-request-id')).not.toBe(id);
      expect(res.headers.get('x-request-id')).toMatch(UUID);
    });

    it('generates a fresh id per request when none is sent', async () => {
      const a = await t.request('GET', '/nope');
      const b = await t.request('GET', '/nope');
      expect(a.headers.get('x-request-id')).toMatch(UUID);
      expect(a.headers.get('x-request-id')).not.toBe(b.headers.get('x-request-id'));
    });
  });

  describe('authentication comes first', () => {
    it('answers 401 before looking at a malformed body, and 403 for a role without the permission', async () => {
      expectError(
        await t.request('POST', '/api/decide', { key: null, rawBody: '{', headers: JSON_HEADERS }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await t.request('POST', '/api/decide', { key: 'lxk_garbage', rawBody: '{', headers: JSON_HEADERS }),
        401,
        'UNAUTHENTICATED',
      );
      expectError(
        await t.request('POST', '/api/policies', { key: t.keys.agent, rawBody: '{', headers: JSON_HEADERS }),
        403,
        'FORBIDDEN',
      );
    });
  });

  it('never writes a ledger entry for an authenticated request that fails validation', async () => {
    const head = async () => (await t.request('GET', '/api/ledger/head')).body;
    const before = await head();
    const failures = [
      await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ risk_level: 99 }) }),
      await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ context: { a: null } }) }),
      await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest({ sneaky: 1 }) }),
      await postRaw(t, '/api/decide', '{"actor":"user"', t.keys.agent),
      await postRaw(
        t,
        '/api/decide',
        JSON.stringify(decisionRequest()).replace('read a file', 'a\\u0000'),
        t.keys.agent,
      ),
      await postRaw(small, '/api/decide', JSON.stringify(decisionRequest({ user_intent: 'x'.repeat(2000) }))),
      await t.request('POST', '/api/decide', { key: t.keys.agent, rawBody: JSON.stringify(decisionRequest()) }),
      await t.request('POST', '/api/policies', { body: { name: 'broken', terms: [{ id: 'x' }] } }),
      await t.request('POST', '/api/policies', { body: { policy: [] } }),
      await t.request('POST', '/api/keys', { body: { name: '', role: 'root' } }),
      await t.request('POST', '/api/keys', { body: { name: 'x', role: 'agent', extra: true } }),
      await t.request('DELETE', '/api/keys/not-a-key'),
    ];
    for (const res of failures) {
      expect(res.status).toBeGreaterThanOrEqual(400);
      expect(res.status).toBeLessThan(500);
    }
    const after = await head();
    expect(after).toEqual(before);
    expect((await t.request('GET', '/api/ledger/verify')).body).toMatchObject({
      valid: true,
      entries_checked: before.index + 1,
    });
  });
});

describe('the error handler', () => {
  function boomApp(logger: Logger) {
    const app = new Hono<AppEnv>();
    const services = { logger, telemetry: noopTelemetry } as unknown as Services;
    app.use(
      provide({
        services,
        settings: { serviceName: 'lexecon', version: 'test', maxBodyBytes: 1024 },
        routes: new Set(),
      }),
    );
    app.use(requestId());
    app.get('/boom', () => {
      throw new Error('secret detail: password=hunter2 at db.internal:5432');
    });
    app.get('/teapot', () => {
      throw new HTTPException(418, { message: 'secret detail from the framework' });
    });
    app.onError(handleError);
    return app;
  }

  it.each(['/boom', '/teapot'])(
    'answers an unexpected failure (%s) with an opaque 500 INTERNAL and logs it under the request id',
    async (path) => {
      const logged: { message: string; fields: Record<string, unknown> | undefined }[] = [];
      const logger: Logger = { ...silentLogger, error: (message, fields) => logged.push({ message, fields }) };
      const res = await send(boomApp(logger), requestTo(path, { headers: { 'x-request-id': 'trace-500' } }));
      expectError(res, 500, 'INTERNAL');
      expect(res.body.error).toEqual({ code: 'INTERNAL', message: 'Internal error', requestId: 'trace-500' });
      expect(JSON.stringify(res.body)).not.toContain('secret');
      expect(logged).toHaveLength(1);
      expect(logged[0]?.fields).toMatchObject({ requestId: 'trace-500' });
      // The error itself, which the JSON logger writes as its bounded summary.
      expect(logged[0]?.fields?.error).toEqual(expect.objectContaining({ message: expect.stringContaining('secret') }));
    },
  );
});

describe('with the database unreachable', () => {
  let database: Database;
  let app: ReturnType<typeof createApp>;

  beforeAll(async () => {
    database = openPostgres('postgres://postgres@127.0.0.1:1/nowhere', { poolMax: 2 });
    const services = createServices({
      db: database.db,
      signingKey: await generateSigningKey(),
      telemetry: noopTelemetry,
      logger: silentLogger,
      policyRefreshMs: 1000,
    });
    app = createApp({
      services,
      metrics: { render: async () => '' },
      settings: { serviceName: 'lexecon', version: 'test', maxBodyBytes: 1024 * 1024 },
    });
  });
  afterAll(() => database.close());

  const call = (method: string, path: string, body?: unknown) =>
    send(
      app,
      requestTo(path, {
        method,
        headers: { authorization: 'Bearer lxk_any_key_at_all', ...(body === undefined ? {} : JSON_HEADERS) },
        body: body === undefined ? undefined : JSON.stringify(body),
      }),
    );

  it('answers 503 DATABASE_UNAVAILABLE to a decision request, never 200 or 500', async () => {
    const res = await call('POST', '/api/decide', decisionRequest());
    expect(res.status).not.toBe(200);
    expect(res.status).not.toBe(500);
    expectError(res, 503, 'DATABASE_UNAVAILABLE');
  });

  it.each([
    ['GET', '/api/policies'],
    ['GET', '/api/ledger/verify'],
    ['GET', '/api/keys'],
  ])('answers 503 DATABASE_UNAVAILABLE to %s %s', async (method, path) => {
    expectError(await call(method, path), 503, 'DATABASE_UNAVAILABLE');
  });

  it('still answers what needs no database: 401 without a key, 404, and an unhealthy /health', async () => {
    const anonymous = await send(app, requestTo('/api/decide', { method: 'POST' }));
    expectError(anonymous, 401, 'UNAUTHENTICATED');
    expectError(await send(app, requestTo('/nope', {})), 404, 'NOT_FOUND');
    const health = await send(app, requestTo('/health', {}));
    expect(health.status).toBe(503);
    expect(health.body.status).toBe('unhealthy');
  });
});
