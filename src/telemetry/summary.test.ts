import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { createSlidingQuantiles, type SeriesSnapshot } from './summary';

const QUANTILES = [0.5, 0.9, 0.95, 0.99] as const;

function clock(start = 1_000_000) {
  let now = start;
  return {
    now: () => now,
    advance(ms: number) {
      now += ms;
    },
  };
}

function only(snapshots: SeriesSnapshot[], key = ''): SeriesSnapshot {
  const found = snapshots.filter((s) => s.key === key);
  expect(found).toHaveLength(1);
  return found[0] as SeriesSnapshot;
}

describe('sliding-window quantiles', () => {
  it('gives the exact nearest-rank quantiles of 1..1000 when every value fits the reservoir', () => {
    const time = clock();
    const summary = createSlidingQuantiles(QUANTILES, { reservoirSize: 1000, now: time.now });
    for (let v = 1; v <= 1000; v++) summary.record('', v);

    const snapshot = only(summary.snapshot());
    expect(snapshot.quantiles).toEqual([500, 900, 950, 990]);
    expect(snapshot.count).toBe(1000);
    expect(snapshot.sum).toBe(500_500);
  });

  it('keeps the quantiles of 1..100,000 within the sampling error of the default 512-value reservoir', () => {
    const time = clock();
    const summary = createSlidingQuantiles(QUANTILES, { now: time.now });
    const n = 100_000;
    // Shuffled, so a reservoir that kept only the first (or last) values would be caught.
    const values = Array.from({ length: n }, (_, i) => i + 1);
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [values[i], values[j]] = [values[j] as number, values[i] as number];
    }
    for (const v of values) summary.record('', v);

    // A uniform 512-sample: by the DKW inequality the empirical CDF is within 0.1 of the true one
    // everywhere with probability > 0.9999, so each quantile's rank is off by less than 0.1.
    const snapshot = only(summary.snapshot());
    QUANTILES.forEach((q, i) => {
      expect(Math.abs((snapshot.quantiles[i] as number) / n - q), `p${q * 100}`).toBeLessThan(0.1);
    });
    expect(snapshot.quantiles).toEqual([...snapshot.quantiles].sort((a, b) => a - b));
  });

  it('stops counting values older than the window while _sum and _count keep growing', () => {
    const time = clock(0);
    const summary = createSlidingQuantiles(QUANTILES, { windowMs: 60_000, ageBuckets: 6, now: time.now });
    for (let i = 0; i < 100; i++) summary.record('', 10);

    time.advance(30_000);
    for (let i = 0; i < 100; i++) summary.record('', 1);
    // Both halves are in the window: the slow values still set the upper quantiles.
    let snapshot = only(summary.snapshot());
    expect(snapshot.quantiles).toEqual([1, 10, 10, 10]);

    // 70 s after the slow values (window plus one age bucket), only the fast ones remain.
    time.advance(40_000);
    snapshot = only(summary.snapshot());
    expect(snapshot.quantiles).toEqual([1, 1, 1, 1]);
    expect(snapshot.count).toBe(200);
    expect(snapshot.sum).toBe(1_100);

    time.advance(40_000);
    summary.record('', 5);
    snapshot = only(summary.snapshot());
    expect(snapshot.quantiles).toEqual([5, 5, 5, 5]);
    expect(snapshot.count).toBe(201);
    expect(snapshot.sum).toBe(1_105);
  });

  it('still counts a value until the window has passed', () => {
    const time = clock(0);
    const summary = createSlidingQuantiles(QUANTILES, { windowMs: 60_000, ageBuckets: 6, now: time.now });
    summary.record('', 7);
    time.advance(59_999);
    expect(only(summary.snapshot()).quantiles).toEqual([7, 7, 7, 7]);
  });

  it('reports NaN quantiles, with the totals so far, when nothing is in the window', () => {
    const time = clock(0);
    const summary = createSlidingQuantiles(QUANTILES, { windowMs: 60_000, now: time.now });
    summary.ensure('GET /idle');
    let snapshot = only(summary.snapshot(), 'GET /idle');
    expect(snapshot.quantiles.every(Number.isNaN)).toBe(true);
    expect(snapshot).toMatchObject({ sum: 0, count: 0 });

    summary.record('GET /idle', 0.25);
    time.advance(5 * 60_000);
    snapshot = only(summary.snapshot(), 'GET /idle');
    expect(snapshot.quantiles.every(Number.isNaN)).toBe(true);
    expect(snapshot).toMatchObject({ sum: 0.25, count: 1 });
  });

  it('keeps each series to its own values', () => {
    const time = clock();
    const summary = createSlidingQuantiles(QUANTILES, { now: time.now });
    for (let i = 0; i < 50; i++) {
      summary.record('fast', 0.001);
      summary.record('slow', 2);
    }
    const snapshots = summary.snapshot();
    expect(only(snapshots, 'fast').quantiles).toEqual([0.001, 0.001, 0.001, 0.001]);
    expect(only(snapshots, 'slow').quantiles).toEqual([2, 2, 2, 2]);
    expect(snapshots).toHaveLength(2);
  });

  it('weights each age bucket by how many values it saw, so a busy bucket outweighs a quiet one', () => {
    const time = clock(0);
    const summary = createSlidingQuantiles(QUANTILES, { windowMs: 60_000, ageBuckets: 6, now: time.now });
    // 20,000 fast requests in one bucket (sampled down to 512), then 400 slow ones in the next.
    for (let i = 0; i < 20_000; i++) summary.record('', 0.001);
    time.advance(10_000);
    for (let i = 0; i < 400; i++) summary.record('', 1);

    // Slow requests are 2% of traffic: only p99 may see them. An unweighted merge of the kept
    // samples (512 fast, 400 slow) would put p90 at 1.
    expect(only(summary.snapshot()).quantiles).toEqual([0.001, 0.001, 0.001, 1]);
  });

  it('answers sane quantiles after 200,000 values, from a reservoir that does not grow', () => {
    const time = clock();
    const summary = createSlidingQuantiles(QUANTILES, { now: time.now });
    for (let i = 0; i < 200_000; i++) {
      summary.record('', (i % 1000) + 1);
      if (i % 1000 === 999) time.advance(50);
    }
    const snapshot = only(summary.snapshot());
    expect(snapshot.count).toBe(200_000);
    expect(snapshot.sum).toBe(200 * 500_500);
    QUANTILES.forEach((q, i) => {
      expect(Math.abs((snapshot.quantiles[i] as number) / 1000 - q), `p${q * 100}`).toBeLessThan(0.1);
    });
  });

  it('holds memory fixed however many values are recorded', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const time = clock();
    const summary = createSlidingQuantiles(QUANTILES, { now: time.now });
    for (let i = 0; i < 10_000; i++) summary.record('', i);
    gc();
    const before = process.memoryUsage().heapUsed;
    // A million values would take at least 8 MB if they were kept.
    for (let i = 0; i < 1_000_000; i++) {
      summary.record('', i);
      if (i % 10_000 === 0) time.advance(1_000);
    }
    gc();
    const grown = process.memoryUsage().heapUsed - before;
    expect(grown).toBeLessThan(1_000_000);
    expect(only(summary.snapshot()).count).toBe(1_010_000);
  });
});
