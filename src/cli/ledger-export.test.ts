import { readFileSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { ledgerEntries, lexecon, publishedKey, scratchDir, serveOnLocalPort } from '../../tests/support/lexecon-cli';

/** More than one page of GET /api/ledger/entries (500). */
const DECISIONS = 520;

describe.each(backends())('lexecon ledger export on $name', (backend) => {
  const files = scratchDir();
  let tdb: TestDatabase;
  let t: TestApp;
  let service: { url: string; close(): Promise<void> };
  let full: string;
  let size: number;
  const decide = (count: number) =>
    Promise.all(Array.from({ length: count }, () => t.request('POST', '/api/decide', { body: decisionRequest() })));
  const exportTo = (out: string, token = t.keys.admin) =>
    lexecon(['ledger', 'export', '--url', service.url, '--out', out], { LEXECON_TOKEN: token });

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    for (let done = 0; done < DECISIONS; done += 40) await decide(40);
    service = await serveOnLocalPort((request) => t.app.fetch(request));
    full = files.path('full.ndjson');
    const run = await exportTo(full);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    size = (await ledgerEntries(t)).length;
  });
  afterAll(async () => {
    await service?.close();
    await tdb?.close();
    files.remove();
  });

  it('writes the checkpoint, then every entry up to its tree size, page after page; the file verifies', async () => {
    const lines = readFileSync(full, 'utf8').split('\n').slice(0, -1);
    expect(size).toBeGreaterThan(DECISIONS);
    expect(lines).toHaveLength(size + 1);
    expect(JSON.parse(lines[0] as string).note).toMatch(new RegExp(`^lexecon/${t.signingKey.keyId}\n${size}\n`));
    expect(lines.slice(1).map((line) => JSON.parse(line).entry.index)).toEqual([...Array(size).keys()]);
    const verified = await lexecon(['ledger', 'verify', full, '--key', await publishedKey(t)]);
    expect(verified.stdout).toMatch(new RegExp(`^valid: ${size} entries;`));
    expect(verified.code).toBe(0);
  });

  it('resumes after the last whole entry, dropping a line cut off mid-write, up to the checkpoint already in the file', async () => {
    const text = readFileSync(full, 'utf8');
    const lines = text.split('\n');
    const kept = 300;
    const partial = files.path('partial.ndjson');
    writeFileSync(partial, `${lines.slice(0, kept + 1).join('\n')}\n${lines[kept + 1]?.slice(0, 40)}`);
    await decide(3);
    const run = await exportTo(partial);
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(
      `${partial}: ${size} entries (${size - kept} new), tree size ${size} (lexecon/${t.signingKey.keyId})\n`,
    );
    expect(readFileSync(partial, 'utf8')).toBe(text);
    const again = await exportTo(partial);
    expect(again.stdout).toContain(`${size} entries (0 new)`);
  });

  it('leaves a file that is not an export alone, and starts one over a checkpoint line cut off mid-write', async () => {
    const notes = files.path('notes.txt');
    writeFileSync(notes, 'my notes, without a newline');
    const refused = await exportTo(notes);
    expect([refused.code, refused.stderr]).toEqual([
      1,
      `lexecon ledger export: ${notes} is not an export; remove it or choose another --out\n`,
    ]);
    expect(readFileSync(notes, 'utf8')).toBe('my notes, without a newline');
    const cut = files.path('cut.ndjson');
    writeFileSync(cut, readFileSync(full, 'utf8').slice(0, 30));
    expect((await exportTo(cut)).code).toBe(0);
    expect((await lexecon(['ledger', 'verify', cut, '--key', await publishedKey(t)])).code).toBe(0);
  });

  it('exits 1 naming the answer when the service refuses the token', async () => {
    const run = await exportTo(files.path('refused.ndjson'), 'not-a-key');
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^lexecon ledger export: GET \/api\/ledger\/checkpoint: 401 /);
  });

  it('exits 2 without --url or --out', async () => {
    const runs = await Promise.all([
      lexecon(['ledger', 'export', '--out', files.path('x.ndjson')]),
      lexecon(['ledger', 'export', '--url', service.url]),
    ]);
    expect(runs.map((r) => [r.code, r.stderr.split('\n')[0]])).toEqual([
      [2, 'lexecon ledger export: --url is required'],
      [2, 'lexecon ledger export: --out is required'],
    ]);
  });
});
