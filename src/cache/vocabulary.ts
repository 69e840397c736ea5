/**
 * The caches and why entries leave them, as closed lists: the metric labels of src/telemetry are
 * built from them. This file imports nothing, so telemetry can import it without an import circle.
 */
export const CACHE_NAMES = ['api_keys', 'sessions', 'policy'] as const;
export type CacheName = (typeof CACHE_NAMES)[number];

export const EVICTION_REASONS = ['capacity', 'expired', 'invalidated'] as const;
export type EvictionReason = (typeof EVICTION_REASONS)[number];
