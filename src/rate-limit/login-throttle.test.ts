import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { createLoginThrottle } from './login-throttle';

describe.each(backends())('login throttle on $name', (backend) => {
  let tdb: TestDatabase;
  let clock: { now: number };

  beforeAll(async () => {
    tdb = await backend.open();
  });
  beforeEach(async () => {
    await tdb.superuser('delete from login_failures');
    clock = { now: 1_700_000_000_000 };
  });
  afterAll(() => tdb.close());

  describe.each(['memory', 'postgres'] as const)('with the %s store', (store) => {
    const throttle = () => createLoginThrottle({ store, db: tdb.database.db, now: () => clock.now });
    const fail = async (t: ReturnType<typeof throttle>, times: number, user = 'alice', ip = '203.0.113.9') => {
      for (let i = 0; i < times; i++) await t.failed(user, ip);
    };

    it('lets the first three failures through, then doubles the wait up to a cap', async () => {
      const t = throttle();
      await fail(t, 3);
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: true });
      const waits: number[] = [];
      for (let i = 0; i < 12; i++) {
        await fail(t, 1);
        const verdict = await t.check('alice', '203.0.113.9');
        waits.push(verdict.allowed ? 0 : verdict.retryAfterSeconds);
      }
      expect(waits).toEqual([1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    });

    it('allows the next try once the wait has passed, and forgets after a quiet window', async () => {
      const t = throttle();
      await fail(t, 6);
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: false, retryAfterSeconds: 4 });
      clock.now += 4_000;
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: true });
      clock.now += 15 * 60_000;
      await fail(t, 1);
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: true });
    });

    it('clears on success', async () => {
      const t = throttle();
      await fail(t, 8);
      await t.succeeded('alice', '203.0.113.9');
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: true });
    });

    it('never lets failures from another address delay the real user', async () => {
      const t = throttle();
      await fail(t, 50, 'alice', '198.51.100.66');
      expect((await t.check('alice', '198.51.100.66')).allowed).toBe(false);
      expect(await t.check('alice', '203.0.113.9')).toEqual({ allowed: true });
      expect(await t.check('bob', '198.51.100.66')).toEqual({ allowed: true });
    });

    it('counts one IPv6 /64 as one source', async () => {
      const t = throttle();
      await fail(t, 5, 'alice', '2001:db8:1:1::5');
      expect((await t.check('alice', '2001:db8:1:1:ffff::9')).allowed).toBe(false);
      expect(await t.check('alice', '2001:db8:1:2::5')).toEqual({ allowed: true });
    });

    it('treats the account name case-insensitively', async () => {
      const t = throttle();
      await fail(t, 5, 'Alice');
      expect((await t.check(' alice', '203.0.113.9')).allowed).toBe(false);
    });
  });

  it('counts concurrent failures from two instances in the shared store', async () => {
    const second = await tdb.openInstance();
    const a = createLoginThrottle({ store: 'postgres', db: tdb.database.db, now: () => clock.now });
    const b = createLoginThrottle({ store: 'postgres', db: second.db, now: () => clock.now });
    await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).failed('alice', '203.0.113.9')));
    expect(await a.check('alice', '203.0.113.9')).toEqual({ allowed: false, retryAfterSeconds: 16 });
    const rows = await tdb.superuser('select key, failures from login_failures');
    expect(rows).toEqual([{ key: expect.stringMatching(/^[0-9a-f]{32}$/), failures: 8 }]);
  });
});
