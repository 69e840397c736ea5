/**
 * Hashing and Ed25519 signing with WebCrypto only, so the same code runs on Node and on Workers.
 * Keys travel as PKCS#8 (private) and raw 32 bytes (public); a 32-byte seed is accepted too.
 */

import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';

const encoder = new TextEncoder();

/** Bytes backed by a plain ArrayBuffer, which is what WebCrypto accepts. */
export type Bytes = Uint8Array<ArrayBuffer>;
const ED25519 = { name: 'Ed25519' } as const;
// DER prefix of a PKCS#8 Ed25519 private key (RFC 8410 §7); the 32-byte seed follows it.
const PKCS8_ED25519_PREFIX = Uint8Array.from([
  0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20,
]);
const SPKI_ED25519_PREFIX = Uint8Array.from([0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00]);

/** A synchronous SHA-256 of a string's UTF-8 bytes, as lowercase hex: the ledger's hot path. */
export type Sha256Hex = (text: string) => string;

/** Portable (pure JS, audited @noble/hashes); a runtime may pass its native hash instead. */
export const portableSha256Hex: Sha256Hex = (text) => bytesToHex(sha256(encoder.encode(text)));

export async function sha256Hex(input: string | Bytes): Promise<string> {
  const bytes = typeof input === 'string' ? encoder.encode(input) : input;
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)));
}

export function toHex(bytes: Uint8Array): string {
  let out = '';
  for (const byte of bytes) out += byte.toString(16).padStart(2, '0');
  return out;
}

export function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function fromBase64(text: string): Bytes {
  const normalised = text.replace(/-/g, '+').replace(/_/g, '/').replace(/\s+/g, '');
  const binary = atob(normalised);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

/** A verifier for one Ed25519 public key. */
export interface PublicKey {
  /** First 16 hex characters of SHA-256 over the raw public key. */
  readonly keyId: string;
  readonly raw: Bytes;
  verify(message: string, signatureBase64: string): Promise<boolean>;
}

export interface SigningKey extends PublicKey {
  sign(message: string): Promise<string>;
  /** The raw 64-byte Ed25519 signature of the bytes given (what a signed note carries). */
  signBytes(message: Uint8Array): Promise<Bytes>;
  /** PKCS#8 DER, for persisting a generated key. */
  exportPkcs8(): Promise<Bytes>;
}

export async function generateSigningKey(): Promise<SigningKey> {
  const pair = (await crypto.subtle.generateKey(ED25519, true, ['sign', 'verify'])) as CryptoKeyPair;
  return signingKeyFrom(pair.privateKey);
}

/**
 * Imports a private key given as a PKCS#8 PEM, or base64/base64url of PKCS#8 DER or of a 32-byte seed.
 * Throws a message fit for a configuration error, never the key material.
 */
export async function importSigningKey(text: string): Promise<SigningKey> {
  const der = decodeKeyText(text, 'PRIVATE KEY');
  const pkcs8 = der.length === 32 ? concat(PKCS8_ED25519_PREFIX, der) : der;
  let key: CryptoKey;
  try {
    key = await crypto.subtle.importKey('pkcs8', pkcs8, ED25519, true, ['sign']);
  } catch {
    throw new Error('not an Ed25519 private key (expected PKCS#8 PEM, or base64 of PKCS#8 DER or a 32-byte seed)');
  }
  return signingKeyFrom(key);
}

/** Imports a public key given as an SPKI PEM or base64 of the raw 32 bytes. */
export async function importPublicKey(text: string): Promise<PublicKey> {
  const der = decodeKeyText(text, 'PUBLIC KEY');
  const raw = der.length === 32 ? der : der.subarray(SPKI_ED25519_PREFIX.length);
  if (raw.length !== 32) throw new Error('not an Ed25519 public key (expected SPKI PEM or base64 of 32 raw bytes)');
  return publicKeyFrom(raw);
}

export function publicKeyPem(raw: Bytes): string {
  return toPem(concat(SPKI_ED25519_PREFIX, raw), 'PUBLIC KEY');
}

export function privateKeyPem(pkcs8: Bytes): string {
  return toPem(pkcs8, 'PRIVATE KEY');
}

async function signingKeyFrom(privateKey: CryptoKey): Promise<SigningKey> {
  const jwk = await crypto.subtle.exportKey('jwk', privateKey);
  if (!jwk.x) throw new Error('Ed25519 key without a public part');
  const publicKey = await publicKeyFrom(fromBase64(jwk.x));
  const signBytes = async (message: Uint8Array): Promise<Bytes> =>
    new Uint8Array(await crypto.subtle.sign(ED25519, privateKey, Uint8Array.from(message)));
  return {
    ...publicKey,
    async sign(message) {
      return toBase64(await signBytes(encoder.encode(message)));
    },
    signBytes,
    async exportPkcs8() {
      return new Uint8Array(await crypto.subtle.exportKey('pkcs8', privateKey));
    },
  };
}

async function publicKeyFrom(raw: Bytes): Promise<PublicKey> {
  const key = await crypto.subtle.importKey('raw', raw, ED25519, true, ['verify']);
  const keyId = (await sha256Hex(raw)).slice(0, 16);
  return {
    keyId,
    raw,
    async verify(message, signatureBase64) {
      let signature: Bytes;
      try {
        signature = fromBase64(signatureBase64);
      } catch {
        return false;
      }
      if (signature.length !== 64) return false;
      return crypto.subtle.verify(ED25519, key, signature, encoder.encode(message));
    },
  };
}

function decodeKeyText(text: string, label: string): Bytes {
  const pem = text.match(new RegExp(`-----BEGIN ${label}-----([\\s\\S]+?)-----END ${label}-----`));
  try {
    return fromBase64(pem ? (pem[1] ?? '') : text.trim());
  } catch {
    throw new Error(`not a PEM or base64 encoded ${label.toLowerCase()}`);
  }
}

function toPem(der: Bytes, label: string): string {
  const lines = toBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function concat(a: Bytes, b: Bytes): Bytes {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}
