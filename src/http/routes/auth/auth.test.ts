import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  createTestApp,
  createTestMetrics,
  decisionRequest,
  samplePolicy,
  type TestApp,
  type TestAppOptions,
  type TestMetrics,
} from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { createHashingCapacity } from '../../../auth/hashing-capacity';
import { createPasswordHasher, nobleScrypt, type Scrypt } from '../../../auth/password';
import { fromBase32, timeStep, totpAt } from '../../../auth/totp';
import { sha256Hex } from '../../../ledger/crypto';

const PASSWORD = 'a long enough passphrase';
/** How long vi.waitFor polls: generous, for a machine loaded at twice its cores. */
const EVENTUALLY = { timeout: 20_000 };

/** A clock the test moves; sessions and TOTP read it. */
function testClock(start = Date.parse('2026-11-27T12:00:00Z')) {
  let now = start;
  return { now: () => now, advance: (ms: number) => void (now += ms) };
}

/** The value of one sample line of the exposition, 0 when absent. */
function sample(exposition: string, name: string, labels: Record<string, string> = {}): number {
  const wanted = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const line of exposition.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (wanted.every((pair) => line.includes(pair))) return Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return 0;
}

/** A KDF the test can hold: while held, every hash waits until released (then computes for real). */
function gatedScrypt() {
  const held: (() => void)[] = [];
  let holding = false;
  const scrypt: Scrypt = async (...args) => {
    if (holding) await new Promise<void>((resolve) => held.push(resolve));
    return nobleScrypt(...args);
  };
  return {
    scrypt,
    hold: () => void (holding = true),
    release() {
      holding = false;
      for (const resolve of held.splice(0)) resolve();
    },
    waiting: () => held.length,
  };
}

describe.each(backends())('users, sessions and MFA on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let metrics: TestMetrics;
  let clock: ReturnType<typeof testClock>;

  async function start(options: TestAppOptions['services'] = {}) {
    metrics = createTestMetrics();
    clock = testClock();
    t = await createTestApp(tdb.database, {
      metrics,
      services: {
        now: () => clock.now(),
        sessions: { idleMs: 30 * 60_000, maxAgeMs: 8 * 3_600_000, pendingMs: 5 * 60_000 },
        ...options,
      },
    });
  }

  beforeEach(async () => {
    tdb = await backend.open();
  });
  afterEach(() => tdb.close());

  const createUser = (username: string, role = 'auditor', password = PASSWORD) =>
    t.request('POST', '/api/users', { body: { username, password, role } });
  const login = (username: string, password = PASSWORD) =>
    t.request('POST', '/api/auth/login', { key: null, body: { username, password } });
  const ledgerEvents = async (type: string) =>
    (await t.request('GET', `/api/ledger/entries?event_type=${type}&limit=500`)).body.entries;

  /** Enrolls MFA for a signed-in user; returns the TOTP secret and backup codes. */
  async function enroll(token: string) {
    const begun = await t.request('POST', '/api/auth/mfa/enroll', { key: token });
    expect(begun.status).toBe(200);
    const secret = fromBase32(begun.body.secret);
    const confirmed = await t.request('POST', '/api/auth/mfa/confirm', {
      key: token,
      body: { code: totpAt(secret, timeStep(clock.now())) },
    });
    expect(confirmed.status).toBe(200);
    return { secret, backupCodes: confirmed.body.backup_codes as string[], uri: begun.body.otpauth_uri as string };
  }

  describe('passwords and sessions', () => {
    beforeEach(() => start());

    it('signs a user in with a session token that works as Bearer credentials for what the role allows', async () => {
      expect((await createUser('alice', 'auditor')).status).toBe(201);
      const res = await login('Alice');
      expect(res.status).toBe(200);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.body).toEqual({
        token: expect.stringMatching(/^lxs_[A-Za-z0-9_-]{43}$/),
        session: {
          id: expect.stringMatching(/^ses_/),
          state: 'active',
          expires_at: new Date(clock.now() + 8 * 3_600_000).toISOString(),
        },
        user: { id: expect.stringMatching(/^usr_/), username: 'alice', role: 'auditor' },
        next: 'none',
      });
      const token = res.body.token;
      const me = await t.request('GET', '/api/auth/me', { key: token });
      expect(me.body).toEqual({
        kind: 'session',
        id: res.body.session.id,
        name: 'alice',
        role: 'auditor',
        user_id: res.body.user.id,
      });
      expect((await t.request('GET', '/api/ledger/head', { key: token })).status).toBe(200);
      expect((await t.request('POST', '/api/decide', { key: token, body: decisionRequest() })).status).toBe(403);
      expect((await t.request('GET', '/api/users', { key: token })).status).toBe(403);
    });

    it('stores the password only as a salted scrypt hash and the session only as a SHA-256', async () => {
      await createUser('alice');
      const { token } = (await login('alice')).body;
      const rows = await tdb.database.db.execute(
        'select u.password_hash, s.token_hash from users u join sessions s on s.user_id = u.id' as never,
      );
      const [row] = ((rows as unknown as { rows?: unknown[] }).rows ?? rows) as {
        password_hash: string;
        token_hash: string;
      }[];
      expect(row?.password_hash).toMatch(/^\$scrypt\$ln=\d+,r=8,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
      expect(row?.password_hash).not.toContain(PASSWORD);
      expect(row?.token_hash).toBe(await sha256Hex(token));
    });

    it('answers a wrong password and an unknown user alike, counts both and records them in the ledger', async () => {
      await createUser('alice');
      const wrong = await login('alice', 'not the passphrase at all');
      const unknown = await login('mallory');
      for (const res of [wrong, unknown]) {
        expect(res.status).toBe(401);
        expect(res.body.error).toMatchObject({ code: 'UNAUTHENTICATED', message: 'The username or password is wrong' });
      }
      const exposition = await metrics.render();
      expect(
        sample(exposition, 'lexecon_auth_failures_total', { method: 'password', reason: 'invalid_credentials' }),
      ).toBe(2);
      expect(sample(exposition, 'lexecon_auth_attempts_total', { method: 'password', result: 'failure' })).toBe(2);
      const failed = await ledgerEvents('login_failed');
      expect(failed.map((e: { data: { user_id: string | null } }) => e.data.user_id)).toEqual([
        expect.stringMatching(/^usr_/),
        null,
      ]);
      // Guessed usernames and passwords never reach the ledger.
      const text = JSON.stringify(failed);
      expect(text).not.toContain('mallory');
      expect(text).not.toContain('not the passphrase');
    });

    it('refuses weak passwords, taken usernames and malformed ones with 400/409 listing the problem', async () => {
      const weak = await createUser('bob', 'agent', 'short');
      expect(weak.status).toBe(400);
      expect(weak.body.error.details.problems).toEqual([
        { path: 'password', message: 'must be at least 12 characters' },
      ]);
      expect((await createUser('bob', 'agent', 'bob-bob-bob-bob-bob')).body.error.details.problems[0].message).toBe(
        'must not contain the username',
      );
      expect((await createUser('bob', 'agent')).status).toBe(201);
      const taken = await createUser('BOB', 'agent');
      expect(taken.status).toBe(409);
      expect((await createUser('no spaces allowed', 'agent')).status).toBe(400);
      expect((await createUser('carol', 'root')).status).toBe(400);
    });

    it('lists users without password hashes or MFA secrets', async () => {
      await createUser('alice');
      const list = await t.request('GET', '/api/users');
      expect(list.status).toBe(200);
      expect(list.body.users).toEqual([
        {
          id: expect.stringMatching(/^usr_/),
          username: 'alice',
          role: 'auditor',
          created_at: expect.any(String),
          created_by: expect.stringMatching(/^key_/),
          disabled_at: null,
          mfa_enabled: false,
        },
      ]);
      expect(JSON.stringify(list.body)).not.toContain('scrypt');
    });

    it('ends a session at logout: the token is refused at once and the session duration is recorded', async () => {
      await createUser('alice');
      const { token } = (await login('alice')).body;
      expect((await t.request('GET', '/api/auth/me', { key: token })).status).toBe(200);
      clock.advance(90_000);
      expect((await t.request('POST', '/api/auth/logout', { key: token })).body).toEqual({ ended: true });
      const after = await t.request('GET', '/api/auth/me', { key: token });
      expect(after.status).toBe(401);
      expect(after.body.error.message).toBe('The session has ended');
      const exposition = await metrics.render();
      expect(sample(exposition, 'lexecon_session_duration_seconds_count', { reason: 'logout' })).toBe(1);
      expect(sample(exposition, 'lexecon_session_duration_seconds_sum', { reason: 'logout' })).toBe(90);
      expect(await ledgerEvents('logout')).toHaveLength(1);
    });

    it('ends a session after its idle timeout and after its absolute lifetime', async () => {
      await createUser('alice');
      const idle = (await login('alice')).body.token;
      clock.advance(31 * 60_000);
      expect((await t.request('GET', '/api/auth/me', { key: idle })).body.error.message).toBe(
        'The session has expired',
      );

      const busy = (await login('alice')).body.token;
      // 16 × 29 min = 7 h 44 min: never idle, still within its 8 hours; 29 more minutes pass them.
      for (let i = 0; i < 16; i++) {
        clock.advance(29 * 60_000);
        expect((await t.request('GET', '/api/auth/me', { key: busy })).status).toBe(200);
      }
      clock.advance(29 * 60_000);
      expect((await t.request('GET', '/api/auth/me', { key: busy })).status).toBe(401);
    });

    it('counts live sessions from the database: login adds one, logout and expiry take it away', async () => {
      await createUser('alice');
      await createUser('bob');
      const active = async () => sample(await metrics.render(), 'lexecon_active_sessions');
      expect(await active()).toBe(0);
      const a = (await login('alice')).body.token;
      await login('bob');
      expect(await active()).toBe(2);
      await t.request('POST', '/api/auth/logout', { key: a });
      expect(await active()).toBe(1);
      clock.advance(31 * 60_000);
      expect(await active()).toBe(0);
    });

    it('disables a user: login refused and every session they hold refused at once, even one just served from cache', async () => {
      const alice = (await createUser('alice')).body.user;
      const { token } = (await login('alice')).body;
      expect((await t.request('GET', '/api/auth/me', { key: token })).status).toBe(200);
      const disabled = await t.request('POST', `/api/users/${alice.id}/disable`);
      expect(disabled.status).toBe(200);
      expect(disabled.body.user.disabled_at).toEqual(expect.any(String));
      expect((await t.request('GET', '/api/auth/me', { key: token })).status).toBe(401);
      expect((await login('alice')).status).toBe(401);
      expect(await ledgerEvents('user_disabled')).toHaveLength(1);
      expect((await t.request('POST', '/api/users/usr_00000000000000000000000000/disable')).status).toBe(404);
    });

    it('lets only admins manage users', async () => {
      for (const key of [t.keys.auditor, t.keys.agent]) {
        expect((await t.request('GET', '/api/users', { key })).status).toBe(403);
        expect(
          (
            await t.request('POST', '/api/users', {
              key,
              body: { username: 'x-user', password: PASSWORD, role: 'agent' },
            })
          ).status,
        ).toBe(403);
      }
      expect((await t.request('GET', '/api/users', { key: null })).status).toBe(401);
    });

    it('creates the bootstrap admin only when no user exists', async () => {
      expect(await t.services.users.ensureBootstrapAdmin('root-admin', PASSWORD)).toBe('created');
      expect(await t.services.users.ensureBootstrapAdmin('other-admin', PASSWORD)).toBe('users_exist');
      const res = await login('root-admin');
      expect(res.body.user.role).toBe('admin');
      expect((await t.request('GET', '/api/users', { key: res.body.token })).status).toBe(200);
    });
  });

  describe('TOTP MFA', () => {
    beforeEach(() => start());

    it('enrolls with an otpauth:// URI, then sign-in holds a pending session that can only verify or log out', async () => {
      await createUser('alice', 'admin');
      const first = (await login('alice')).body.token;
      const { secret, uri } = await enroll(first);
      expect(uri).toMatch(/^otpauth:\/\/totp\/Lexecon:alice\?secret=[A-Z2-7]+&issuer=Lexecon/);

      clock.advance(60_000);
      const res = await login('alice');
      expect(res.body.next).toBe('mfa_verify');
      expect(res.body.session.state).toBe('pending');
      const pending = res.body.token;
      for (const [method, path, body] of [
        ['GET', '/api/auth/me', undefined],
        ['GET', '/api/users', undefined],
        ['POST', '/api/decide', decisionRequest()],
        ['POST', '/api/policies', samplePolicy],
        ['GET', '/api/ledger/head', undefined],
      ] as const) {
        const refused = await t.request(method, path, { key: pending, body });
        expect(refused.status).toBe(401);
        expect(refused.body.error.code).toBe('MFA_REQUIRED');
      }
      // Not even re-enrolling, which would replace the second factor with the attacker's.
      expect((await t.request('POST', '/api/auth/mfa/enroll', { key: pending })).status).toBe(409);

      const wrong = await t.request('POST', '/api/auth/mfa/verify', { key: pending, body: { code: '000000' } });
      expect(wrong.status).toBe(401);
      const code = totpAt(secret, timeStep(clock.now()));
      const ok = await t.request('POST', '/api/auth/mfa/verify', { key: pending, body: { code } });
      expect(ok.status).toBe(200);
      expect(ok.body.session.state).toBe('active');
      expect((await t.request('GET', '/api/users', { key: pending })).status).toBe(200);

      const exposition = await metrics.render();
      expect(sample(exposition, 'lexecon_mfa_challenges_total', { method: 'totp' })).toBe(2);
      expect(sample(exposition, 'lexecon_mfa_verifications_total', { result: 'success' })).toBe(2);
      expect(sample(exposition, 'lexecon_mfa_verifications_total', { result: 'invalid_code' })).toBe(1);
      expect(await ledgerEvents('mfa_enrolled')).toHaveLength(1);
      expect(await ledgerEvents('mfa_failed')).toHaveLength(1);
      expect(await ledgerEvents('mfa_verified')).toHaveLength(1);
    });

    it('accepts a code once: the same code in another sign-in is refused as replayed', async () => {
      await createUser('alice', 'auditor');
      const { secret } = await enroll((await login('alice')).body.token);
      clock.advance(60_000);
      const code = totpAt(secret, timeStep(clock.now()));
      const one = (await login('alice')).body.token;
      const two = (await login('alice')).body.token;
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: one, body: { code } })).status).toBe(200);
      const replay = await t.request('POST', '/api/auth/mfa/verify', { key: two, body: { code } });
      expect(replay.status).toBe(401);
      expect(replay.body.error.message).toMatch(/already been used/);
      expect(sample(await metrics.render(), 'lexecon_mfa_verifications_total', { result: 'replayed' })).toBe(1);
      // The previous step's code is older than the one accepted: also refused.
      const older = totpAt(secret, timeStep(clock.now()) - 1);
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: two, body: { code: older } })).status).toBe(401);
      // The next step's code works.
      clock.advance(30_000);
      const next = totpAt(secret, timeStep(clock.now()));
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: two, body: { code: next } })).status).toBe(200);
    });

    it('lets two concurrent uses of one code succeed at most once', async () => {
      await createUser('alice', 'auditor');
      const { secret } = await enroll((await login('alice')).body.token);
      clock.advance(60_000);
      const tokens = await Promise.all(Array.from({ length: 6 }, async () => (await login('alice')).body.token));
      const code = totpAt(secret, timeStep(clock.now()));
      const answers = await Promise.all(
        tokens.map((key) => t.request('POST', '/api/auth/mfa/verify', { key, body: { code } })),
      );
      expect(answers.filter((a) => a.status === 200)).toHaveLength(1);
    });

    it('accepts each backup code once', async () => {
      await createUser('alice', 'auditor');
      const { backupCodes } = await enroll((await login('alice')).body.token);
      expect(backupCodes).toHaveLength(10);
      expect(new Set(backupCodes).size).toBe(10);
      for (const code of backupCodes) expect(code).toMatch(/^[a-z0-9]{5}-[a-z0-9]{5}$/);
      const one = (await login('alice')).body.token;
      const two = (await login('alice')).body.token;
      const [code] = backupCodes as [string];
      expect(
        (await t.request('POST', '/api/auth/mfa/verify', { key: one, body: { code: code.toUpperCase() } })).status,
      ).toBe(200);
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: two, body: { code } })).status).toBe(401);
      expect(sample(await metrics.render(), 'lexecon_mfa_verifications_total', { result: 'backup_code' })).toBe(1);
    });

    it('ends a pending session after five minutes', async () => {
      await createUser('alice', 'auditor');
      const { secret } = await enroll((await login('alice')).body.token);
      const pending = (await login('alice')).body.token;
      clock.advance(5 * 60_000 + 1);
      const code = totpAt(secret, timeStep(clock.now()));
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: pending, body: { code } })).status).toBe(401);
    });

    it('lets a pending session log out', async () => {
      await createUser('alice', 'auditor');
      await enroll((await login('alice')).body.token);
      const pending = (await login('alice')).body.token;
      expect((await t.request('POST', '/api/auth/logout', { key: pending })).status).toBe(200);
      expect((await t.request('POST', '/api/auth/mfa/verify', { key: pending, body: { code: '123456' } })).status).toBe(
        401,
      );
    });

    it('refuses MFA routes and logout to API keys: they have no session', async () => {
      for (const path of ['/api/auth/logout', '/api/auth/mfa/enroll']) {
        expect((await t.request('POST', path)).status).toBe(403);
      }
    });
  });

  describe('when the instance hashes as many passwords as it can', () => {
    const kdf = gatedScrypt();
    let capacity: ReturnType<typeof createHashingCapacity>;
    beforeEach(() => {
      capacity = createHashingCapacity({ inFlight: 1, queued: 1 });
      return start({ passwords: createPasswordHasher(kdf.scrypt, { ln: 10, r: 8, p: 1 }, capacity) });
    });
    afterEach(() => kdf.release());

    it('refuses further sign-ins and user creation at once with 429 and Retry-After, the same for every name, counted as password_hashing', async () => {
      await createUser('alice');
      kdf.hold();
      const hashing = login('alice');
      const waiting = login('nobody-at-all');
      // One hashing, one waiting for its turn: the line is full.
      await vi.waitFor(() => expect(capacity.usage()).toEqual({ places: 2, running: 1 }), EVENTUALLY);
      expect(kdf.waiting()).toBe(1);

      const refused = [await login('alice'), await login('ghost-user'), await createUser('bob')];
      for (const res of refused) {
        expect(res.status).toBe(429);
        expect(res.body.error).toMatchObject({
          code: 'RATE_LIMITED',
          details: { retry_after_seconds: expect.any(Number) },
        });
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      // A known name and an unknown one get the same answer: nothing was looked up.
      expect(refused[0]?.body.error.message).toBe(refused[1]?.body.error.message);
      expect(sample(await metrics.render(), 'lexecon_rate_limit_hits_total', { limiter: 'password_hashing' })).toBe(3);

      kdf.release();
      expect((await hashing).status).toBe(200);
      expect((await waiting).status).toBe(401);
      // Only the sign-ins that were checked reached the ledger and the auth metrics.
      expect(await ledgerEvents('login_failed')).toHaveLength(1);
      const exposition = await metrics.render();
      for (const result of ['success', 'failure']) {
        expect(sample(exposition, 'lexecon_auth_attempts_total', { method: 'password', result })).toBe(1);
      }
      expect((await t.request('GET', '/api/users')).body.users.map((u: { username: string }) => u.username)).toEqual([
        'alice',
      ]);
      expect((await createUser('bob')).status).toBe(201);
    });
  });

  describe('with LEXECON_REQUIRE_MFA_FOR_ADMIN', () => {
    beforeEach(() => start({ requireMfaForAdmin: true }));

    it('holds an admin without MFA in a pending session until enrollment is confirmed', async () => {
      await createUser('root', 'admin');
      const res = await login('root');
      expect(res.body.next).toBe('mfa_enroll');
      const token = res.body.token;
      expect((await t.request('GET', '/api/users', { key: token })).body.error.code).toBe('MFA_REQUIRED');
      await enroll(token);
      expect((await t.request('GET', '/api/users', { key: token })).status).toBe(200);
    });

    it('does not ask it of other roles', async () => {
      await createUser('alice', 'auditor');
      expect((await login('alice')).body.next).toBe('none');
    });
  });

  describe('under brute force', () => {
    const fromAddress = (address: string) => ({ 'x-test-client': address });

    beforeEach(async () => {
      metrics = createTestMetrics();
      clock = testClock();
      t = await createTestApp(tdb.database, {
        metrics,
        // The test says where each request comes from, as a socket peer would.
        settings: { clientIp: (c) => c.req.header('x-test-client') ?? 'unknown' },
        services: {
          now: () => clock.now(),
          rateLimits: {
            store: 'postgres',
            loginPerMinute: 5,
            loginInstancePerSecond: 1,
            loginInstanceBurst: 8,
            mfaPerMinute: 3,
            apiPerSecond: 1_000,
            apiBurst: 1_000,
          },
        },
      });
    });

    const attempt = (password: string, address: string, username = 'alice') =>
      t.request('POST', '/api/auth/login', { key: null, body: { username, password }, headers: fromAddress(address) });

    it('ends a burst of guesses from one address in 429s with Retry-After and RateLimit headers, counted by limiter', async () => {
      await createUser('alice');
      const answers = [];
      for (let i = 0; i < 8; i++) answers.push(await attempt(`guess number ${i}`, '203.0.113.7'));
      const statuses = answers.map((a) => a.status);
      expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
      expect(statuses.slice(5)).toEqual([429, 429, 429]);
      const last = answers.at(-1) as (typeof answers)[number];
      expect(last.body.error.code).toBe('RATE_LIMITED');
      expect(Number(last.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(last.headers.get('ratelimit-limit')).toBe('5');
      expect(last.headers.get('ratelimit-remaining')).toBe('0');
      const exposition = await metrics.render();
      expect(sample(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login' })).toBe(3);
      expect(exposition).not.toContain('203.0.113.7');
      // The right password from the same address is refused too while the bucket is empty.
      expect((await attempt(PASSWORD, '203.0.113.7')).status).toBe(429);
    });

    it('slows down one account from one address without locking the user out from elsewhere or for ever', async () => {
      await createUser('alice');
      for (let i = 0; i < 4; i++) await attempt(`guess number ${i}`, '203.0.113.7');
      // After three failures the account waits before its next try from that address…
      const delayed = await attempt(PASSWORD, '203.0.113.7');
      expect(delayed.status).toBe(429);
      expect(Number(delayed.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(
        sample(await metrics.render(), 'lexecon_auth_failures_total', { method: 'password', reason: 'throttled' }),
      ).toBe(1);
      // …while the real user signs in from their own address at once…
      expect((await attempt(PASSWORD, '198.51.100.20')).status).toBe(200);
      // …and the delay runs out.
      clock.advance(6 * 60_000);
      expect((await attempt(PASSWORD, '203.0.113.7')).status).toBe(200);
    });

    it('ends a flood from many addresses, each inside its own limit, in 429s once the instance-wide budget is spent', async () => {
      const answers = [];
      for (let i = 0; i < 10; i++)
        answers.push(await attempt('a guessed passphrase', `198.51.100.${i + 1}`, `guess${i}`));
      expect(answers.map((a) => a.status)).toEqual([401, 401, 401, 401, 401, 401, 401, 401, 429, 429]);
      const last = answers.at(-1) as (typeof answers)[number];
      expect(last.body.error.code).toBe('RATE_LIMITED');
      expect(last.headers.get('retry-after')).toBe('1');
      expect(last.headers.get('ratelimit-limit')).toBe('8');
      expect(last.headers.get('ratelimit-remaining')).toBe('0');
      expect(last.headers.get('ratelimit-policy')).toBe('8;w=8');
      // While it lasts, the headers describe whichever limit is closer to refusing: here the address's own.
      expect(answers[0]?.headers.get('ratelimit-limit')).toBe('5');
      expect(answers[7]?.headers.get('ratelimit-limit')).toBe('8');
      const exposition = await metrics.render();
      expect(sample(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login_instance' })).toBe(2);
      expect(sample(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login' })).toBe(0);
      // Refused before any hash: only the eight checked sign-ins count as attempts.
      expect(sample(exposition, 'lexecon_auth_attempts_total', { method: 'password', result: 'failure' })).toBe(8);
      // The budget refills with time.
      clock.advance(1_000);
      expect((await attempt('a guessed passphrase', '198.51.100.99', 'guess99')).status).toBe(401);
    });

    it('limits MFA codes per address, so six digits cannot be walked', async () => {
      await createUser('alice');
      const token = (await attempt(PASSWORD, '198.51.100.20')).body.token;
      await enroll(token);
      const pending = (await attempt(PASSWORD, '203.0.113.7')).body.token;
      const statuses = [];
      for (let i = 0; i < 5; i++) {
        const res = await t.request('POST', '/api/auth/mfa/verify', {
          key: pending,
          body: { code: String(100000 + i) },
          headers: fromAddress('203.0.113.7'),
        });
        statuses.push(res.status);
      }
      expect(statuses).toEqual([401, 401, 401, 429, 429]);
      expect(sample(await metrics.render(), 'lexecon_rate_limit_hits_total', { limiter: 'mfa' })).toBe(2);
    });
  });
});
