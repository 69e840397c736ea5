/**
 * Sortable identifiers: a 10-character Crockford base-32 millisecond timestamp and 16 random
 * characters (80 bits), behind a type prefix (`dec_`, `ent_`, `key_`). Sorting by id sorts by time.
 */
const CROCKFORD = '0123456789ABCDEFGHJKMNPQRSTVWXYZ';
const ID_RANDOM_CHARS = 16;

// One getRandomValues call per 256 ids instead of one per id: the call, not the bytes, is what
// costs on the decide path (Node's randomUUID pools the same way). Only ids draw from it; secrets
// below get bytes of their own.
const pool = new Uint8Array(ID_RANDOM_CHARS * 256);
let poolOffset = pool.length;

export function newId(prefix: string, now = Date.now()): string {
  let time = '';
  let ms = now;
  for (let i = 0; i < 10; i++) {
    time = CROCKFORD[ms % 32] + time;
    ms = Math.floor(ms / 32);
  }
  if (poolOffset === pool.length) {
    crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let tail = '';
  for (let i = poolOffset; i < poolOffset + ID_RANDOM_CHARS; i++) tail += CROCKFORD[(pool[i] as number) & 31];
  // Each byte is used once: an id never shares randomness with another.
  poolOffset += ID_RANDOM_CHARS;
  return `${prefix}_${time}${tail}`;
}

/** A random secret of `bytes` bytes, base64url without padding. */
export function newSecret(bytes = 32): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let binary = '';
  for (const byte of raw) binary += String.fromCharCode(byte);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}
