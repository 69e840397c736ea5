const encoder = new TextEncoder();

/**
 * Whether two secrets are equal, in time that depends only on their lengths, never on where they
 * first differ. Plain byte arithmetic (no node:crypto, no WebCrypto), so it runs on Workers too.
 * Strings are compared as UTF-8 bytes.
 */
export function timingSafeEqual(presented: string, expected: string): boolean {
  const a = encoder.encode(presented);
  const b = encoder.encode(expected);
  // Walk the expected secret's full length whatever was presented; the length difference still counts.
  let difference = a.length ^ b.length;
  for (let i = 0; i < b.length; i++) difference |= (a[i] ?? 0) ^ b[i]!;
  return difference === 0;
}
