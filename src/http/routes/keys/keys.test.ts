import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { sha256Hex } from '../../../ledger/crypto';

const KEY_ID = /^key_[0-9A-Z]{26}$/;

describe.each(backends())('API key routes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let adminId: string;

  beforeEach(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    adminId = ((await t.services.apiKeys.authenticate(t.keys.admin)) as { id: string }).id;
  });
  afterEach(() => tdb.close());

  const createKey = (name: string, role: string, key?: string) =>
    t.request('POST', '/api/keys', { body: { name, role }, ...(key === undefined ? {} : { key }) });
  const keyEntries = async (eventType: 'api_key_created' | 'api_key_revoked') =>
    (await t.request('GET', `/api/ledger/entries?event_type=${eventType}&limit=500`)).body.entries;
  const allLedgerText = async () => JSON.stringify((await t.request('GET', '/api/ledger/entries?limit=500')).body);

  it('creates a key with 201 and shows its secret only in that response', async () => {
    const res = await createKey('billing-agent', 'agent');

    expect(res.status).toBe(201);
    expect(res.body.key).toEqual({
      id: expect.stringMatching(KEY_ID),
      name: 'billing-agent',
      role: 'agent',
      created_at: expect.any(String),
      created_by: adminId,
      revoked_at: null,
    });
    expect(Math.abs(Date.parse(res.body.key.created_at) - Date.now())).toBeLessThan(60_000);
    expect(res.body.secret).toMatch(/^lxk_\S{40,}$/);

    const list = await t.request('GET', '/api/keys');
    expect(list.status).toBe(200);
    const listed = list.body.keys.find((k: { id: string }) => k.id === res.body.key.id);
    expect(listed).toEqual(res.body.key);
    const text = JSON.stringify(list.body);
    expect(text).not.toContain(res.body.secret);
    expect(text).not.toContain(await sha256Hex(res.body.secret));
    for (const secret of Object.values(t.keys)) {
      expect(text).not.toContain(secret);
      expect(text).not.toContain(await sha256Hex(secret));
    }
    for (const key of list.body.keys)
      expect(Object.keys(key).sort()).toEqual(['created_at', 'created_by', 'id', 'name', 'revoked_at', 'role']);
  });

  it('lists keys newest first', async () => {
    const first = (await createKey('first', 'agent')).body.key;
    await new Promise((resolve) => setTimeout(resolve, 5));
    const second = (await createKey('second', 'auditor')).body.key;

    const names = (await t.request('GET', '/api/keys')).body.keys.map((k: { name: string }) => k.name);
    expect(names.slice(0, 2)).toEqual([second.name, first.name]);
    expect(names).toHaveLength(5);
  });

  it('makes a new key work at once for its role and refuses it (403) outside it', async () => {
    const agent = (await createKey('fresh agent', 'agent')).body.secret;
    const auditor = (await createKey('fresh auditor', 'auditor')).body.secret;

    const decided = await t.request('POST', '/api/decide', { key: agent, body: decisionRequest() });
    expect(decided.status).toBe(200);
    expect(decided.body.decision).toBe('deny'); // no policy loaded: denied by default, but answered
    const agentReadsLedger = await t.request('GET', '/api/ledger/head', { key: agent });
    expect({ status: agentReadsLedger.status, code: agentReadsLedger.body.error.code }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });

    const audit = await t.request('GET', '/api/audit/decisions', { key: auditor });
    expect(audit.status).toBe(200);
    expect(audit.body.decisions.map((d: { decision_id: string }) => d.decision_id)).toEqual([decided.body.decision_id]);
    const auditorDecides = await t.request('POST', '/api/decide', { key: auditor, body: decisionRequest() });
    expect({ status: auditorDecides.status, code: auditorDecides.body.error.code }).toEqual({
      status: 403,
      code: 'FORBIDDEN',
    });
  });

  it('refuses a revoked key with 401 on the very next request, even though its lookup was cached', async () => {
    const created = (await createKey('short-lived', 'auditor')).body;
    expect((await t.request('GET', '/api/audit/decisions', { key: created.secret })).status).toBe(200);
    // Revoked behind the service's back, the key still works: its successful lookup is cached.
    await tdb.superuser(`update api_keys set revoked_at = now() where id = '${created.key.id}'`);
    expect((await t.request('GET', '/api/audit/decisions', { key: created.secret })).status).toBe(200);

    const revoked = await t.request('DELETE', `/api/keys/${created.key.id}`);
    expect(revoked.status).toBe(200);

    const next = await t.request('GET', '/api/audit/decisions', { key: created.secret });
    expect({ status: next.status, code: next.body.error.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    expect(next.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('refuses a key revoked through the API with 401 on the very next request', async () => {
    const created = (await createKey('agent to revoke', 'agent')).body;
    for (let i = 0; i < 3; i++) {
      const res = await t.request('POST', '/api/decide', { key: created.secret, body: decisionRequest() });
      expect(res.status).toBe(200);
    }

    const revoked = await t.request('DELETE', `/api/keys/${created.key.id}`);
    expect(revoked.status).toBe(200);
    expect(revoked.body.key).toMatchObject({ id: created.key.id, name: 'agent to revoke', role: 'agent' });
    expect(Date.parse(revoked.body.key.revoked_at)).toBeGreaterThanOrEqual(Date.parse(created.key.created_at));

    const next = await t.request('POST', '/api/decide', { key: created.secret, body: decisionRequest() });
    expect({ status: next.status, code: next.body.error.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });
    const listed = (await t.request('GET', '/api/keys')).body.keys.find((k: { id: string }) => k.id === created.key.id);
    expect(listed.revoked_at).toBe(revoked.body.key.revoked_at);
  });

  it('keeps the first revoked_at when a key is revoked twice, and records one revocation', async () => {
    const created = (await createKey('twice', 'agent')).body.key;
    const first = await t.request('DELETE', `/api/keys/${created.id}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const second = await t.request('DELETE', `/api/keys/${created.id}`);

    expect(first.status).toBe(200);
    expect(second.status).toBe(200);
    expect(first.body.key.revoked_at).toEqual(expect.any(String));
    expect(second.body.key).toEqual(first.body.key);
    const revocations = (await keyEntries('api_key_revoked')).filter(
      (e: { data: { key_id: string } }) => e.data.key_id === created.id,
    );
    expect(revocations).toHaveLength(1);
  });

  it('answers 404 when revoking an unknown but well-formed id, and changes nothing', async () => {
    const before = (await t.request('GET', '/api/ledger/head')).body;
    const res = await t.request('DELETE', `/api/keys/key_${'0'.repeat(26)}`);

    expect(res.status).toBe(404);
    expect(res.body.error.code).toBe('NOT_FOUND');
    expect((await t.request('GET', '/api/ledger/head')).body).toEqual(before);
    expect(
      (await t.request('GET', '/api/keys')).body.keys.every((k: { revoked_at: null }) => k.revoked_at === null),
    ).toBe(true);
  });

  it('records creation and revocation in the ledger, naming who did it and never the secret or its hash', async () => {
    const created = (await createKey('ledgered', 'auditor')).body;
    const revoked = (await t.request('DELETE', `/api/keys/${created.key.id}`)).body.key;

    const creation = (await keyEntries('api_key_created')).filter(
      (e: { data: { key_id: string } }) => e.data.key_id === created.key.id,
    );
    expect(creation).toHaveLength(1);
    expect(creation[0].data).toEqual({
      key_id: created.key.id,
      name: 'ledgered',
      role: 'auditor',
      created_by: adminId,
      bootstrap: false,
    });
    expect(creation[0].timestamp).toBe(created.key.created_at);

    const revocation = (await keyEntries('api_key_revoked')).filter(
      (e: { data: { key_id: string } }) => e.data.key_id === created.key.id,
    );
    expect(revocation).toHaveLength(1);
    expect(revocation[0].data).toEqual({
      key_id: created.key.id,
      name: 'ledgered',
      role: 'auditor',
      revoked_by: adminId,
    });
    expect(revocation[0].timestamp).toBe(revoked.revoked_at);

    const ledger = await allLedgerText();
    for (const secret of [created.secret, ...Object.values(t.keys)]) {
      expect(ledger).not.toContain(secret);
      expect(ledger).not.toContain(await sha256Hex(secret));
    }
  });

  it('makes ensureBootstrapAdmin idempotent: created, then exists, and the key works as admin', async () => {
    const secret = `lxk_bootstrap_${'x'.repeat(40)}`;

    expect(await t.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('created');
    expect(await t.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('exists');
    const restarted = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    expect(await restarted.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('exists');

    const bootstrapKeys = (await t.request('GET', '/api/keys', { key: secret })).body.keys.filter(
      (k: { created_by: string }) => k.created_by === 'bootstrap',
    );
    expect(bootstrapKeys).toEqual([
      {
        id: expect.stringMatching(KEY_ID),
        name: 'bootstrap admin',
        role: 'admin',
        created_at: expect.any(String),
        created_by: 'bootstrap',
        revoked_at: null,
      },
    ]);
    const entries = (await keyEntries('api_key_created')).filter(
      (e: { data: { bootstrap: boolean } }) => e.data.bootstrap,
    );
    expect(entries.map((e: { data: unknown }) => e.data)).toEqual([
      { key_id: bootstrapKeys[0].id, name: 'bootstrap admin', role: 'admin', created_by: 'bootstrap', bootstrap: true },
    ]);
    expect(await allLedgerText()).not.toContain(await sha256Hex(secret));
  });

  it('keeps a revoked bootstrap key revoked and unusable, also after a restart', async () => {
    const secret = `lxk_bootstrap_${'y'.repeat(40)}`;
    expect(await t.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('created');
    expect((await t.request('GET', '/api/keys', { key: secret })).status).toBe(200);
    const id = (await t.services.apiKeys.authenticate(secret))?.id;
    expect(id).toMatch(KEY_ID);

    expect((await t.request('DELETE', `/api/keys/${id}`)).status).toBe(200);

    expect(await t.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('revoked');
    const refused = await t.request('GET', '/api/keys', { key: secret });
    expect({ status: refused.status, code: refused.body.error.code }).toEqual({ status: 401, code: 'UNAUTHENTICATED' });

    const restarted = await createTestApp(await tdb.openInstance(), { signingKey: t.signingKey });
    expect(await restarted.services.apiKeys.ensureBootstrapAdmin(secret)).toBe('revoked');
    expect((await restarted.request('GET', '/api/keys', { key: secret })).status).toBe(401);
    const bootstrapKeys = (await t.request('GET', '/api/keys')).body.keys.filter(
      (k: { created_by: string }) => k.created_by === 'bootstrap',
    );
    expect(bootstrapKeys).toHaveLength(1);
    expect(bootstrapKeys[0].revoked_at).toEqual(expect.any(String));
  });

  it('does not let an auditor or an agent create, list or revoke keys', async () => {
    const before = (await t.request('GET', '/api/ledger/head')).body;

    for (const key of [t.keys.auditor, t.keys.agent]) {
      const created = await createKey('sneaky', 'admin', key);
      expect({ status: created.status, code: created.body.error.code, secret: created.body.secret }).toEqual({
        status: 403,
        code: 'FORBIDDEN',
        secret: undefined,
      });
      expect((await t.request('GET', '/api/keys', { key })).status).toBe(403);
      const revoke = await t.request('DELETE', `/api/keys/${adminId}`, { key });
      expect(revoke.status).toBe(403);
    }

    const keys = (await t.request('GET', '/api/keys')).body.keys;
    expect(keys.map((k: { name: string }) => k.name).sort()).toEqual(['test admin', 'test agent', 'test auditor']);
    expect(keys.every((k: { revoked_at: null }) => k.revoked_at === null)).toBe(true);
    expect((await t.request('GET', '/api/ledger/head')).body).toEqual(before);
  });
});
