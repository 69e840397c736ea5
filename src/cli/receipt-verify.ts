import { readFileSync } from 'node:fs';
import { toHex } from '../ledger/crypto';
import { leafHash, verifyInclusion } from '../ledger/merkle';
import type { Receipt } from '../ledger/tree-store';
import { type Command, FORMAT_HELP, FORMAT_OPTION, outputFormat, UsageError } from './command';
import { fromHex } from './hex';
import { isVerdict, KEY_HELP, KEY_OPTION, keysGiven, type SignedCheckpoint, verifiedCheckpoint } from './keys';
import { failed, printVerdict, type Verdict } from './verdict';

const HEX_HASH = /^[0-9a-f]{64}$/;

export const receiptVerify: Command = {
  words: ['receipt', 'verify'],
  summary: 'Verify a decision’s receipt offline: the checkpoint’s signature, the inclusion proof against its root',
  usage: 'receipt verify FILE --key KEY [--format text|json]',
  help: [
    'FILE holds a receipt (the `receipt` of a POST /api/decide answer) or the whole answer; with the whole',
    'answer, its ledger_entry_index and ledger_entry_hash must also be the receipt’s leaf.',
    '',
    ...KEY_HELP,
    FORMAT_HELP,
  ].join('\n'),
  positionals: ['FILE'],
  options: { ...KEY_OPTION, ...FORMAT_OPTION },
  async run({ positionals, options }, io) {
    const format = outputFormat(options);
    const keys = await keysGiven(options);
    const document = readJson(positionals[0] as string);
    const receipt = receiptIn(document);
    const checkpoint = await verifiedCheckpoint(receipt.checkpoint, keys);
    return printVerdict(io, format, isVerdict(checkpoint) ? checkpoint : verifyReceipt(receipt, checkpoint, document));
  },
};

export function verifyReceipt(
  receipt: Receipt,
  checkpoint: SignedCheckpoint,
  document: Record<string, unknown>,
): Verdict {
  const at = { index: receipt.index };
  if (receipt.tree_size !== checkpoint.size) {
    return failed(
      'size_mismatch',
      `the receipt is for tree size ${receipt.tree_size}, its checkpoint for ${checkpoint.size}`,
      at,
    );
  }
  const entryHash = document.ledger_entry_hash;
  if (typeof entryHash === 'string' && toHex(leafHash(fromHex(entryHash))) !== receipt.leaf_hash) {
    return failed('leaf_mismatch', 'leaf_hash is not the leaf of the answer’s ledger_entry_hash', at);
  }
  if (document.ledger_entry_index !== undefined && document.ledger_entry_index !== receipt.index) {
    return failed('leaf_mismatch', 'the receipt’s index is not the answer’s ledger_entry_index', at);
  }
  const proof = receipt.inclusion_proof.map(fromHex);
  if (!verifyInclusion(receipt.index, receipt.tree_size, fromHex(receipt.leaf_hash), proof, checkpoint.rootHash)) {
    return failed('bad_proof', 'the inclusion proof does not lead to the checkpoint’s root', at);
  }
  return {
    valid: true,
    summary: `entry ${receipt.index} is in the tree of size ${checkpoint.size} signed by ${checkpoint.origin}`,
  };
}

function readJson(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as Error).message}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (typeof value === 'object' && value !== null) return value as Record<string, unknown>;
  } catch {}
  throw new UsageError(`${file} is not a JSON object`);
}

/** The receipt itself, or the `receipt` of a decide answer; a usage error when the file holds neither. */
function receiptIn(document: Record<string, unknown>): Receipt {
  const candidate = (document.receipt ?? document) as Partial<Receipt>;
  const wellFormed =
    Number.isSafeInteger(candidate.index) &&
    Number.isSafeInteger(candidate.tree_size) &&
    HEX_HASH.test(String(candidate.leaf_hash)) &&
    Array.isArray(candidate.inclusion_proof) &&
    candidate.inclusion_proof.every((h) => HEX_HASH.test(String(h))) &&
    typeof candidate.checkpoint === 'string';
  if (!wellFormed)
    throw new UsageError('the file holds no receipt {index, tree_size, leaf_hash, inclusion_proof, checkpoint}');
  return candidate as Receipt;
}
