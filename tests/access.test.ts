import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Access, PERMISSIONS, type Permission, ROLE_PERMISSIONS, ROLES, type Role } from '../src/auth/permissions';
import { createTestApp, type TestApp } from './support/app';
import { backends, type TestDatabase } from './support/databases';

/** Which id prefix a route's :id takes. */
const ID_PREFIX: [string, string][] = [
  ['/api/keys', 'key'],
  ['/api/users', 'usr'],
];

/** Routes anyone may call; everything else must authenticate. */
const PUBLIC = new Set([
  'GET /',
  'GET /health',
  'GET /health/live',
  'GET /health/ready',
  'GET /health/startup',
  'GET /metrics',
  'GET /openapi.json',
  'POST /api/auth/login',
]);

/** Access every signed-in caller has, whatever the role; `session` only for user sessions. */
const SELF_SERVICE: readonly Access[] = ['authenticated', 'session'];

const PASSWORD = 'a long enough passphrase';

describe.each(backends())('access control on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let routes: { method: string; path: string; permission: Access | undefined }[];

  /** A fresh session for a user of `role` (fresh, so a route that ends it cannot spoil the next). */
  async function sessionOf(role: Role): Promise<string> {
    const res = await t.request('POST', '/api/auth/login', {
      key: null,
      body: { username: `user-${role}`, password: PASSWORD },
    });
    expect(res.status).toBe(200);
    return res.body.token;
  }

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    for (const role of ROLES) {
      await t.services.users.create({ username: `user-${role}`, password: PASSWORD, role, createdBy: 'test' });
    }
    const doc = (await t.request('GET', '/openapi.json', { key: null })).body;
    const seen = new Set<string>();
    routes = [];
    for (const r of t.app.routes) {
      const id = `${r.method} ${r.path}`;
      if (r.method === 'ALL' || seen.has(id)) continue;
      seen.add(id);
      const operation = doc.paths[r.path.replace(/:(\w+)/g, '{$1}')]?.[r.method.toLowerCase()];
      routes.push({ method: r.method, path: r.path, permission: operation?.['x-permission'] });
    }
  });
  afterAll(() => tdb.close());

  const concrete = (path: string) =>
    path
      .replace(':version', '1')
      .replace(':index', '0')
      .replace(':name', 'metrics_detailed')
      .replace(
        ':id',
        `${ID_PREFIX.find(([prefix]) => path.startsWith(prefix))?.[1] ?? 'dec'}_00000000000000000000000000`,
      );

  it('declares exactly one known permission for every non-public route', () => {
    expect(routes.length).toBeGreaterThan(20);
    for (const route of routes) {
      if (PUBLIC.has(`${route.method} ${route.path}`)) expect(route.permission).toBeUndefined();
      else expect([...PERMISSIONS, ...SELF_SERVICE], `${route.method} ${route.path}`).toContain(route.permission);
    }
  });

  it('answers 401 with a Bearer challenge on every non-public route when no key is sent', async () => {
    for (const route of routes.filter((r) => !PUBLIC.has(`${r.method} ${r.path}`))) {
      const res = await t.request(route.method, concrete(route.path), {
        key: null,
        body: route.method === 'GET' ? undefined : {},
      });
      expect(res.status, `${route.method} ${route.path}`).toBe(401);
      expect(res.body.error.code).toBe('UNAUTHENTICATED');
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
    }
  });

  it('answers 401 for malformed, unknown and oversized credentials', async () => {
    for (const authorization of [
      'Basic abc',
      'Bearer',
      'Bearer  ',
      `Bearer ${'x'.repeat(600)}`,
      'Bearer lxk_not-a-real-key',
      t.keys.admin,
    ]) {
      const res = await t.request('GET', '/api/ledger/head', { key: null, headers: { authorization } });
      expect(res.status, authorization.slice(0, 20)).toBe(401);
    }
  });

  it('lets public routes through without a key', async () => {
    for (const id of PUBLIC) {
      const [method, path] = id.split(' ') as [string, string];
      // Login is public but needs a body: a wrong password answers 401 for the password, not for a key.
      const body = path === '/api/auth/login' ? { username: 'user-admin', password: PASSWORD } : undefined;
      expect((await t.request(method, path, { key: null, body })).status, id).toBe(200);
    }
  });

  /** What a caller of `role` must get on `route`: allowed (anything but 401/403) or 403. */
  function expected(role: Role, kind: 'api_key' | 'session', permission: Access): 'allowed' | 403 {
    if (permission === 'authenticated') return 'allowed';
    if (permission === 'session') return kind === 'session' ? 'allowed' : 403;
    return ROLE_PERMISSIONS[role].has(permission as Permission) ? 'allowed' : 403;
  }

  describe.each(['api_key', 'session'] as const)('with %s credentials', (kind) => {
    it.each(ROLES)(
      'gives the %s role exactly the routes its permissions allow: 403 elsewhere, never 401',
      async (role) => {
        for (const route of routes.filter((r) => r.permission)) {
          const key = kind === 'api_key' ? t.keys[role] : await sessionOf(role);
          const res = await t.request(route.method, concrete(route.path), {
            key,
            body: route.method === 'GET' ? undefined : {},
          });
          const id = `${kind} ${role} ${route.method} ${route.path}`;
          if (expected(role, kind, route.permission as Access) === 'allowed') {
            expect([401, 403], id).not.toContain(res.status);
          } else {
            expect(res.status, id).toBe(403);
            expect(res.body.error.code).toBe('FORBIDDEN');
          }
        }
      },
    );
  });

  it('holds a session that owes its MFA code to verify and logout: 401 MFA_REQUIRED everywhere else', async () => {
    const admin = await t.services.users.create({
      username: 'mfa-admin',
      password: PASSWORD,
      role: 'admin',
      createdBy: 'test',
    });
    const user = await t.services.users.get(admin.id);
    await t.services.users.beginMfa(user as NonNullable<typeof user>);
    await tdb.database.db.execute(`update users set mfa_enabled_at = now() where id = '${admin.id}'` as never);
    for (const route of routes.filter((r) => r.permission)) {
      const login = await t.request('POST', '/api/auth/login', {
        key: null,
        body: { username: 'mfa-admin', password: PASSWORD },
      });
      expect(login.body.next).toBe('mfa_verify');
      const res = await t.request(route.method, concrete(route.path), {
        key: login.body.token,
        body: route.method === 'GET' ? undefined : {},
      });
      const id = `${route.method} ${route.path}`;
      if (route.permission === 'session') expect([401, 403], id).not.toContain(res.status);
      else {
        expect(res.status, id).toBe(401);
        expect(res.body.error.code, id).toBe('MFA_REQUIRED');
      }
    }
  });

  it('refuses a revoked key and a logged-out session on every route with 401', async () => {
    const { key, secret } = await t.services.apiKeys.create({ name: 'short-lived', role: 'admin', createdBy: 'test' });
    await t.services.apiKeys.revoke(key.id, 'test');
    const token = await sessionOf('admin');
    expect((await t.request('POST', '/api/auth/logout', { key: token })).status).toBe(200);
    for (const route of routes.filter((r) => r.permission)) {
      for (const credential of [secret, token]) {
        const res = await t.request(route.method, concrete(route.path), {
          key: credential,
          body: route.method === 'GET' ? undefined : {},
        });
        expect(res.status, `${route.method} ${route.path}`).toBe(401);
      }
    }
  });

  it('matches the documented roles: auditors read the ledger and audit, agents decide, admins do everything', () => {
    expect([...ROLE_PERMISSIONS.agent].sort()).toEqual(['decide', 'decisions:verify']);
    expect([...ROLE_PERMISSIONS.auditor].sort()).toEqual([
      'audit:read',
      'decisions:verify',
      'flags:read',
      'ledger:read',
      'policies:read',
    ]);
    expect([...ROLE_PERMISSIONS.admin].sort()).toEqual([...PERMISSIONS].sort());
  });
});
