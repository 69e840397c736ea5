import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { PERMISSIONS, type Permission, ROLE_PERMISSIONS, ROLES } from '../src/auth/permissions';
import {
  DecisionRequestSchema,
  DecisionResponseSchema,
  ExplainRequestSchema,
  ExplanationSchema,
  VerificationSchema,
  VerifyRequestSchema,
} from '../src/decisions/schemas';
import { LedgerEntrySchema } from '../src/http/routes/ledger';
import { ErrorSchema } from '../src/http/routes/schemas';
import { createTestApp, samplePolicy, type TestApp, type TestResponse } from './support/app';
import { backends, type TestDatabase } from './support/databases';

const HIPAA_POLICY = new URL('../examples/policies/hipaa_healthcare_policy.json', import.meta.url);
const PUBLIC_OPERATIONS = new Set([
  'get /',
  'get /health',
  'get /health/live',
  'get /health/ready',
  'get /health/startup',
  'get /metrics',
  'post /api/auth/login',
]);
const SUCCESS = ['200', '201'];

// biome-ignore lint/suspicious/noExplicitAny: the document is arbitrary JSON read by the test
type Json = any;

/** `/api/keys/:id` → `/api/keys/{id}`: Hono's route syntax to OpenAPI's. */
const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z_][A-Za-z0-9_]*)/g, '{$1}');

/** Every method+path the app serves, from its own route table, except the document itself. */
function servedOperations(app: TestApp['app']): { method: string; path: string }[] {
  const seen = new Map<string, { method: string; path: string }>();
  for (const r of app.routes) {
    if (r.method === 'ALL' || (r.method === 'GET' && r.path === '/openapi.json')) continue;
    const op = { method: r.method.toLowerCase(), path: toOpenApiPath(r.path) };
    seen.set(`${op.method} ${op.path}`, op);
  }
  return [...seen.values()];
}

function documentedOperations(doc: Json): { method: string; path: string; operation: Json }[] {
  return Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'].includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

/**
 * A validator for a schema as documented, by converting the document's JSON Schema (OpenAPI 3.1 is
 * JSON Schema 2020-12) with zod's converter: component references become local `$defs`.
 */
function documentedValidator(doc: Json, schema: Json): z.ZodType {
  const relocate = (value: Json) =>
    JSON.parse(JSON.stringify(value).replaceAll('"#/components/schemas/', '"#/$defs/')) as Json;
  return z.fromJSONSchema({ ...relocate(schema), $defs: relocate(doc.components?.schemas ?? {}) });
}

function resolve(doc: Json, schema: Json): Json {
  const ref: string | undefined = schema?.$ref;
  return ref ? doc.components.schemas[ref.replace('#/components/schemas/', '')] : schema;
}

/** The request body example of an operation: on the media type, in `examples`, or on the (referenced) schema. */
function requestExample(doc: Json, operation: Json): unknown {
  const media = operation.requestBody?.content?.['application/json'];
  if (!media) return undefined;
  if (media.example !== undefined) return media.example;
  const first = Object.values(media.examples ?? {})[0] as Json;
  if (first?.value !== undefined) return first.value;
  return resolve(doc, media.schema)?.example;
}

function expectValid(validator: z.ZodType, body: unknown, what: string) {
  const result = validator.safeParse(body);
  expect(result.success, `${what}: ${result.success ? '' : JSON.stringify(result.error.issues.slice(0, 5))}`).toBe(
    true,
  );
}

describe.each(backends())('OpenAPI document on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let served: TestResponse;
  let doc: Json;

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    served = await t.request('GET', '/openapi.json', { key: null });
    doc = served.body;
  });
  afterAll(() => tdb.close());

  /** Checks a real response against what the document says that operation answers with that status. */
  function expectDocumented(method: string, path: string, res: TestResponse) {
    const responses = doc.paths[path]?.[method]?.responses;
    expect(responses, `${method} ${path} is not documented`).toBeDefined();
    const documented = responses[String(res.status)];
    expect(documented, `${method} ${path} answered ${res.status}, which it does not document`).toBeDefined();
    const schema = documented.content?.['application/json']?.schema;
    expect(schema, `${method} ${path} ${res.status} has no JSON schema`).toBeDefined();
    expectValid(documentedValidator(doc, schema), res.body, `${method} ${path} ${res.status}`);
  }

  it('serves an OpenAPI 3.1 document at GET /openapi.json without a key', () => {
    expect(served.status).toBe(200);
    expect(served.headers.get('content-type')).toMatch(/^application\/json/);
    expect(doc.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.info).toMatchObject({ title: expect.any(String), version: 'test' });
    expect(doc.components.securitySchemes.bearerAuth).toMatchObject({ type: 'http', scheme: 'bearer' });
  });

  it('describes every route the app serves, with a summary and a success response', () => {
    const operations = servedOperations(t.app);
    expect(operations.length).toBeGreaterThanOrEqual(18);
    for (const { method, path } of operations) {
      const operation = doc.paths[path]?.[method];
      expect(operation, `${method.toUpperCase()} ${path} is served but not documented`).toBeDefined();
      expect(operation.summary, `${method} ${path} summary`).toEqual(expect.stringMatching(/\S/));
      expect(
        Object.keys(operation.responses).filter((status) => SUCCESS.includes(status)),
        `${method} ${path} documents no 200/201`,
      ).not.toEqual([]);
    }
  });

  it('documents no operation the app does not serve', () => {
    const served = new Set(servedOperations(t.app).map((op) => `${op.method} ${op.path}`));
    const documented = documentedOperations(doc).map((op) => `${op.method} ${op.path}`);
    expect(documented.filter((op) => !served.has(op))).toEqual([]);
  });

  it('documents every path parameter of every route', () => {
    for (const { method, path, operation } of documentedOperations(doc)) {
      const inPath = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
      const declared = (operation.parameters ?? []).filter((p: Json) => p.in === 'path').map((p: Json) => p.name);
      expect(new Set(declared), `${method} ${path}`).toEqual(new Set(inPath));
    }
  });

  it('declares bearer security, one permission, 401 and 403 on every operation except the public ones', () => {
    for (const { method, path, operation } of documentedOperations(doc)) {
      if (PUBLIC_OPERATIONS.has(`${method} ${path}`)) {
        expect(operation.security ?? [], `${method} ${path}`).toEqual([]);
        expect(operation['x-permission'], `${method} ${path}`).toBeUndefined();
        continue;
      }
      expect(operation.security, `${method} ${path}`).toEqual([{ bearerAuth: [] }]);
      expect([...PERMISSIONS, 'authenticated', 'session'], `${method} ${path} x-permission`).toContain(
        operation['x-permission'],
      );
      expect(Object.keys(operation.responses), `${method} ${path}`).toEqual(expect.arrayContaining(['401', '403']));
    }
  });

  it('enforces exactly the documented permission: 401 without a key, 403 for a role without it', async () => {
    for (const { method, path, operation } of documentedOperations(doc)) {
      const url = path.replace(/\{[^}]+\}/g, '1');
      if (PUBLIC_OPERATIONS.has(`${method} ${path}`)) {
        // Sign-in needs a body; its example is sent below.
        if (method === 'get')
          expect((await t.request('GET', url, { key: null })).status, `${method} ${path}`).toBe(200);
        continue;
      }
      const anonymous = await t.request(method.toUpperCase(), url, { key: null });
      expect(anonymous.status, `${method} ${path} without a key`).toBe(401);
      expectDocumented(method, path, anonymous);
      const permission: Permission | 'authenticated' | 'session' = operation['x-permission'];
      // Every key may ask who it is; no key may do what only a user session does.
      const refused = (role: (typeof ROLES)[number]) =>
        permission === 'session' || (permission !== 'authenticated' && !ROLE_PERMISSIONS[role].has(permission));
      for (const role of ROLES.filter(refused)) {
        const denied = await t.request(method.toUpperCase(), url, { key: t.keys[role as keyof TestApp['keys']] });
        expect(denied.status, `${method} ${path} as ${role}`).toBe(403);
        expectDocumented(method, path, denied);
      }
    }
  });

  it('documents every client error in the one error shape', () => {
    const elsewise: string[] = [];
    for (const { method, path, operation } of documentedOperations(doc)) {
      for (const [status, response] of Object.entries(operation.responses as Record<string, Json>)) {
        const schema = response.content?.['application/json']?.schema;
        if (status.startsWith('4') && schema?.$ref !== '#/components/schemas/Error') {
          elsewise.push(`${method.toUpperCase()} ${path} ${status}: ${JSON.stringify(schema)}`);
        }
      }
    }
    expect(elsewise).toEqual([]);
  });

  it('documents 400, 500 and 503 everywhere, and 413 and 415 wherever a JSON body is read', () => {
    for (const { method, path, operation } of documentedOperations(doc)) {
      const statuses = Object.keys(operation.responses);
      expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['400', '500', '503']));
      if (operation.requestBody) {
        expect(operation.requestBody.content?.['application/json'], `${method} ${path}`).toBeDefined();
        expect(statuses, `${method} ${path}`).toEqual(expect.arrayContaining(['413', '415']));
      }
    }
  });

  it('gives every JSON request body an example, and every schema example matches its own schema', () => {
    for (const { method, path, operation } of documentedOperations(doc)) {
      if (!operation.requestBody) continue;
      const example = requestExample(doc, operation);
      expect(example, `${method} ${path} has no example`).toBeDefined();
      expectValid(
        documentedValidator(doc, operation.requestBody.content['application/json'].schema),
        example,
        `${method} ${path} example`,
      );
    }
    for (const [name, schema] of Object.entries(doc.components.schemas as Record<string, Json>)) {
      if (schema.example === undefined) continue;
      expectValid(documentedValidator(doc, { $ref: `#/components/schemas/${name}` }), schema.example, name);
    }
    // The zod schemas that validate requests accept the examples generated from them, too.
    expect(DecisionRequestSchema.safeParse(doc.components.schemas.DecisionRequest.example).success).toBe(true);
    expect(VerifyRequestSchema.safeParse(doc.components.schemas.DecisionClaim.example).success).toBe(true);
    expect(ExplainRequestSchema.safeParse(doc.components.schemas.ExplainRequest.example).success).toBe(true);
  });

  it('accepts every documented request example when it is sent to the app', async () => {
    const examples = new Map(
      documentedOperations(doc)
        .filter((op) => op.operation.requestBody)
        .map((op) => [`${op.method} ${op.path}`, requestExample(doc, op.operation)]),
    );
    expect([...examples.keys()].sort()).toEqual(
      [
        'post /api/auth/login',
        'post /api/auth/mfa/confirm',
        'post /api/auth/mfa/verify',
        'post /api/decide',
        'post /api/decide/explain',
        'post /api/decide/verify',
        'post /api/keys',
        'post /api/policies',
        'post /api/policies/validate',
        'post /api/users',
        'put /api/flags/{name}',
      ].sort(),
    );

    const user = await t.request('POST', '/api/users', { body: examples.get('post /api/users') });
    expect(user.status).toBe(201);
    expectDocumented('post', '/api/users', user);
    const login = await t.request('POST', '/api/auth/login', { key: null, body: examples.get('post /api/auth/login') });
    expect(login.status).toBe(200);
    expectDocumented('post', '/api/auth/login', login);
    // A code example is well-formed but cannot be the right code: the app gets past validation to check it.
    const enroll = await t.request('POST', '/api/auth/mfa/enroll', { key: login.body.token });
    expectDocumented('post', '/api/auth/mfa/enroll', enroll);
    const confirm = await t.request('POST', '/api/auth/mfa/confirm', {
      key: login.body.token,
      body: examples.get('post /api/auth/mfa/confirm'),
    });
    expect(confirm.body.error.message).toBe('The code is not valid');
    const verify = await t.request('POST', '/api/auth/mfa/verify', {
      key: login.body.token,
      body: examples.get('post /api/auth/mfa/verify'),
    });
    expect(verify.body.error.message).toBe('This user has no MFA enrolled: enroll first');

    const validation = await t.request('POST', '/api/policies/validate', {
      body: examples.get('post /api/policies/validate'),
    });
    expect(validation.status).toBe(200);
    expect(validation.body.valid).toBe(true);
    expectDocumented('post', '/api/policies/validate', validation);

    const policy = await t.request('POST', '/api/policies', { body: examples.get('post /api/policies') });
    expect(SUCCESS).toContain(String(policy.status));
    expectDocumented('post', '/api/policies', policy);

    // The decision example names the clinical assistant of the HIPAA example policy.
    const realistic = existsSync(HIPAA_POLICY) ? JSON.parse(readFileSync(HIPAA_POLICY, 'utf8')) : samplePolicy;
    const loaded = await t.request('POST', '/api/policies', { body: realistic });
    expect(SUCCESS).toContain(String(loaded.status));

    const decision = await t.request('POST', '/api/decide', {
      key: t.keys.agent,
      body: examples.get('post /api/decide'),
    });
    expect(decision.status).toBe(200);
    expectDocumented('post', '/api/decide', decision);

    const explanation = await t.request('POST', '/api/decide/explain', {
      body: examples.get('post /api/decide/explain'),
    });
    expect(explanation.status).toBe(200);
    expect(explanation.body.decision).toBe(decision.body.decision);
    expectDocumented('post', '/api/decide/explain', explanation);

    const verification = await t.request('POST', '/api/decide/verify', {
      body: examples.get('post /api/decide/verify'),
    });
    expect(verification.status).toBe(200);
    expectDocumented('post', '/api/decide/verify', verification);

    const key = await t.request('POST', '/api/keys', { body: examples.get('post /api/keys') });
    expect(key.status).toBe(201);
    expectDocumented('post', '/api/keys', key);

    const flag = await t.request('PUT', '/api/flags/metrics_detailed', { body: examples.get('put /api/flags/{name}') });
    expect(flag.status).toBe(200);
    expectDocumented('put', '/api/flags/{name}', flag);
    expectDocumented('get', '/api/flags', await t.request('GET', '/api/flags'));
  });

  it('answers real calls with bodies that match their documented response schemas', async () => {
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    const call = async (method: string, url: string, path: string, options: Parameters<TestApp['request']>[2] = {}) => {
      const res = await t.request(method.toUpperCase(), url, options);
      expect(res.status, `${method} ${url}: ${JSON.stringify(res.body).slice(0, 300)}`).toBeLessThan(300);
      expectDocumented(method, path, res);
      return res.body;
    };

    const decision = await call('post', '/api/decide', '/api/decide', {
      key: t.keys.agent,
      body: { actor: 'model', proposed_action: 'write', tool: 'db', user_intent: 'update', data_classes: ['pii'] },
    });
    expect(DecisionResponseSchema.safeParse(decision).success).toBe(true);
    const permitted = await call('post', '/api/decide', '/api/decide', {
      key: t.keys.agent,
      body: { actor: 'user', proposed_action: 'read', tool: 'file_reader', user_intent: 'read a file' },
    });
    expect(permitted.allowed).toBe(true);
    expect(DecisionResponseSchema.safeParse(permitted).success).toBe(true);

    for (const body of [
      {
        request: { actor: 'model', proposed_action: 'write', tool: 'db', user_intent: 'update', data_classes: ['pii'] },
      },
      { request: { actor: 'user', proposed_action: 'read', tool: 'file_reader', user_intent: 'read' } },
      {
        request: { actor: 'nobody', proposed_action: 'read', tool: 'x', user_intent: '' },
        policy: { policy: samplePolicy },
      },
    ]) {
      const explained = await call('post', '/api/decide/explain', '/api/decide/explain', { body });
      expect(ExplanationSchema.strict().safeParse(explained).success).toBe(true);
    }
    for (const body of [samplePolicy, { name: 'empty', mode: 'lax' }]) {
      await call('post', '/api/policies/validate', '/api/policies/validate', { body });
    }

    const verified = await call('post', '/api/decide/verify', '/api/decide/verify', { body: permitted });
    expect(verified.verified).toBe(true);
    expect(VerificationSchema.safeParse(verified).success).toBe(true);

    const policies = await call('get', '/api/policies', '/api/policies');
    expect(policies.history.length).toBeGreaterThan(0);
    await call('get', `/api/policies/${policies.active.version}`, '/api/policies/{version}');

    const chain = await call('get', '/api/ledger/verify', '/api/ledger/verify');
    expect(chain.valid).toBe(true);
    const page = await call('get', '/api/ledger/entries?limit=3&order=desc', '/api/ledger/entries');
    for (const entry of page.entries) expect(LedgerEntrySchema.safeParse(entry).success).toBe(true);
    expect(page.next_cursor).toEqual(expect.any(String));
    const entry = await call(
      'get',
      `/api/ledger/entries/${decision.ledger_entry_index}`,
      '/api/ledger/entries/{index}',
    );
    expect(LedgerEntrySchema.safeParse(entry).success).toBe(true);
    expect(LedgerEntrySchema.safeParse(await call('get', '/api/ledger/head', '/api/ledger/head')).success).toBe(true);
    const key = await call('get', '/api/ledger/public-key', '/api/ledger/public-key');
    expect(key.note_verifier_key).toMatch(/^lexecon\/[0-9a-f]{16}\+[0-9a-f]{8}\+/);
    const size = decision.receipt.tree_size;
    const inclusion = `/api/ledger/proof/inclusion?index=${decision.receipt.index}&tree_size=${size}`;
    const proof = await call('get', inclusion, '/api/ledger/proof/inclusion');
    expect(proof.hashes).toEqual(decision.receipt.inclusion_proof);
    await call('get', `/api/ledger/proof/consistency?from=1&to=${size}`, '/api/ledger/proof/consistency');
    const checkpoint = await t.request('GET', '/api/ledger/checkpoint');
    expect(checkpoint.status).toBe(200);
    expect(doc.paths['/api/ledger/checkpoint'].get.responses['200'].content['text/plain']).toBeDefined();

    const decisions = await call('get', '/api/audit/decisions?limit=1', '/api/audit/decisions');
    expect(decisions.decisions).toHaveLength(1);
    expect(decisions.next_cursor).toEqual(expect.any(String));
    await call('get', `/api/audit/decisions/${decision.decision_id}`, '/api/audit/decisions/{id}');
    const stats = await call('get', '/api/audit/stats', '/api/audit/stats');
    expect(stats.total_decisions).toBeGreaterThanOrEqual(2);

    const keys = await call('get', '/api/keys', '/api/keys');
    expect(keys.keys.length).toBeGreaterThanOrEqual(3);
    const created = await call('post', '/api/keys', '/api/keys', { body: { name: 'temporary', role: 'agent' } });
    await call('delete', `/api/keys/${created.key.id}`, '/api/keys/{id}');

    await call('get', '/health', '/health', { key: null });
    await call('get', '/', '/', { key: null });
  });

  it('answers real client errors with bodies that match their documented schemas', async () => {
    const errors: [string, string, string, Parameters<TestApp['request']>[2]][] = [
      ['post', '/api/decide', '/api/decide', { body: { actor: 1 } }],
      ['post', '/api/decide', '/api/decide', { rawBody: '{', headers: { 'content-type': 'application/json' } }],
      ['post', '/api/decide', '/api/decide', { rawBody: '{}' }],
      ['post', '/api/policies', '/api/policies', { body: { name: 'empty' } }],
      ['post', '/api/decide/explain', '/api/decide/explain', { body: { request: { actor: 1 } } }],
      [
        'post',
        '/api/decide/explain',
        '/api/decide/explain',
        { body: { request: { actor: 'a', proposed_action: 'b', tool: 'c', user_intent: '' }, policy: { mode: 'x' } } },
      ],
      ['post', '/api/policies/validate', '/api/policies/validate', { body: ['not', 'a', 'policy'] }],
      ['get', '/api/ledger/entries?limit=0', '/api/ledger/entries', {}],
      ['get', '/api/policies/999', '/api/policies/{version}', {}],
      ['get', '/api/ledger/entries/999999', '/api/ledger/entries/{index}', {}],
      ['get', '/api/ledger/proof/inclusion?index=2&tree_size=2', '/api/ledger/proof/inclusion', {}],
      ['get', '/api/ledger/proof/inclusion?index=0&tree_size=999999', '/api/ledger/proof/inclusion', {}],
      ['get', '/api/ledger/proof/consistency?from=2&to=1', '/api/ledger/proof/consistency', {}],
      ['get', '/api/ledger/proof/consistency?from=1&to=999999', '/api/ledger/proof/consistency', {}],
      ['get', `/api/audit/decisions/dec_${'A'.repeat(26)}`, '/api/audit/decisions/{id}', {}],
      ['delete', `/api/keys/key_${'A'.repeat(26)}`, '/api/keys/{id}', {}],
      ['get', '/api/keys', '/api/keys', { key: 'lxk_not_a_key' }],
    ];
    for (const [method, url, path, options] of errors) {
      const res = await t.request(method.toUpperCase(), url, options);
      expect(res.status, `${method} ${url}`).toBeGreaterThanOrEqual(400);
      expect(ErrorSchema.safeParse(res.body).success, `${method} ${url}`).toBe(true);
      expectDocumented(method, path, res);
    }
  });

  it('rejects bodies that do not match (the schema checks above can fail)', () => {
    const response = documentedValidator(doc, { $ref: '#/components/schemas/DecisionResponse' });
    expect(response.safeParse({ decision_id: 'dec_x' }).success).toBe(false);
    const error = documentedValidator(doc, { $ref: '#/components/schemas/Error' });
    expect(error.safeParse({ error: { code: 'NOT_A_CODE', message: 'x', requestId: 'y' } }).success).toBe(false);
    expect(error.safeParse({ error: { code: 'NOT_FOUND', message: 'x', requestId: 'y' } }).success).toBe(true);
    const stats = documentedValidator(
      doc,
      doc.paths['/api/audit/stats'].get.responses['200'].content['application/json'].schema,
    );
    expect(stats.safeParse({ total_decisions: 'many' }).success).toBe(false);
  });
});
