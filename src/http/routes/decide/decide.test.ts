import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { DecisionResponseSchema } from '../../../decisions/schemas';
import { leafHash, verifyInclusion } from '../../../ledger/merkle';
import { openCheckpoint, parseVerifierKey } from '../../../ledger/note';

describe.each(backends())('POST /api/decide on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  const decide = (body: Record<string, unknown>, headers?: Record<string, string>) =>
    t.request('POST', '/api/decide', { key: t.keys.agent, body, headers });

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
  });
  afterAll(() => tdb.close());

  it('denies everything by default while no policy is loaded, and still records it', async () => {
    const res = await decide(decisionRequest());
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      allowed: false,
      decision: 'deny',
      reason_code: 'no_policy',
      policy_version_hash: null,
    });
    expect(res.body.capability_token).toBeUndefined();
    const entry = (await t.request('GET', `/api/ledger/entries/${res.body.ledger_entry_index}`)).body;
    expect(entry.data.decision_id).toBe(res.body.decision_id);
  });

  it('permits what the policy permits, with a capability token and a receipt anyone can check', async () => {
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    const res = await decide(decisionRequest({ request_id: 'req-1' }));
    expect(res.status).toBe(200);
    expect(DecisionResponseSchema.safeParse(res.body).success).toBe(true);
    expect(res.body).toMatchObject({
      request_id: 'req-1',
      allowed: true,
      decision: 'permit',
      reason: 'Permitted: Users may read',
      reason_code: 'permitted',
      risk_level: 'low',
      policy_mode: 'strict',
      matched_relations: ['permits:actor:user:action:read'],
    });
    expect(res.body.decision_id).toMatch(/^dec_[0-9A-Z]{26}$/);
    expect(res.body.capability_token).toMatchObject({
      decision_id: res.body.decision_id,
      scope: { actor: 'user', action: 'read', tool: 'file_reader', data_classes: [] },
      policy_version_hash: res.body.policy_version_hash,
    });
    expect(Date.parse(res.body.capability_token.expiry) - Date.parse(res.body.timestamp)).toBe(5 * 60_000);

    // Its receipt proves, with the published key alone, that the signed tree holds its entry.
    const { note_verifier_key } = (await t.request('GET', '/api/ledger/public-key')).body;
    const { receipt } = res.body;
    const checkpoint = await openCheckpoint(receipt.checkpoint, [parseVerifierKey(note_verifier_key)]);
    expect(receipt).toMatchObject({ index: res.body.ledger_entry_index, tree_size: checkpoint.size });
    const leaf = leafHash(hexToBytes(res.body.ledger_entry_hash));
    expect(bytesToHex(leaf)).toBe(receipt.leaf_hash);
    const proof = receipt.inclusion_proof.map(hexToBytes);
    expect(verifyInclusion(receipt.index, checkpoint.size, leaf, proof, checkpoint.rootHash)).toBe(true);
    expect(verifyInclusion(receipt.index, checkpoint.size, leafHash(leaf), proof, checkpoint.rootHash)).toBe(false);
    expect(res.body).not.toHaveProperty('signature');
  });

  it('denies with HTTP 200 and allowed false when nothing permits the action', async () => {
    const res = await decide(decisionRequest({ proposed_action: 'write' }));
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ allowed: false, decision: 'deny', reason_code: 'not_permitted' });
  });

  it('denies the upstream substring attack: fragments of term ids never match', async () => {
    for (const [actor, proposed_action] of [
      ['use', 'read'],
      ['user', 'e'],
      ['use', 'action:'],
      ['actor:', 'read'],
      ['ser', 'rea'],
      ['User', 'read'],
    ] as const) {
      const res = await decide(decisionRequest({ actor, proposed_action }));
      expect(res.body.allowed, `${actor} ${proposed_action}`).toBe(false);
      expect(res.body.reason_code).toBe('not_permitted');
    }
    // The exact id and the exact name both still work.
    expect((await decide(decisionRequest({ actor: 'actor:user', proposed_action: 'action:read' }))).body.allowed).toBe(
      true,
    );
  });

  it('flags a compliance violation with its framework and severity when a forbids relation matches', async () => {
    const res = await decide(decisionRequest({ actor: 'model', proposed_action: 'write', data_classes: ['pii'] }));
    expect(res.body).toMatchObject({
      allowed: false,
      decision: 'deny',
      reason: 'Denied: No model writes to PII',
      reason_code: 'forbidden',
      risk_level: 'high',
      violations: [{ type: 'GDPR', severity: 'high', relation_id: 'forbids:actor:model:action:write:data:pii' }],
    });
  });

  it('takes the risk level from the declared risk and the data touched', async () => {
    const low = await decide(
      decisionRequest({ actor: 'model', proposed_action: 'search', data_classes: ['public'], risk_level: 1 }),
    );
    const critical = await decide(
      decisionRequest({ actor: 'model', proposed_action: 'search', data_classes: ['public'], risk_level: 5 }),
    );
    expect([low.body.risk_level, low.body.allowed]).toEqual(['low', true]);
    expect([critical.body.risk_level, critical.body.allowed]).toEqual(['critical', true]);
  });

  it('lets a request make evaluation stricter (paranoid escalates critical risk) but never looser', async () => {
    const paranoid = await decide(
      decisionRequest({
        actor: 'model',
        proposed_action: 'search',
        data_classes: ['public'],
        risk_level: 5,
        policy_mode: 'paranoid',
      }),
    );
    expect(paranoid.body).toMatchObject({
      allowed: false,
      decision: 'escalate',
      reason_code: 'risk_escalation',
      policy_mode: 'paranoid',
    });
    expect(paranoid.body.capability_token).toBeUndefined();

    const permissive = await decide(decisionRequest({ proposed_action: 'write', policy_mode: 'permissive' }));
    expect(permissive.body).toMatchObject({ allowed: false, policy_mode: 'strict', reason_code: 'not_permitted' });
  });

  it('defaults request_id to the X-Request-ID of the call', async () => {
    const res = await decide(decisionRequest(), { 'x-request-id': 'trace-abc-123' });
    expect(res.body.request_id).toBe('trace-abc-123');
  });

  it('records the whole request, the outcome and the caller in the ledger entry', async () => {
    const body = decisionRequest({
      data_classes: ['public'],
      context: { ticket: 'T-1', urgent: true },
      requested_output_type: 'PERMIT',
    });
    const res = await decide(body);
    const entry = (await t.request('GET', `/api/ledger/entries/${res.body.ledger_entry_index}`)).body;
    expect(entry).toMatchObject({
      event_type: 'decision',
      entry_hash: res.body.ledger_entry_hash,
      timestamp: res.body.timestamp,
    });
    expect(entry.data).toMatchObject({
      decision_id: res.body.decision_id,
      actor: 'user',
      proposed_action: 'read',
      tool: 'file_reader',
      user_intent: 'read a file',
      data_classes: ['public'],
      context: { ticket: 'T-1', urgent: true },
      requested_output_type: 'permit',
      requested_risk_level: 1,
      decision: 'permit',
      capability_token: res.body.capability_token,
    });
    expect(entry.data.caller).toMatch(/^key_/);
  });

  describe('POST /api/decide/verify', () => {
    it('verifies a genuine decision response, whole or by id', async () => {
      const decision = (await decide(decisionRequest())).body;
      for (const claim of [
        decision,
        { decision_id: decision.decision_id },
        { ledger_entry_hash: decision.ledger_entry_hash },
      ]) {
        const res = await t.request('POST', '/api/decide/verify', { key: t.keys.auditor, body: claim });
        expect(res.status).toBe(200);
        expect(res.body).toEqual({
          verified: true,
          decision_id: decision.decision_id,
          ledger_entry_index: decision.ledger_entry_index,
          checks: {
            entry_found: true,
            hash_valid: true,
            signature_valid: true,
            chain_link_valid: true,
            fields_match: true,
          },
          mismatched_fields: [],
        });
      }
    });

    it('catches a forged response: a denial edited into a permit does not verify', async () => {
      const denial = (await decide(decisionRequest({ proposed_action: 'write' }))).body;
      const forged = { ...denial, allowed: true, decision: 'permit', capability_token: { token_id: 'cap_fake' } };
      const res = await t.request('POST', '/api/decide/verify', { key: t.keys.agent, body: forged });
      expect(res.body.verified).toBe(false);
      expect(res.body.checks).toMatchObject({ entry_found: true, signature_valid: true, fields_match: false });
      expect(res.body.mismatched_fields.sort()).toEqual(['allowed', 'capability_token', 'decision']);
    });

    it('says a decision that was never recorded is not verified', async () => {
      const res = await t.request('POST', '/api/decide/verify', {
        body: { decision_id: 'dec_00000000000000000000000000' },
      });
      expect(res.status).toBe(200);
      expect(res.body).toMatchObject({ verified: false, checks: { entry_found: false } });
    });

    it('refuses a claim that names no decision', async () => {
      const res = await t.request('POST', '/api/decide/verify', { body: { allowed: true } });
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('VALIDATION_FAILED');
    });
  });

  describe('request size', () => {
    /** A context just under its own 64 KiB limit (seven strings of 9,300 characters). */
    const fullContext = () => Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`k${i}`, 'c'.repeat(9_300)]));
    const head = async () => (await t.request('GET', '/api/ledger/head')).body.index as number;

    it('refuses a ~575 KB decision with 413 PAYLOAD_TOO_LARGE naming the limit, and records nothing', async () => {
      const body = decisionRequest({
        data_classes: Array.from({ length: 1000 }, (_, i) => `${i}-`.padEnd(512, 'd')),
        context: fullContext(),
      });
      expect(JSON.stringify(body).length).toBeGreaterThan(570_000);
      const before = await head();
      expect(before).toEqual(expect.any(Number));
      const res = await decide(body);
      expect(res.status).toBe(413);
      expect(res.body.error).toMatchObject({ code: 'PAYLOAD_TOO_LARGE', details: { limit_bytes: 131_072 } });
      expect(res.body.error.message).toContain('131072');
      expect(await head()).toBe(before);
    });

    it('decides a request with a full 64 KiB context, under the cap', async () => {
      const res = await decide(decisionRequest({ context: fullContext() }));
      expect(res.status).toBe(200);
      expect(res.body.decision).toBeDefined();
    });

    it('holds a claim sent to POST /api/decide/verify to the same cap', async () => {
      const res = await t.request('POST', '/api/decide/verify', {
        body: {
          decision_id: 'dec_00000000000000000000000000',
          reason: 'r'.repeat(20_000),
          violations: 'v'.repeat(140_000),
        },
      });
      expect(res.status).toBe(413);
      expect(res.body.error.details).toEqual({ limit_bytes: 131_072 });
    });

    it('takes the cap from LEXECON_MAX_DECISION_BYTES, bounded by LEXECON_MAX_BODY_BYTES', async () => {
      const strict = await createTestApp(tdb.database, { settings: { maxDecisionBytes: 8_192 } });
      const small = await strict.request('POST', '/api/decide', {
        key: strict.keys.agent,
        body: decisionRequest({ context: { note: 'n'.repeat(9_000) } }),
      });
      expect(small.status).toBe(413);
      expect(small.body.error.details).toEqual({ limit_bytes: 8_192 });
      const bounded = await createTestApp(tdb.database, {
        maxBodyBytes: 4_096,
        settings: { maxDecisionBytes: 65_536 },
      });
      const res = await bounded.request('POST', '/api/decide', {
        key: bounded.keys.agent,
        body: decisionRequest({ context: { note: 'n'.repeat(5_000) } }),
      });
      expect(res.status).toBe(413);
      expect(res.body.error.details).toEqual({ limit_bytes: 4_096 });
    });
  });
});
