import { describe, expect, it } from 'vitest';
import { inRollout, rolloutBucket } from './rollout';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);

describe('percentage rollout', () => {
  it('puts a key in the same bucket every time', () => {
    for (const key of KEYS.slice(0, 100))
      expect(rolloutBucket('metrics_detailed', key)).toBe(rolloutBucket('metrics_detailed', key));
    expect(rolloutBucket('metrics_detailed', 'instance-a')).toBe(rolloutBucket('metrics_detailed', 'instance-a'));
  });

  it('keeps every bucket within 0..99', () => {
    for (const key of KEYS) {
      const bucket = rolloutBucket('metrics_detailed', key);
      expect(Number.isInteger(bucket) && bucket >= 0 && bucket < 100).toBe(true);
    }
  });

  it.each([1, 10, 25, 50, 90])('turns a %i% rollout on for about that share of 10,000 sequential keys', (percent) => {
    const on = KEYS.filter((key) => inRollout('metrics_detailed', key, percent)).length;
    // Binomial(10,000, p): σ = √(10,000·p·(1−p)) ≤ 50. Four σ (≤ 200 keys, 2 points) would fail a
    // fair hash about once in 16,000 runs; the keys are fixed, so this result never changes anyway.
    const sigma = Math.sqrt(10_000 * (percent / 100) * (1 - percent / 100));
    expect(Math.abs(on - percent * 100)).toBeLessThanOrEqual(4 * sigma);
  });

  it('spreads keys evenly across all 100 buckets', () => {
    const counts = new Array<number>(100).fill(0);
    for (const key of KEYS) counts[rolloutBucket('metrics_detailed', key)]!++;
    // 100 per bucket expected, σ ≈ 10: χ² with 99 degrees of freedom stays under 150 for a fair hash
    // (p ≈ 0.0008 of exceeding it).
    const chiSquare = counts.reduce((sum, n) => sum + (n - 100) ** 2 / 100, 0);
    expect(chiSquare).toBeLessThan(150);
    expect(Math.min(...counts)).toBeGreaterThan(50);
  });

  it('only adds keys when the percentage grows', () => {
    const at10 = KEYS.filter((key) => inRollout('metrics_detailed', key, 10));
    const at50 = new Set(KEYS.filter((key) => inRollout('metrics_detailed', key, 50)));
    expect(at10.every((key) => at50.has(key))).toBe(true);
  });

  it('is all or nothing at 100% and 0%', () => {
    expect(KEYS.every((key) => inRollout('metrics_detailed', key, 100))).toBe(true);
    expect(KEYS.some((key) => inRollout('metrics_detailed', key, 0))).toBe(false);
  });

  it('buckets the same key independently for different flags', () => {
    const same = KEYS.filter((key) => rolloutBucket('flag_a', key) === rolloutBucket('flag_b', key)).length;
    // Independent buckets agree for about 1 key in 100.
    expect(same).toBeLessThan(200);
  });
});
