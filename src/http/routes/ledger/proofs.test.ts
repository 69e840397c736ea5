import { hexToBytes } from '@noble/hashes/utils.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { leafHash, rootOf, verifyConsistency, verifyInclusion } from '../../../ledger/merkle';
import { openNote, parseCheckpoint, parseVerifierKey } from '../../../ledger/note';

interface Receipt {
  index: number;
  tree_size: number;
  leaf_hash: string;
  inclusion_proof: string[];
  checkpoint: string;
}

const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');
const bytes = (hashes: string[]) => hashes.map((h) => hexToBytes(h));

describe.each(backends())('ledger checkpoints and proofs on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let decisions: { ledger_entry_index: number; ledger_entry_hash: string; receipt: Receipt }[];

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    const answers = await Promise.all(
      Array.from({ length: 100 }, () =>
        t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() }),
      ),
    );
    decisions = answers.map((res) => {
      expect(res.status).toBe(200);
      return res.body;
    });
  });
  afterAll(() => tdb.close());

  const get = async (path: string) => {
    const res = await t.request('GET', path, { key: t.keys.auditor });
    expect(res.status, `${path}: ${JSON.stringify(res.body)}`).toBe(200);
    return res.body;
  };

  /** Opens a checkpoint with nothing but the verifier key the API publishes. */
  async function openCheckpoint(note: string) {
    const verifier = parseVerifierKey((await get('/api/ledger/public-key')).note_verifier_key);
    return parseCheckpoint((await openNote(note, verifier)).body);
  }

  it('gives every decision a receipt that verifies offline with the published verifier key', async () => {
    for (const decision of decisions) {
      const { receipt } = decision;
      const { size, rootHash } = await openCheckpoint(receipt.checkpoint);
      expect(receipt.index).toBe(decision.ledger_entry_index);
      expect(receipt.tree_size).toBe(size);
      expect(receipt.leaf_hash).toBe(hex(leafHash(hexToBytes(decision.ledger_entry_hash))));
      const leaf = hexToBytes(receipt.leaf_hash);
      expect(verifyInclusion(receipt.index, size, leaf, bytes(receipt.inclusion_proof), rootHash)).toBe(true);
    }
  });

  it('serves the newest checkpoint as a signed note over every entry', async () => {
    const res = await t.request('GET', '/api/ledger/checkpoint', { key: t.keys.auditor });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    const { origin, size, rootHash } = await openCheckpoint(res.body);
    expect(origin).toBe(`lexecon/${t.signingKey.keyId}`);
    const entries = (await get('/api/ledger/entries?limit=500')).entries as { entry_hash: string }[];
    expect(size).toBe(entries.length);
    expect(hex(rootHash)).toBe(hex(rootOf(entries.map((e) => leafHash(hexToBytes(e.entry_hash))))));
  });

  it('proves every entry in the newest tree, and that tree consistent with each decision’s checkpoint', async () => {
    const { size, rootHash } = await openCheckpoint((await t.request('GET', '/api/ledger/checkpoint')).body);
    for (let index = 0; index < size; index++) {
      const proof = await get(`/api/ledger/proof/inclusion?index=${index}&tree_size=${size}`);
      expect(proof).toMatchObject({ index, tree_size: size, root_hash: hex(rootHash) });
      const leaf = hexToBytes(proof.leaf_hash);
      expect(verifyInclusion(index, size, leaf, bytes(proof.hashes), rootHash)).toBe(true);
    }
    for (const { receipt } of decisions) {
      const old = await openCheckpoint(receipt.checkpoint);
      const proof = await get(`/api/ledger/proof/consistency?from=${old.size}&to=${size}`);
      expect(proof).toMatchObject({ from: old.size, to: size });
      expect(verifyConsistency(old.size, size, old.rootHash, rootHash, bytes(proof.hashes))).toBe(true);
    }
  });

  it('answers 400 for a range no proof exists for, and 404 beyond the newest checkpoint', async () => {
    const { size } = await openCheckpoint((await t.request('GET', '/api/ledger/checkpoint')).body);
    const status = async (path: string) => {
      const res = await t.request('GET', path, { key: t.keys.auditor });
      return [res.status, res.body.error?.code];
    };
    for (const path of [
      `/api/ledger/proof/inclusion?index=${size}&tree_size=${size}`,
      '/api/ledger/proof/inclusion?index=-1&tree_size=1',
      '/api/ledger/proof/inclusion?tree_size=1',
      '/api/ledger/proof/consistency?from=3&to=2',
      '/api/ledger/proof/consistency?from=0&to=2',
      '/api/ledger/proof/consistency?from=x&to=2',
    ]) {
      expect(await status(path), path).toEqual([400, 'VALIDATION_FAILED']);
    }
    for (const path of [
      `/api/ledger/proof/inclusion?index=0&tree_size=${size + 1}`,
      `/api/ledger/proof/consistency?from=1&to=${size + 1}`,
    ]) {
      expect(await status(path), path).toEqual([404, 'NOT_FOUND']);
    }
  });

  it('answers 404 for the checkpoint and every proof while the ledger has no checkpoint', async () => {
    await tdb.superuser(
      `set session_replication_role = replica; delete from ledger_checkpoints; set session_replication_role = origin`,
    );
    for (const path of [
      '/api/ledger/checkpoint',
      '/api/ledger/proof/inclusion?index=0&tree_size=1',
      '/api/ledger/proof/consistency?from=1&to=1',
    ]) {
      const res = await t.request('GET', path, { key: t.keys.auditor });
      expect([res.status, res.body.error?.code], path).toEqual([404, 'NOT_FOUND']);
    }
  });
});
