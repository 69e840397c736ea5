import { hmac } from '@noble/hashes/hmac.js';
import { sha1 } from '@noble/hashes/legacy.js';
import { sha256, sha512 } from '@noble/hashes/sha2.js';
import { timingSafeEqual } from './constant-time';

/**
 * Time-based one-time passwords (RFC 6238 over RFC 4226's HOTP). Authenticator apps use SHA-1,
 * 6 digits and 30-second steps, so those are the defaults; the others exist for the RFC's vectors.
 */
export interface TotpOptions {
  algorithm?: 'SHA1' | 'SHA256' | 'SHA512';
  digits?: number;
  stepSeconds?: number;
}

const HASHES = { SHA1: sha1, SHA256: sha256, SHA512: sha512 };
const BASE32 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** The time step a moment falls in. */
export function timeStep(unixMs: number, stepSeconds = 30): number {
  return Math.floor(unixMs / 1000 / stepSeconds);
}

/** The code for one time step (RFC 4226 §5.3 dynamic truncation). */
export function totpAt(secret: Uint8Array, step: number, options: TotpOptions = {}): string {
  const digits = options.digits ?? 6;
  const counter = new Uint8Array(8);
  new DataView(counter.buffer).setBigUint64(0, BigInt(step));
  const mac = hmac(HASHES[options.algorithm ?? 'SHA1'], secret, counter);
  const offset = (mac[mac.length - 1] as number) & 0x0f;
  const binary = new DataView(mac.buffer, mac.byteOffset).getUint32(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, '0');
}

/**
 * The time step whose code `code` is, within ±`window` steps of now, or undefined. The caller
 * rejects a step it has already accepted (replay) by keeping the last one.
 */
export function matchTotp(
  secret: Uint8Array,
  code: string,
  unixMs: number,
  options: TotpOptions & { window?: number } = {},
): number | undefined {
  const digits = options.digits ?? 6;
  if (!new RegExp(`^\\d{${digits}}$`).test(code)) return undefined;
  const now = timeStep(unixMs, options.stepSeconds);
  const window = options.window ?? 1;
  let matched: number | undefined;
  // Every candidate is computed and compared, so timing does not tell which step matched.
  for (let step = now - window; step <= now + window; step++) {
    if (timingSafeEqual(totpAt(secret, step, options), code) && matched === undefined) matched = step;
  }
  return matched;
}

/** A new random secret: 160 bits, as RFC 4226 recommends. */
export function newTotpSecret(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(20));
}

/** The URI authenticator apps scan (Key Uri Format). */
export function otpauthUri(secret: Uint8Array, account: string, issuer: string): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const query = new URLSearchParams({
    secret: toBase32(secret),
    issuer,
    algorithm: 'SHA1',
    digits: '6',
    period: '30',
  });
  return `otpauth://totp/${label}?${query}`;
}

export function toBase32(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

export function fromBase32(text: string): Uint8Array {
  const clean = text.replace(/=+$/, '').toUpperCase();
  const out: number[] = [];
  let bits = 0;
  let value = 0;
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error('not base32');
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 0xff);
      bits -= 8;
    }
  }
  return new Uint8Array(out);
}
