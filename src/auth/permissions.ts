/** Roles and what they may do: the one table every route's permission is checked against. */
export const ROLES = ['admin', 'auditor', 'agent'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  'decide',
  'decisions:verify',
  'policies:read',
  'policies:write',
  'ledger:read',
  'audit:read',
  'keys:manage',
  'users:manage',
  'flags:read',
  'flags:write',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  auditor: new Set(['decisions:verify', 'policies:read', 'ledger:read', 'audit:read', 'flags:read']),
  agent: new Set(['decide', 'decisions:verify']),
};

/**
 * What a route requires besides a role's permission: any signed-in caller (`authenticated`), or a
 * user session, which may still be waiting for its MFA code (`session`, for verify and logout only).
 */
export type Access = Permission | 'authenticated' | 'session';

/** Who is calling: an API key, or a user's session. */
export type Principal =
  | { kind: 'api_key'; id: string; name: string; role: Role }
  | {
      kind: 'session';
      /** The session id (what rate limits and logout act on). */
      id: string;
      /** The username. */
      name: string;
      role: Role;
      userId: string;
      /** Password accepted, MFA not yet: the session can only verify a code or log out. */
      pending: boolean;
    };

export function can(principal: Principal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.role].has(permission);
}
