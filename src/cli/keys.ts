import { existsSync, readFileSync } from 'node:fs';
import { importPublicKey, type PublicKey, toBase64 } from '../ledger/crypto';
import {
  type Checkpoint,
  type NoteVerifier,
  openCheckpoint as openSignedCheckpoint,
  parseCheckpoint,
  parseVerifierKey,
} from '../ledger/note';
import { type OptionValues, UsageError } from './command';
import { failed, type Verdict } from './verdict';

/** A key given with --key: an Ed25519 public key, and its note verifier when it was given as one. */
export interface TrustedKey {
  publicKey: PublicKey;
  /** From a note verifier key; a PEM key signs as whatever origin the checkpoint names. */
  verifier?: NoteVerifier;
}

/** A checkpoint and the whole signed note it came in. */
export interface SignedCheckpoint extends Checkpoint {
  note: string;
}

const VERIFIER_KEY = /^[^+\s]+\+[0-9a-fA-F]{8}\+\S+$/;

/** The --key option of every command that checks a signature, and its help. */
export const KEY_OPTION = { key: { type: 'string', multiple: true } } as const;
export const KEY_HELP = [
  '--key      a note verifier key (note_verifier_key of GET /api/ledger/public-key), an Ed25519 public',
  '           key (PEM or base64), or a file holding one; repeat it for entries signed by rotated-out keys',
];

/** The keys given with --key; `fallback` when there is none. */
export function keysGiven(options: OptionValues, fallback: readonly string[] = []): Promise<TrustedKey[]> {
  const given = options.key as string[] | undefined;
  return trustedKeys(given?.length ? given : fallback);
}

/**
 * Reads the values of --key: each a note verifier key (`<name>+<key hash>+<base64 key>`), an SPKI PEM
 * or base64 of the raw 32-byte key, or the path of a file holding one of them.
 */
async function trustedKeys(values: readonly string[]): Promise<TrustedKey[]> {
  if (values.length === 0) throw new UsageError('--key is required (a note verifier key, a PEM public key or a file)');
  return Promise.all(values.map((value) => trustedKey(value, true)));
}

async function trustedKey(value: string, mayBeFile: boolean): Promise<TrustedKey> {
  const text = value.trim();
  try {
    if (VERIFIER_KEY.test(text)) {
      const verifier = parseVerifierKey(text);
      return { verifier, publicKey: await importPublicKey(toBase64(verifier.publicKey)) };
    }
    if (mayBeFile && !text.includes('-----BEGIN') && existsSync(text))
      return trustedKey(readFileSync(text, 'utf8'), false);
    return { publicKey: await importPublicKey(text) };
  } catch (error) {
    throw new UsageError(`--key: ${(error as Error).message}`);
  }
}

/** Key id (as entries name it) → key, for the per-entry signatures. */
export function keysById(keys: readonly TrustedKey[]): Map<string, PublicKey> {
  return new Map(keys.map((key) => [key.publicKey.keyId, key.publicKey]));
}

/**
 * Checks a checkpoint's signature with the trusted keys (a PEM key is taken to sign as the origin the
 * checkpoint names) and reads its body. Throws NoteError when no key verifies it.
 */
export async function openCheckpoint(note: string, keys: readonly TrustedKey[]): Promise<SignedCheckpoint> {
  const checkpoint = await openSignedCheckpoint(
    note,
    keys.map((key) => key.verifier ?? key.publicKey.raw),
  );
  return { ...checkpoint, note };
}

/** The checkpoint in `note` when a key verifies it, else the verdict that says it does not. */
export async function verifiedCheckpoint(
  note: string,
  keys: readonly TrustedKey[],
  what = 'the checkpoint',
): Promise<SignedCheckpoint | Verdict> {
  try {
    return await openCheckpoint(note, keys);
  } catch (error) {
    return failed('bad_checkpoint', `${what} does not verify with the key given: ${(error as Error).message}`);
  }
}

export const isVerdict = (value: SignedCheckpoint | Verdict): value is Verdict => 'valid' in value;

/** The body of a signed note whose signature is not checked here (an export's own first line, to resume it). */
export function unverifiedCheckpoint(note: string): SignedCheckpoint {
  return { ...parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)), note };
}
