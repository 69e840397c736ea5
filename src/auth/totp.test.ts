import { describe, expect, it } from 'vitest';
import { fromBase32, matchTotp, otpauthUri, timeStep, toBase32, totpAt } from './totp';

const ascii = (text: string) => new TextEncoder().encode(text);

// RFC 6238 Appendix B: the seeds are these ASCII strings, one per hash, and codes have 8 digits.
const SEEDS = {
  SHA1: ascii('12345678901234567890'),
  SHA256: ascii('12345678901234567890123456789012'),
  SHA512: ascii('1234567890123456789012345678901234567890123456789012345678901234'),
};
const VECTORS: [number, string, keyof typeof SEEDS][] = [
  [59, '94287082', 'SHA1'],
  [59, '46119246', 'SHA256'],
  [59, '90693936', 'SHA512'],
  [1111111109, '07081804', 'SHA1'],
  [1111111109, '68084774', 'SHA256'],
  [1111111109, '25091201', 'SHA512'],
  [1111111111, '14050471', 'SHA1'],
  [1111111111, '67062674', 'SHA256'],
  [1111111111, '99943326', 'SHA512'],
  [1234567890, '89005924', 'SHA1'],
  [1234567890, '91819424', 'SHA256'],
  [1234567890, '93441116', 'SHA512'],
  [2000000000, '69279037', 'SHA1'],
  [2000000000, '90698825', 'SHA256'],
  [2000000000, '38618901', 'SHA512'],
  [20000000000, '65353130', 'SHA1'],
  [20000000000, '77737706', 'SHA256'],
  [20000000000, '47863826', 'SHA512'],
];

describe('TOTP (RFC 6238)', () => {
  it.each(VECTORS)('at %i s gives %s with %s (the RFC test vectors)', (seconds, code, algorithm) => {
    expect(totpAt(SEEDS[algorithm], timeStep(seconds * 1000), { algorithm, digits: 8 })).toBe(code);
  });

  it('accepts the code of the previous, current and next 30 s step and nothing further', () => {
    const secret = SEEDS.SHA1;
    const now = 1_800_000_000_000;
    const step = timeStep(now);
    for (const offset of [-1, 0, 1]) {
      expect(matchTotp(secret, totpAt(secret, step + offset), now)).toBe(step + offset);
    }
    for (const offset of [-3, -2, 2, 3]) {
      expect(matchTotp(secret, totpAt(secret, step + offset), now)).toBeUndefined();
    }
  });

  it('refuses codes that are not exactly six digits', () => {
    const now = 1_800_000_000_000;
    const code = totpAt(SEEDS.SHA1, timeStep(now));
    for (const bad of ['', `${code}0`, code.slice(1), ` ${code}`, 'abcdef', '12345x']) {
      expect(matchTotp(SEEDS.SHA1, bad, now)).toBeUndefined();
    }
  });

  it('round-trips secrets through base32 and puts them in an otpauth:// URI apps can scan', () => {
    const secret = crypto.getRandomValues(new Uint8Array(20));
    expect(fromBase32(toBase32(secret))).toEqual(secret);
    expect(toBase32(ascii('12345678901234567890'))).toBe('GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ');
    const uri = new URL(otpauthUri(secret, 'alice', 'Lexecon'));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Lexecon:alice');
    expect(Object.fromEntries(uri.searchParams)).toEqual({
      secret: toBase32(secret),
      issuer: 'Lexecon',
      algorithm: 'SHA1',
      digits: '6',
      period: '30',
    });
  });
});
