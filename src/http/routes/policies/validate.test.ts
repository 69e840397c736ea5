import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, createTestMetrics, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { canonicalJson } from '../../../ledger/canonical-json';
import { sha256Hex } from '../../../ledger/crypto';
import { PolicyValidationSchema } from '../../../policies/schemas';

/** Problems of every kind a load reports, in one document. */
const brokenPolicy = {
  name: 'Broken',
  mode: 'lenient',
  terms: [
    { id: 'actor:agent', type: 'actor', name: 'agent' },
    { id: 'action:send', type: 'action', name: 'send' },
    { id: 'actor:agent', type: 'actor', name: 'agent2' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:ghost', action: 'action:send' },
    { type: 'permits', subject: 'actor:agent', action: 'action:send', conditions: ['context.amount <'] },
  ],
  constraints: [{ name: 'big', condition: 'context.amount > 10', action: 'shout' }],
};

const constrainedPolicy = {
  ...samplePolicy,
  version: '2.0',
  compliance_frameworks: ['GDPR', 'HIPAA'],
  constraints: [{ name: 'large exports', condition: 'context.rows > 1000', action: 'escalate' }],
};

/** `name{labels} value` lines of one metric, as numbers. */
function values(exposition: string, name: string): number[] {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
}

describe.each(backends())('POST /api/policies/validate on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let metrics: ReturnType<typeof createTestMetrics>;

  beforeEach(async () => {
    tdb = await backend.open();
    metrics = createTestMetrics();
    t = await createTestApp(tdb.database, { metrics });
  });
  afterEach(() => tdb.close());

  const validate = (document: unknown, key?: string) =>
    t.request('POST', '/api/policies/validate', { body: document, key });
  const load = (document: unknown) => t.request('POST', '/api/policies', { body: document });

  it('answers valid with what a load records: the same facts and hash as its policy_loaded entry', async () => {
    const res = await validate(constrainedPolicy);

    expect(res.status).toBe(200);
    expect(PolicyValidationSchema.safeParse(res.body).success).toBe(true);
    expect(res.body).toEqual({
      valid: true,
      problems: [],
      policy: {
        name: 'Sample',
        policy_version: '2.0',
        mode: 'strict',
        hash: await sha256Hex(canonicalJson(constrainedPolicy)),
        terms_count: 7,
        relations_count: 3,
        constraints_count: 1,
        compliance_frameworks: ['GDPR', 'HIPAA'],
      },
      identical_to_active: false,
    });

    const loaded = await load(constrainedPolicy);
    const entry = (await t.request('GET', `/api/ledger/entries/${loaded.body.policy.ledger_index}`)).body;
    const { hash, ...facts } = res.body.policy;
    expect(entry.data).toEqual({ ...facts, policy_hash: hash, loaded_by: loaded.body.policy.loaded_by });
  });

  it('lists every problem with the pointers a load reports for the same document, wrapped or not', async () => {
    for (const document of [brokenPolicy, { policy: brokenPolicy }]) {
      const validated = await validate(document);
      const loaded = await load(document);

      expect(validated.status).toBe(200);
      expect(loaded.status).toBe(400);
      expect(validated.body).toEqual({ valid: false, problems: loaded.body.error.details.problems });
      expect(PolicyValidationSchema.safeParse(validated.body).success).toBe(true);
    }
    const bare = (await validate(brokenPolicy)).body.problems.map((p: { pointer: string }) => p.pointer);
    expect(bare).toEqual([
      '/mode',
      '/terms/2',
      '/relations/0/subject',
      '/relations/1/conditions/0',
      '/constraints/0/action',
    ]);
    const wrapped = (await validate({ policy: brokenPolicy })).body.problems.map((p: { pointer: string }) => p.pointer);
    expect(wrapped).toEqual(bare.map((pointer: string) => `/policy${pointer}`));
  });

  it('says whether the document is identical to the active policy, however it is wrapped or ordered', async () => {
    await load(samplePolicy);

    const reordered = Object.fromEntries(Object.entries(samplePolicy).reverse());
    for (const document of [samplePolicy, reordered, { policy: samplePolicy }]) {
      expect((await validate(document)).body.identical_to_active).toBe(true);
    }
    expect((await validate({ ...samplePolicy, version: '1.1' })).body.identical_to_active).toBe(false);

    await load({ ...samplePolicy, version: '1.1' });
    expect((await validate(samplePolicy)).body.identical_to_active).toBe(false);
  });

  it('changes nothing: the ledger, the history, the active policy and the policy load count stay as they were', async () => {
    const active = (await load(samplePolicy)).body.policy;
    const before = {
      head: (await t.request('GET', '/api/ledger/head')).body,
      verified: (await t.request('GET', '/api/ledger/verify')).body,
      policies: (await t.request('GET', '/api/policies')).body,
      loads: values(await metrics.render(), 'lexecon_policy_loads_total'),
    };
    expect(before.loads.reduce((a, b) => a + b)).toBe(1);

    const valid = [constrainedPolicy, { policy: constrainedPolicy }, samplePolicy];
    for (const document of [...valid, brokenPolicy, { policy: brokenPolicy }]) {
      expect((await validate(document)).status).toBe(200);
    }

    expect((await t.request('GET', '/api/ledger/head')).body).toEqual(before.head);
    expect((await t.request('GET', '/api/ledger/verify')).body).toEqual(before.verified);
    expect((await t.request('GET', '/api/policies')).body).toEqual(before.policies);
    expect(before.policies.active).toEqual(active);
    expect(values(await metrics.render(), 'lexecon_policy_loads_total')).toEqual(before.loads);
  });

  it('needs policies:write: 403 for an auditor and an agent', async () => {
    for (const key of [t.keys.auditor, t.keys.agent]) {
      const res = await validate(samplePolicy, key);
      expect(res.status).toBe(403);
      expect(res.body.error.code).toBe('FORBIDDEN');
    }
  });

  it('holds the body to the limit of a load: 413 PAYLOAD_TOO_LARGE over LEXECON_MAX_BODY_BYTES', async () => {
    const small = await createTestApp(tdb.database, { maxBodyBytes: 4_096 });
    const large = { ...samplePolicy, description: 'd'.repeat(4_096) };
    for (const path of ['/api/policies/validate', '/api/policies']) {
      const res = await small.request('POST', path, { body: large });
      expect(res.status, path).toBe(413);
      expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit_bytes: 4_096 } });
    }
    expect((await small.request('POST', '/api/policies/validate', { body: samplePolicy })).status).toBe(200);
  });
});
