import { z } from '@hono/zod-openapi';
import { createRouter, defineRoute } from '../router';
import { json } from '../schemas';

const CheckSchema = z.object({
  name: z.string(),
  status: z.enum(['healthy', 'degraded', 'unhealthy']),
  details: z.record(z.string(), z.unknown()),
});
const HealthSchema = z
  .object({ status: z.enum(['healthy', 'degraded', 'unhealthy']), timestamp: z.number(), checks: z.array(CheckSchema) })
  .openapi('Health');

const health = defineRoute({
  method: 'get',
  path: '/',
  permission: 'public',
  summary: 'Overall health',
  tags: ['health'],
  responses: { 200: json(HealthSchema, 'Healthy'), 503: json(HealthSchema, 'Unhealthy') },
});

export function healthRoutes() {
  return createRouter().openapi(health, async (c) => {
    const started = performance.now();
    let database: z.infer<typeof CheckSchema>;
    try {
      await c.get('services').pingDatabase();
      database = { name: 'database', status: 'healthy', details: { latency_ms: round(performance.now() - started) } };
    } catch {
      database = { name: 'database', status: 'unhealthy', details: { error: 'unreachable' } };
    }
    const status = database.status;
    const body = { status, timestamp: Date.now() / 1000, checks: [database] };
    return status === 'unhealthy' ? c.json(body, 503) : c.json(body, 200);
  });
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
