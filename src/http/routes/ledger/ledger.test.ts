import { createHash, createPublicKey, verify } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';

interface Entry {
  index: number;
  entry_id: string;
  event_type: string;
  timestamp: string;
  data: Record<string, unknown>;
  previous_hash: string;
  entry_hash: string;
  signature: string;
  key_id: string;
}

/**
 * RFC 8785 canonical JSON written here, apart from the service's own implementation, as an outside
 * verifier would: members sorted by UTF-16 code units, leaves serialised as ECMAScript does.
 */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return `{${Object.keys(record)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonical(record[key])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

const sha256 = (input: string | Buffer) => createHash('sha256').update(input).digest('hex');
const recomputeHash = (e: Entry) =>
  sha256(
    canonical({
      index: e.index,
      entry_id: e.entry_id,
      event_type: e.event_type,
      timestamp: e.timestamp,
      data: e.data,
      previous_hash: e.previous_hash,
    }),
  );
/** RFC 9162 §2.1.1 with node:crypto alone: MTH over leaves whose data is each entry_hash's 32 bytes. */
const digest = (...parts: Buffer[]) => createHash('sha256').update(Buffer.concat(parts)).digest();
function merkleRoot(leaves: Buffer[]): Buffer {
  if (leaves.length === 1) return digest(Buffer.from([0]), leaves[0] as Buffer);
  let split = 1;
  while (split * 2 < leaves.length) split *= 2;
  return digest(Buffer.from([1]), merkleRoot(leaves.slice(0, split)), merkleRoot(leaves.slice(split)));
}

/** A C2SP signed note's body and its one Ed25519 signature line, read with node:crypto alone. */
function noteSignatureVerifies(note: string, publicKeyPem: string): boolean {
  const split = note.lastIndexOf('\n\n');
  const [, , signature = ''] = note
    .slice(split + 2)
    .trimEnd()
    .split(' ');
  const bytes = Buffer.from(signature, 'base64');
  return verify(null, Buffer.from(note.slice(0, split + 1)), createPublicKey(publicKeyPem), bytes.subarray(4));
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const indexes = (entries: Entry[]) => entries.map((e) => e.index);
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(backends())('ledger routes on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let decisions: { ledger_entry_index: number; timestamp: string }[];

  // Known history: 0 genesis, 1–3 the test keys, 4 a policy load, 5–10 decisions, 11 a key, 12 its revocation.
  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    await sleep(20);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    await sleep(20);
    decisions = [];
    for (let i = 0; i < 6; i++) {
      await sleep(3);
      const body = decisionRequest(i % 2 ? { actor: 'model', proposed_action: 'write', data_classes: ['pii'] } : {});
      const res = await t.request('POST', '/api/decide', { key: t.keys.agent, body });
      expect(res.status).toBe(200);
      decisions.push(res.body);
    }
    await sleep(20);
    const key = (await t.request('POST', '/api/keys', { body: { name: 'temp', role: 'agent' } })).body.key;
    expect((await t.request('DELETE', `/api/keys/${key.id}`)).status).toBe(200);
  });
  afterAll(() => tdb.close());

  const get = async (path: string) => {
    const res = await t.request('GET', path, { key: t.keys.auditor });
    expect(res.status).toBe(200);
    return res.body;
  };

  /** Follows next_cursor to the end, recording each page's size. */
  const walk = async (query: string) => {
    const sizes: number[] = [];
    const entries: Entry[] = [];
    let cursor: string | null = null;
    do {
      const page: { entries: Entry[]; next_cursor: string | null } = await get(
        `/api/ledger/entries?${query}${cursor ? `&cursor=${cursor}` : ''}`,
      );
      sizes.push(page.entries.length);
      entries.push(...page.entries);
      cursor = page.next_cursor;
    } while (cursor !== null && sizes.length < 50);
    return { sizes, entries };
  };

  it('records the known history in order, with the event types that happened', async () => {
    const { entries } = await walk('limit=500');
    expect(entries.map((e) => e.event_type)).toEqual([
      'genesis',
      'api_key_created',
      'api_key_created',
      'api_key_created',
      'policy_loaded',
      ...Array(6).fill('decision'),
      'api_key_created',
      'api_key_revoked',
    ]);
    expect(indexes(entries).slice(5, 11)).toEqual(decisions.map((d) => d.ledger_entry_index));
  });

  it('pages in ascending order by default, and following next_cursor visits every entry once', async () => {
    const first = await get('/api/ledger/entries?limit=4');
    expect(indexes(first.entries)).toEqual([0, 1, 2, 3]);
    expect(first.next_cursor).toBe('3');

    const { sizes, entries } = await walk('limit=4');
    expect(sizes).toEqual([4, 4, 4, 1]);
    expect(indexes(entries)).toEqual(range(0, 12));
    expect(new Set(entries.map((e) => e.entry_id)).size).toBe(13);
  });

  it('pages in descending order with order=desc, from the head down to genesis', async () => {
    const first = await get('/api/ledger/entries?order=desc&limit=5');
    expect(indexes(first.entries)).toEqual([12, 11, 10, 9, 8]);
    expect(first.next_cursor).toBe('8');

    const { sizes, entries } = await walk('order=desc&limit=5');
    expect(sizes).toEqual([5, 5, 3]);
    expect(indexes(entries)).toEqual(range(0, 12).reverse());
  });

  it('ends with next_cursor null even when the last page is exactly full', async () => {
    const { sizes, entries } = await walk('event_type=decision&limit=3');
    expect(sizes).toEqual([3, 3]);
    expect(indexes(entries)).toEqual(range(5, 10));
  });

  it('filters by event_type, in either order', async () => {
    expect(indexes((await get('/api/ledger/entries?event_type=api_key_created')).entries)).toEqual([1, 2, 3, 11]);
    expect(indexes((await get('/api/ledger/entries?event_type=genesis')).entries)).toEqual([0]);
    expect(indexes((await get('/api/ledger/entries?event_type=policy_loaded')).entries)).toEqual([4]);
    expect(indexes((await get('/api/ledger/entries?event_type=api_key_revoked')).entries)).toEqual([12]);

    const { sizes, entries } = await walk('event_type=decision&order=desc&limit=4');
    expect(sizes).toEqual([4, 2]);
    expect(indexes(entries)).toEqual(range(5, 10).reverse());
    expect(entries.every((e) => e.event_type === 'decision')).toBe(true);

    const invalid = await t.request('GET', '/api/ledger/entries?event_type=nonsense');
    expect({ status: invalid.status, code: invalid.body.error.code }).toEqual({
      status: 400,
      code: 'VALIDATION_FAILED',
    });
  });

  it('filters by from/to timestamps, inclusively, combined with paging and event_type', async () => {
    const firstDecision = decisions[0]?.timestamp as string;
    const lastDecision = decisions.at(-1)?.timestamp as string;

    const between = await walk(`from=${firstDecision}&to=${lastDecision}&limit=4`);
    expect(indexes(between.entries)).toEqual(range(5, 10));
    expect(between.sizes).toEqual([4, 2]);

    expect(indexes((await get(`/api/ledger/entries?from=${firstDecision}`)).entries)).toEqual(range(5, 12));
    expect(indexes((await get(`/api/ledger/entries?to=${lastDecision}&order=desc`)).entries)).toEqual(
      range(0, 10).reverse(),
    );
    expect(
      indexes((await get(`/api/ledger/entries?from=${firstDecision}&event_type=api_key_created`)).entries),
    ).toEqual([11]);
    expect((await get('/api/ledger/entries?to=2000-01-01T00:00:00Z')).entries).toEqual([]);
  });

  it('returns one entry by index, the same as in the listing, and 404 beyond the head', async () => {
    const listed: Entry[] = (await get('/api/ledger/entries?limit=500')).entries;
    for (const index of [0, 4, 7, 12]) expect(await get(`/api/ledger/entries/${index}`)).toEqual(listed[index]);

    for (const beyond of [13, 1_000_000]) {
      const missing = await t.request('GET', `/api/ledger/entries/${beyond}`, { key: t.keys.auditor });
      expect({ status: missing.status, code: missing.body.error.code }).toEqual({ status: 404, code: 'NOT_FOUND' });
    }
  });

  it('starts with a genesis entry at index 0 that links to 64 zeros', async () => {
    const genesis: Entry = await get('/api/ledger/entries/0');
    expect(genesis).toMatchObject({
      index: 0,
      event_type: 'genesis',
      previous_hash: '0'.repeat(64),
      data: { message: 'Lexecon ledger initialized' },
    });
    expect(genesis.entry_hash).toBe(recomputeHash(genesis));
  });

  it('publishes a public key with which an outsider verifies every hash and link, and the signed checkpoint over them all', async () => {
    const published = await get('/api/ledger/public-key');
    expect(published).toMatchObject({ algorithm: 'Ed25519', key_id: expect.stringMatching(/^[0-9a-f]{16}$/) });

    const key = createPublicKey(published.public_key_pem);
    expect(key.asymmetricKeyType).toBe('ed25519');
    const raw = key.export({ format: 'der', type: 'spki' }).subarray(-32);
    expect(raw.toString('base64')).toBe(published.public_key);
    expect(published.key_id).toBe(sha256(raw).slice(0, 16));

    const entries: Entry[] = (await get('/api/ledger/entries?limit=500')).entries;
    expect(entries).toHaveLength(13);
    let previousHash = '0'.repeat(64);
    for (const entry of entries) {
      const checks = {
        index: entry.index,
        hash: recomputeHash(entry) === entry.entry_hash,
        link: entry.previous_hash === previousHash,
        // Signed by the checkpoint of their group commit, not one by one.
        signature: entry.signature,
        key_id: entry.key_id,
      };
      expect(checks).toEqual({ index: entry.index, hash: true, link: true, signature: null, key_id: null });
      previousHash = entry.entry_hash;
    }

    // The newest checkpoint signs the Merkle root over every entry.
    const note = (await t.request('GET', '/api/ledger/checkpoint')).body as string;
    expect(noteSignatureVerifies(note, published.public_key_pem)).toBe(true);
    const [origin, size, root] = note.split('\n');
    expect(origin).toBe(published.note_verifier_key.split('+')[0]);
    expect(Number(size)).toBe(entries.length);
    expect(root).toBe(merkleRoot(entries.map((e) => Buffer.from(e.entry_hash, 'hex'))).toString('base64'));

    // The same checks fail for an altered entry or note, so passing them means something.
    const decision = entries[5] as Entry;
    const altered = { ...decision, data: { ...decision.data, allowed: !decision.data.allowed } };
    expect(recomputeHash(altered)).not.toBe(decision.entry_hash);
    const leaves = entries.map((e) => Buffer.from(e === decision ? recomputeHash(altered) : e.entry_hash, 'hex'));
    expect(merkleRoot(leaves).toString('base64')).not.toBe(root);
    expect(
      noteSignatureVerifies(note.replace(`\n${size}\n`, `\n${Number(size) + 1}\n`), published.public_key_pem),
    ).toBe(false);
  });

  it('refuses ledger reads without a key (401) and to agents (403)', async () => {
    const anonymous = await t.request('GET', '/api/ledger/head', { key: null });
    expect({ status: anonymous.status, code: anonymous.body.error.code }).toEqual({
      status: 401,
      code: 'UNAUTHENTICATED',
    });
    const agent = await t.request('GET', '/api/ledger/entries', { key: t.keys.agent });
    expect({ status: agent.status, code: agent.body.error.code }).toEqual({ status: 403, code: 'FORBIDDEN' });
  });

  // Last in this suite: it appends, and the suites above count entries.
  it('reports the newest entry as the head, and moves the head on the next append', async () => {
    const head: Entry = await get('/api/ledger/head');
    expect(head).toEqual(await get('/api/ledger/entries/12'));
    expect(head.event_type).toBe('api_key_revoked');
    expect((await get('/api/ledger/entries?order=desc&limit=1')).entries).toEqual([head]);

    const decided = await t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() });
    const moved: Entry = await get('/api/ledger/head');
    expect(moved).toMatchObject({
      index: 13,
      event_type: 'decision',
      previous_hash: head.entry_hash,
      entry_hash: decided.body.ledger_entry_hash,
    });
    expect(moved.data.decision_id).toBe(decided.body.decision_id);
  });
});
