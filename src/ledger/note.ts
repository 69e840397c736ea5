/**
 * C2SP signed notes (https://c2sp.org/signed-note) with Ed25519 signatures, the verifier-key text form of
 * Go's golang.org/x/mod/sumdb/note, and C2SP tlog-checkpoint bodies (https://c2sp.org/tlog-checkpoint).
 * Pure and runtime-neutral: verification uses WebCrypto, signing is whatever the caller passes in.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes } from '@noble/hashes/utils.js';
import { type Bytes, toBase64, toHex } from './crypto';

/** Signature type byte of Ed25519 in signed-note key ids and verifier keys. */
const ED25519_TYPE = 0x01;
const ED25519_PUBLIC_KEY_SIZE = 32;
const ED25519_SIGNATURE_SIZE = 64;
const KEY_HASH_SIZE = 4;
const ROOT_HASH_SIZE = 32;
/** The spec asks verifiers to bound a note; these are Go's bound on signatures and a generous size. */
export const MAX_NOTE_BYTES = 1024 * 1024;
export const MAX_NOTE_SIGNATURES = 100;

const SIGNATURE_PREFIX = '\u2014 ';
const encoder = new TextEncoder();
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export type NoteErrorReason = 'malformed' | 'unknown_key' | 'bad_signature';

/** Why a note, a verifier key or a checkpoint was refused. */
export class NoteError extends Error {
  override readonly name = 'NoteError';

  constructor(
    readonly reason: NoteErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/** The key a note is checked against: what a verifier key string holds. */
export interface NoteVerifier {
  readonly name: string;
  /** 4 bytes: the key id in signature lines. */
  readonly keyHash: Uint8Array;
  /** Raw 32-byte Ed25519 public key. */
  readonly publicKey: Uint8Array;
}

export interface NoteSigner {
  readonly name: string;
  readonly publicKey: Uint8Array;
  /** Returns the 64-byte Ed25519 signature of the message (node:crypto may answer synchronously). */
  sign(message: Uint8Array): Uint8Array | Promise<Uint8Array>;
}

export interface Checkpoint {
  readonly origin: string;
  readonly size: number;
  /** 32-byte RFC 9162 Merkle tree root. */
  readonly rootHash: Uint8Array;
}

/** SHA-256(name || "\n" || 0x01 || public key)[:4], the Ed25519 key id of signed-note. */
export function noteKeyHash(name: string, publicKey: Uint8Array): Bytes {
  requireKeyName(name);
  requirePublicKey(publicKey);
  return sha256(concatBytes(encoder.encode(`${name}\n`), typedPublicKey(publicKey))).slice(0, KEY_HASH_SIZE);
}

/** `<name>+<hex key hash>+<base64(0x01 || public key)>`, the form Go's note.NewVerifier reads. */
export function formatVerifierKey(name: string, publicKey: Uint8Array): string {
  const keyHash = noteKeyHash(name, publicKey);
  return `${name}+${toHex(keyHash)}+${toBase64(typedPublicKey(publicKey))}`;
}

/** Reads a verifier key; the key hash must be the one the name and key give, as Go requires. */
export function parseVerifierKey(text: string): NoteVerifier {
  const [name = '', hashHex = '', ...keyParts] = text.split('+');
  // The base64 part may itself contain '+'.
  const typedKey = decodeBase64(keyParts.join('+'));
  if (!isKeyName(name) || !/^[0-9a-f]{8}$/.test(hashHex) || !typedKey?.length) {
    throw malformed('malformed verifier key (expected <name>+<8 hex digits>+<base64 key>)');
  }
  if (typedKey[0] !== ED25519_TYPE || typedKey.length !== 1 + ED25519_PUBLIC_KEY_SIZE) {
    throw malformed('verifier key is not an Ed25519 key (type 0x01 and 32 bytes)');
  }
  const publicKey = typedKey.slice(1);
  const keyHash = noteKeyHash(name, publicKey);
  if (toHex(keyHash) !== hashHex) throw malformed('verifier key hash does not match its name and key');
  return { name, keyHash, publicKey };
}

/** Signs a note body (text ending in a newline) and returns the whole note with its one signature line. */
export async function signNote(body: string, signer: NoteSigner): Promise<string> {
  requireNoteText(body);
  if (!body.endsWith('\n')) throw malformed('note body must end with a newline');
  const keyHash = noteKeyHash(signer.name, signer.publicKey);
  const signature = await signer.sign(encoder.encode(body));
  if (!(signature instanceof Uint8Array) || signature.length !== ED25519_SIGNATURE_SIZE) {
    throw new Error('the note signer must return a 64-byte Ed25519 signature');
  }
  return `${body}\n${SIGNATURE_PREFIX}${signer.name} ${toBase64(concatBytes(keyHash, signature))}\n`;
}

/**
 * Verifies a note against one key and returns its body. Signatures from other keys (another name or key
 * hash) are ignored; every signature line of this key must verify, and at least one must be present.
 */
export async function openNote(note: string | Uint8Array, verifier: NoteVerifier): Promise<{ body: string }> {
  const { body, signatures } = splitNote(typeof note === 'string' ? note : decodeUtf8(note));
  const expectedHash = toHex(verifier.keyHash);
  const own = signatures.filter((line) => line.name === verifier.name && toHex(line.keyHash) === expectedHash);
  if (own.length === 0) {
    throw new NoteError('unknown_key', `note has no signature by ${verifier.name}+${expectedHash}`);
  }
  const key = await importVerifyKey(verifier.publicKey);
  const message = encoder.encode(body);
  for (const { signature } of own) {
    if (!(await verifyEd25519(key, signature, message))) {
      throw new NoteError('bad_signature', `invalid signature for key ${verifier.name}+${expectedHash}`);
    }
  }
  return { body };
}

/** A tlog-checkpoint body: origin, tree size and base64 root hash, each on its own line. */
export function formatCheckpoint({ origin, size, rootHash }: Checkpoint): string {
  if (origin === '' || origin.includes('\n')) throw malformed('checkpoint origin must be one non-empty line');
  requireNoteText(origin);
  if (!Number.isSafeInteger(size) || size < 0) throw malformed('checkpoint tree size must be a non-negative integer');
  if (rootHash.length !== ROOT_HASH_SIZE) throw malformed('checkpoint root hash must be 32 bytes');
  return `${origin}\n${size}\n${toBase64(rootHash)}\n`;
}

/**
 * Reads a tlog-checkpoint body. The spec allows optional extension lines, but this log never writes any
 * (they are NOT RECOMMENDED, as monitors cannot audit them), so a body with one is refused.
 */
export function parseCheckpoint(body: string): Checkpoint & { rootHash: Bytes } {
  const lines = body.split('\n');
  if (lines.pop() !== '') throw malformed('checkpoint must end with a newline');
  if (lines.length < 3) throw malformed('checkpoint needs an origin, a tree size and a root hash line');
  if (lines.length > 3) throw malformed('checkpoint has extension lines, which this log does not use');
  const [origin = '', sizeText = '', rootText = ''] = lines;
  requireNoteText(origin);
  if (origin === '') throw malformed('checkpoint origin is empty');
  const size = /^(0|[1-9][0-9]*)$/.test(sizeText) ? Number(sizeText) : Number.NaN;
  if (!Number.isSafeInteger(size)) throw malformed('checkpoint tree size is not a decimal without leading zeros');
  const rootHash = decodeBase64(rootText);
  if (rootHash?.length !== ROOT_HASH_SIZE) throw malformed('checkpoint root hash is not 32 bytes of base64');
  return { origin, size, rootHash };
}

interface SignatureLine {
  readonly name: string;
  readonly keyHash: Bytes;
  readonly signature: Bytes;
}

/** Splits at the last blank line (signed-note §Format) and parses every signature line. */
function splitNote(note: string): { body: string; signatures: SignatureLine[] } {
  if (note.length > MAX_NOTE_BYTES || encoder.encode(note).length > MAX_NOTE_BYTES) {
    throw malformed(`note is larger than ${MAX_NOTE_BYTES} bytes`);
  }
  requireNoteText(note);
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw malformed('note has no blank line before its signatures');
  const signatureBlock = note.slice(split + 2);
  if (signatureBlock === '' || !signatureBlock.endsWith('\n')) {
    throw malformed('note signatures must be one or more lines, each ending with a newline');
  }
  const lines = signatureBlock.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) throw malformed(`note has more than ${MAX_NOTE_SIGNATURES} signatures`);
  return { body: note.slice(0, split + 1), signatures: lines.map(parseSignatureLine) };
}

function parseSignatureLine(line: string): SignatureLine {
  if (!line.startsWith(SIGNATURE_PREFIX)) throw malformed('note signature line does not start with an em dash');
  const rest = line.slice(SIGNATURE_PREFIX.length);
  const space = rest.indexOf(' ');
  const name = space < 0 ? rest : rest.slice(0, space);
  const bytes = space < 0 ? undefined : decodeBase64(rest.slice(space + 1));
  if (!isKeyName(name) || !bytes || bytes.length <= KEY_HASH_SIZE) {
    throw malformed('note signature line is not "— <key name> <base64 signature>"');
  }
  return { name, keyHash: bytes.slice(0, KEY_HASH_SIZE), signature: bytes.slice(KEY_HASH_SIZE) };
}

async function importVerifyKey(publicKey: Uint8Array): Promise<CryptoKey> {
  requirePublicKey(publicKey);
  try {
    return await crypto.subtle.importKey('raw', Uint8Array.from(publicKey), { name: 'Ed25519' }, false, ['verify']);
  } catch {
    throw malformed('verifier public key is not an Ed25519 key');
  }
}

async function verifyEd25519(key: CryptoKey, signature: Bytes, message: Bytes): Promise<boolean> {
  // A signature of another length is not an Ed25519 signature; WebCrypto answers false or throws.
  if (signature.length !== ED25519_SIGNATURE_SIZE) return false;
  return crypto.subtle.verify({ name: 'Ed25519' }, key, signature, message);
}

/** Key names: non-empty, no Unicode white space (Go's unicode.IsSpace), no '+', nothing a note may not hold. */
function isKeyName(name: string): boolean {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: a note may not contain control characters.
  return name !== '' && name.isWellFormed() && !/[\p{White_Space}+\x00-\x1f]/u.test(name);
}

function requireKeyName(name: string): void {
  if (!isKeyName(name)) throw malformed('key name must be non-empty, without spaces or "+"');
}

function requirePublicKey(publicKey: Uint8Array): void {
  if (publicKey.length !== ED25519_PUBLIC_KEY_SIZE) throw malformed('Ed25519 public key must be 32 bytes');
}

/** Valid UTF-8 (no lone surrogates) and no control character other than newline. */
function requireNoteText(text: string): void {
  if (!text.isWellFormed()) throw malformed('note is not valid UTF-8');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point.
  if (/[\x00-\x09\x0b-\x1f]/.test(text)) throw malformed('note contains a control character other than newline');
}

function decodeUtf8(bytes: Uint8Array): string {
  if (bytes.length > MAX_NOTE_BYTES) throw malformed(`note is larger than ${MAX_NOTE_BYTES} bytes`);
  try {
    return strictUtf8.decode(bytes);
  } catch {
    throw malformed('note is not valid UTF-8');
  }
}

function typedPublicKey(publicKey: Uint8Array): Bytes {
  return concatBytes(Uint8Array.of(ED25519_TYPE), publicKey);
}

/** Standard padded base64 in its one canonical spelling, or undefined. */
function decodeBase64(text: string): Bytes | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text)) return undefined;
  let binary: string;
  try {
    binary = atob(text);
  } catch {
    return undefined;
  }
  const bytes = Uint8Array.from(binary, (char) => char.charCodeAt(0));
  return toBase64(bytes) === text ? bytes : undefined;
}

/**
 * Who signed a note, as `<name>+<8 hex key hash>` per signature line (how a verifier key begins), or
 * nothing when the note is malformed. Says nothing about whether the signatures verify.
 */
export function noteSignerIds(note: string): string[] {
  try {
    return splitNote(note).signatures.map((line) => `${line.name}+${toHex(line.keyHash)}`);
  } catch {
    return [];
  }
}

/** `<name>+<8 hex key hash>`: how a signature line names its key, and how a verifier key begins. */
export const noteKeyId = (name: string, publicKey: Uint8Array) => `${name}+${toHex(noteKeyHash(name, publicKey))}`;

/** Whether `id` (`<name>+<8 hex key hash>`) names `publicKey` under that name. */
export function isNoteKeyId(id: string, publicKey: Uint8Array): boolean {
  const plus = id.lastIndexOf('+');
  const name = id.slice(0, plus);
  return plus > 0 && isKeyName(name) && toHex(noteKeyHash(name, publicKey)) === id.slice(plus + 1);
}

function malformed(message: string): NoteError {
  return new NoteError('malformed', message);
}

/**
 * Opens a checkpoint with whichever of `keys` signed it and reads its body. A raw 32-byte Ed25519 key
 * signs under the name the checkpoint's origin line gives; a verifier names itself. Another key's
 * signature is not a failure (the next key is tried); any other refusal is. Throws NoteError:
 * `unknown_key` when no key signed it.
 */
export async function openCheckpoint(
  note: string,
  keys: Iterable<NoteVerifier | Uint8Array>,
): Promise<Checkpoint & { rootHash: Bytes }> {
  const origin = note.slice(0, note.indexOf('\n'));
  for (const key of keys) {
    try {
      const verifier =
        key instanceof Uint8Array ? { name: origin, keyHash: noteKeyHash(origin, key), publicKey: key } : key;
      return parseCheckpoint((await openNote(note, verifier)).body);
    } catch (err) {
      if (!(err instanceof NoteError && err.reason === 'unknown_key')) throw err;
    }
  }
  throw new NoteError('unknown_key', 'no key given signed this checkpoint');
}
