import { readdirSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { canonicalJson } from '../../../ledger/canonical-json';
import { sha256Hex } from '../../../ledger/crypto';

const EXAMPLES_DIR = new URL('../../../../examples/policies/', import.meta.url);

/** The hash the API must report: SHA-256 of the RFC 8785 canonical JSON of the document. */
const policyHash = (document: unknown) => sha256Hex(canonicalJson(document));

/** The full upstream form, with values that a JSON store could easily alter (order, Unicode, numbers). */
const fullFormPolicy = {
  name: 'Clinic (full form)',
  version: '2.0',
  mode: 'strict',
  description: 'Nurses view charts on shift — “quotes”, emoji 🩺 and a tab\tstay exact',
  compliance_frameworks: ['HIPAA'],
  terms: [
    { term_id: 'actor:nurse', term_type: 'actor', label: 'nurse' },
    { term_id: 'action:view', term_type: 'action', label: 'view' },
    { term_id: 'data:chart', term_type: 'data_class', label: 'chart', sensitivity: 'high' },
  ],
  relations: [
    {
      relation_id: 'nurse-views-chart',
      relation_type: 'permits',
      source: 'actor:nurse',
      target: 'action:view',
      conditions: ['context.on_shift == true', 'context.ward in ["A", "B"]'],
    },
  ],
  metadata: { z_last: [0.1, 1e21, -0.000001, 12345678901234], a_first: { nested: null, flag: false } },
};

/** A document with six distinct problems, one of each kind the loader must report together. */
const brokenPolicy = {
  name: 'Broken',
  version: '1.0',
  mode: 'strict',
  terms: [
    { id: 'actor:agent', type: 'actor', name: 'agent' },
    { id: 'action:send', type: 'action', name: 'send' },
    { id: 'actor:agent', type: 'actor', name: 'agent2' },
    { id: 'thing:x', type: 'robot', name: 'x' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:ghost', action: 'action:send' },
    { type: 'permits', subject: 'action:send', action: 'action:send' },
    { type: 'permits', subject: 'actor:agent', action: 'action:send', condition: 'context.amount <' },
    { type: 'allows', subject: 'actor:agent', action: 'action:send' },
  ],
};

const secondPolicy = { ...samplePolicy, version: '1.1', mode: 'permissive' };
const thirdPolicy = { ...samplePolicy, version: '1.2' };

describe.each(backends())('policy routes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;

  beforeEach(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
  });
  afterEach(() => tdb.close());

  const load = (document: unknown, app: TestApp = t) => app.request('POST', '/api/policies', { body: document });
  const policyEntries = async (app: TestApp = t) =>
    (await app.request('GET', '/api/ledger/entries?event_type=policy_loaded&limit=500')).body.entries;
  const head = async (app: TestApp = t) => (await app.request('GET', '/api/ledger/head')).body;

  it('loads the short form: 201, status loaded, version 1 and the SHA-256 of its canonical JSON', async () => {
    const res = await load(samplePolicy);

    expect(res.status).toBe(201);
    expect(res.body.status).toBe('loaded');
    expect(res.body.policy).toMatchObject({
      version: 1,
      name: 'Sample',
      policy_version: '1.0',
      mode: 'strict',
      terms_count: 7,
      relations_count: 3,
      loaded_by: expect.stringMatching(/^key_[0-9A-Z]{26}$/),
    });
    expect(res.body.policy.hash).toMatch(/^[0-9a-f]{64}$/);
    expect(res.body.policy.hash).toBe(await policyHash(samplePolicy));
  });

  it('loads the full form (term_id/term_type/label, relation_id/relation_type/source/target/conditions) and decides by it', async () => {
    const res = await load(fullFormPolicy);

    expect(res.status).toBe(201);
    expect(res.body.status).toBe('loaded');
    expect(res.body.policy).toMatchObject({
      version: 1,
      name: 'Clinic (full form)',
      policy_version: '2.0',
      terms_count: 3,
      relations_count: 1,
      hash: await policyHash(fullFormPolicy),
    });
    const onShift = await t.request('POST', '/api/decide', {
      key: t.keys.agent,
      body: decisionRequest({ actor: 'nurse', proposed_action: 'view', context: { on_shift: true, ward: 'B' } }),
    });
    expect(onShift.body).toMatchObject({
      decision: 'permit',
      matched_relations: ['nurse-views-chart'],
      policy_version_hash: res.body.policy.hash,
    });
    const offShift = await t.request('POST', '/api/decide', {
      key: t.keys.agent,
      body: decisionRequest({ actor: 'nurse', proposed_action: 'view', context: { on_shift: false, ward: 'B' } }),
    });
    expect(offShift.body).toMatchObject({ decision: 'deny', reason_code: 'not_permitted' });
  });

  it('accepts the {"policy": {...}} wrapper and hashes the document inside it', async () => {
    const wrapped = await load({ policy: samplePolicy });

    expect(wrapped.status).toBe(201);
    expect(wrapped.body.status).toBe('loaded');
    expect(wrapped.body.policy).toMatchObject({ name: 'Sample', terms_count: 7, relations_count: 3 });
    expect(wrapped.body.policy.hash).toBe(await policyHash(samplePolicy));
    const stored = await t.request('GET', `/api/policies/${wrapped.body.policy.version}`);
    expect(canonicalJson(stored.body.document)).toBe(canonicalJson(samplePolicy));

    const bare = await load(samplePolicy);
    expect(bare.status).toBe(200);
    expect(bare.body.status).toBe('unchanged');
  });

  it('answers 200 unchanged for the identical document, even with its keys reordered, and appends no ledger entry', async () => {
    const first = await load(samplePolicy);
    const headAfterLoad = await head();

    const again = await load(samplePolicy);
    const reordered = Object.fromEntries(Object.entries(samplePolicy).reverse());
    const reorderedAgain = await load(reordered);

    for (const res of [again, reorderedAgain]) {
      expect(res.status).toBe(200);
      expect(res.body).toEqual({ status: 'unchanged', policy: first.body.policy });
    }
    expect(await head()).toEqual(headAfterLoad);
    expect(await policyEntries()).toHaveLength(1);
    const list = (await t.request('GET', '/api/policies')).body;
    expect(list.history.map((p: { version: number }) => p.version)).toEqual([1]);
  });

  it('appends exactly one policy_loaded entry per real load, at the index the summary names', async () => {
    const loads = [];
    for (const document of [samplePolicy, secondPolicy, samplePolicy]) {
      const before = await head();
      const res = await load(document);
      expect(res.status).toBe(201);
      const after = await head();
      expect(after.index).toBe(before.index + 1);
      expect(res.body.policy.ledger_index).toBe(after.index);
      loads.push(res.body.policy);
    }

    const entries = await policyEntries();
    expect(entries.map((e: { index: number }) => e.index)).toEqual(loads.map((p) => p.ledger_index));
    for (const [i, policy] of loads.entries()) {
      const entry = (await t.request('GET', `/api/ledger/entries/${policy.ledger_index}`)).body;
      expect(entry.event_type).toBe('policy_loaded');
      expect(entry.data).toMatchObject({
        name: policy.name,
        policy_version: policy.policy_version,
        mode: policy.mode,
        policy_hash: policy.hash,
        terms_count: 7,
        relations_count: 3,
        loaded_by: policy.loaded_by,
      });
      expect(entry.timestamp).toBe(policy.loaded_at);
      expect(policy.version).toBe(i + 1);
    }
    // Reloading an older document is a real change of the active policy, so it is version 3.
    expect(loads[2].hash).toBe(loads[0].hash);
  });

  it('lists the active policy and the history newest first, honouring limit', async () => {
    const empty = await t.request('GET', '/api/policies', { key: t.keys.auditor });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ active: null, history: [] });

    const loaded = [];
    for (const document of [samplePolicy, secondPolicy, thirdPolicy]) loaded.push((await load(document)).body.policy);

    const all = await t.request('GET', '/api/policies', { key: t.keys.auditor });
    expect(all.status).toBe(200);
    expect(all.body.active).toEqual(loaded[2]);
    expect(all.body.history).toEqual([loaded[2], loaded[1], loaded[0]]);
    expect(all.body.history.map((p: { policy_version: string }) => p.policy_version)).toEqual(['1.2', '1.1', '1.0']);

    const limited = await t.request('GET', '/api/policies?limit=2', { key: t.keys.auditor });
    expect(limited.body.history).toEqual([loaded[2], loaded[1]]);
    expect(limited.body.active).toEqual(loaded[2]);
  });

  it('returns the stored document canonically equal to what was sent, and 404 for a missing version', async () => {
    const loaded = (await load(fullFormPolicy)).body.policy;

    const res = await t.request('GET', `/api/policies/${loaded.version}`, { key: t.keys.auditor });
    expect(res.status).toBe(200);
    expect(res.body.policy).toEqual(loaded);
    expect(canonicalJson(res.body.document)).toBe(canonicalJson(fullFormPolicy));
    expect(await policyHash(res.body.document)).toBe(loaded.hash);

    const missing = await t.request('GET', '/api/policies/2', { key: t.keys.auditor });
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('NOT_FOUND');
  });

  it('rejects an invalid policy with 400 INVALID_POLICY listing every problem with its JSON pointer, and changes nothing', async () => {
    const active = (await load(samplePolicy)).body.policy;
    const headBefore = await head();

    const res = await load(brokenPolicy);

    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('INVALID_POLICY');
    const problems: { pointer: string; message: string }[] = res.body.error.details.problems;
    expect(problems.map((p) => p.pointer)).toEqual([
      '/terms/2',
      '/terms/3/type',
      '/relations/0/subject',
      '/relations/1/subject',
      '/relations/2/condition',
      '/relations/3/type',
    ]);
    const messages = problems.map((p) => p.message);
    expect(messages[0]).toContain('duplicate term id "actor:agent"');
    expect(messages[1]).toMatch(/actor.*action.*data_class/);
    expect(messages[2]).toContain('undefined term "actor:ghost"');
    expect(messages[3]).toContain('expected actor');
    expect(messages[4]).toContain('invalid condition "context.amount <"');
    expect(messages[5]).toMatch(/permits.*forbids.*requires/);

    const list = (await t.request('GET', '/api/policies')).body;
    expect(list.active).toEqual(active);
    expect(list.history).toEqual([active]);
    expect(await head()).toEqual(headBefore);
  });

  it('keeps the active policy across a restart: a new instance lists it and decides with its hash', async () => {
    await load(samplePolicy);
    const active = (await load(secondPolicy)).body.policy;

    const restarted = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const list = await restarted.request('GET', '/api/policies');
    expect(list.body.active).toEqual(active);
    expect(list.body.history.map((p: { version: number }) => p.version)).toEqual([2, 1]);

    const decision = await restarted.request('POST', '/api/decide', {
      key: restarted.keys.agent,
      body: decisionRequest({ actor: 'model', proposed_action: 'read' }),
    });
    expect(decision.status).toBe(200);
    // Only the permissive second policy permits what no relation forbids.
    expect(decision.body).toMatchObject({
      decision: 'permit',
      policy_mode: 'permissive',
      policy_version: 2,
      policy_version_hash: active.hash,
    });
  });

  it('lets a second instance see a policy loaded by the first once its refresh interval has passed', async () => {
    const refreshMs = 200;
    const first = (await load(samplePolicy)).body.policy;
    const second = await createTestApp(await tdb.openInstance(), {
      signingKey: t.signingKey,
      policyRefreshMs: refreshMs,
    });
    expect((await second.request('GET', '/api/policies')).body.active.hash).toBe(first.hash);

    const newer = (await load(secondPolicy)).body.policy;
    // The second instance looked before this wait began, so its view is now older than the interval
    // (a busy machine only makes it older): its very next answer must be the newer policy.
    await new Promise((resolve) => setTimeout(resolve, refreshMs + 5));
    expect((await second.request('GET', '/api/policies')).body.active.hash).toBe(newer.hash);

    const decision = await second.request('POST', '/api/decide', { key: second.keys.agent, body: decisionRequest() });
    expect(decision.body).toMatchObject({ policy_version: 2, policy_version_hash: newer.hash });
  });

  it('does not answer unchanged on an instance whose cached policy another instance has since replaced', async () => {
    const stale = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey, policyRefreshMs: 60_000 });
    await load(samplePolicy);
    expect((await stale.request('GET', '/api/policies')).body.active.version).toBe(1);
    await load(secondPolicy);

    const res = await load(samplePolicy, stale);

    // Version 2 (secondPolicy) is active, so loading samplePolicy again is a real change.
    expect({ status: res.status, outcome: res.body.status, version: res.body.policy.version }).toEqual({
      status: 201,
      outcome: 'loaded',
      version: 3,
    });
    const fresh = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    expect((await fresh.request('GET', '/api/policies')).body.active.hash).toBe(await policyHash(samplePolicy));
  });

  it('records one load when the same document arrives several times at once', async () => {
    const responses = await Promise.all(Array.from({ length: 5 }, () => load(samplePolicy)));

    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(responses.map((r) => r.body.policy.version))).toEqual(new Set([1]));
    expect(await policyEntries()).toHaveLength(1);
    expect((await t.request('GET', '/api/policies')).body.history).toHaveLength(1);
  });

  it('makes a freshly started instance refuse to decide (503) when the stored document was altered in SQL', async () => {
    await load(samplePolicy);
    await tamperPolicies(
      tdb,
      `update policies set document = jsonb_set(document, '{relations,2,type}', '"permits"') where id = 1`,
    );
    const headBefore = await head();

    const fresh = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const res = await fresh.request('POST', '/api/decide', {
      key: fresh.keys.agent,
      body: decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'] }),
    });

    expect(res.status).toBe(503);
    expect(res.body.error.code).toBe('SERVICE_UNAVAILABLE');
    // No decision was recorded; only the fresh instance's own three test keys were.
    const entries = (await fresh.request('GET', `/api/ledger/entries?cursor=${headBefore.index}`)).body.entries;
    expect(entries.map((e: { event_type: string }) => e.event_type)).toEqual([
      'api_key_created',
      'api_key_created',
      'api_key_created',
    ]);
  });

  it('makes a freshly started instance refuse to decide (503) when the document and its recorded hash were rewritten together', async () => {
    // The signed policy_loaded entry still names the original hash: that, not the row, is the evidence.
    const loaded = (await load(samplePolicy)).body.policy;
    const forged = structuredClone(samplePolicy);
    (forged.relations[2] as { type: string }).type = 'permits';
    const forgedHash = await policyHash(forged);
    await tamperPolicies(
      tdb,
      `update policies set document = '${JSON.stringify(forged)}'::jsonb, hash = '${forgedHash}' where id = ${loaded.version}`,
    );

    const fresh = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const res = await fresh.request('POST', '/api/decide', {
      key: fresh.keys.agent,
      body: decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'] }),
    });

    expect({ status: res.status, code: res.body.error?.code, decision: res.body.decision }).toEqual({
      status: 503,
      code: 'SERVICE_UNAVAILABLE',
      decision: undefined,
    });
  });

  it('refuses UPDATE, DELETE and TRUNCATE of policy rows in the database itself', async () => {
    const loaded = (await load(samplePolicy)).body.policy;

    await expect(tdb.superuser(`update policies set name = 'renamed' where id = 1`)).rejects.toThrow(/append-only/);
    await expect(tdb.superuser('delete from policies where id = 1')).rejects.toThrow(/append-only/);
    await expect(tdb.superuser('truncate policies')).rejects.toThrow(/append-only/);

    const stored = await t.request('GET', '/api/policies/1');
    expect(stored.body.policy).toEqual(loaded);
    expect(canonicalJson(stored.body.document)).toBe(canonicalJson(samplePolicy));
  });

  it('loads every example policy in examples/policies with 201', async () => {
    const files = readdirSync(EXAMPLES_DIR)
      .filter((name) => name.endsWith('.json') && !name.endsWith('.tests.json'))
      .sort();
    expect(files, 'examples/policies has no *.json files yet').not.toHaveLength(0);

    for (const file of files) {
      const document = JSON.parse(readFileSync(new URL(file, EXAMPLES_DIR), 'utf8'));
      const res = await load(document);
      expect({ file, status: res.status, problems: res.body.error?.details?.problems }).toEqual({
        file,
        status: 201,
        problems: undefined,
      });
      expect(res.body.status).toBe('loaded');
      const inner = document.policy && Object.keys(document).length === 1 ? document.policy : document;
      expect(res.body.policy.hash).toBe(await policyHash(inner));
    }
    const list = (await t.request('GET', '/api/policies?limit=500')).body;
    expect(list.history).toHaveLength(files.length);
  });
});

/** A superuser switches the append-only triggers off around one statement, as an attacker could. */
async function tamperPolicies(tdb: TestDatabase, statement: string) {
  await tdb.superuser(
    `alter table policies disable trigger user; ${statement}; alter table policies enable trigger user`,
  );
}
