import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serve } from '@hono/node-server';
import { checkpointLine, entryLine } from '../../src/cli/export-file';
import { fromHex } from '../../src/cli/hex';
import type { SigningKey } from '../../src/ledger/crypto';
import type { LedgerEntry } from '../../src/ledger/entry';
import { leafHash, rootOf } from '../../src/ledger/merkle';
import { formatCheckpoint, formatVerifierKey, signNote } from '../../src/ledger/note';
import type { TestApp } from './app';

const root = join(import.meta.dirname, '..', '..');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON verdict's fields
  json(): any;
}

/** Runs the real command, `node bin/lexecon.mjs <args>`, as a child process (stdin, stdout, stderr not a TTY). */
export function lexecon(args: readonly string[], env: Record<string, string> = {}): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(root, 'bin', 'lexecon.mjs'), ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '', ...env }, maxBuffer: 64 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? Number((error as { code?: unknown }).code ?? 1) : 0;
        resolve({ code, stdout, stderr, json: () => JSON.parse(stdout) });
      },
    );
  });
}

/** A directory for one suite's files; remove it in afterAll. */
export function scratchDir(): { path(name: string): string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-cli-'));
  return { path: (name) => join(dir, name), remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Every entry of the app's ledger, paged through GET /api/ledger/entries as an export would. */
export async function ledgerEntries(t: TestApp): Promise<LedgerEntry[]> {
  const entries: LedgerEntry[] = [];
  let cursor: string | null = null;
  do {
    const page = await t.request('GET', `/api/ledger/entries?limit=500${cursor ? `&cursor=${cursor}` : ''}`);
    entries.push(...page.body.entries);
    cursor = page.body.next_cursor;
  } while (cursor);
  return entries;
}

export const leafOf = (entry: LedgerEntry) => leafHash(fromHex(entry.entry_hash));

/** The origin (note key name) a ledger key signs checkpoints as by default. */
export const originOf = (key: SigningKey) => `lexecon/${key.keyId}`;

export const verifierKeyOf = (key: SigningKey) => formatVerifierKey(originOf(key), key.raw);

/** A checkpoint over `leaves` signed by `key`, as the service signs one for a group commit. */
export function signCheckpoint(
  key: SigningKey,
  leaves: readonly Uint8Array[],
  origin = originOf(key),
): Promise<string> {
  const body = formatCheckpoint({ origin, size: leaves.length, rootHash: rootOf(leaves) });
  return signNote(body, {
    name: origin,
    publicKey: key.raw,
    sign: (message) => key.signBytes(message),
  });
}

/** Writes an export file: the checkpoint line, then one line per entry. */
export function writeExport(path: string, note: string, entries: readonly LedgerEntry[]): string {
  writeFileSync(path, checkpointLine(note) + entries.map(entryLine).join(''));
  return path;
}

/** Serves `fetch` (an app's) on a free local port, as the command would find a running service. */
export async function serveOnLocalPort(fetch: (request: Request) => Response | Promise<Response>) {
  const server = serve({ fetch, port: 0, hostname: '127.0.0.1' });
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** The note verifier key the app publishes (GET /api/ledger/public-key), as a verifier would pin it. */
export async function publishedKey(t: TestApp): Promise<string> {
  return (await t.request('GET', '/api/ledger/public-key')).body.note_verifier_key;
}
