import { describe, expect, it } from 'vitest';
import { createMemoryBucketStore } from './bucket-store';
import { createRateLimiter } from './rate-limiter';
import { refill, takeTokens } from './token-bucket';

function limiterWithClock(rule: { capacity: number; refillPerSecond: number }, maxKeys?: number) {
  const clock = { now: 1_000_000 };
  const store = createMemoryBucketStore({ maxKeys });
  const limiter = createRateLimiter({ name: 'api', rule, store, now: () => clock.now, onStoreFailure: 'open' });
  return { clock, store, limiter };
}

describe('token bucket arithmetic', () => {
  it('starts full, spends one token per take and refuses the take after the burst', async () => {
    const { limiter } = limiterWithClock({ capacity: 3, refillPerSecond: 1 });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take('k'));
    expect(results.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(results[3]).toMatchObject({ limit: 3, retryAfterSeconds: 1, resetSeconds: 3 });
  });

  it('refills with elapsed time on the injected clock, never above capacity', async () => {
    const { clock, limiter } = limiterWithClock({ capacity: 5, refillPerSecond: 2 });
    for (let i = 0; i < 5; i++) await limiter.take('k');
    expect((await limiter.take('k')).allowed).toBe(false);

    clock.now += 1_000;
    expect(await limiter.take('k')).toMatchObject({ allowed: true, remaining: 1 });
    clock.now += 60_000;
    expect(await limiter.take('k')).toMatchObject({ allowed: true, remaining: 4, resetSeconds: 1 });
  });

  it('says how long to wait for a slow refill, and accrues it under a steady stream of refusals', async () => {
    // 10 a minute: one token every 6 s.
    const { clock, limiter } = limiterWithClock({ capacity: 10, refillPerSecond: 10 / 60 });
    for (let i = 0; i < 10; i++) await limiter.take('k');
    const refused = await limiter.take('k');
    expect(refused).toMatchObject({ allowed: false, retryAfterSeconds: 6, resetSeconds: 60 });

    // A request every 5 ms must not reset the refill each time.
    let allowedAt: number | undefined;
    for (let t = 0; t <= 6_100 && allowedAt === undefined; t += 5) {
      clock.now += 5;
      if ((await limiter.take('k')).allowed) allowedAt = t + 5;
    }
    expect(allowedAt).toBeGreaterThanOrEqual(5_995);
    expect(allowedAt).toBeLessThanOrEqual(6_005);
  });

  it('charges a cost of several tokens and refuses a cost above capacity', async () => {
    const { limiter } = limiterWithClock({ capacity: 5, refillPerSecond: 1 });
    expect(await limiter.take('k', 4)).toMatchObject({ allowed: true, remaining: 1 });
    expect(await limiter.take('k', 2)).toMatchObject({ allowed: false, remaining: 1, retryAfterSeconds: 1 });
    await expect(limiter.take('k', 6)).rejects.toThrow(/cost/);
  });

  it('keeps buckets apart by key', async () => {
    const { limiter } = limiterWithClock({ capacity: 1, refillPerSecond: 1 });
    expect((await limiter.take('a')).allowed).toBe(true);
    expect((await limiter.take('a')).allowed).toBe(false);
    expect((await limiter.take('b')).allowed).toBe(true);
  });

  it('refills nothing when the clock goes back', () => {
    const rule = { capacity: 10, refillPerSecond: 1 };
    expect(refill({ tokensMilli: 2_000, updatedMs: 5_000 }, 4_000, rule)).toEqual({
      tokensMilli: 2_000,
      updatedMs: 5_000,
    });
    expect(takeTokens(undefined, 0, rule, 10)).toEqual({ allowed: true, state: { tokensMilli: 0, updatedMs: 0 } });
  });
});

describe('in-process bucket store', () => {
  it('holds at most maxKeys buckets, dropping the least recently used', async () => {
    const { store, limiter } = limiterWithClock({ capacity: 2, refillPerSecond: 1 }, 100);
    for (let i = 0; i < 1_000; i++) await limiter.take(`client-${i}`);
    expect(store.size()).toBe(100);
  });

  it('drops buckets that have refilled, since a full bucket is the same as none', async () => {
    const { clock, store, limiter } = limiterWithClock({ capacity: 2, refillPerSecond: 1 });
    for (let i = 0; i < 100; i++) await limiter.take(`client-${i}`);
    expect(store.size()).toBe(100);
    clock.now += 10_000;
    for (let i = 0; i < 128; i++) await limiter.take('busy');
    expect(store.size()).toBe(1);
  });
});
