import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, decisionRequest, samplePolicy, type TestApp } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import {
  type CliRun,
  leafOf,
  ledgerEntries,
  lexecon,
  scratchDir,
  signCheckpoint,
  verifierKeyOf,
  writeExport,
} from '../../tests/support/lexecon-cli';
import { generateSigningKey, publicKeyPem } from '../ledger/crypto';
import type { LedgerEntry } from '../ledger/entry';

const firstInvalid = (run: CliRun) => run.json().first_invalid;

describe('lexecon ledger verify', () => {
  const files = scratchDir();
  let tdb: TestDatabase;
  let t: TestApp;
  let entries: LedgerEntry[];
  let checkpoint: string;
  let key: string;
  const verify = (file: string, ...extra: string[]) => lexecon(['ledger', 'verify', file, '--key', key, ...extra]);
  const verifyJson = (file: string) => verify(file, '--format', 'json');
  const exportOf = (name: string, list: readonly LedgerEntry[], note = checkpoint) =>
    writeExport(files.path(name), note, list);

  beforeAll(async () => {
    tdb = await backends()[0]!.open();
    t = await createTestApp(tdb.database);
    expect((await t.request('POST', '/api/policies', { body: samplePolicy })).status).toBe(201);
    for (let i = 0; i < 12; i++) {
      expect((await t.request('POST', '/api/decide', { body: decisionRequest() })).status).toBe(200);
    }
    entries = await ledgerEntries(t);
    checkpoint = await signCheckpoint(t.signingKey, entries.map(leafOf));
    key = verifierKeyOf(t.signingKey);
  });
  afterAll(async () => {
    await tdb?.close();
    files.remove();
  });

  it('passes a whole export with the note verifier key, and says what it checked', async () => {
    const run = await verify(exportOf('valid.ndjson', entries));
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(new RegExp(`^valid: ${entries.length} entries; checkpoint lexecon/`));
  });

  it('passes it with the PEM public key from a file, the origin taken from the checkpoint', async () => {
    const pem = files.path('key.pem');
    writeFileSync(pem, publicKeyPem(t.signingKey.raw));
    const run = await lexecon([
      'ledger',
      'verify',
      exportOf('valid-pem.ndjson', entries),
      '--key',
      pem,
      '--format',
      'json',
    ]);
    expect(run.code).toBe(0);
    expect(run.json()).toMatchObject({ valid: true, entries_checked: entries.length, tree_size: entries.length });
  });

  it('names an edited entry by its index: hash_mismatch', async () => {
    const edited = entries.map((e) => (e.index === 7 ? { ...e, data: { ...e.data, decision: 'deny' } } : e));
    const run = await verifyJson(exportOf('edited.ndjson', edited));
    expect(run.code).toBe(1);
    expect(firstInvalid(run)).toMatchObject({ index: 7, entry_id: entries[7]?.entry_id, reason: 'hash_mismatch' });
  });

  it('names the entry after a deleted one: chain_break', async () => {
    const run = await verifyJson(
      exportOf(
        'gap.ndjson',
        entries.filter((e) => e.index !== 5),
      ),
    );
    expect(run.code).toBe(1);
    expect(firstInvalid(run)).toMatchObject({ index: 6, reason: 'chain_break' });
  });

  it('names the first missing index when the tail is cut below the checkpoint: truncated', async () => {
    const run = await verify(exportOf('cut.ndjson', entries.slice(0, -2)));
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      `invalid at index ${entries.length - 2}: truncated: the checkpoint covers ${entries.length} entries; the export ends after ${entries.length - 2}\n`,
    );
  });

  it('refuses a checkpoint under another key: bad_checkpoint', async () => {
    const other = await generateSigningKey();
    const run = await lexecon(['ledger', 'verify', exportOf('valid.ndjson', entries), '--key', verifierKeyOf(other)]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^invalid: bad_checkpoint: /);
  });

  it('refuses a forged checkpoint: another key signing as this origin, or an edited size under the old signature', async () => {
    const forger = await generateSigningKey();
    const forged = await signCheckpoint(forger, entries.slice(0, 3).map(leafOf), `lexecon/${t.signingKey.keyId}`);
    const shrunk = checkpoint.replace(`\n${entries.length}\n`, '\n3\n');
    for (const note of [forged, shrunk]) {
      const run = await verifyJson(exportOf('forged.ndjson', entries.slice(0, 3), note));
      expect(run.code).toBe(1);
      expect(firstInvalid(run)).toMatchObject({ index: null, reason: 'bad_checkpoint' });
    }
  });

  it('refuses a validly signed checkpoint over other entries (a fork): root_mismatch', async () => {
    const fork = await signCheckpoint(t.signingKey, entries.map(leafOf).reverse());
    const run = await verifyJson(exportOf('fork.ndjson', entries, fork));
    expect(run.code).toBe(1);
    expect(firstInvalid(run)).toMatchObject({ reason: 'root_mismatch' });
  });

  it('names a line that is not an entry', async () => {
    const path = exportOf('garbled.ndjson', entries);
    writeFileSync(path, 'not json\n', { flag: 'a' });
    const run = await verifyJson(path);
    expect(run.code).toBe(1);
    expect(firstInvalid(run)).toMatchObject({ index: entries.length, reason: 'malformed' });
  });

  it('exits 2 on a usage error, saying what is wrong', async () => {
    const file = exportOf('valid.ndjson', entries);
    const runs = await Promise.all([
      lexecon(['ledger', 'verify', file]),
      lexecon(['ledger', 'verify', '--key', key]),
      lexecon(['ledger', 'verify', files.path('missing.ndjson'), '--key', key]),
      lexecon(['ledger', 'verify', file, '--key', key, '--format', 'xml']),
      lexecon(['ledger', 'verify', file, '--key', key, '--colour']),
      lexecon(['ledger', 'verify', file, '--key', 'not-a-key']),
      lexecon(['ledger', 'frobnicate']),
    ]);
    expect(runs.map((r) => r.code)).toEqual([2, 2, 2, 2, 2, 2, 2]);
    expect(runs.map((r) => r.stderr.split('\n')[0])).toEqual([
      'lexecon ledger verify: --key is required (a note verifier key, a PEM public key or a file)',
      'lexecon ledger verify: expected FILE',
      `lexecon ledger verify: ${files.path('missing.ndjson')} is not a file`,
      'lexecon ledger verify: --format is text or json',
      expect.stringContaining("Unknown option '--colour'"),
      expect.stringMatching(/^lexecon ledger verify: --key: /),
      'unknown command: ledger frobnicate',
    ]);
  });

  it('prints a command’s help, or a group’s commands, with --help and exits 0', async () => {
    const run = await lexecon(['ledger', 'verify', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^usage: lexecon ledger verify FILE --key KEY/);
    const group = await lexecon(['ledger', '--help']);
    expect(group.code).toBe(0);
    expect(group.stdout.match(/^ {2}\S+ \S+/gm)).toEqual(['  ledger export', '  ledger verify']);
  });
});
