import type { Telemetry } from '../telemetry/telemetry';
import type { CacheName } from './vocabulary';

/**
 * A least-recently-used cache with a per-entry time to live, an item cap and a byte budget.
 *
 * There are no timers (Workers forbid them outside a request, and they keep a Node process awake):
 * an entry's expiry is compared with `now()` when it is read, and expired entries at the cold end
 * are reclaimed as new ones push them out. Recency is a Map's insertion order: a hit re-inserts its
 * key at the end, the least recently used key is the first one, so get, set and delete are O(1).
 */
export interface LruCache<K, V> extends CacheStatsSource {
  /** The value, or undefined when absent or expired; counted as a hit or a miss. */
  get(key: K): V | undefined;
  /** Stores the value as most recently used; false when it alone exceeds the byte budget. */
  set(key: K, value: V): boolean;
  /** Each of these is counted as an 'invalidated' eviction; they return how many entries went. */
  delete(key: K): boolean;
  deleteWhere(predicate: (value: V, key: K) => boolean): number;
  clear(): number;
}

/** What the health check reads of every cache. */
export interface CacheStatsSource {
  readonly name: CacheName;
  stats(): CacheStats;
}

export interface CacheStats {
  hits: number;
  misses: number;
  items: number;
  bytes: number;
}

export interface LruCacheOptions<V> {
  name: CacheName;
  maxItems: number;
  maxBytes: number;
  /** How long an entry may be served after it was set; Infinity for entries that never go stale. */
  ttlMs: number;
  /** Approximate bytes a value holds (see estimateBytes); the key is added with estimateBytes. */
  sizeOf: (value: V) => number;
  telemetry: Telemetry;
  now?: () => number;
  /**
   * Whether each lookup gets its own `cache.lookup` span (default true). Off for a cache consulted on
   * every decision, where the span would say nothing the decision's own spans do not.
   */
  traceLookups?: boolean;
}

interface Entry<V> {
  value: V;
  bytes: number;
  expiresAt: number;
}

const HIT = { 'cache.hit': true } as const;
const MISS = { 'cache.hit': false } as const;

export function createLruCache<K, V>(options: LruCacheOptions<V>): LruCache<K, V> {
  const { name, maxItems, maxBytes, ttlMs, sizeOf, telemetry } = options;
  const now = options.now ?? Date.now;
  const spanAttributes = { 'cache.name': name };
  const entries = new Map<K, Entry<V>>();
  let bytes = 0;
  let hits = 0;
  let misses = 0;
  telemetry.observeCache(name, () => ({ items: entries.size, bytes }));

  function remove(key: K, entry: Entry<V>) {
    entries.delete(key);
    bytes -= entry.bytes;
  }

  function lookup(key: K): V | undefined {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= now()) {
      remove(key, entry);
      telemetry.cacheEvicted(name, 'expired');
    } else if (entry) {
      entries.delete(key);
      entries.set(key, entry);
      hits++;
      telemetry.cacheLookup(name, true);
      return entry.value;
    }
    misses++;
    telemetry.cacheLookup(name, false);
    return undefined;
  }

  /** Drops least recently used entries until both limits hold; ones already expired count as such. */
  function shrink() {
    const at = now();
    for (const [key, entry] of entries) {
      if (entries.size <= maxItems && bytes <= maxBytes) return;
      remove(key, entry);
      telemetry.cacheEvicted(name, entry.expiresAt <= at ? 'expired' : 'capacity');
    }
  }

  function invalidated(count: number) {
    if (count > 0) telemetry.cacheEvicted(name, 'invalidated', count);
    return count;
  }

  return {
    name,

    get:
      options.traceLookups === false
        ? lookup
        : (key) =>
            telemetry.inSpan('cache.lookup', spanAttributes, (span) => {
              const value = lookup(key);
              span.set(value === undefined ? MISS : HIT);
              return value;
            }),

    set(key, value) {
      const previous = entries.get(key);
      if (previous) remove(key, previous);
      const size = sizeOf(value) + estimateBytes(key);
      if (size > maxBytes) return false;
      entries.set(key, { value, bytes: size, expiresAt: now() + ttlMs });
      bytes += size;
      shrink();
      return true;
    },

    delete(key) {
      const entry = entries.get(key);
      if (entry) remove(key, entry);
      return invalidated(entry ? 1 : 0) > 0;
    },

    deleteWhere(predicate) {
      let count = 0;
      // Deleting the entry being visited is safe while iterating a Map.
      for (const [key, entry] of entries) {
        if (!predicate(entry.value, key)) continue;
        remove(key, entry);
        count++;
      }
      return invalidated(count);
    },

    clear() {
      const count = entries.size;
      entries.clear();
      bytes = 0;
      return invalidated(count);
    },

    stats: () => ({ hits, misses, items: entries.size, bytes }),
  };
}

// Rough V8 figures for a 64-bit heap with pointer compression: an object header, a property or
// array slot, a Map entry. Good to within a small factor, which is what a budget needs.
const OBJECT_BYTES = 16;
const SLOT_BYTES = 8;
const MAP_ENTRY_BYTES = 24;

/**
 * An approximate heap footprint: strings at 2 bytes per UTF-16 code unit plus a header, numbers
 * and booleans one slot; objects, arrays, Maps and Sets a header plus a slot per member plus what
 * the members hold. Shared objects are counted once. It walks the whole value, so it suits values
 * that are set far less often than they are read (credentials, compiled policies).
 */
export function estimateBytes(value: unknown, seen = new Set<object>()): number {
  if (typeof value === 'string') return OBJECT_BYTES + 2 * value.length;
  if (value === null || typeof value !== 'object') return SLOT_BYTES;
  if (seen.has(value)) return 0;
  seen.add(value);
  let total = OBJECT_BYTES;
  if (value instanceof Map) {
    for (const [k, v] of value) total += MAP_ENTRY_BYTES + estimateBytes(k, seen) + estimateBytes(v, seen);
  } else if (value instanceof Set) {
    for (const v of value) total += MAP_ENTRY_BYTES + estimateBytes(v, seen);
  } else if (value instanceof Date) {
    total += SLOT_BYTES;
  } else if (Array.isArray(value)) {
    for (const v of value) total += SLOT_BYTES + estimateBytes(v, seen);
  } else {
    // Property names live in the shared hidden class, so only the slot and the value count.
    for (const v of Object.values(value)) total += SLOT_BYTES + estimateBytes(v, seen);
  }
  return total;
}
