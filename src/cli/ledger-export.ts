import { once } from 'node:events';
import { closeSync, createWriteStream, fstatSync, ftruncateSync, openSync, readSync } from 'node:fs';
import type { LedgerEntry } from '../ledger/entry';
import { type Command, CommandFailed, EXIT, requiredOption } from './command';
import { checkpointLine, EXPORT_START, entryLine, parseExportLine } from './export-file';
import { type SignedCheckpoint, unverifiedCheckpoint } from './keys';
import { createProgress } from './progress';
import { SERVICE_OPTIONS, type ServiceClient, serviceClient } from './service';

/** The most entries GET /api/ledger/entries returns on a page (its `limit`). */
const PAGE_LIMIT = 500;
/** How far back from a file's end to read at a time, looking for its last line. */
const TAIL_CHUNK = 64 * 1024;

interface EntryPage {
  entries: LedgerEntry[];
  next_cursor: string | null;
}

export const ledgerExport: Command = {
  words: ['ledger', 'export'],
  summary: 'Export the ledger up to its latest checkpoint as NDJSON, for `lexecon ledger verify`',
  usage: 'ledger export --url URL --out FILE [--token TOKEN]',
  help: [
    'Fetches the latest checkpoint (GET /api/ledger/checkpoint), writes it as the first line, then pages',
    'through GET /api/ledger/entries up to the checkpoint’s tree size, one line per entry.',
    'Resumable: when FILE exists, it continues after its last entry, up to the tree size of the checkpoint',
    'already in FILE (delete FILE to export a newer checkpoint).',
    '',
    '--url      the service, e.g. http://localhost:3000',
    '--out      the file to write',
    '--token    a Bearer token with ledger:read (default: $LEXECON_TOKEN)',
  ].join('\n'),
  positionals: [],
  options: { ...SERVICE_OPTIONS, out: { type: 'string' } },
  async run({ options }, io) {
    const out = requiredOption(options, 'out');
    const service = serviceClient(options, io);
    const existing = readExisting(out);
    const checkpoint = existing?.checkpoint ?? (await latestCheckpoint(service));
    const file = createWriteStream(out, { flags: 'a' });
    const progress = createProgress(io.stderr, { label: 'exporting', total: checkpoint.size });
    try {
      if (!existing) file.write(checkpointLine(checkpoint.note));
      const from = existing?.next ?? 0;
      let next = from;
      for await (const entries of pagesOfEntries(service, from, checkpoint.size)) {
        for (const entry of entries) {
          if (entry.index !== next)
            throw new CommandFailed(`the service sent entry ${entry.index} where ${next} was due`);
          if (!file.write(entryLine(entry))) await once(file, 'drain');
          next++;
        }
        progress.update(next);
      }
      if (next < checkpoint.size) {
        throw new CommandFailed(
          `the service has entries up to ${next - 1} only; its checkpoint covers ${checkpoint.size}`,
        );
      }
      progress.finish();
      io.stdout.write(
        `${out}: ${next} entries (${next - from} new), tree size ${checkpoint.size} (${checkpoint.origin})\n`,
      );
      return EXIT.ok;
    } finally {
      progress.finish();
      file.end();
      await once(file, 'close');
    }
  },
};

async function latestCheckpoint(service: ServiceClient): Promise<SignedCheckpoint> {
  const note = await service.text('/api/ledger/checkpoint');
  try {
    return unverifiedCheckpoint(note);
  } catch (error) {
    throw new CommandFailed(`GET /api/ledger/checkpoint: not a checkpoint (${(error as Error).message})`);
  }
}

/** The service's entries from index `from` to `size - 1`, a page at a time. */
async function* pagesOfEntries(service: ServiceClient, from: number, size: number): AsyncGenerator<LedgerEntry[]> {
  let cursor: number | null = from - 1;
  while (cursor !== null && cursor < size - 1) {
    const query = `order=asc&limit=${PAGE_LIMIT}${cursor >= 0 ? `&cursor=${cursor}` : ''}`;
    const page: EntryPage = await service.json(`/api/ledger/entries?${query}`);
    yield page.entries.filter((entry) => entry.index < size);
    cursor = page.next_cursor === null ? null : Number(page.next_cursor);
  }
}

/**
 * What an earlier export left in `path`: its checkpoint and the index its next entry has. A last line
 * cut off mid-write (no newline at the end) is removed first. Undefined when there is no such file.
 */
function readExisting(path: string): { checkpoint: SignedCheckpoint; next: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    // Whatever else it holds is not ours to cut.
    if (!EXPORT_START.startsWith(readRange(fd, 0, Math.min(size, EXPORT_START.length)))) {
      throw new CommandFailed(`${path} is not an export; remove it or choose another --out`);
    }
    const completeEnd = lastNewlineBefore(fd, size) + 1;
    if (completeEnd < size) ftruncateSync(fd, completeEnd);
    // Not even the checkpoint line was written whole: start again.
    if (completeEnd === 0) return undefined;
    const first = parseExportLine(readRange(fd, 0, firstNewlineEnd(fd, completeEnd)));
    const last = parseExportLine(readRange(fd, lastNewlineBefore(fd, completeEnd - 1) + 1, completeEnd));
    if (first?.type !== 'checkpoint' || !last)
      throw new CommandFailed(`${path} is not an export; remove it or choose another --out`);
    return { checkpoint: unverifiedCheckpoint(first.note), next: last.type === 'entry' ? last.entry.index + 1 : 0 };
  } finally {
    closeSync(fd);
  }
}

/** Offset of the last "\n" before `end`, or -1. */
function lastNewlineBefore(fd: number, end: number): number {
  const buffer = Buffer.alloc(TAIL_CHUNK);
  for (let stop = end; stop > 0; stop -= TAIL_CHUNK) {
    const start = Math.max(0, stop - TAIL_CHUNK);
    const read = readSync(fd, buffer, 0, stop - start, start);
    const found = buffer.subarray(0, read).lastIndexOf(0x0a);
    if (found >= 0) return start + found;
  }
  return -1;
}

/** Offset just past the first "\n", or `limit`. */
function firstNewlineEnd(fd: number, limit: number): number {
  const buffer = Buffer.alloc(TAIL_CHUNK);
  for (let start = 0; start < limit; start += TAIL_CHUNK) {
    const read = readSync(fd, buffer, 0, Math.min(TAIL_CHUNK, limit - start), start);
    const found = buffer.subarray(0, read).indexOf(0x0a);
    if (found >= 0) return start + found + 1;
  }
  return limit;
}

function readRange(fd: number, start: number, end: number): string {
  const buffer = Buffer.alloc(end - start);
  readSync(fd, buffer, 0, buffer.length, start);
  return buffer.toString('utf8');
}
