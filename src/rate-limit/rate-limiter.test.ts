import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import type { Db } from '../db/client';
import { createMemoryBucketStore, createPostgresBucketStore } from './bucket-store';
import { createRateLimiter } from './rate-limiter';

describe('in-process store under concurrency', () => {
  it('allows exactly 10 of 50 parallel takes on a bucket of 10', async () => {
    const limiter = createRateLimiter({
      name: 'login',
      rule: { capacity: 10, refillPerSecond: 10 / 60 },
      store: createMemoryBucketStore(),
      onStoreFailure: 'closed',
    });
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.take('203.0.113.9')));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
  });
});

describe.each(backends())('shared bucket store on $name', (backend) => {
  let tdb: TestDatabase;
  const clock = { now: 1_700_000_000_000 };

  beforeEach(async () => {
    tdb = await backend.open();
  });
  afterEach(() => tdb.close());

  const sharedLimiter = (db: Db, capacity = 10, refillPerSecond = 1) =>
    createRateLimiter({
      name: 'login',
      rule: { capacity, refillPerSecond },
      store: createPostgresBucketStore({ db }),
      now: () => clock.now,
      onStoreFailure: 'closed',
    });

  it('does the same bucket arithmetic as the in-process store, in one statement', async () => {
    const limiter = sharedLimiter(tdb.database.db, 3, 1);
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await limiter.take('k'));
    expect(results.map((r) => [r.allowed, r.remaining])).toEqual([
      [true, 2],
      [true, 1],
      [true, 0],
      [false, 0],
    ]);
    expect(results[3]).toMatchObject({ retryAfterSeconds: 1, resetSeconds: 3 });
    clock.now += 1_500;
    expect(await limiter.take('k')).toMatchObject({ allowed: true, remaining: 0 });
    clock.now += 500;
    expect(await limiter.take('k')).toMatchObject({ allowed: true, remaining: 0 });
    clock.now += 60_000;
    expect(await limiter.take('k')).toMatchObject({ allowed: true, remaining: 2 });
  });

  it('stores only a hash of the key', async () => {
    await sharedLimiter(tdb.database.db).take('203.0.113.9');
    const rows = await tdb.superuser('select key from rate_limit_buckets');
    expect(rows).toEqual([{ key: expect.stringMatching(/^login:[0-9a-f]{32}$/) }]);
  });

  it('allows exactly 10 of 50 parallel takes on a bucket of 10, without losing an update', async () => {
    const limiter = sharedLimiter(tdb.database.db, 10, 0.001);
    const results = await Promise.all(Array.from({ length: 50 }, () => limiter.take('203.0.113.9')));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    const [row] = await tdb.superuser('select tokens_milli from rate_limit_buckets');
    expect(Number(row?.tokens_milli)).toBe(0);
  });

  it('holds one limit across two instances on the same database', async () => {
    const second = await tdb.openInstance();
    const a = sharedLimiter(tdb.database.db, 10, 0.001);
    const b = sharedLimiter(second.db, 10, 0.001);
    const results = await Promise.all(Array.from({ length: 30 }, (_, i) => (i % 2 ? a : b).take('198.51.100.4')));
    expect(results.filter((r) => r.allowed)).toHaveLength(10);
    expect((await a.take('198.51.100.4')).allowed).toBe(false);
    expect((await b.take('198.51.100.4')).allowed).toBe(false);
  });

  it('prunes rows that have refilled', async () => {
    const store = createPostgresBucketStore({ db: tdb.database.db, pruneEveryMs: 1_000 });
    const limiter = createRateLimiter({
      name: 'mfa',
      rule: { capacity: 2, refillPerSecond: 1 },
      store,
      now: () => clock.now,
      onStoreFailure: 'closed',
    });
    for (let i = 0; i < 20; i++) await limiter.take(`client-${i}`);
    clock.now += 5_000;
    await limiter.take('late');
    await expect
      .poll(async () => (await tdb.superuser('select count(*)::int as n from rate_limit_buckets'))[0]?.n)
      .toBe(1);
  });

  it('fails closed with 503 for a brute-force limiter and open for the API limiter when the store fails', async () => {
    const broken = {
      take: async () => {
        throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      },
    };
    const errors: unknown[] = [];
    const login = createRateLimiter({
      name: 'login',
      rule: { capacity: 1, refillPerSecond: 1 },
      store: broken,
      onStoreFailure: 'closed',
    });
    const api = createRateLimiter({
      name: 'api',
      rule: { capacity: 1, refillPerSecond: 1 },
      store: broken,
      onStoreFailure: 'open',
      onStoreError: (err) => errors.push(err),
    });
    await expect(login.take('k')).rejects.toMatchObject({ code: 'DATABASE_UNAVAILABLE', status: 503 });
    expect(await api.take('k')).toMatchObject({ allowed: true });
    expect(errors).toHaveLength(1);
  });
});
