/**
 * Quantiles over a sliding window, for the spec's one Summary (the OpenTelemetry SDK has no summary
 * aggregation). Like Prometheus client summaries (maxAge / ageBuckets) the window is split into
 * age buckets that rotate; each bucket keeps a bounded uniform sample (reservoir sampling, Algorithm
 * R), so memory is fixed however many requests arrive. Sum and count are cumulative since start.
 */
export interface SlidingQuantilesOptions {
  windowMs?: number;
  ageBuckets?: number;
  /** Samples kept per age bucket per series. */
  reservoirSize?: number;
  now?: () => number;
}

export interface SeriesSnapshot {
  key: string;
  quantiles: number[];
  sum: number;
  count: number;
}

interface Series {
  buckets: { start: number; seen: number; samples: Float64Array }[];
  sum: number;
  count: number;
}

export function createSlidingQuantiles(quantiles: readonly number[], options: SlidingQuantilesOptions = {}) {
  const windowMs = options.windowMs ?? 60_000;
  const ageBuckets = options.ageBuckets ?? 6;
  const reservoirSize = options.reservoirSize ?? 512;
  const now = options.now ?? Date.now;
  const bucketMs = windowMs / ageBuckets;
  const series = new Map<string, Series>();

  function bucketFor(s: Series, at: number) {
    const start = at - (at % bucketMs);
    const slot = s.buckets[Math.floor(start / bucketMs) % ageBuckets] as Series['buckets'][number];
    if (slot.start !== start) {
      slot.start = start;
      slot.seen = 0;
    }
    return slot;
  }

  function ensure(key: string): Series {
    let s = series.get(key);
    if (!s) {
      s = {
        buckets: Array.from({ length: ageBuckets }, () => ({
          start: -1,
          seen: 0,
          samples: new Float64Array(reservoirSize),
        })),
        sum: 0,
        count: 0,
      };
      series.set(key, s);
    }
    return s;
  }

  return {
    /** Makes a series exist (reported with NaN quantiles and zero count) before its first value. */
    ensure(key: string): void {
      ensure(key);
    },

    record(key: string, value: number): void {
      const s = ensure(key);
      s.sum += value;
      s.count++;
      const bucket = bucketFor(s, now());
      if (bucket.seen < reservoirSize) bucket.samples[bucket.seen] = value;
      else {
        const j = Math.floor(Math.random() * (bucket.seen + 1));
        if (j < reservoirSize) bucket.samples[j] = value;
      }
      bucket.seen++;
    },

    /** Every series, with NaN quantiles when nothing fell in the window (as Prometheus clients do). */
    snapshot(): SeriesSnapshot[] {
      const oldest = now() - windowMs;
      const result: SeriesSnapshot[] = [];
      for (const [key, s] of series) {
        // Each kept sample stands for seen/kept observations of its age bucket.
        const values: number[] = [];
        const weights: number[] = [];
        for (const bucket of s.buckets) {
          if (bucket.start < 0 || bucket.start + bucketMs <= oldest) continue;
          const kept = Math.min(bucket.seen, reservoirSize);
          for (let i = 0; i < kept; i++) {
            values.push(bucket.samples[i] as number);
            weights.push(bucket.seen / kept);
          }
        }
        result.push({ key, quantiles: weightedQuantiles(values, weights, quantiles), sum: s.sum, count: s.count });
      }
      return result;
    },
  };
}

/** Weighted nearest-rank quantiles; NaN for an empty window. */
function weightedQuantiles(values: number[], weights: number[], quantiles: readonly number[]): number[] {
  if (values.length === 0) return quantiles.map(() => Number.NaN);
  const order = values.map((_, i) => i).sort((a, b) => (values[a] as number) - (values[b] as number));
  const total = weights.reduce((a, b) => a + b, 0);
  return quantiles.map((q) => {
    const target = q * total;
    let cumulative = 0;
    for (const i of order) {
      cumulative += weights[i] as number;
      if (cumulative >= target) return values[i] as number;
    }
    return values[order.at(-1) as number] as number;
  });
}
