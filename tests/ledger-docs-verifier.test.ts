import { execFile } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from './support/app';
import { backends, type TestDatabase } from './support/databases';
import { ledgerEntries, scratchDir } from './support/lexecon-cli';

/**
 * The verifier docs/ledger.md gives third parties ("no Lexecon code") is run as written, with plain
 * Node, on a real export: it must accept the ledger as the service keeps it, and name what is wrong
 * with a copy that was changed.
 */
const run = promisify(execFile);
const script = (() => {
  const page = readFileSync(new URL('../docs/ledger.md', import.meta.url), 'utf8');
  const start = page.indexOf('```js\n// verify.mjs');
  return page.slice(start + '```js\n'.length, page.indexOf('```', start + 6));
})();

describe.each(backends())('the Node verifier in docs/ledger.md, on a ledger kept on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  const files = scratchDir();

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    await Promise.all(
      Array.from({ length: 12 }, () =>
        t.request('POST', '/api/decide', { key: t.keys.agent, body: decisionRequest() }),
      ),
    );
    writeFileSync(files.path('verify.mjs'), script);
    // The checkpoint first, so the entries fetched after it cover it.
    writeFileSync(files.path('checkpoint.txt'), (await t.request('GET', '/api/ledger/checkpoint')).body as string);
    writeFileSync(files.path('key.pem'), (await t.request('GET', '/api/ledger/public-key')).body.public_key_pem);
  });
  afterAll(async () => {
    files.remove();
    await tdb.close();
  });

  async function verifyCopy(entries: unknown[]) {
    writeFileSync(files.path('entries.json'), JSON.stringify(entries));
    const args = ['verify.mjs', 'entries.json', 'checkpoint.txt', 'key.pem'].map((f) => files.path(f));
    return run(process.execPath, args).then(
      ({ stdout }) => ({ ok: true, output: stdout }),
      (err: { stderr: string }) => ({ ok: false, output: err.stderr }),
    );
  }

  it('accepts the export, checkpoint and all', async () => {
    const entries = await ledgerEntries(t);
    const result = await verifyCopy(entries);
    expect(result).toMatchObject({ ok: true, output: expect.stringMatching(/^valid: \d+ entries/) });
    expect(entries.every((e) => e.signature === null)).toBe(true);
  });

  it('names a changed entry, a cut-off copy and a checkpoint over other entries', async () => {
    const entries = await ledgerEntries(t);
    const edited = entries.map((e, i) => (i === 5 ? { ...e, data: { ...e.data, allowed: !e.data.allowed } } : e));
    expect(await verifyCopy(edited)).toMatchObject({
      ok: false,
      output: expect.stringContaining('hash_mismatch at 5'),
    });
    const size = Number(readFileSync(files.path('checkpoint.txt'), 'utf8').split('\n')[1]);
    expect(await verifyCopy(entries.slice(0, size - 1))).toMatchObject({
      ok: false,
      output: expect.stringContaining(`truncated at ${size - 1}`),
    });
    // Another valid chain of the same length is not the tree the checkpoint signed.
    const relinked = entries.slice(0, size).map((e) => ({ ...e }));
    relinked.reverse();
    expect((await verifyCopy(relinked)).ok).toBe(false);
  });
});
