import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  TEST_RATE_LIMITS,
  type TestApp,
} from '../../../../tests/support/app';
import { runCli } from '../../../../tests/support/cli-io';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { ExplanationSchema } from '../../../decisions/schemas';
import { unwrapPolicyDocument } from '../../../governance/policy';
import { canonicalJson } from '../../../ledger/canonical-json';
import { sha256Hex } from '../../../ledger/crypto';

/** The fields an explanation shares with a decision: what decide answers about the outcome. */
const OUTCOME_FIELDS = [
  'allowed',
  'decision',
  'reason',
  'reason_code',
  'risk_level',
  'violations',
  'obligations',
  'matched_relations',
  'policy_mode',
] as const;
/** What only a recorded decision has. */
const DECISION_ONLY = /^(decision_id|capability_token|receipt|ledger_entry_.*|request_id|timestamp|policy_version.*)$/;

const EXAMPLES_DIR = new URL('../../../../examples/policies/', import.meta.url);

/** Each example policy with the cases of the tests file beside it. */
function exampleCases() {
  const read = (file: string) => JSON.parse(readFileSync(new URL(file, EXAMPLES_DIR), 'utf8'));
  return readdirSync(EXAMPLES_DIR)
    .filter((name) => name.endsWith('.tests.json'))
    .sort()
    .map((tests) => ({
      file: tests.replace('.tests.json', '.json'),
      document: read(tests.replace('.tests.json', '.json')),
      cases: read(tests).cases as { name: string; request: Record<string, unknown> }[],
    }));
}

const outcomeOf = (body: Record<string, unknown>) => Object.fromEntries(OUTCOME_FIELDS.map((f) => [f, body[f]]));

/** Requests the sample policy decides each way: a permit, a forbid with a violation, no permit, an escalation. */
const REQUESTS = [
  decisionRequest(),
  decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'] }),
  decisionRequest({ actor: 'model', proposed_action: 'search', data_classes: ['pii'] }),
  decisionRequest({ actor: 'user', proposed_action: 'read', risk_level: 5, policy_mode: 'paranoid' }),
];

/** A policy that exists only in explain requests: it permits what the sample policy forbids. */
const draftPolicy = {
  name: 'Draft',
  version: '0.1',
  mode: 'strict',
  terms: [
    { id: 'actor:model', type: 'actor', name: 'model' },
    { id: 'action:write', type: 'action', name: 'write' },
    { id: 'data:pii', type: 'data_class', name: 'pii', sensitivity: 'high' },
  ],
  relations: [
    {
      type: 'permits',
      subject: 'actor:model',
      action: 'action:write',
      object: 'data:pii',
      condition: 'context.approved == true',
    },
  ],
};

function sum(exposition: string, name: string): number {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .reduce((total, line) => total + Number(line.slice(line.lastIndexOf(' ') + 1)), 0);
}

describe.each(backends())('POST /api/decide/explain on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let metrics: ReturnType<typeof createTestMetrics>;
  const explain = (body: unknown, key?: string) =>
    t.request('POST', '/api/decide/explain', { key: key ?? t.keys.auditor, body });
  const decide = (body: unknown) => t.request('POST', '/api/decide', { key: t.keys.agent, body });
  const head = async () => (await t.request('GET', '/api/ledger/head')).body;

  beforeAll(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    t = await createTestApp(tdb.database, { metrics });
  });
  afterAll(() => tdb.close());

  it('explains the default denial while no policy is active, with policy source none', async () => {
    const res = await explain({ request: decisionRequest() });

    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      recorded: false,
      allowed: false,
      decision: 'deny',
      reason_code: 'no_policy',
      policy: { source: 'none', version: null, hash: null },
      trace: { policy: null, outcome: { reason_code: 'no_policy', decided_by: [] } },
    });
    expect(ExplanationSchema.strict().safeParse(res.body).success).toBe(true);
  });

  it('answers, against the active policy, the outcome decide answers, and only the decision is recorded', async () => {
    const loaded = (await t.request('POST', '/api/policies', { body: samplePolicy })).body.policy;

    const reasons = [];
    for (const request of REQUESTS) {
      const before = await head();
      const explained = await explain({ request });
      expect(explained.status).toBe(200);
      expect(await head()).toEqual(before);

      const decided = await decide(request);
      expect(decided.status).toBe(200);
      expect(decided.body.ledger_entry_index).toBe(before.index + 1);
      expect((await head()).index).toBe(before.index + 1);

      expect(outcomeOf(explained.body)).toEqual(outcomeOf(decided.body));
      reasons.push(explained.body.reason_code);
      expect(explained.body.recorded).toBe(false);
      expect(explained.body.policy).toEqual({ source: 'active', version: loaded.version, hash: loaded.hash });
      expect(Object.keys(explained.body).filter((key) => DECISION_ONLY.test(key))).toEqual([]);
      expect(ExplanationSchema.strict().safeParse(explained.body).success).toBe(true);
    }
    expect(reasons).toEqual(['permitted', 'forbidden', 'not_permitted', 'risk_escalation']);
  });

  it('shows the trace that produced the outcome: the terms matched, the relation that forbade and the violation', async () => {
    const res = await explain({ request: REQUESTS[1] });

    expect(res.body.decision).toBe('deny');
    expect(res.body.trace.terms).toEqual({
      actor: { value: 'model', terms: ['actor:model'] },
      action: { value: 'write', terms: ['action:write'] },
      data_classes: [{ value: 'pii', terms: ['data:pii'] }],
    });
    expect(res.body.trace.relations).toEqual([
      expect.objectContaining({ type: 'forbids', effect: 'forbade', decided: true, object: 'data:pii' }),
    ]);
    expect(res.body.trace.violations).toEqual(res.body.violations);
    expect(res.body.trace.outcome).toMatchObject({ reason_code: 'forbidden', decided_by: res.body.matched_relations });
  });

  it('evaluates a policy sent in the body instead of the active one, wrapped or not, and loads nothing', async () => {
    const policiesBefore = (await t.request('GET', '/api/policies')).body;
    const before = await head();
    const request = decisionRequest({
      actor: 'model',
      proposed_action: 'write',
      data_classes: ['pii'],
      context: { approved: true },
    });

    const hash = await sha256Hex(canonicalJson(draftPolicy));
    for (const policy of [draftPolicy, { policy: draftPolicy }]) {
      const res = await explain({ request, policy });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({
        recorded: false,
        allowed: true,
        decision: 'permit',
        policy: { source: 'request', version: null, hash },
        trace: { policy: { name: 'Draft', version: '0.1' } },
      });
      expect(res.body.trace.relations[0].conditions).toEqual([
        { condition: 'context.approved == true', holds: true, reads: [{ path: 'context.approved', value: true }] },
      ]);
    }
    // The active policy still forbids it.
    expect((await explain({ request })).body).toMatchObject({ allowed: false, reason_code: 'forbidden' });
    expect((await t.request('GET', '/api/policies')).body).toEqual(policiesBefore);
    expect(await head()).toEqual(before);
  });

  it('gives a policy in the body the answer decide gives once that policy is loaded', async () => {
    const draft = { ...samplePolicy, version: '9.9', mode: 'permissive' };
    const explained = [];
    for (const request of REQUESTS) explained.push((await explain({ request, policy: draft })).body);

    expect((await t.request('POST', '/api/policies', { body: draft })).status).toBe(201);
    for (const [i, request] of REQUESTS.entries()) {
      const decided = (await decide(request)).body;
      expect(outcomeOf(explained[i]), JSON.stringify(request)).toEqual(outcomeOf(decided));
      expect(explained[i].policy.hash).toBe(decided.policy_version_hash);
    }
  });

  it('counts no decision: lexecon_decisions_total moves for decide only', async () => {
    const before = sum(await metrics.render(), 'lexecon_decisions_total');
    expect(before).toBeGreaterThan(0);

    for (const request of REQUESTS) expect((await explain({ request })).status).toBe(200);
    expect((await explain({ request: REQUESTS[0], policy: draftPolicy })).status).toBe(200);
    expect(sum(await metrics.render(), 'lexecon_decisions_total')).toBe(before);

    await decide(REQUESTS[0]);
    expect(sum(await metrics.render(), 'lexecon_decisions_total')).toBe(before + 1);
  });

  it('refuses an invalid request with 400 VALIDATION_FAILED naming each field under request', async () => {
    const res = await explain({ request: decisionRequest({ actor: 'a b', risk_level: 9 }), extra: 1 });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('VALIDATION_FAILED');
    expect(res.body.error.details.problems.map((p: { path: string }) => p.path).sort()).toEqual([
      'extra',
      'request.actor',
      'request.risk_level',
    ]);
    expect((await explain({ policy: samplePolicy })).body.error.code).toBe('VALIDATION_FAILED');
  });

  it('refuses an invalid policy with 400 INVALID_POLICY, its problems as a load reports them under /policy', async () => {
    const broken = { ...draftPolicy, mode: 'lenient', relations: [{ type: 'permits', subject: 'actor:ghost' }] };
    const before = await head();
    const loaded = await t.request('POST', '/api/policies', { body: broken });
    const pointers = loaded.body.error.details.problems.map((p: { pointer: string }) => p.pointer);
    expect(pointers.length).toBeGreaterThan(1);

    const bare = await explain({ request: decisionRequest(), policy: broken });
    expect(bare.status).toBe(400);
    expect(bare.body.error.code).toBe('INVALID_POLICY');
    expect(bare.body.error.details.problems).toEqual(
      loaded.body.error.details.problems.map((p: { pointer: string }) => ({ ...p, pointer: `/policy${p.pointer}` })),
    );

    const wrapped = await explain({ request: decisionRequest(), policy: { policy: broken } });
    expect(wrapped.body.error.code).toBe('INVALID_POLICY');
    expect(wrapped.body.error.details.problems.map((p: { pointer: string }) => p.pointer)).toEqual(
      pointers.map((pointer: string) => `/policy/policy${pointer}`),
    );
    expect(await head()).toEqual(before);
  });

  it('needs policies:read: 403 for a key that may only decide', async () => {
    const res = await explain({ request: decisionRequest() }, t.keys.agent);
    expect(res.status).toBe(403);
    expect(res.body.error.code).toBe('FORBIDDEN');
    expect((await explain({ request: decisionRequest() }, t.keys.admin)).status).toBe(200);
  });

  it('takes a policy up to LEXECON_MAX_BODY_BYTES, and holds the request to decide’s LEXECON_MAX_DECISION_BYTES', async () => {
    const strict = await createTestApp(tdb.database, {
      signingKey: t.signingKey,
      maxBodyBytes: 32_768,
      settings: { maxDecisionBytes: 8_192 },
    });
    const send = (path: string, body: unknown) =>
      strict.request('POST', path, { key: strict.keys.admin, body }).then((r) => [r.status, r.body.error?.details]);
    const largePolicy = { ...samplePolicy, metadata: { notes: 'd'.repeat(12_000) } };
    const largeRequest = decisionRequest({ context: { note: 'n'.repeat(9_000) } });

    expect(await send('/api/decide/explain', { request: decisionRequest(), policy: largePolicy })).toEqual([
      200,
      undefined,
    ]);
    expect(await send('/api/decide/explain', { request: largeRequest })).toEqual([413, { limit_bytes: 8_192 }]);
    expect(await send('/api/decide', largeRequest)).toEqual([413, { limit_bytes: 8_192 }]);
    const overBody = {
      request: decisionRequest(),
      policy: { ...samplePolicy, metadata: { notes: 'd'.repeat(33_000) } },
    };
    expect(await send('/api/decide/explain', overBody)).toEqual([413, { limit_bytes: 32_768 }]);
  });

  it('is held to the caller’s API rate limit: 429 with Retry-After once its budget is spent', async () => {
    const limited = await createTestApp(tdb.database, {
      signingKey: t.signingKey,
      // A slow refill, so a slow machine cannot earn a token back mid-test.
      services: { rateLimits: { ...TEST_RATE_LIMITS, apiPerSecond: 0.01, apiBurst: 2 } },
    });
    const body = { request: decisionRequest() };
    const responses = [];
    for (let i = 0; i < 3; i++) {
      responses.push(await limited.request('POST', '/api/decide/explain', { key: limited.keys.auditor, body }));
    }

    expect(responses.map((r) => r.status)).toEqual([200, 200, 429]);
    expect(responses[0]?.headers.get('ratelimit-policy')).toBe('2;w=200');
    expect(responses[2]?.body.error.code).toBe('RATE_LIMITED');
    expect(Number(responses[2]?.headers.get('retry-after'))).toBeGreaterThan(0);
  });

  it('answers what `lexecon policy explain --format json` prints, and decide’s outcome, on every example case', async () => {
    const examples = exampleCases();
    expect(examples, 'examples/policies has no tests files').not.toHaveLength(0);

    for (const { file, document, cases } of examples) {
      expect(cases.length, file).toBeGreaterThan(0);
      const hash = await sha256Hex(canonicalJson(unwrapPolicyDocument(document)));
      const explained = [];
      for (const { name, request } of cases) {
        const res = await explain({ request, policy: document });
        expect(res.status, `${file}: ${name}`).toBe(200);
        const args = ['policy', 'explain', fileURLToPath(new URL(file, EXAMPLES_DIR)), '--request', '-'];
        const cli = await runCli([...args, '--format', 'json'], JSON.stringify(request));
        expect(cli.code, `${file}: ${name}: ${cli.stderr}`).toBe(0);
        // The same evaluation and trace; only where the policy came from differs.
        expect(res.body, `${file}: ${name}`).toEqual({
          ...cli.json(),
          policy: { ...cli.json().policy, source: 'request' },
        });
        expect(cli.json().policy).toEqual({ source: 'file', version: null, hash });
        explained.push(res.body);
      }

      expect((await t.request('POST', '/api/policies', { body: document })).status).toBe(201);
      for (const [i, { name, request }] of cases.entries()) {
        const decided = await decide(request);
        expect(outcomeOf(explained[i]), `${file}: ${name}`).toEqual(outcomeOf(decided.body));
        expect(decided.body.policy_version_hash).toBe(hash);
      }
    }
  });
});
