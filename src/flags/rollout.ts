/**
 * The rollout bucket (0–99) of a stable key for a flag: FNV-1a over the UTF-16 code units of
 * `flag:key`, then the murmur3 finaliser so nearby keys ("user-1", "user-2") spread evenly. No
 * allocation, no async crypto: it runs on every evaluation. Including the flag name means a key
 * that is early in one rollout is not early in all of them.
 */
export function rolloutBucket(flag: string, key: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < flag.length; i++) hash = Math.imul(hash ^ flag.charCodeAt(i), 0x01000193);
  hash = Math.imul(hash ^ 0x3a, 0x01000193); // ':'
  for (let i = 0; i < key.length; i++) hash = Math.imul(hash ^ key.charCodeAt(i), 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35);
  hash ^= hash >>> 16;
  return (hash >>> 0) % 100;
}

/** A key is in a rollout of p percent when its bucket is below p: raising p only ever adds keys. */
export function inRollout(flag: string, key: string, percent: number): boolean {
  if (percent >= 100) return true;
  if (percent <= 0) return false;
  return rolloutBucket(flag, key) < percent;
}
