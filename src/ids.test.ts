import { describe, expect, it } from 'vitest';
import { newId } from './ids';

describe('newId', () => {
  it('is the prefix, a 10-character time and 16 random Crockford characters, sorting by time', () => {
    const earlier = newId('dec', Date.UTC(2026, 0, 1));
    const later = newId('dec', Date.UTC(2026, 0, 1, 0, 0, 0, 1));
    expect(earlier).toMatch(/^dec_[0-9A-HJKMNP-TV-Z]{26}$/);
    expect(earlier.slice(4, 14) < later.slice(4, 14)).toBe(true);
    // 2026-01-01T00:00:00Z is 1767225600000 ms, 01kdvdna00 in base 32 (Number.prototype.toString(32)).
    expect(earlier.slice(0, 14)).toBe('dec_01KDVDNA00');
  });

  it('never repeats across many refills of its random pool, in the same millisecond', () => {
    const at = Date.now();
    const tails = new Set<string>();
    for (let i = 0; i < 5_000; i++) tails.add(newId('ent', at).slice(14));
    expect(tails.size).toBe(5_000);
  });

  it('spreads its random characters over the whole alphabet', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 2_000; i++) {
      for (const char of newId('ent').slice(14)) counts.set(char, (counts.get(char) ?? 0) + 1);
    }
    expect(counts.size).toBe(32);
    // 32,000 characters over 32 symbols: about 1,000 each; a stuck or reused pool would skew this far.
    for (const count of counts.values()) expect(count).toBeGreaterThan(800);
  });
});
