import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import {
  leafOf,
  ledgerEntries,
  lexecon,
  scratchDir,
  serveOnLocalPort,
  signCheckpoint,
  verifierKeyOf,
} from '../../tests/support/lexecon-cli';
import { generateSigningKey } from '../ledger/crypto';

describe.each(backends())('lexecon checkpoint consistency on $name', (backend) => {
  const files = scratchDir();
  let tdb: TestDatabase;
  let t: TestApp;
  let service: { url: string; close(): Promise<void> };
  let older: string;
  let newer: string;
  const save = (name: string, note: string) => {
    writeFileSync(files.path(name), note);
    return files.path(name);
  };
  const checkpointNow = async () =>
    (
      await fetch(`${service.url}/api/ledger/checkpoint`, { headers: { authorization: `Bearer ${t.keys.admin}` } })
    ).text();
  const consistency = (a: string, b: string, key = verifierKeyOf(t.signingKey)) =>
    lexecon(['checkpoint', 'consistency', a, b, '--url', service.url, '--key', key, '--format', 'json'], {
      LEXECON_TOKEN: t.keys.admin,
    });

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    service = await serveOnLocalPort((request) => t.app.fetch(request));
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    await t.request('POST', '/api/decide', { body: decisionRequest() });
    older = save('older.txt', await checkpointNow());
    for (let i = 0; i < 9; i++) await t.request('POST', '/api/decide', { body: decisionRequest() });
    newer = save('newer.txt', await checkpointNow());
  });
  afterAll(async () => {
    await service?.close();
    await tdb?.close();
    files.remove();
  });

  it('proves that the newer checkpoint extends the older one with the service’s proof', async () => {
    const run = await consistency(older, newer);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.json().summary).toMatch(/^the tree of size \d+ extends the tree of size \d+ \(lexecon\//);
  });

  it('refuses a fork: a validly signed checkpoint over other entries, at a later size or at the same one', async () => {
    const leaves = (await ledgerEntries(t)).map(leafOf);
    // The size of `newer`, later than `older`'s.
    const fork = save('fork.txt', await signCheckpoint(t.signingKey, [...leaves].reverse()));
    const runs = await Promise.all([consistency(older, fork), consistency(newer, fork)]);
    expect(runs.map((r) => [r.code, r.json().first_invalid.reason])).toEqual([
      [1, 'inconsistent'],
      [1, 'inconsistent'],
    ]);
    expect(runs[1]?.json().first_invalid.message).toMatch(/a fork$/);
  });

  it('refuses the pair the wrong way round, and a checkpoint under another key', async () => {
    const swapped = await consistency(newer, older);
    expect([swapped.code, swapped.json().first_invalid.reason]).toEqual([1, 'not_newer']);
    const other = await consistency(older, newer, verifierKeyOf(await generateSigningKey()));
    expect([other.code, other.json().first_invalid.reason]).toEqual([1, 'bad_checkpoint']);
  });

  it('without --key, checks with the key the service publishes, and says that this proves less', async () => {
    const run = await lexecon(['checkpoint', 'consistency', older, newer, '--url', service.url], {
      LEXECON_TOKEN: t.keys.admin,
    });
    expect(run.stderr).toBe(
      'lexecon: no --key given; using the key the service names, which proves less than a pinned key\n',
    );
    expect([run.code, run.stdout.split(':')[0]]).toEqual([0, 'valid']);
  });

  it('exits 2 without --url', async () => {
    const run = await lexecon(['checkpoint', 'consistency', older, newer, '--key', verifierKeyOf(t.signingKey)]);
    expect([run.code, run.stderr.split('\n')[0]]).toEqual([2, 'lexecon checkpoint consistency: --url is required']);
  });
});
