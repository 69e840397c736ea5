import { existsSync, readFileSync } from 'node:fs';
import { importPublicKey, type PublicKey, toBase64 } from '../ledger/crypto';
import {
  type Checkpoint,
  NoteError,
  type NoteVerifier,
  noteKeyHash,
  openNote,
  parseCheckpoint,
  parseVerifierKey,
} from '../ledger/note';
import { UsageError } from './command';

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

/**
 * Reads the values of --key: each a note verifier key (`<name>+<key hash>+<base64 key>`), an SPKI PEM
 * or base64 of the raw 32-byte key, or the path of a file holding one of them.
 */
export async function trustedKeys(values: readonly string[]): Promise<TrustedKey[]> {
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

/** Key id (as entries name it) → key, for the old per-entry signatures. */
export function keysById(keys: readonly TrustedKey[]): Map<string, PublicKey> {
  return new Map(keys.map((key) => [key.publicKey.keyId, key.publicKey]));
}

/**
 * Checks a checkpoint's signature with the trusted keys (a PEM key is taken to sign as the origin the
 * checkpoint names) and reads its body. Throws NoteError when no key verifies it.
 */
export async function openCheckpoint(note: string, keys: readonly TrustedKey[]): Promise<SignedCheckpoint> {
  const origin = note.slice(0, note.indexOf('\n'));
  let problem: unknown = new NoteError('unknown_key', 'no key given');
  for (const key of keys) {
    const raw = key.publicKey.raw;
    try {
      const { body } = await openNote(
        note,
        key.verifier ?? { name: origin, keyHash: noteKeyHash(origin, raw), publicKey: raw },
      );
      return { ...parseCheckpoint(body), note };
    } catch (error) {
      problem = error;
    }
  }
  throw problem;
}

/** The body of a signed note whose signature is not checked here (an export's own first line, to resume it). */
export function unverifiedCheckpoint(note: string): SignedCheckpoint {
  return { ...parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)), note };
}
