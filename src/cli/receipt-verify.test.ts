import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import {
  leafOf,
  ledgerEntries,
  lexecon,
  publishedKey,
  scratchDir,
  signCheckpoint,
  verifierKeyOf,
} from '../../tests/support/lexecon-cli';
import { generateSigningKey, toHex } from '../ledger/crypto';
import { rootOf } from '../ledger/merkle';
import type { Receipt } from '../ledger/tree-store';

/** PATH(m, D[n]) of RFC 9162 §2.1.3.1, written from its definition. */
function inclusionPath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return m < k
    ? [...inclusionPath(m, leaves.slice(0, k)), rootOf(leaves.slice(k))]
    : [...inclusionPath(m - k, leaves.slice(k)), rootOf(leaves.slice(0, k))];
}

describe('lexecon receipt verify', () => {
  const files = scratchDir();
  let tdb: TestDatabase;
  let t: TestApp;
  // biome-ignore lint/suspicious/noExplicitAny: a decide answer, read field by field
  let answer: any;
  let receipt: Receipt;
  const write = (name: string, value: unknown) => {
    writeFileSync(files.path(name), JSON.stringify(value));
    return files.path(name);
  };
  const verify = (file: string, key = verifierKeyOf(t.signingKey)) =>
    lexecon(['receipt', 'verify', file, '--key', key, '--format', 'json']);

  beforeAll(async () => {
    tdb = await backends()[0]!.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    for (let i = 0; i < 6; i++) await t.request('POST', '/api/decide', { body: decisionRequest() });
    answer = (await t.request('POST', '/api/decide', { body: decisionRequest() })).body;
    await t.request('POST', '/api/decide', { body: decisionRequest() });
    const leaves = (await ledgerEntries(t)).map(leafOf);
    const index = answer.ledger_entry_index as number;
    receipt = {
      index,
      tree_size: leaves.length,
      leaf_hash: toHex(leaves[index] as Uint8Array),
      inclusion_proof: inclusionPath(index, leaves).map(toHex),
      checkpoint: await signCheckpoint(t.signingKey, leaves),
    };
  });
  afterAll(async () => {
    await tdb?.close();
    files.remove();
  });

  it('passes a receipt, alone or inside its decide answer', async () => {
    const alone = await verify(write('receipt.json', receipt));
    expect(alone.code).toBe(0);
    expect(alone.json().summary).toBe(
      `entry ${receipt.index} is in the tree of size ${receipt.tree_size} signed by lexecon/${t.signingKey.keyId}`,
    );
    expect((await verify(write('answer.json', { ...answer, receipt }))).code).toBe(0);
  });

  it('passes the receipt the service puts in a decide answer, with the key it publishes', async () => {
    const decided = await t.request('POST', '/api/decide', { body: decisionRequest() });
    expect(decided.body.receipt.index).toBe(decided.body.ledger_entry_index);
    const run = await verify(write('decided.json', decided.body), await publishedKey(t));
    expect([run.code, run.json().valid]).toEqual([0, true]);
  });

  it('fails a proof with one byte changed: bad_proof', async () => {
    const [first, ...rest] = receipt.inclusion_proof;
    const flipped = {
      ...receipt,
      inclusion_proof: [`${first?.slice(0, -1)}${first?.endsWith('0') ? '1' : '0'}`, ...rest],
    };
    const run = await verify(write('flipped.json', flipped));
    expect(run.code).toBe(1);
    expect(run.json().first_invalid).toMatchObject({ index: receipt.index, reason: 'bad_proof' });
  });

  it('fails a receipt that is not for the answer’s entry: leaf_mismatch', async () => {
    const other = { ...answer, ledger_entry_hash: '00'.repeat(32), receipt };
    const run = await verify(write('other.json', other));
    expect(run.code).toBe(1);
    expect(run.json().first_invalid.reason).toBe('leaf_mismatch');
  });

  it('fails a checkpoint under another key: bad_checkpoint', async () => {
    const run = await verify(write('receipt.json', receipt), verifierKeyOf(await generateSigningKey()));
    expect(run.code).toBe(1);
    expect(run.json().first_invalid.reason).toBe('bad_checkpoint');
  });

  it('accepts the test vector docs/ledger.md gives, with the verifier key printed there', async () => {
    const page = readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'ledger.md'), 'utf8');
    const example = /```json\n(\{[^`]*"inclusion_proof"[^`]*)```/.exec(page)?.[1] ?? '';
    const key = /`(lexecon\/[0-9a-f]{16}\+[0-9a-f]{8}\+\S+)`/.exec(page)?.[1] ?? '';
    const run = await verify(write('documented.json', JSON.parse(example)), key);
    expect(run.code).toBe(0);
    expect(run.json().summary).toBe('entry 2 is in the tree of size 3 signed by lexecon/fdf72a088f18f739');
  });

  it('exits 2 on a file that holds no receipt', async () => {
    const run = await verify(write('not-a-receipt.json', { decision: 'permit' }));
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^lexecon receipt verify: the file holds no receipt/);
  });
});
