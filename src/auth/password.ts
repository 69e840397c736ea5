import { scryptAsync } from '@noble/hashes/scrypt.js';
import { timingSafeEqual } from './constant-time';
import { createHashingCapacity, type HashingCapacity } from './hashing-capacity';

/**
 * Password hashing with scrypt, a memory-hard KDF. Stored as a PHC-style string that carries its own
 * parameters, so they can be raised later without invalidating existing hashes:
 * `$scrypt$ln=17,r=8,p=1$<salt base64>$<hash base64>`.
 *
 * Defaults are one of OWASP's equivalent scrypt settings: N = 2^15, r = 8, p = 3. It costs the same
 * work as N = 2^17, p = 1 but needs 32 MiB instead of 128 MiB per hash, which a 128 MB Workers
 * isolate can afford. How many run at once is the hashing capacity's business (hashing-capacity.ts).
 */
export interface ScryptParams {
  /** log2 of the CPU/memory cost N. */
  ln: number;
  r: number;
  p: number;
}

export const DEFAULT_SCRYPT: ScryptParams = { ln: 15, r: 8, p: 3 };

/** The KDF itself, injectable: Node passes its native (thread-pool) scrypt, other runtimes use @noble. */
export type Scrypt = (
  password: Uint8Array,
  salt: Uint8Array,
  params: ScryptParams,
  length: number,
) => Promise<Uint8Array>;

export const nobleScrypt: Scrypt = (password, salt, { ln, r, p }, dkLen) =>
  scryptAsync(password, salt, { N: 2 ** ln, r, p, dkLen, maxmem: 2 ** ln * r * 128 * 2 });

const HASH_BYTES = 32;
const SALT_BYTES = 16;
const PHC = /^\$scrypt\$ln=(\d{1,2}),r=(\d{1,2}),p=(\d{1,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export interface PasswordHasher {
  /** Hashes a new password; throws HashingBusyError when the hashing line is full. */
  hash(password: string): Promise<string>;
  /**
   * Looks an account up and checks the password against its stored hash; for no account it spends
   * the time of one check anyway, so an unknown username answers as slowly as a known one. The place
   * in the hashing line is taken before the lookup: when the line is full, HashingBusyError comes
   * before the database is asked, the same for every name.
   */
  check<A extends { passwordHash: string }>(
    password: string,
    lookup: () => Promise<A | undefined>,
  ): Promise<{ account: A | undefined; matches: boolean }>;
}

/** Every hash goes through `capacity` (one per instance: see hashing-capacity.ts). */
export function createPasswordHasher(
  scrypt: Scrypt = nobleScrypt,
  params: ScryptParams = DEFAULT_SCRYPT,
  capacity: HashingCapacity = createHashingCapacity(),
): PasswordHasher {
  const encoder = new TextEncoder();
  const dummySalt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));

  async function verify(password: string, stored: string): Promise<boolean> {
    const match = PHC.exec(stored);
    if (!match) return false;
    const [, ln, r, p, salt, expected] = match;
    const storedParams = { ln: Number(ln), r: Number(r), p: Number(p) };
    const derived = await scrypt(
      encoder.encode(password.normalize('NFKC')),
      fromBase64(salt as string),
      storedParams,
      fromBase64(expected as string).length,
    );
    return timingSafeEqual(toBase64(derived), expected as string);
  }

  return {
    hash: (password) =>
      capacity.admit(async (slot) => {
        const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES));
        const derived = await slot(() => scrypt(encoder.encode(password.normalize('NFKC')), salt, params, HASH_BYTES));
        return `$scrypt$ln=${params.ln},r=${params.r},p=${params.p}$${toBase64(salt)}$${toBase64(derived)}`;
      }),
    check: (password, lookup) =>
      capacity.admit(async (slot) => {
        const account = await lookup();
        if (account) return { account, matches: await slot(() => verify(password, account.passwordHash)) };
        await slot(() => scrypt(encoder.encode(password), dummySalt, params, HASH_BYTES));
        return { account, matches: false };
      }),
  };
}

/** What a username may be (stored lowercased). */
export const USERNAME = /^[a-z0-9][a-z0-9._@-]{2,63}$/;

/** Why a password is refused, or undefined when it is acceptable (NIST SP 800-63B: length, not composition). */
export function passwordProblem(password: string, username: string): string | undefined {
  if (password.length < 12) return 'must be at least 12 characters';
  if (password.length > 256) return 'must be at most 256 characters';
  const lower = password.toLowerCase();
  if (lower.includes(username.toLowerCase())) return 'must not contain the username';
  if (new Set(password).size < 4) return 'must use at least 4 different characters';
  if (COMMON.some((word) => lower.startsWith(word))) return 'is too common';
  return undefined;
}

// The most common leaked passwords' stems: a password that starts with one is guessed early.
const COMMON = ['password', '123456', 'qwerty', 'letmein', 'welcome', 'admin', 'iloveyou', '111111', 'abc123'];

function toBase64(bytes: Uint8Array): string {
  let binary = '';
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/=+$/, '');
}

function fromBase64(text: string): Uint8Array {
  const binary = atob(text);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}
