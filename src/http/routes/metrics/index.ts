import { z } from '@hono/zod-openapi';
import { timingSafeEqual } from '../../../auth/constant-time';
import type { MetricsRenderer } from '../../../telemetry/telemetry';
import { errorResponse } from '../../errors';
import { createRouter, defineRoute } from '../router';
import { errorContent } from '../schemas';

export const PROMETHEUS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

const scrape = defineRoute({
  method: 'get',
  path: '/',
  operationId: 'getMetrics',
  permission: 'public',
  summary: 'Prometheus metrics (text exposition format 0.0.4)',
  description:
    'Every metric of docs/metrics.md, produced by the OpenTelemetry Prometheus serializer over the SDK’s collection. With METRICS_TOKEN set, send Authorization: Bearer <token>.',
  tags: ['service'],
  responses: {
    200: { description: 'The exposition', content: { 'text/plain': { schema: z.string() } } },
    401: errorContent('METRICS_TOKEN is set and the request does not carry it (UNAUTHENTICATED)'),
  },
});

export function metricsRoutes(renderer: MetricsRenderer) {
  return createRouter().openapi(scrape, async (c) => {
    const token = c.get('settings').metricsToken;
    if (token !== undefined && !bearerMatches(c.req.header('authorization'), token)) {
      c.header('WWW-Authenticate', 'Bearer realm="metrics"');
      return errorResponse(c, 'UNAUTHENTICATED', 'This scrape endpoint requires the metrics token') as never;
    }
    return c.text(await renderer.render(), 200, { 'content-type': PROMETHEUS_CONTENT_TYPE });
  });
}

function bearerMatches(header: string | undefined, token: string): boolean {
  const presented = header?.startsWith('Bearer ') ? header.slice(7).trim() : '';
  return timingSafeEqual(presented, token);
}
