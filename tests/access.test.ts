import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PERMISSIONS, type Permission, ROLE_PERMISSIONS, ROLES } from '../src/auth/permissions';
import { createTestApp, type TestApp } from './support/app';
import { backends, type TestDatabase } from './support/databases';

/** Routes anyone may call; everything else must authenticate. */
const PUBLIC = new Set([
  'GET /',
  'GET /health',
  'GET /health/live',
  'GET /health/ready',
  'GET /health/startup',
  'GET /metrics',
  'GET /openapi.json',
]);

describe.each(backends())('access control on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  let routes: { method: string; path: string; permission: Permission | undefined }[];

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
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
      .replace(
        ':id',
        path.startsWith('/api/keys') ? 'key_00000000000000000000000000' : 'dec_00000000000000000000000000',
      );

  it('declares exactly one known permission for every non-public route', () => {
    expect(routes.length).toBeGreaterThan(15);
    for (const route of routes) {
      if (PUBLIC.has(`${route.method} ${route.path}`)) expect(route.permission).toBeUndefined();
      else expect(PERMISSIONS, `${route.method} ${route.path}`).toContain(route.permission);
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
      expect((await t.request(method, path, { key: null })).status, id).toBe(200);
    }
  });

  it.each(ROLES)(
    'gives the %s role exactly the routes its permissions allow: 403 elsewhere, never 401',
    async (role) => {
      for (const route of routes.filter((r) => r.permission)) {
        const res = await t.request(route.method, concrete(route.path), {
          key: t.keys[role],
          body: route.method === 'GET' ? undefined : {},
        });
        const allowed = ROLE_PERMISSIONS[role].has(route.permission as Permission);
        if (allowed) expect([401, 403], `${role} ${route.method} ${route.path}`).not.toContain(res.status);
        else {
          expect(res.status, `${role} ${route.method} ${route.path}`).toBe(403);
          expect(res.body.error.code).toBe('FORBIDDEN');
        }
      }
    },
  );

  it('matches the documented roles: auditors read the ledger and audit, agents decide, admins do everything', () => {
    expect([...ROLE_PERMISSIONS.agent].sort()).toEqual(['decide', 'decisions:verify']);
    expect([...ROLE_PERMISSIONS.auditor].sort()).toEqual([
      'audit:read',
      'decisions:verify',
      'ledger:read',
      'policies:read',
    ]);
    expect([...ROLE_PERMISSIONS.admin].sort()).toEqual([...PERMISSIONS].sort());
  });
});
