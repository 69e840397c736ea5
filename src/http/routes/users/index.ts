import { z } from '@hono/zod-openapi';
import { passwordProblem } from '../../../auth/password';
import { ROLES } from '../../../auth/permissions';
import { AppError } from '../../../errors';
import { Username } from '../auth';
import { createRouter, defineRoute } from '../router';
import { errorContent, IdParam, json } from '../schemas';

const UserSchema = z
  .object({
    id: z.string(),
    username: z.string(),
    role: z.enum(ROLES),
    created_at: z.string(),
    created_by: z.string(),
    disabled_at: z.string().nullable(),
    mfa_enabled: z.boolean(),
  })
  .openapi('User');

const create = defineRoute({
  method: 'post',
  path: '/',
  operationId: 'createUser',
  permission: 'users:manage',
  summary: 'Create a user',
  tags: ['users'],
  request: {
    body: {
      required: true,
      content: {
        'application/json': {
          schema: z
            .strictObject({ username: Username, password: z.string().max(1024), role: z.enum(ROLES) })
            .openapi('UserRequest', {
              example: { username: 'alice', password: 'correct horse battery', role: 'auditor' },
            }),
        },
      },
    },
  },
  responses: {
    201: json(z.object({ user: UserSchema }), 'Created'),
    409: errorContent('The username is taken (CONFLICT)'),
    429: errorContent('Password hashing on this instance is at capacity (RATE_LIMITED); see Retry-After'),
  },
});

const list = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'listUsers',
  permission: 'users:manage',
  summary: 'List users (never their password hashes or MFA secrets)',
  tags: ['users'],
  responses: { 200: json(z.object({ users: z.array(UserSchema) }), 'By username') },
});

const disable = defineRoute({
  method: 'post',
  path: '/{id}/disable',
  operationId: 'disableUser',
  permission: 'users:manage',
  summary: 'Disable a user and end every session they hold, at once',
  tags: ['users'],
  request: { params: IdParam('usr', 'user') },
  responses: {
    200: json(z.object({ user: UserSchema }), 'Disabled (or already disabled)'),
    404: errorContent('No such user (NOT_FOUND)'),
  },
});

export function userRoutes() {
  return createRouter()
    .openapi(create, async (c) => {
      const { username, password, role } = c.req.valid('json');
      const problem = passwordProblem(password, username);
      if (problem) {
        throw new AppError('VALIDATION_FAILED', 'The request is invalid: 1 problem(s)', {
          problems: [{ path: 'password', message: problem }],
        });
      }
      const user = await c.get('services').users.create({ username, password, role, createdBy: c.get('principal').id });
      return c.json({ user }, 201);
    })
    .openapi(list, async (c) => c.json({ users: await c.get('services').users.list() }, 200))
    .openapi(disable, async (c) => {
      const user = await c.get('services').signIn.disableUser(c.req.valid('param').id, c.get('principal').id);
      if (!user) throw new AppError('NOT_FOUND', 'No user with that id');
      return c.json({ user }, 200);
    });
}
