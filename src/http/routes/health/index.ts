import { z } from '@hono/zod-openapi';
import type { Context } from 'hono';
import { PROBES } from '../../../health/checks';
import type { AppEnv } from '../../context';
import { createRouter, defineRoute } from '../router';
import { json } from '../schemas';

const Status = z.enum(['healthy', 'degraded', 'unhealthy']);
const CheckSchema = z.object({
  name: z.string(),
  status: Status,
  latency_ms: z.number(),
  details: z.record(z.string(), z.unknown()),
  cached_ms: z.number().optional().openapi({ description: 'With ?verbose: age of a cached result' }),
});
const HealthSchema = z
  .object({ status: Status, timestamp: z.number(), checks: z.array(CheckSchema) })
  .openapi('Health', {
    description: 'HTTP 200 when healthy or degraded, 503 when unhealthy.',
    example: {
      status: 'healthy',
      timestamp: 1706400000,
      checks: [
        {
          name: 'database',
          status: 'healthy',
          latency_ms: 2.5,
          details: { latency_ms: 2.1, pool: { active: 0, idle: 3 } },
        },
      ],
    },
  });

// `?verbose` and `?exclude=<check>` (repeatable), as the Kubernetes API server's health endpoints take them.
const query = z.object({
  verbose: z.string().max(10).optional(),
  exclude: z.union([z.string().max(64), z.array(z.string().max(64)).max(20)]).optional(),
});

function probe(path: string, operationId: string, summary: string, description: string) {
  return defineRoute({
    method: 'get',
    path,
    operationId,
    permission: 'public',
    summary,
    description,
    tags: ['health'],
    request: { query },
    responses: { 200: json(HealthSchema, 'Healthy or degraded'), 503: json(HealthSchema, 'Unhealthy') },
  });
}

const all = probe(
  '/',
  'getHealth',
  'Every check',
  'Database, cache, policy engine, ledger, telemetry export, event loop, lifecycle.',
);
const live = probe(
  '/live',
  'getLiveness',
  'Liveness: is the process itself working?',
  'Fails only when the event loop is stuck past its threshold. A database outage never fails it: a restart would not help.',
);
const ready = probe(
  '/ready',
  'getReadiness',
  'Readiness: can this instance serve decisions now?',
  'Fails while starting or draining, or when the database, the active policy or the ledger cannot be used.',
);
const startup = probe(
  '/startup',
  'getStartup',
  'Startup: has initialisation finished?',
  'Succeeds once migrations ran and the signing key and the active policy are loaded.',
);

async function answer(c: Context<AppEnv>, names: readonly string[] | undefined) {
  const { verbose, exclude } = c.req.query() as { verbose?: string; exclude?: string };
  const excluded = new Set(c.req.queries('exclude') ?? (exclude ? [exclude] : []));
  const report = await c.get('services').health.report(names, excluded);
  const detailed = verbose !== undefined;
  const body = {
    ...report,
    checks: report.checks.map(({ cached_ms, ...check }) =>
      detailed && cached_ms !== undefined ? { ...check, cached_ms } : check,
    ),
  };
  c.header('Cache-Control', 'no-store');
  return report.status === 'unhealthy' ? c.json(body, 503) : c.json(body, 200);
}

export function healthRoutes() {
  return createRouter()
    .openapi(all, (c) => answer(c, undefined))
    .openapi(live, (c) => answer(c, PROBES.live))
    .openapi(ready, (c) => answer(c, PROBES.ready))
    .openapi(startup, (c) => answer(c, PROBES.startup));
}
