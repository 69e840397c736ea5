import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import SwaggerParser from '@apidevtools/swagger-parser';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, samplePolicy, TEST_RATE_LIMITS, type TestApp, type TestResponse } from './support/app';
import { type Backend, backends, type TestDatabase } from './support/databases';
import { scratchDir } from './support/lexecon-cli';

/**
 * The served document as API consumers' tools read it: a validator, a linter and a client
 * generator from the registry, run as their users run them, offline. tests/openapi.test.ts checks
 * that the document tells the truth about the app; this suite checks that tools accept it.
 */
const run = promisify(execFile);
const root = join(import.meta.dirname, '..');
const bin = (path: string) => join(root, 'node_modules', path);
const REDOCLY = bin('@redocly/cli/bin/cli.js');
const OPENAPI_TYPESCRIPT = bin('openapi-typescript/bin/cli.js');
const TSC = bin('typescript/bin/tsc');
const TYPESCRIPT_5 = join(root, 'tests', 'support', 'typescript-5.mjs');
// No usage report, no update check: the suite runs without network.
const OFFLINE = { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true', CI: 'true' };
const METHODS = ['get', 'put', 'post', 'delete', 'patch', 'head', 'options', 'trace'];
const PUBLIC_OPERATIONS = [
  'getService',
  'getHealth',
  'getLiveness',
  'getReadiness',
  'getStartup',
  'getMetrics',
  'login',
];

// biome-ignore lint/suspicious/noExplicitAny: the document is arbitrary JSON read by the test
type Json = any;

function operations(doc: Json): { method: string; path: string; operation: Json }[] {
  return Object.entries(doc.paths as Record<string, Record<string, Json>>).flatMap(([path, item]) =>
    Object.entries(item)
      .filter(([method]) => METHODS.includes(method))
      .map(([method, operation]) => ({ method, path, operation })),
  );
}

interface LintProblem {
  ruleId: string;
  severity: 'error' | 'warn';
  message: string;
  location: { pointer: string }[];
}

/** `redocly lint` with its recommended rules, on the document written to a file; its JSON report. */
async function redoclyLint(doc: Json, files: ReturnType<typeof scratchDir>, name: string) {
  const file = files.path(`${name}.json`);
  writeFileSync(file, JSON.stringify(doc));
  const args = [REDOCLY, 'lint', file, '--extends=recommended', '--format=json', '--max-problems=1000'];
  // Exit status 1 means errors were found; the report is on stdout either way.
  const { stdout, exitCode } = await run(process.execPath, args, { cwd: files.path(''), env: OFFLINE }).then(
    (out) => ({ stdout: out.stdout, exitCode: 0 }),
    (err: { stdout: string; code: number }) => ({ stdout: err.stdout, exitCode: err.code }),
  );
  const report = JSON.parse(stdout) as { totals: { errors: number; warnings: number }; problems: LintProblem[] };
  const line = (p: LintProblem) => `${p.ruleId} at ${p.location[0]?.pointer}: ${p.message}`;
  return {
    exitCode,
    totals: report.totals,
    errors: report.problems.filter((p) => p.severity === 'error').map(line),
    warnings: report.problems.filter((p) => p.severity === 'warn').map(line),
    rules: new Set(report.problems.filter((p) => p.severity === 'error').map((p) => p.ruleId)),
  };
}

/** Type-checks a directory with the project's own TypeScript; its diagnostics as `file:line`. */
async function typeCheck(dir: string): Promise<{ ok: boolean; errors: string[]; output: string }> {
  return run(process.execPath, [TSC, '-p', 'tsconfig.json', '--pretty', 'false'], { cwd: dir }).then(
    ({ stdout }) => ({ ok: true, errors: [], output: stdout }),
    (err: { stdout: string }) => ({
      ok: false,
      errors: [...err.stdout.matchAll(/^(\S+?)\((\d+),\d+\): error/gm)].map((m) => `${m[1]}:${m[2]}`),
      output: err.stdout,
    }),
  );
}

/** A small client over the generated `paths` type: a path, a method, and only the inputs it takes. */
const CLIENT = `import type { paths } from './schema';

type Method = 'get' | 'put' | 'post' | 'delete';
type Operation<P extends keyof paths, M extends Method> = Exclude<paths[P][M], undefined>;
type JsonOf<T> = T extends { content: { 'application/json': infer Body } } ? Body : never;
type Input<O> = (O extends { parameters: { path: infer Path } } ? { path: Path } : unknown) &
  (O extends { parameters: { query?: infer Query } } ? { query?: Query } : unknown) &
  (O extends { requestBody: infer Body } ? { body: JsonOf<Body> } : unknown);
type Output<O> = O extends { responses: { 200: infer R } } ? JsonOf<R> : O extends { responses: { 201: infer R } } ? JsonOf<R> : never;

export type Send = (path: string, init: { method: string; body?: string }) => Promise<{ json(): Promise<unknown> }>;

export async function call<P extends keyof paths, M extends Method>(
  send: Send,
  method: M,
  path: P,
  input: Input<Operation<P, M>>,
): Promise<Output<Operation<P, M>>> {
  const given = input as { path?: Record<string, unknown>; query?: Record<string, unknown>; body?: unknown };
  const url = String(path).replace(/\\{(\\w+)\\}/g, (_, name: string) => encodeURIComponent(String(given.path?.[name])));
  const query = new URLSearchParams(Object.entries(given.query ?? {}).map(([k, v]) => [k, String(v)])).toString();
  const body = given.body === undefined ? undefined : JSON.stringify(given.body);
  const response = await send(query ? url + '?' + query : url, { method: method.toUpperCase(), body });
  return (await response.json()) as Output<Operation<P, M>>;
}
`;

/**
 * A decision, its ledger entry by index, the policies. openapi-typescript's defaults type a property
 * that has a `default` as always present, in shared (component) schemas too, so its client asks for
 * the request's defaulted fields, which the document leaves optional (checked below).
 */
const DECISION = `{ actor: 'ai_agent', proposed_action: 'read', tool: 'file_reader', user_intent: 'read a file', data_classes: ['public'], risk_level: 1, requested_output_type: 'tool_action', context: {} }`;

const CALLS = `import { call, type Send } from './client';

export async function decideThenAudit(send: Send) {
  const decision = await call(send, 'post', '/api/decide', { body: ${DECISION} });
  const allowed: boolean = decision.allowed;
  const entry = await call(send, 'get', '/api/ledger/entries/{index}', { path: { index: decision.ledger_entry_index } });
  const hash: string = entry.entry_hash;
  const policies = await call(send, 'get', '/api/policies', { query: { limit: 10 } });
  const active: number | undefined = policies.active?.version;
  const everyVersion: number[] = policies.history.map((policy) => policy.version);
  return { allowed, hash, active, everyVersion };
}
`;

/** Calls a generated client must refuse, each on its own line. */
const WRONG_CALLS = [
  `call(send, 'post', '/api/decide', { body: { ...${DECISION}, actor: 42 } });`,
  `call(send, 'post', '/api/decide', { body: { ...${DECISION}, risk_level: 'high' } });`,
  "call(send, 'get', '/api/ledger/entries/{index}', { path: { index: null } });",
  "call(send, 'get', '/api/ledger/entries/{index}', { path: {} });",
  "call(send, 'get', '/api/ledger/entries/{index}', { path: { index: '7' } });",
  "call(send, 'get', '/api/policies', { query: { limit: 'ten' } });",
];

const TSCONFIG = {
  compilerOptions: {
    strict: true,
    noEmit: true,
    target: 'es2022',
    module: 'preserve',
    moduleResolution: 'bundler',
    lib: ['es2022', 'dom'],
    types: [],
  },
  include: ['*.ts'],
};

describe('the served OpenAPI document, read by client tools', () => {
  let tdb: TestDatabase;
  let doc: Json;
  const files = scratchDir();

  beforeAll(async () => {
    // The document is the same on every backend: generated once from the route definitions.
    tdb = await (backends()[0] as Backend).open();
    const t = await createTestApp(tdb.database);
    doc = (await t.request('GET', '/openapi.json', { key: null })).body;
  });
  afterAll(async () => {
    files.remove();
    await tdb.close();
  });

  it('passes @apidevtools/swagger-parser validation, which refuses an optional, nullable path parameter', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc))).resolves.toMatchObject({ openapi: '3.1.0' });

    const broken = structuredClone(doc);
    const [index] = broken.paths['/api/ledger/entries/{index}'].get.parameters;
    Object.assign(index, { required: false, schema: { type: ['integer', 'null'] } });
    await expect(SwaggerParser.validate(broken)).rejects.toThrow(/index|required/);
  });

  it('lints with 0 errors under Redocly’s recommended rules, which find the errors of a document without them', async () => {
    const lint = await redoclyLint(doc, files, 'served');
    expect(lint.errors).toEqual([]);
    expect(lint.exitCode).toBe(0);
    expect(lint.totals.errors).toBe(0);

    // What the document looked like before: no servers, no operationIds, public operations unmarked.
    const before = structuredClone(doc);
    before.servers = [];
    for (const { operation } of operations(before)) {
      delete operation.operationId;
      if (operation.security?.length === 0) delete operation.security;
    }
    const old = await redoclyLint(before, files, 'before');
    expect(old.exitCode).toBe(1);
    expect([...old.rules].sort()).toEqual(['no-empty-servers', 'security-defined']);
    expect(old.warnings.filter((w) => w.startsWith('operation-operationId ')).length).toBe(operations(doc).length);
  });

  it('names every operation once, in camelCase, under a declared tag, public ones with no security', () => {
    const declaredTags = new Set(doc.tags.map((tag: Json) => tag.name));
    const ids = operations(doc).map(({ method, path, operation }) => {
      expect(operation.operationId, `${method} ${path}`).toMatch(/^[a-z][A-Za-z0-9]*$/);
      expect(operation.tags.length, `${method} ${path}`).toBeGreaterThan(0);
      for (const tag of operation.tags) expect(declaredTags, `${method} ${path}`).toContain(tag);
      return operation.operationId as string;
    });
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids).toEqual(expect.arrayContaining(['decide', 'listPolicies', 'getLedgerEntry', ...PUBLIC_OPERATIONS]));
    for (const { operation } of operations(doc)) {
      expect(operation.security, operation.operationId).toEqual(
        PUBLIC_OPERATIONS.includes(operation.operationId) ? [] : [{ bearerAuth: [] }],
      );
    }
    for (const requirement of operations(doc).flatMap(({ operation }) => operation.security)) {
      for (const scheme of Object.keys(requirement)) expect(doc.components.securitySchemes).toHaveProperty(scheme);
    }
    expect(doc.servers).toEqual([{ url: '/', description: expect.any(String) }]);
  });

  it('declares every path parameter required and never null, and no query parameter nullable', () => {
    for (const { method, path, operation } of operations(doc)) {
      for (const parameter of operation.parameters ?? []) {
        const where = `${method} ${path} ${parameter.in} ${parameter.name}`;
        const types = [parameter.schema?.type].flat();
        expect(types, where).not.toContain('null');
        if (parameter.in === 'path') expect(parameter.required, where).toBe(true);
      }
    }
    const [index] = doc.paths['/api/ledger/entries/{index}'].get.parameters;
    expect(index).toMatchObject({ name: 'index', in: 'path', required: true, schema: { type: 'integer', minimum: 0 } });
    const [version] = doc.paths['/api/policies/{version}'].get.parameters;
    expect(version).toMatchObject({ required: true, schema: { type: 'integer', minimum: 1 } });
  });

  it('generates types with openapi-typescript that a typed client type-checks against, refusing wrong calls', async () => {
    const dir = files.path('');
    writeFileSync(files.path('openapi.json'), JSON.stringify(doc));
    const generate = [OPENAPI_TYPESCRIPT, files.path('openapi.json'), '-o', files.path('schema.ts')];
    await run(process.execPath, ['--import', TYPESCRIPT_5, ...generate], { env: OFFLINE });
    writeFileSync(files.path('tsconfig.json'), JSON.stringify(TSCONFIG));
    writeFileSync(files.path('client.ts'), CLIENT);
    writeFileSync(files.path('calls.ts'), CALLS);
    expect(doc.components.schemas.DecisionRequest.required).toEqual([
      'actor',
      'proposed_action',
      'tool',
      'user_intent',
    ]);
    const good = await typeCheck(dir);
    expect(good.output).toBe('');
    expect(good.ok).toBe(true);

    const wrong = `import { call, type Send } from './client';\n\nexport function wrongCalls(send: Send) {\n${WRONG_CALLS.map((line) => `  ${line}\n`).join('')}}\n`;
    writeFileSync(files.path('wrong.ts'), wrong);
    const refused = await typeCheck(dir);
    expect(refused.ok).toBe(false);
    // Every wrong call is refused (lines 4 on), and nothing else is.
    expect(new Set(refused.errors), refused.output).toEqual(new Set(WRONG_CALLS.map((_, i) => `wrong.ts:${i + 4}`)));
  });
});

/** Checks that a real answer carries every header its documented response declares required, in its form. */
function expectDeclaredHeaders(doc: Json, response: Json, res: TestResponse, what: string) {
  const declared = Object.entries((response.headers ?? {}) as Record<string, Json>);
  expect(
    declared.map(([name]) => name),
    what,
  ).toContain('X-Request-ID');
  for (const [name, reference] of declared) {
    const header = reference.$ref ? doc.components.headers[reference.$ref.split('/').pop()] : reference;
    if (!header.required) continue;
    const value = res.headers.get(name);
    expect(value, `${what}: ${name}`).not.toBeNull();
    if (header.schema.type === 'integer') {
      expect(value, `${what}: ${name}`).toMatch(/^\d+$/);
      expect(Number(value), `${what}: ${name}`).toBeGreaterThanOrEqual(header.schema.minimum ?? 0);
    }
    if (header.schema.pattern) expect(value, `${what}: ${name}`).toMatch(new RegExp(header.schema.pattern));
  }
}

describe.each(backends())('documented response headers on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let doc: Json;

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    doc = (await t.request('GET', '/openapi.json', { key: null })).body;
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
  });
  afterAll(() => tdb.close());

  function expectAsDocumented(method: string, path: string, res: TestResponse) {
    const response = doc.paths[path][method].responses[String(res.status)];
    expect(response, `${method} ${path} ${res.status} is documented`).toBeDefined();
    expectDeclaredHeaders(doc, response, res, `${method} ${path} ${res.status}`);
  }

  it('declares on every response the headers real answers carry: X-Request-ID always, the limit’s on success', async () => {
    const decision = await t.request('POST', '/api/decide', {
      key: t.keys.agent,
      body: { actor: 'user', proposed_action: 'read', tool: 'file_reader', user_intent: 'read a file' },
    });
    const credentials = { username: 'header-check', password: 'correct horse battery staple' };
    expect((await t.request('POST', '/api/users', { body: { ...credentials, role: 'auditor' } })).status).toBe(201);
    const login = await t.request('POST', '/api/auth/login', { key: null, body: credentials });
    const echoed = await t.request('GET', '/', { key: null, headers: { 'x-request-id': 'trace-4bf92f35' } });
    const answers: [string, string, TestResponse][] = [
      ['post', '/api/decide', decision],
      [
        'get',
        '/api/ledger/entries/{index}',
        await t.request('GET', `/api/ledger/entries/${decision.body.ledger_entry_index}`),
      ],
      ['get', '/api/ledger/entries/{index}', await t.request('GET', '/api/ledger/entries/999999')],
      ['get', '/api/ledger/entries/{index}', await t.request('GET', '/api/ledger/entries/x')],
      ['get', '/api/policies', await t.request('GET', '/api/policies?limit=1')],
      ['get', '/api/policies', await t.request('GET', '/api/policies', { key: null })],
      ['get', '/health', await t.request('GET', '/health', { key: null })],
      ['get', '/', echoed],
      ['post', '/api/auth/login', login],
    ];
    expect(answers.map(([, , res]) => res.status)).toEqual([200, 200, 404, 400, 200, 401, 200, 200, 200]);
    for (const [method, path, res] of answers) expectAsDocumented(method, path, res);
    expect(echoed.headers.get('x-request-id')).toBe('trace-4bf92f35');
    const signedIn = doc.paths['/api/auth/login'].post.responses['200'].headers;
    const success = doc.paths['/api/decide'].post.responses['200'].headers;
    expect(Object.keys(signedIn).sort()).toEqual(Object.keys(success).sort());
    expect(Object.keys(success).sort()).toEqual([
      'RateLimit-Limit',
      'RateLimit-Policy',
      'RateLimit-Remaining',
      'RateLimit-Reset',
      'X-Request-ID',
    ]);
  });

  it('answers 429 with Retry-After and the RateLimit fields, as every 429 is documented', async () => {
    // The same signing key: the active policy must pass this instance's integrity check.
    const limited = await createTestApp(tdb.database, {
      signingKey: t.signingKey,
      services: { rateLimits: { ...TEST_RATE_LIMITS, apiPerSecond: 0.01, apiBurst: 2 } },
    });
    const statuses: number[] = [];
    const bodies: unknown[] = [];
    let last: TestResponse | undefined;
    for (let i = 0; i < 3; i++) {
      last = await limited.request('GET', '/api/policies');
      statuses.push(last.status);
      bodies.push(last.body);
    }
    expect(statuses, JSON.stringify(bodies)).toEqual([200, 200, 429]);
    expectAsDocumented('get', '/api/policies', last as TestResponse);
    for (const { operation } of operations(doc)) {
      const refusal = operation.responses['429'];
      if (!refusal) continue;
      expect(Object.keys(refusal.headers).sort(), operation.operationId).toEqual([
        'RateLimit-Limit',
        'RateLimit-Policy',
        'RateLimit-Remaining',
        'RateLimit-Reset',
        'Retry-After',
        'X-Request-ID',
      ]);
    }
  });

  it('answers a method a path does not serve as components.responses.MethodNotAllowed says, Allow included', async () => {
    const refused = await t.request('DELETE', '/api/decide');
    expect(refused.status).toBe(405);
    expect(refused.body.error.code).toBe('METHOD_NOT_ALLOWED');
    const documented = doc.components.responses.MethodNotAllowed;
    expect(documented.content['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    expectDeclaredHeaders(doc, documented, refused, 'DELETE /api/decide');
    expect(refused.headers.get('allow')).toBe('POST');
    expect(doc.info.description).toContain('components.responses.MethodNotAllowed');
  });
});
