import { describe, expect, it } from 'vitest';
import { createTestMetrics } from '../../tests/support/app';
import { noopTelemetry, type SpanAttributes, type Telemetry } from '../telemetry/telemetry';
import { createLruCache, estimateBytes, type LruCacheOptions } from './lru';

function cache(overrides: Partial<LruCacheOptions<string>> = {}, clock = { now: 0 }) {
  return createLruCache<string, string>({
    name: 'sessions',
    maxItems: 100,
    maxBytes: 1_000_000,
    ttlMs: 1_000,
    sizeOf: estimateBytes,
    telemetry: noopTelemetry,
    now: () => clock.now,
    ...overrides,
  });
}

/** Counts evictions by reason as the metrics would. */
function evictionsOf(telemetry: Telemetry = noopTelemetry) {
  const counts = { capacity: 0, expired: 0, invalidated: 0 };
  const recorder: Telemetry = {
    ...telemetry,
    cacheEvicted: (_cache, reason, count = 1) => {
      counts[reason] += count;
    },
  };
  return { counts, telemetry: recorder };
}

describe('LRU order', () => {
  it('evicts the least recently used entry when the item cap is reached, counting reads as use', () => {
    const lru = cache({ maxItems: 2 });
    lru.set('a', 'A');
    lru.set('b', 'B');
    expect(lru.get('a')).toBe('A');
    lru.set('c', 'C');
    expect(lru.get('b')).toBeUndefined();
    expect(lru.get('a')).toBe('A');
    expect(lru.get('c')).toBe('C');
    expect(lru.stats()).toMatchObject({ items: 2, hits: 3, misses: 1 });
  });

  it('replaces a value set again under the same key and makes it the most recent', () => {
    const lru = cache({ maxItems: 2, sizeOf: (v) => v.length });
    lru.set('a', 'A');
    lru.set('b', 'B');
    lru.set('a', 'AAAA');
    lru.set('c', 'C');
    expect(lru.get('a')).toBe('AAAA');
    expect(lru.get('b')).toBeUndefined();
    expect(lru.stats().bytes).toBe(4 + estimateBytes('a') + 1 + estimateBytes('c'));
  });
});

describe('time to live', () => {
  it('serves an entry until its TTL has passed on the injected clock, then misses and counts it expired', () => {
    const clock = { now: 10_000 };
    const { counts, telemetry } = evictionsOf();
    const lru = cache({ ttlMs: 100, telemetry }, clock);
    lru.set('a', 'A');
    clock.now += 99;
    expect(lru.get('a')).toBe('A');
    clock.now += 1;
    expect(lru.get('a')).toBeUndefined();
    expect(counts).toEqual({ capacity: 0, expired: 1, invalidated: 0 });
    expect(lru.stats()).toEqual({ hits: 1, misses: 1, items: 0, bytes: 0 });
  });

  it('counts an entry pushed out after it had already expired as expired, not as capacity', () => {
    const clock = { now: 0 };
    const { counts, telemetry } = evictionsOf();
    const lru = cache({ ttlMs: 100, maxItems: 1, telemetry }, clock);
    lru.set('a', 'A');
    clock.now = 500;
    lru.set('b', 'B');
    lru.set('c', 'C');
    expect(counts).toEqual({ capacity: 1, expired: 1, invalidated: 0 });
  });

  it('never reads a clock of its own: nothing expires while the injected one stands still', () => {
    const lru = cache({ ttlMs: 1 });
    lru.set('a', 'A');
    expect(lru.get('a')).toBe('A');
  });
});

describe('byte budget', () => {
  it('evicts least recently used entries until the budget holds, counted as capacity', () => {
    const { counts, telemetry } = evictionsOf();
    const entryBytes = 100 + estimateBytes('k0');
    const lru = cache({ maxBytes: 3 * entryBytes, sizeOf: () => 100, telemetry });
    for (let i = 0; i < 3; i++) lru.set(`k${i}`, 'v');
    expect(lru.stats()).toMatchObject({ items: 3, bytes: 3 * entryBytes });
    lru.get('k0');
    lru.set('k3', 'v');
    expect(lru.get('k1')).toBeUndefined();
    expect(lru.get('k0')).toBe('v');
    expect(lru.stats()).toMatchObject({ items: 3, bytes: 3 * entryBytes });
    expect(counts).toEqual({ capacity: 1, expired: 0, invalidated: 0 });
  });

  it('refuses a value larger than the whole budget instead of emptying the cache for it', () => {
    const lru = cache({ maxBytes: 200, sizeOf: (v) => v.length });
    lru.set('a', 'A');
    expect(lru.set('big', 'x'.repeat(500))).toBe(false);
    expect(lru.get('big')).toBeUndefined();
    expect(lru.get('a')).toBe('A');
  });

  it('estimates strings at two bytes per code unit and counts shared objects once', () => {
    expect(estimateBytes('abcd') - estimateBytes('')).toBe(8);
    const shared = { role: 'admin', name: 'x'.repeat(100) };
    const once = estimateBytes([shared]);
    expect(estimateBytes([shared, shared])).toBe(once + 8);
    expect(estimateBytes(new Map([['k', shared]]))).toBeGreaterThan(estimateBytes(shared));
  });
});

describe('invalidation', () => {
  it('counts delete, deleteWhere and clear as invalidated evictions', () => {
    const { counts, telemetry } = evictionsOf();
    const lru = cache({ telemetry });
    for (const key of ['u1:a', 'u1:b', 'u2:a', 'u3:a']) lru.set(key, key.slice(0, 2));
    expect(lru.delete('u3:a')).toBe(true);
    expect(lru.delete('u3:a')).toBe(false);
    expect(lru.deleteWhere((user) => user === 'u1')).toBe(2);
    expect(lru.get('u1:a')).toBeUndefined();
    expect(lru.get('u2:a')).toBe('u2');
    expect(lru.clear()).toBe(1);
    expect(counts).toEqual({ capacity: 0, expired: 0, invalidated: 4 });
    expect(lru.stats()).toMatchObject({ items: 0, bytes: 0 });
  });
});

describe('telemetry', () => {
  it('shows hits, misses, evictions by reason, items and bytes per cache name in /metrics', async () => {
    const metrics = createTestMetrics();
    const clock = { now: 0 };
    const lru = cache({ telemetry: metrics.telemetry, maxItems: 2, ttlMs: 50, sizeOf: () => 10 }, clock);
    lru.set('a', 'A');
    lru.set('b', 'B');
    lru.get('a');
    lru.get('missing');
    lru.set('c', 'C');
    lru.delete('a');
    clock.now = 100;
    lru.get('c');
    lru.set('d', 'D');

    const text = await metrics.render();
    for (const line of [
      'lexecon_cache_hits_total{cache_name="sessions"} 1',
      'lexecon_cache_misses_total{cache_name="sessions"} 2',
      'lexecon_cache_evictions_total{cache_name="sessions",reason="capacity"} 1',
      'lexecon_cache_evictions_total{cache_name="sessions",reason="expired"} 1',
      'lexecon_cache_evictions_total{cache_name="sessions",reason="invalidated"} 1',
      'lexecon_cache_items{cache_name="sessions"} 1',
      `lexecon_cache_size_bytes{cache_name="sessions"} ${10 + estimateBytes('d')}`,
    ])
      expect(text.split('\n')).toContain(line);
  });

  it('gives each lookup a cache.lookup span saying whether it hit, unless told not to', () => {
    const spans: { name: string; attributes: SpanAttributes }[] = [];
    const telemetry: Telemetry = {
      ...noopTelemetry,
      inSpan: (name, attributes, fn) => {
        const span = { name, attributes: { ...attributes } };
        spans.push(span);
        return fn({ set: (more) => Object.assign(span.attributes, more) });
      },
    };
    const lru = cache({ telemetry });
    lru.set('a', 'A');
    lru.get('a');
    lru.get('b');
    expect(spans).toEqual([
      { name: 'cache.lookup', attributes: { 'cache.name': 'sessions', 'cache.hit': true } },
      { name: 'cache.lookup', attributes: { 'cache.name': 'sessions', 'cache.hit': false } },
    ]);
    cache({ telemetry, traceLookups: false }).get('a');
    expect(spans).toHaveLength(2);
  });
});
