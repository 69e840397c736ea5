import { createHash } from 'node:crypto';
import { createReadStream, statSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { type PublicKey, toHex } from '../ledger/crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry } from '../ledger/entry';
import { createTreeRoot, leafHash } from '../ledger/merkle';
import { type Command, FORMAT_HELP, FORMAT_OPTION, outputFormat, UsageError } from './command';
import { parseExportLine } from './export-file';
import { fromHex } from './hex';
import {
  isVerdict,
  KEY_HELP,
  KEY_OPTION,
  keysById,
  keysGiven,
  type SignedCheckpoint,
  type TrustedKey,
  verifiedCheckpoint,
} from './keys';
import { createProgress, type Progress } from './progress';
import { type Failure, failed, failure, printVerdict, type Verdict } from './verdict';

/** Signature checks in flight at once: WebCrypto answers them off the main thread. */
const SIGNATURE_BATCH = 256;

const sha256Hex = (text: string) => createHash('sha256').update(text).digest('hex');

export const ledgerVerify: Command = {
  words: ['ledger', 'verify'],
  summary: 'Verify an exported ledger offline: chain, hashes, signatures, Merkle root against its checkpoint',
  usage: 'ledger verify FILE --key KEY [--key KEY…] [--format text|json]',
  help: [
    'FILE is an export (`lexecon ledger export`): a checkpoint line, then one line per entry.',
    'Reads it line by line and stops at the first bad entry, naming its index and why: chain_break,',
    'hash_mismatch, unknown_key, bad_signature (per-entry signatures), truncated (fewer entries than',
    'the checkpoint covers), root_mismatch (the Merkle root is not the checkpoint’s), bad_checkpoint.',
    '',
    ...KEY_HELP,
    FORMAT_HELP,
  ].join('\n'),
  positionals: ['FILE'],
  options: { ...KEY_OPTION, ...FORMAT_OPTION },
  async run({ positionals, options }, io) {
    const format = outputFormat(options);
    const keys = await keysGiven(options);
    const file = positionals[0] as string;
    if (!statSync(file, { throwIfNoEntry: false })?.isFile()) throw new UsageError(`${file} is not a file`);
    const lines = createInterface({ input: createReadStream(file), crlfDelay: Number.POSITIVE_INFINITY });
    const progress = createProgress(io.stderr, { label: 'verifying' });
    let verdict: Verdict & Record<string, unknown>;
    try {
      verdict = await verifyExport(lines, keys, progress);
    } finally {
      progress.finish();
      lines.close();
    }
    return printVerdict(io, format, verdict);
  },
};

/** Verifies an export given as its lines; memory stays bounded by the longest line. */
export async function verifyExport(
  lines: AsyncIterable<string>,
  keys: readonly TrustedKey[],
  progress: Progress,
): Promise<Verdict & Record<string, unknown>> {
  const iterator = lines[Symbol.asyncIterator]();
  const first = await iterator.next();
  const header = first.done ? undefined : parseExportLine(first.value);
  if (header?.type !== 'checkpoint') return failed('malformed', 'line 1 is not a checkpoint line');
  const checkpoint = await verifiedCheckpoint(header.note, keys);
  if (isVerdict(checkpoint)) return checkpoint;

  const walk = createEntryWalk(checkpoint, keysById(keys));
  let lineNumber = 1;
  for await (const line of { [Symbol.asyncIterator]: () => iterator }) {
    lineNumber++;
    const parsed = parseExportLine(line);
    const problem =
      parsed?.type === 'entry'
        ? walk.check(parsed.entry)
        : failure('malformed', `line ${lineNumber} is not an entry line`, { index: walk.next });
    if (problem) return { valid: false, first_invalid: (await walk.settle()) ?? problem };
    if (walk.pending >= SIGNATURE_BATCH) {
      const bad = await walk.settle();
      if (bad) return { valid: false, first_invalid: bad };
      progress.update(walk.next);
    }
  }
  const bad = await walk.settle();
  if (bad) return { valid: false, first_invalid: bad };
  return walk.conclude();
}

/**
 * The checks on each entry, in the order the service makes them (src/ledger/verify.ts): index and
 * link, hash, a trusted key, signature; each entry of the checkpoint's tree also becomes a leaf.
 * Signatures are checked in batches; `settle` answers the first that failed.
 */
function createEntryWalk(checkpoint: SignedCheckpoint, keys: ReadonlyMap<string, PublicKey>) {
  let next = 0;
  let previousHash = GENESIS_PREVIOUS_HASH;
  const tree = createTreeRoot();
  let signatures: { entry: LedgerEntry; valid: Promise<boolean> }[] = [];
  const at = (entry: LedgerEntry, reason: string, message: string, extra: Partial<Failure> = {}): Failure => ({
    index: entry.index,
    entry_id: entry.entry_id ?? null,
    reason,
    message,
    ...extra,
  });

  return {
    get next() {
      return next;
    },
    get pending() {
      return signatures.length;
    },
    check(entry: LedgerEntry): Failure | undefined {
      if (entry.index !== next) return at(entry, 'chain_break', `expected the entry at index ${next}`);
      if (entry.previous_hash !== previousHash) {
        return at(entry, 'chain_break', `previous_hash is not the entry_hash of entry ${next - 1}`);
      }
      if (computeEntryHash(entry, sha256Hex) !== entry.entry_hash) {
        return at(entry, 'hash_mismatch', 'entry_hash is not the hash of the entry’s contents');
      }
      if (entry.signature === null && entry.key_id === null) {
        // Signed only by a checkpoint: the export's must hold it.
        if (entry.index >= checkpoint.size) {
          return at(entry, 'bad_signature', 'no signature of its own, and beyond the checkpoint’s tree');
        }
      } else {
        const key = keys.get(entry.key_id ?? '');
        if (!key)
          return at(entry, 'unknown_key', `signed by key ${entry.key_id}, not given with --key`, {
            key_id: entry.key_id ?? undefined,
          });
        signatures.push({ entry, valid: key.verify(entry.entry_hash, entry.signature ?? '').catch(() => false) });
      }
      if (entry.index < checkpoint.size) tree.add(leafHash(fromHex(entry.entry_hash)));
      previousHash = entry.entry_hash;
      next++;
      return undefined;
    },
    async settle(): Promise<Failure | undefined> {
      const batch = signatures;
      signatures = [];
      const results = await Promise.all(batch.map((s) => s.valid));
      const index = results.indexOf(false);
      const entry = batch[index]?.entry;
      return entry && at(entry, 'bad_signature', `the signature does not verify with key ${entry.key_id}`);
    },
    conclude(): Verdict & Record<string, unknown> {
      const { origin, size } = checkpoint;
      if (next < size) {
        return failed('truncated', `the checkpoint covers ${size} entries; the export ends after ${next}`, {
          index: next,
        });
      }
      const root = tree.root();
      if (toHex(root) !== toHex(checkpoint.rootHash)) {
        return failed('root_mismatch', `the Merkle root of entries 0–${size - 1} is not the checkpoint’s`);
      }
      return {
        valid: true,
        summary: `${next} entries; checkpoint ${origin} at tree size ${size}, root ${toHex(root)}`,
        entries_checked: next,
        origin,
        tree_size: size,
        root_hash: toHex(root),
      };
    },
  };
}
