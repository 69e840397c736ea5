import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ERROR_STATUS } from '../src/errors';
import { ErrorSchema } from '../src/http/routes/schemas';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from './support/app';
import { backends, type TestDatabase } from './support/databases';

/**
 * The promise under test: no input a caller can send produces a 500. Every property fires requests
 * at every route of the real app over a real database and checks the answer is a non-5xx JSON
 * document, and every 4xx is the one error shape with a known code that matches its status.
 * On failure fast-check prints the seed and the shrunk counterexample.
 */

const RUNS = { json: 100, fields: 100, raw: 100, contentTypes: 100, queries: 100 };

// ---- what a hostile caller sends -------------------------------------------------------------

const HOSTILE_STRINGS = [
  '',
  ' ',
  '..',
  '0',
  '-1',
  '1e3',
  '1.5',
  'NaN',
  'Infinity',
  '0x10',
  '999999999999999999999',
  '9007199254740993',
  `dec_${'A'.repeat(26)}`,
  `key_${'A'.repeat(26)}`,
  "' OR 1=1 --",
  '"; drop table ledger_entries; --',
  '<script>alert(1)</script>',
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\ud83d\ude00',
  '\u202e\ufeff',
  '𝕏'.repeat(300),
  'a'.repeat(10_001),
  'x'.repeat(70_000),
  '$' + '{jndi:ldap://x}',
  '../../etc/passwd',
  'null',
  'true',
  '{}',
  '[]',
] as const;

/** Values that mean something to the app, so that mutated requests get past validation and deeper in. */
const MEANINGFUL_STRINGS = [
  'user',
  'model',
  'actor:user',
  'actor:model',
  'read',
  'write',
  'search',
  'action:read',
  'pii',
  'public',
  'data:pii',
  'file_reader',
  'permit',
  'deny',
  'escalate',
  'tool_action',
  'permissive',
  'strict',
  'paranoid',
  'admin',
  'auditor',
  'agent',
  'actor',
  'action',
  'data_class',
  'resource',
  'context',
  'permits',
  'forbids',
  'requires',
  'annotate',
  'low',
  'medium',
  'high',
  'critical',
  'GDPR',
  'HIPAA',
  'decision',
  'genesis',
  'policy_loaded',
  'asc',
  'desc',
  '2026-01-01T00:00:00Z',
  '0000-01-01T00:00:00Z',
  '9999-12-31T23:59:59-23:59',
  '2024-02-30T00:00:00Z',
  '1970-01-01T00:00:00+14:00',
  '0'.repeat(64),
] as const;

/** Strings for the policy condition language: valid, malformed and pathological. */
const CONDITIONS = [
  'context.department == "radiology"',
  'request.actor in ["user", "model"]',
  'context.a.b.c.d.e.f.g.h == 1',
  'context.__proto__.polluted == true',
  'context.constructor.name == "Object"',
  'not not not true',
  '1 < "a"',
  'null == null and !false',
  '"unterminated',
  '(((((',
  ')',
  'x in [',
  `${'('.repeat(40)}1${')'.repeat(40)}`,
  `${'!'.repeat(999)}true`,
  `${'['.repeat(40)}${']'.repeat(40)}`,
  'a'.repeat(1001),
  '1e999 > 0',
  'context.x == 99999999999999999999999999',
] as const;

const FIELD_NAMES = [
  // decision request and claim
  'request_id',
  'actor',
  'proposed_action',
  'tool',
  'user_intent',
  'data_classes',
  'risk_level',
  'requested_output_type',
  'policy_mode',
  'context',
  'decision_id',
  'ledger_entry_hash',
  'allowed',
  'decision',
  'reason',
  'policy_version_hash',
  'signature',
  'timestamp',
  'capability_token',
  'violations',
  // policy document, terms, relations, constraints
  'policy',
  'name',
  'version',
  'description',
  'mode',
  'compliance_frameworks',
  'terms',
  'relations',
  'constraints',
  'id',
  'type',
  'term_id',
  'term_type',
  'label',
  'sensitivity',
  'relation_id',
  'relation_type',
  'source',
  'target',
  'subject',
  'action',
  'object',
  'condition',
  'conditions',
  'justification',
  'severity',
  'framework',
  'metadata',
  'obligation',
  // api key
  'role',
  // prototype keys
  '__proto__',
  'constructor',
] as const;

const QUERY_NAMES = [
  'limit',
  'cursor',
  'from',
  'to',
  'order',
  'event_type',
  'actor',
  'decision',
  'risk_level',
] as const;

/** Path segments written as a client would put them on the wire: some deliberately mis-encoded. */
const RAW_PATH_SEGMENTS = ['%00', '%', '%zz', '%FF', '%ED%A0%80', '%2F', '..', '.', '%2e%2e', '0', '1', '-1'] as const;

const hostileString = fc.oneof(
  { arbitrary: fc.constantFrom(...HOSTILE_STRINGS), weight: 3 },
  { arbitrary: fc.constantFrom(...MEANINGFUL_STRINGS), weight: 3 },
  { arbitrary: fc.constantFrom(...CONDITIONS), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 40 }), weight: 2 },
  { arbitrary: fc.string({ maxLength: 40 }), weight: 2 },
);

const hostileNumber = fc.oneof(
  fc.integer(),
  fc.integer({ min: -2, max: 6 }),
  fc.double(),
  fc.constantFrom(0, -0, 2 ** 31, 2 ** 53, 2 ** 63, Number.MAX_VALUE, Number.MIN_VALUE, 1e308, -1e308),
);

const leaf = fc.oneof(hostileString, hostileNumber, fc.boolean(), fc.constant(null));
const fieldName = fc.oneof(
  { arbitrary: fc.constantFrom(...FIELD_NAMES), weight: 5 },
  { arbitrary: fc.string(), weight: 1 },
);
const fieldObject = fc.dictionary(fieldName, fc.oneof(leaf, fc.array(leaf, { maxLength: 4 })), { maxKeys: 8 });
const hostileValue = fc.oneof(
  { arbitrary: leaf, weight: 4 },
  { arbitrary: fc.array(leaf, { maxLength: 6 }), weight: 2 },
  { arbitrary: fc.array(fieldObject, { maxLength: 4 }), weight: 2 },
  { arbitrary: fieldObject, weight: 2 },
  { arbitrary: fc.jsonValue({ maxDepth: 4 }), weight: 1 },
);

const validDecision = decisionRequest({ data_classes: ['public'], risk_level: 2, context: { department: 'x' } });

/** A value for one field of an otherwise valid body: hostile, or merely unusual but acceptable. */
const unusualValue = fc.oneof(
  { arbitrary: hostileValue, weight: 3 },
  { arbitrary: fc.constantFrom(...MEANINGFUL_STRINGS), weight: 2 },
  { arbitrary: fc.array(fc.constantFrom(...MEANINGFUL_STRINGS), { maxLength: 4 }), weight: 1 },
  { arbitrary: fc.integer({ min: 1, max: 5 }), weight: 1 },
  {
    arbitrary: fc.dictionary(
      fc.string({ minLength: 1, maxLength: 8 }),
      fc.oneof(fc.string(), fc.integer(), fc.boolean()),
      { maxKeys: 4 },
    ),
    weight: 1,
  },
);

const DECISION_FIELDS = [...Object.keys(validDecision), 'policy_mode', 'request_id', 'requested_output_type'];
const POLICY_FIELDS = ['name', 'version', 'mode', 'compliance_frameworks', 'terms', 'relations', 'constraints'];

const mutatedDecision = fc
  .tuple(fc.constantFrom(...DECISION_FIELDS), unusualValue)
  .map(([k, v]) => ({ ...validDecision, [k]: v }));

const mutatedPolicy = fc.oneof(
  fc.tuple(fc.constantFrom(...POLICY_FIELDS), unusualValue).map(([k, v]) => ({ ...samplePolicy, [k]: v })),
  fc.tuple(fc.nat({ max: 2 }), fieldName, unusualValue).map(([i, k, v]) => ({
    ...samplePolicy,
    relations: samplePolicy.relations.map((r, j) => (i === j ? { ...r, [k]: v } : r)),
  })),
  fc.tuple(fc.nat({ max: 6 }), fieldName, unusualValue).map(([i, k, v]) => ({
    ...samplePolicy,
    terms: samplePolicy.terms.map((r, j) => (i === j ? { ...r, [k]: v } : r)),
  })),
  fc
    .tuple(fc.constantFrom(...CONDITIONS), fc.constantFrom('deny', 'escalate', 'annotate', 'nope'))
    .map(([condition, action]) => ({
      ...samplePolicy,
      name: 'Conditional',
      constraints: [{ name: 'c', condition, action }],
      relations: [
        ...samplePolicy.relations,
        { type: 'permits', subject: 'actor:model', action: 'action:read', condition },
      ],
    })),
);

const keyRequest = fc.record(
  { name: unusualValue, role: fc.oneof(fc.constantFrom('admin', 'auditor', 'agent'), unusualValue) },
  { requiredKeys: [] },
);

const claim = fc.oneof(
  fc.record({ decision_id: fc.oneof(hostileString, fc.constant(`dec_${'A'.repeat(26)}`)) }),
  fc.record({ ledger_entry_hash: fc.oneof(hostileString, fc.constant('0'.repeat(64))) }),
  mutatedDecision.map((d) => ({ ...d, decision_id: `dec_${'A'.repeat(26)}`, allowed: true })),
);

/** Bodies aimed at the route that reads them, so that most get past the first checks and reach a handler. */
const aimedBody: fc.Arbitrary<{ method: string; path: string; body: unknown }> = fc.oneof(
  mutatedDecision.map((body) => ({ method: 'POST', path: '/api/decide', body })),
  claim.map((body) => ({ method: 'POST', path: '/api/decide/verify', body })),
  mutatedPolicy.map((body) => ({ method: 'POST', path: '/api/policies', body })),
  keyRequest.map((body) => ({ method: 'POST', path: '/api/keys', body })),
);

/** Bodies that mix the real field names with hostile values, or real bodies with one field made hostile. */
const fieldBody = fc.oneof(
  fc.dictionary(fieldName, hostileValue, { maxKeys: 12 }),
  mutatedDecision,
  mutatedPolicy,
  keyRequest,
  claim,
  fieldObject.map((policy) => ({ policy })),
);

const nestedArrays = (n: number) => `${'['.repeat(n)}${']'.repeat(n)}`;
const nestedObjects = (n: number) => `${'{"a":'.repeat(n)}1${'}'.repeat(n)}`;
const withField = (field: string, raw: string) => JSON.stringify(validDecision).replace(/}$/, `,"${field}":${raw}}`);

const RAW_VALUES = [
  '"\\u0000"',
  '"a\\u0000b"',
  '"\\ud800"',
  '"\\udfff"',
  '"\\ud800\\u0041"',
  '"\\ud83d\\ude00"',
  '"\\x41"',
  '"\\u12"',
  '1e999',
  '-1e999',
  '1e-999',
  '123456789012345678901234567890',
  '-0',
  '{"__proto__":{"polluted":true}}',
  '{"constructor":{"prototype":{"polluted":true}}}',
  '[1,2,',
  'undefined',
  'NaN',
] as const;

const RAW_TEXTS = [
  '{',
  '}',
  '{"a":}',
  '{"a" 1}',
  '{"a":1,}',
  'nul',
  'tru',
  '01',
  '-',
  '1.',
  '.5',
  '+1',
  '\ufeff{}',
  '{}{}',
  '{"__proto__":{"admin":true},"name":"x","role":"admin"}',
  '{"policy":{"__proto__":{"terms":[1]}}}',
  '\u0000',
  '"\\u0000"',
  '"\\ud800"',
  '[1e999]',
] as const;

/** Raw bodies: not JSON, JSON with values the database cannot store, huge, deep, or binary. */
const rawBody: fc.Arbitrary<string | Uint8Array> = fc.oneof(
  fc.constantFrom(...RAW_TEXTS),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.tuple(fc.constantFrom(...FIELD_NAMES), fc.constantFrom(...RAW_VALUES)).map(([k, v]) => withField(k, v)),
  fc
    .tuple(fc.constantFrom('user_intent', 'context', 'name'), fc.constantFrom(...RAW_VALUES))
    .map(([k, v]) => withField(k, k === 'context' ? `{"k":${v}}` : v)),
  fc.integer({ min: 1, max: 200_000 }).map(nestedArrays),
  fc.integer({ min: 1, max: 150_000 }).map(nestedObjects),
  fc.integer({ min: 1, max: 70 }).map((n) => withField('context', nestedObjects(n))),
  fc.integer({ min: 0, max: 1_200_000 }).map((n) => JSON.stringify({ ...validDecision, user_intent: 'x'.repeat(n) })),
  fc.integer({ min: 0, max: 30_000 }).map((n) => withField('context', `{"s":"${'\\u0041'.repeat(n)}"}`)),
  fc.uint8Array({ maxLength: 64 }),
);

/** Header values a client can put on the wire: printable Latin-1, no CR/LF/NUL. */
const headerSafe = (s: string) => s.replace(/[^\t\x20-\x7e]/g, '');

const contentType = fc.oneof(
  fc.constantFrom(
    'application/json',
    'application/json; charset=utf-8',
    'application/json;charset=utf-16',
    'APPLICATION/JSON',
    'application/vnd.api+json',
    'application/problem+json',
    'application/json, text/plain',
    'application/jsonp',
    'text/json',
    'text/plain',
    'text/html',
    'application/x-www-form-urlencoded',
    'multipart/form-data; boundary=----x',
    'multipart/form-data',
    'application/octet-stream',
    '*/*',
    ';;;',
    '',
    ' ',
    '+json',
  ),
  fc.string().map(headerSafe),
);

type Credential = 'admin' | 'agent' | 'auditor' | 'none' | { header: string };
const credential: fc.Arbitrary<Credential> = fc.oneof(
  { arbitrary: fc.constant('admin' as const), weight: 8 },
  { arbitrary: fc.constantFrom('agent' as const, 'auditor' as const, 'none' as const), weight: 2 },
  {
    arbitrary: fc
      .oneof(
        fc.string().map((s) => `Bearer ${s}`),
        fc.constantFrom('Bearer', 'Bearer ', 'Basic YWRtaW46YWRtaW4=', 'bearer lxk_nope', `Bearer ${'x'.repeat(600)}`),
        fc.string(),
      )
      .map((s) => ({ header: headerSafe(s) })),
    weight: 2,
  },
);

const requestIdHeader = fc.option(
  fc.oneof(fc.constantFrom('trace-1', 'has space', 'a'.repeat(200), 'caf\u00e9'), fc.string().map(headerSafe)),
  { nil: undefined },
);

const pad = (n: number, width = 2) => String(n).padStart(width, '0');

const OFFSETS_MINUTES = [0, 0, 60, -60, 330, -570, 14 * 60, -12 * 60, 23 * 60 + 59, -(23 * 60 + 59)];

/**
 * Well-formed ISO-8601 timestamps: a wall-clock time in years 0000–9999 (fast-check favours the ends,
 * and the very ends are added) with any offset, so the instant itself may fall just outside that range.
 */
const wellFormedTimestamp = fc
  .tuple(
    fc.oneof(
      fc.date({
        min: new Date('0000-01-01T00:00:00Z'),
        max: new Date('9999-12-31T23:59:59.999Z'),
        noInvalidDate: true,
      }),
      {
        arbitrary: fc.constantFrom(
          new Date('0000-01-01T00:00:00Z'),
          new Date('0000-12-31T23:59:59.999Z'),
          new Date('0001-01-01T00:00:00Z'),
          new Date('9999-12-31T23:59:59Z'),
        ),
        weight: 2,
      },
    ),
    fc.constantFrom(...OFFSETS_MINUTES),
  )
  .map(([wallClock, offset]) => {
    if (offset === 0) return wallClock.toISOString();
    const sign = offset < 0 ? '-' : '+';
    return `${wallClock.toISOString().slice(0, -1)}${sign}${pad(Math.floor(Math.abs(offset) / 60))}:${pad(Math.abs(offset) % 60)}`;
  });

/** ISO-8601-shaped but often impossible: month 13, day 32, hour 24, second 60, odd offsets. */
const malformedTimestamp = fc
  .record({
    year: fc.oneof(fc.integer({ min: 0, max: 9999 }), fc.constantFrom(0, 1, 1969, 1970, 9999)),
    month: fc.constantFrom(0, 1, 2, 12, 13),
    day: fc.constantFrom(0, 1, 29, 30, 31, 32),
    hour: fc.constantFrom(0, 23, 24),
    second: fc.constantFrom(0, 59, 60),
    offset: fc.constantFrom('Z', '+00:00', '-00:00', '+14:00', '+23:59', '-23:59', '+24:00', 'z', ''),
  })
  .map((t) => `${pad(t.year, 4)}-${pad(t.month)}-${pad(t.day)}T${pad(t.hour)}:00:${pad(t.second)}${t.offset}`);

const isoTimestamp = fc.oneof(
  { arbitrary: wellFormedTimestamp, weight: 4 },
  { arbitrary: malformedTimestamp, weight: 1 },
);

const numberText = fc.oneof(
  fc.integer({ min: -2, max: 600 }).map(String),
  hostileNumber.map(String),
  fc.constantFrom('0', '1', '500', '501', '999999999999999', '9999999999999999', '1e2', '0x1', ' 1', '1 ', '+1', '01'),
);

/**
 * Per parameter: mostly values of the right kind, so that a request gets past validation to the
 * database (where the interesting failures are), and sometimes a near miss or anything at all.
 */
const QUERY_VALUES: Record<(typeof QUERY_NAMES)[number], fc.Arbitrary<string>> = {
  limit: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 500 }).map(String), weight: 3 }, numberText),
  cursor: fc.oneof({ arbitrary: fc.nat().map(String), weight: 3 }, numberText),
  from: isoTimestamp,
  to: isoTimestamp,
  order: fc.constantFrom('asc', 'desc', 'desc', 'ASC'),
  event_type: fc.constantFrom('genesis', 'decision', 'decision', 'policy_loaded', 'api_key_created', 'x'),
  actor: fc.constantFrom('user', 'model', 'actor:user', 'a'.repeat(256), 'a b'),
  decision: fc.constantFrom('permit', 'deny', 'escalate', 'PERMIT'),
  risk_level: fc.constantFrom('low', 'medium', 'high', 'critical', '1'),
};

/** Query strings: each real parameter present or not, its value of the right kind or hostile; or noise. */
const queryPairs: fc.Arbitrary<[string, string][]> = fc.oneof(
  {
    arbitrary: fc
      .tuple(
        ...QUERY_NAMES.map((name) =>
          fc.option(
            fc
              .oneof({ arbitrary: QUERY_VALUES[name], weight: 6 }, hostileString)
              .map((v): [string, string] => [name, v]),
            { freq: 2, nil: undefined },
          ),
        ),
      )
      .map((pairs) => pairs.filter((p): p is [string, string] => p !== undefined)),
    weight: 4,
  },
  {
    arbitrary: fc.array(
      fc.tuple(
        fc.oneof(fc.constantFrom(...QUERY_NAMES), fc.string()),
        fc.oneof(hostileString, hostileNumber.map(String)),
      ),
      { maxLength: 6 },
    ),
    weight: 1,
  },
);

function queryString(pairs: [string, string][]): string {
  const params = new URLSearchParams();
  for (const [k, v] of pairs) params.append(k, v);
  const text = params.toString();
  return text ? `?${text}` : '';
}

// ---- routes and requests -------------------------------------------------------------------

interface Route {
  method: string;
  path: string;
}

/** Every concrete method+path the app serves, from its own route table. */
function servedRoutes(app: TestApp['app']): Route[] {
  const seen = new Map<string, Route>();
  for (const r of app.routes) {
    if (r.method === 'ALL') continue;
    seen.set(`${r.method} ${r.path}`, { method: r.method, path: r.path });
  }
  return [...seen.values()];
}

const pathParam = fc.oneof(
  fc.string({ unit: 'binary' }).map((s) => encodeURIComponent(s.toWellFormed())),
  fc
    .constantFrom(
      '..',
      '%00',
      '0',
      '-1',
      '999999999999999999999',
      `dec_${'A'.repeat(26)}`,
      `key_${'A'.repeat(26)}`,
      '1',
      '2',
    )
    .map(encodeURIComponent),
  fc.constantFrom(...RAW_PATH_SEGMENTS),
);

/** A route with each `:param` replaced by an arbitrary, hostile, already-encoded segment. */
function target(routes: Route[], only?: (r: Route) => boolean): fc.Arbitrary<Route> {
  const pool = only ? routes.filter(only) : routes;
  return fc.constantFrom(...pool).chain((route) => {
    const names = route.path.match(/:[A-Za-z_]+/g) ?? [];
    return fc.array(pathParam, { minLength: names.length, maxLength: names.length }).map((values) => ({
      method: route.method,
      path: names.reduce((p, n, i) => p.replace(n, values[i] ?? ''), route.path),
    }));
  });
}

interface Shot {
  method: string;
  path: string;
  query?: string;
  contentType?: string;
  credential: Credential;
  requestId?: string;
  body?: string | Uint8Array;
}

interface Reply {
  status: number;
  text: string;
  headers: Headers;
}

async function fire(t: TestApp, shot: Shot): Promise<Reply> {
  const headers = new Headers();
  if (shot.credential === 'none') {
    // no Authorization header
  } else if (typeof shot.credential === 'string') headers.set('authorization', `Bearer ${t.keys[shot.credential]}`);
  else headers.set('authorization', shot.credential.header);
  if (shot.contentType !== undefined) headers.set('content-type', shot.contentType);
  if (shot.requestId !== undefined) headers.set('x-request-id', shot.requestId);
  const canHaveBody = shot.method !== 'GET' && shot.method !== 'HEAD';
  const request = new Request(`http://localhost${shot.path}${shot.query ?? ''}`, {
    method: shot.method,
    headers,
    body: canHaveBody ? (shot.body as BodyInit | undefined) : undefined,
  });
  const res = await t.app.request(request);
  return { status: res.status, text: await res.text(), headers: res.headers };
}

const KNOWN_CODES = new Set(Object.keys(ERROR_STATUS));

/**
 * The property: below 500, JSON (or the Prometheus text exposition of a successful scrape, or the
 * ledger's signed checkpoint note), and a 4xx is the one error shape whose code belongs to its status.
 */
function expectHandled(reply: Reply) {
  expect(reply.status).toBeLessThan(500);
  const type = reply.headers.get('content-type') ?? '';
  if (reply.status === 200 && type.startsWith('text/plain; version=0.0.4')) return;
  if (reply.status === 200 && type === 'text/plain; charset=utf-8') {
    expect(reply.text, 'a checkpoint is a signed note').toMatch(
      /^\S+\n\d+\n[A-Za-z0-9+/]{43}=\n\n(\u2014 \S+ [A-Za-z0-9+/=]+\n)+$/,
    );
    return;
  }
  let body: unknown;
  expect(
    () => {
      body = JSON.parse(reply.text);
    },
    `body is not JSON: ${reply.text.slice(0, 200)}`,
  ).not.toThrow();
  if (reply.status >= 400) {
    const parsed = ErrorSchema.safeParse(body);
    expect(parsed.success, `not the error shape: ${reply.text.slice(0, 300)}`).toBe(true);
    if (!parsed.success) return;
    const { code, requestId } = parsed.data.error;
    expect(KNOWN_CODES.has(code)).toBe(true);
    expect(ERROR_STATUS[code]).toBe(reply.status);
    expect(requestId).toBe(reply.headers.get('x-request-id'));
  }
}

describe.each(backends())('fuzzing every route on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let routes: Route[];
  let anyRoute: fc.Arbitrary<Route>;
  let bodyRoute: fc.Arbitrary<Route>;
  let queryRoute: fc.Arbitrary<Route>;

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    routes = servedRoutes(t.app);
    anyRoute = target(routes);
    // Bodies matter on the routes that read them; aim most body-fuzzing there, the rest anywhere.
    bodyRoute = fc.oneof(
      { arbitrary: target(routes, (r) => r.method === 'POST'), weight: 3 },
      { arbitrary: anyRoute, weight: 1 },
    );
    // Likewise queries: aim most of them at the routes whose documented parameters include a query.
    const documented = (await t.request('GET', '/openapi.json', { key: null })).body;
    const takesQuery = (r: Route) =>
      (documented.paths[r.path.replace(/:([A-Za-z_]+)/g, '{$1}')]?.[r.method.toLowerCase()]?.parameters ?? []).some(
        (p: { in: string }) => p.in === 'query',
      );
    expect(routes.filter(takesQuery).length).toBeGreaterThan(0);
    queryRoute = fc.oneof({ arbitrary: target(routes, takesQuery), weight: 3 }, { arbitrary: anyRoute, weight: 1 });
  });
  afterAll(() => tdb.close());

  /** Runs one property; returns how often each route answered each status, to show the fuzzing went deep. */
  async function check(arb: fc.Arbitrary<Shot>, numRuns: number): Promise<Set<string>> {
    const seen = new Set<string>();
    await fc.assert(
      fc.asyncProperty(arb, async (shot) => {
        const reply = await fire(t, shot);
        seen.add(`${shot.method} ${reply.status}`);
        expectHandled(reply);
      }),
      { numRuns },
    );
    return seen;
  }

  it('enumerates every route of the app', () => {
    expect(routes.length).toBeGreaterThanOrEqual(18);
    expect(routes).toContainEqual({ method: 'POST', path: '/api/decide' });
    expect(routes).toContainEqual({ method: 'DELETE', path: '/api/keys/:id' });
  });

  it('answers random JSON values on every route without a 5xx', async () => {
    await check(
      fc
        .record({
          route: bodyRoute,
          body: fc.jsonValue(),
          credential,
          requestId: requestIdHeader,
        })
        .map(({ route, body, ...rest }) => ({
          ...route,
          ...rest,
          contentType: 'application/json',
          body: JSON.stringify(body),
        })),
      RUNS.json,
    );
  });

  it('answers objects mixing real field names with hostile values without a 5xx', async () => {
    const asJson = ({ body, ...shot }: Omit<Shot, 'body'> & { body: unknown }): Shot => ({
      ...shot,
      contentType: 'application/json',
      body: JSON.stringify(body),
    });
    const seen = await check(
      fc.oneof(
        fc
          .record({ route: bodyRoute, body: fieldBody, credential, requestId: requestIdHeader })
          .map(({ route, ...rest }) => asJson({ ...route, ...rest })),
        {
          arbitrary: fc
            .record({ aimed: aimedBody, credential, requestId: requestIdHeader })
            .map(({ aimed, ...rest }) => asJson({ ...aimed, ...rest })),
          weight: 2,
        },
      ),
      RUNS.fields,
    );
    // Some of those bodies were valid enough to be acted on, others refused: the handlers were reached.
    expect([...seen].filter((s) => /^POST 20[01]$/.test(s)).length).toBeGreaterThan(0);
    expect(seen).toContain('POST 400');
  });

  it('answers raw hostile text (broken JSON, NUL, lone surrogates, 1e999, huge, deep, binary) without a 5xx', async () => {
    await check(
      fc.record({ route: bodyRoute, body: rawBody, credential }).map(({ route, ...rest }) => ({
        ...route,
        ...rest,
        contentType: 'application/json',
      })),
      RUNS.raw,
    );
  });

  it('answers random content types without a 5xx', async () => {
    await check(
      fc
        .record({
          route: bodyRoute,
          contentType,
          body: fc.oneof(
            fieldBody.map((b) => JSON.stringify(b)),
            rawBody,
          ),
          credential,
        })
        .map(({ route, ...rest }) => ({ ...route, ...rest })),
      RUNS.contentTypes,
    );
  });

  it('answers random query strings built from the real parameter names without a 5xx', async () => {
    const seen = await check(
      fc
        .record({
          route: queryRoute,
          query: fc.oneof(
            { arbitrary: queryPairs.map(queryString), weight: 5 },
            fc.constantFrom('?', '?&&', '?limit', '?limit=1&limit=2', '?%zz=1', '?from=%ED%A0%80', '?cursor=%00'),
          ),
          credential,
          requestId: requestIdHeader,
        })
        .map(({ route, ...rest }) => ({ ...route, ...rest })),
      RUNS.queries,
    );
    expect(seen).toContain('GET 200');
    expect(seen).toContain('GET 400');
  });

  it('leaves a ledger that still verifies', async () => {
    const verification = await t.request('GET', '/api/ledger/verify');
    expect(verification.status).toBe(200);
    expect(verification.body.valid).toBe(true);
    expect(verification.body.first_invalid).toBeUndefined();
  });
});
