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
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLE_PERMISSIONS: Record<Role, ReadonlySet<Permission>> = {
  admin: new Set(PERMISSIONS),
  auditor: new Set(['decisions:verify', 'policies:read', 'ledger:read', 'audit:read']),
  agent: new Set(['decide', 'decisions:verify']),
};

/** Who is calling. Sessions (users) will be a second kind next to API keys. */
export interface Principal {
  kind: 'api_key';
  id: string;
  name: string;
  role: Role;
}

export function can(principal: Principal, permission: Permission): boolean {
  return ROLE_PERMISSIONS[principal.role].has(permission);
}
