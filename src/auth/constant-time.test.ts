import { describe, expect, it } from 'vitest';
import { timingSafeEqual } from './constant-time';

describe('timingSafeEqual', () => {
  it('accepts only the identical string', () => {
    const secret = 'scrape-token-7f3a9c';
    expect(timingSafeEqual(secret, secret)).toBe(true);
    expect(timingSafeEqual(`${secret}`, secret.slice(0))).toBe(true);
    for (const other of ['', 'x', secret.slice(0, -1), `${secret}x`, `x${secret}`, secret.toUpperCase()]) {
      expect(timingSafeEqual(other, secret), other).toBe(false);
    }
  });

  it('refuses a presented value that is a prefix padded with NUL bytes', () => {
    expect(timingSafeEqual('abc\u0000', 'abc')).toBe(false);
    expect(timingSafeEqual('abc', 'abc\u0000')).toBe(false);
  });

  it('compares multi-byte characters by their UTF-8 bytes', () => {
    expect(timingSafeEqual('pässwörd', 'pässwörd')).toBe(true);
    expect(timingSafeEqual('passwörd', 'pässword')).toBe(false);
  });

  it('treats two empty strings as equal', () => {
    expect(timingSafeEqual('', '')).toBe(true);
  });
});
