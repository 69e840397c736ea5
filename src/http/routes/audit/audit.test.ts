import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';

/** The sample policy under two frameworks, plus a forbids that names only one of them. */
const auditPolicy = {
  ...samplePolicy,
  compliance_frameworks: ['GDPR', 'SOC2'],
  relations: [
    ...samplePolicy.relations,
    {
      type: 'forbids',
      subject: 'actor:user',
      action: 'action:write',
      object: 'data:pii',
      framework: 'SOC2',
      justification: 'Users never write PII directly',
    },
  ],
};

interface Planned {
  request: Record<string, unknown>;
  decision: 'permit' | 'deny' | 'escalate';
  risk: 'low' | 'medium' | 'high' | 'critical';
  frameworks: string[];
}

const WRITE_PII = { proposed_action: 'write', data_classes: ['pii'] };

/** Two batches, decided in this order; every decision gets its own millisecond so from/to can split them. */
const batches: Planned[][] = [
  [
    { request: { actor: 'user' }, decision: 'permit', risk: 'low', frameworks: [] },
    { request: { actor: 'user', risk_level: 3 }, decision: 'permit', risk: 'medium', frameworks: [] },
    { request: { actor: 'user', risk_level: 4 }, decision: 'permit', risk: 'high', frameworks: [] },
    {
      request: { actor: 'user', risk_level: 4, policy_mode: 'paranoid' },
      decision: 'escalate',
      risk: 'high',
      frameworks: [],
    },
    {
      request: { actor: 'model', proposed_action: 'search', data_classes: ['public'] },
      decision: 'permit',
      risk: 'low',
      frameworks: [],
    },
  ],
  [
    { request: { actor: 'model', ...WRITE_PII }, decision: 'deny', risk: 'high', frameworks: ['GDPR', 'SOC2'] },
    {
      request: { actor: 'model', ...WRITE_PII, risk_level: 5 },
      decision: 'deny',
      risk: 'critical',
      frameworks: ['GDPR', 'SOC2'],
    },
    { request: { actor: 'user', ...WRITE_PII }, decision: 'deny', risk: 'high', frameworks: ['SOC2'] },
    { request: { actor: 'intruder' }, decision: 'deny', risk: 'low', frameworks: [] },
    { request: { actor: 'model' }, decision: 'deny', risk: 'low', frameworks: [] },
  ],
];

interface Decided {
  decision_id: string;
  timestamp: string;
  ledger_entry_index: number;
  actor: string;
  decision: string;
  risk_level: string;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const ids = (list: { decision_id: string }[]) => list.map((d) => d.decision_id);
const newestFirst = (list: Decided[]) => [...list].reverse();

describe.each(backends())('audit routes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let policyHash: string;
  const decided: Decided[][] = [[], []];
  const all = () => decided.flat();

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    const loaded = await t.request('POST', '/api/policies', { body: auditPolicy });
    expect(loaded.status).toBe(201);
    policyHash = loaded.body.policy.hash;
    for (const [b, batch] of batches.entries()) {
      if (b > 0) await sleep(25);
      for (const planned of batch) {
        await sleep(3);
        const res = await t.request('POST', '/api/decide', {
          key: t.keys.agent,
          body: decisionRequest(planned.request),
        });
        // The plan is only a fixture if the service decided what it says.
        expect(res.status).toBe(200);
        expect({
          decision: res.body.decision,
          risk: res.body.risk_level,
          frameworks: res.body.violations.map((v: { type: string }) => v.type),
        }).toEqual({ decision: planned.decision, risk: planned.risk, frameworks: planned.frameworks });
        decided[b]?.push({ ...res.body, actor: planned.request.actor as string });
      }
    }
  });
  afterAll(() => tdb.close());

  const audit = async (query: string, key?: string) => {
    const res = await t.request('GET', `/api/audit/decisions${query}`, { key: key ?? t.keys.auditor });
    expect(res.status).toBe(200);
    return res.body;
  };

  it('lists every decision newest first with its recorded fields and the total', async () => {
    const page = await audit('');
    expect(page.total).toBe(10);
    expect(page.next_cursor).toBeNull();
    expect(ids(page.decisions)).toEqual(ids(newestFirst(all())));
    const [newest] = page.decisions;
    const last = all().at(-1) as Decided;
    expect(newest).toEqual({
      decision_id: last.decision_id,
      request_id: expect.any(String),
      timestamp: last.timestamp,
      actor: 'model',
      proposed_action: 'read',
      tool: 'file_reader',
      decision: 'deny',
      allowed: false,
      reason: 'Action not explicitly permitted',
      reason_code: 'not_permitted',
      risk_level: 'low',
      violations: [],
      policy_version_hash: policyHash,
      ledger_entry_index: last.ledger_entry_index,
      ledger_entry_hash: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('filters by actor, decision and risk level, alone and combined', async () => {
    const expectMatch = async (query: string, predicate: (d: Decided) => boolean, total: number) => {
      const page = await audit(query);
      const expected = newestFirst(all().filter(predicate));
      expect(expected).toHaveLength(total);
      expect({ query, total: page.total, ids: ids(page.decisions) }).toEqual({ query, total, ids: ids(expected) });
    };
    await expectMatch('?actor=user', (d) => d.actor === 'user', 5);
    await expectMatch('?actor=model', (d) => d.actor === 'model', 4);
    await expectMatch('?actor=intruder', (d) => d.actor === 'intruder', 1);
    await expectMatch('?actor=nobody', () => false, 0);
    await expectMatch('?decision=permit', (d) => d.decision === 'permit', 4);
    await expectMatch('?decision=deny', (d) => d.decision === 'deny', 5);
    await expectMatch('?decision=escalate', (d) => d.decision === 'escalate', 1);
    await expectMatch('?risk_level=low', (d) => d.risk_level === 'low', 4);
    await expectMatch('?risk_level=medium', (d) => d.risk_level === 'medium', 1);
    await expectMatch('?risk_level=high', (d) => d.risk_level === 'high', 4);
    await expectMatch('?risk_level=critical', (d) => d.risk_level === 'critical', 1);
    await expectMatch('?actor=user&decision=deny', (d) => d.actor === 'user' && d.decision === 'deny', 1);
    await expectMatch(
      '?actor=user&risk_level=high',
      (d) => d.actor === 'user' && d.risk_level === 'high',
      3, // the strict permit, the paranoid escalation and the forbidden write
    );
  });

  it('filters by from/to timestamps taken from real decisions, inclusively', async () => {
    const [first, second] = decided as [Decided[], Decided[]];
    const secondStart = (second[0] as Decided).timestamp;
    const firstEnd = (first.at(-1) as Decided).timestamp;
    expect(Date.parse(secondStart)).toBeGreaterThan(Date.parse(firstEnd));

    const since = await audit(`?from=${secondStart}`);
    expect({ total: since.total, ids: ids(since.decisions) }).toEqual({ total: 5, ids: ids(newestFirst(second)) });

    const until = await audit(`?to=${firstEnd}`);
    expect({ total: until.total, ids: ids(until.decisions) }).toEqual({ total: 5, ids: ids(newestFirst(first)) });

    // A window that opens on the second decision and closes on the second-to-last one.
    const window = await audit(`?from=${all()[1]?.timestamp}&to=${all()[8]?.timestamp}`);
    expect(window.total).toBe(8);
    expect(ids(window.decisions)).toEqual(ids(newestFirst(all().slice(1, 9))));

    // The same instant written with a UTC offset selects the same decisions.
    const offset = new Date(Date.parse(secondStart) + 2 * 3_600_000).toISOString().replace('Z', '+02:00');
    expect(ids((await audit(`?from=${encodeURIComponent(offset)}`)).decisions)).toEqual(ids(newestFirst(second)));

    const combined = await audit(`?from=${secondStart}&actor=user`);
    expect({ total: combined.total, actors: combined.decisions.map((d: Decided) => d.actor) }).toEqual({
      total: 1,
      actors: ['user'],
    });
  });

  it('pages with limit and next_cursor through every matching decision exactly once, ending with null', async () => {
    const walk = async (filter: string, limit: number) => {
      const pages: { size: number; total: number; cursor: string | null }[] = [];
      const seen: string[] = [];
      let cursor: string | null = null;
      do {
        const page = await audit(`?${filter}limit=${limit}${cursor ? `&cursor=${cursor}` : ''}`);
        pages.push({ size: page.decisions.length, total: page.total, cursor: page.next_cursor });
        seen.push(...ids(page.decisions));
        cursor = page.next_cursor;
      } while (cursor !== null && pages.length < 20);
      return { pages, seen };
    };

    const everything = await walk('', 3);
    expect(everything.pages.map((p) => p.size)).toEqual([3, 3, 3, 1]);
    expect(everything.pages.every((p) => p.total === 10)).toBe(true);
    expect(everything.pages.at(-1)?.cursor).toBeNull();
    expect(everything.seen).toEqual(ids(newestFirst(all())));

    const users = await walk('actor=user&', 2);
    expect(users.pages.map((p) => p.size)).toEqual([2, 2, 1]);
    expect(users.seen).toEqual(ids(newestFirst(all().filter((d) => d.actor === 'user'))));

    // A limit that divides the matches exactly still ends with next_cursor null, not an empty page.
    const exact = await walk('', 5);
    expect(exact.pages.map((p) => p.size)).toEqual([5, 5]);
    expect(exact.seen).toEqual(ids(newestFirst(all())));
  });

  it('returns one decision with its ledger entry and a verification whose three checks pass', async () => {
    const target = all()[5] as Decided; // the forbidden write with two violations
    const res = await t.request('GET', `/api/audit/decisions/${target.decision_id}`, { key: t.keys.auditor });

    expect(res.status).toBe(200);
    expect(res.body.verification).toEqual({ hash_valid: true, signature_valid: true, chain_link_valid: true });
    expect(res.body.decision).toMatchObject({
      decision_id: target.decision_id,
      actor: 'model',
      proposed_action: 'write',
      decision: 'deny',
      allowed: false,
      reason_code: 'forbidden',
      risk_level: 'high',
      ledger_entry_index: target.ledger_entry_index,
      policy_version_hash: policyHash,
    });
    expect(res.body.decision.violations.map((v: { type: string }) => v.type)).toEqual(['GDPR', 'SOC2']);
    expect(res.body.entry).toMatchObject({
      index: target.ledger_entry_index,
      event_type: 'decision',
      timestamp: target.timestamp,
      entry_hash: res.body.decision.ledger_entry_hash,
    });
    expect(res.body.entry.data.decision_id).toBe(target.decision_id);
    const ledgerEntry = await t.request('GET', `/api/ledger/entries/${target.ledger_entry_index}`);
    expect(res.body.entry).toEqual(ledgerEntry.body);
  });

  it('answers 404 for an unknown but well-formed decision id, and 400 for a malformed one', async () => {
    const unknown = await t.request('GET', `/api/audit/decisions/dec_${'0'.repeat(26)}`, { key: t.keys.auditor });
    expect(unknown.status).toBe(404);
    expect(unknown.body.error.code).toBe('NOT_FOUND');

    const malformed = await t.request('GET', '/api/audit/decisions/not-a-decision', { key: t.keys.auditor });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error.code).toBe('VALIDATION_FAILED');
  });

  const allTimeStats = () => ({
    total_decisions: 10,
    by_decision: { permit: 4, deny: 5, escalate: 1 },
    by_risk_level: { low: 4, medium: 1, high: 4, critical: 1 },
    violations_by_framework: { GDPR: 2, SOC2: 3 },
    allow_rate: 0.4,
    first_decision_at: all()[0]?.timestamp,
    last_decision_at: all().at(-1)?.timestamp,
    last_24h: 10,
    previous_24h: 0,
  });

  it('reports stats that are exactly what was decided', async () => {
    const res = await t.request('GET', '/api/audit/stats', { key: t.keys.auditor });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(allTimeStats());
  });

  it('computes stats from stored data, so a freshly started instance reports the same numbers', async () => {
    const fresh = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    const res = await fresh.request('GET', '/api/audit/stats', { key: fresh.keys.auditor });
    expect(res.status).toBe(200);
    expect(res.body).toEqual(allTimeStats());
  });

  it('narrows stats to the from/to range', async () => {
    const [first, second] = decided as [Decided[], Decided[]];
    const later = await t.request('GET', `/api/audit/stats?from=${second[0]?.timestamp}`, { key: t.keys.auditor });
    expect(later.body).toEqual({
      total_decisions: 5,
      by_decision: { permit: 0, deny: 5, escalate: 0 },
      by_risk_level: { low: 2, medium: 0, high: 2, critical: 1 },
      violations_by_framework: { GDPR: 2, SOC2: 3 },
      allow_rate: 0,
      first_decision_at: second[0]?.timestamp,
      last_decision_at: second.at(-1)?.timestamp,
      last_24h: 5,
      previous_24h: 0,
    });

    const earlier = await t.request('GET', `/api/audit/stats?to=${first.at(-1)?.timestamp}`, { key: t.keys.auditor });
    expect(earlier.body).toEqual({
      total_decisions: 5,
      by_decision: { permit: 4, deny: 0, escalate: 1 },
      by_risk_level: { low: 2, medium: 1, high: 2, critical: 0 },
      violations_by_framework: {},
      allow_rate: 0.8,
      first_decision_at: first[0]?.timestamp,
      last_decision_at: first.at(-1)?.timestamp,
      last_24h: 5,
      previous_24h: 0,
    });

    const before = await t.request('GET', `/api/audit/stats?to=2000-01-01T00:00:00Z`, { key: t.keys.auditor });
    expect(before.body).toEqual({
      total_decisions: 0,
      by_decision: { permit: 0, deny: 0, escalate: 0 },
      by_risk_level: { low: 0, medium: 0, high: 0, critical: 0 },
      violations_by_framework: {},
      allow_rate: null,
      first_decision_at: null,
      last_decision_at: null,
      last_24h: 0,
      previous_24h: 0,
    });
  });

  it('lets auditors and admins read the audit trail but refuses agents (403) and anonymous callers (401)', async () => {
    expect((await t.request('GET', '/api/audit/decisions', { key: t.keys.admin })).body.total).toBe(10);
    const agent = await t.request('GET', '/api/audit/decisions', { key: t.keys.agent });
    expect({ status: agent.status, code: agent.body.error.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
    const anonymous = await t.request('GET', '/api/audit/stats', { key: null });
    expect({ status: anonymous.status, code: anonymous.body.error.code }).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
  });
});
