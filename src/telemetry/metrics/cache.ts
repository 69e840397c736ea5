import type { Attributes, Meter } from '@opentelemetry/api';
import { CACHE_NAMES, EVICTION_REASONS } from '../../cache/vocabulary';
import { METRICS } from '../catalogue';
import type { CacheMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

/** Hits, misses and evictions of each cache, and what it holds, read at collection time. */
export function createCacheMetrics(meter: Meter): CacheMetrics {
  const { counter, gauge } = instrumentsOf(meter);
  const cacheHits = counter(METRICS.cacheHits);
  const cacheMisses = counter(METRICS.cacheMisses);
  const cacheEvictions = counter(METRICS.cacheEvictions);
  const cacheItems = gauge(METRICS.cacheItems);
  const cacheBytes = gauge(METRICS.cacheSize);
  const cacheAttributes = new Map(CACHE_NAMES.map((cache) => [cache as string, { cache_name: cache }]));
  const evictionAttributes = new Map<string, Attributes>();
  for (const cache of CACHE_NAMES) {
    for (const reason of EVICTION_REASONS) {
      evictionAttributes.set(`${cache}\u0000${reason}`, { cache_name: cache, reason });
    }
  }

  return {
    cacheLookup(cache, hit) {
      (hit ? cacheHits : cacheMisses).add(1, cacheAttributes.get(cache));
    },
    cacheEvicted(cache, reason, count = 1) {
      cacheEvictions.add(count, evictionAttributes.get(`${cache}\u0000${reason}`));
    },
    // A cache's series start when the cache is created (it calls this once).
    observeCache(cache, read) {
      const attributes = cacheAttributes.get(cache) ?? { cache_name: cache };
      cacheHits.add(0, attributes);
      cacheMisses.add(0, attributes);
      for (const reason of EVICTION_REASONS) cacheEvictions.add(0, evictionAttributes.get(`${cache}\u0000${reason}`));
      cacheItems.addCallback((result) => result.observe(read().items, attributes));
      cacheBytes.addCallback((result) => result.observe(read().bytes, attributes));
    },
  };
}
