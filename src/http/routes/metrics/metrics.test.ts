import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, createTestMetrics, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import type { AppSettings } from '../../context';

const CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
const TOKEN = 'scrape-token-7f3a9c';

/** `name{labels} value` lines whose name and labels match, as numbers. */
function values(exposition: string, name: string, labels = ''): number[] {
  return exposition
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter((line) => line.includes(labels))
    .map((line) => Number(line.slice(line.lastIndexOf(' ') + 1)));
}

describe.each(backends())('GET /metrics on $name', (backend) => {
  let tdb: TestDatabase;

  beforeAll(async () => {
    tdb = await backend.open();
  });
  afterAll(() => tdb.close());

  const app = (settings: Partial<AppSettings> = {}) =>
    createTestApp(tdb.database, { metrics: createTestMetrics(), settings });
  const scrape = (t: TestApp, authorization?: string) =>
    t.request('GET', '/metrics', { key: null, headers: authorization ? { authorization } : {} });

  it('serves the Prometheus text format 0.0.4 with its exact content type', async () => {
    const t = await app();
    const res = await scrape(t);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
    expect(res.body).toContain('# TYPE lexecon_http_requests_total counter');
    expect(res.body).toMatch(/^lexecon_errors_total\{error_type="NOT_FOUND",severity="info",component="http"\} 0$/m);
  });

  it('is public when no metrics token is configured', async () => {
    const t = await app();
    expect((await scrape(t)).status).toBe(200);
    expect((await scrape(t, 'Bearer anything')).status).toBe(200);
  });

  it('answers 401 UNAUTHENTICATED with a Bearer challenge when the token is missing or wrong', async () => {
    const t = await app({ metricsToken: TOKEN });
    for (const authorization of [
      undefined,
      'Bearer wrong-token',
      `Bearer ${TOKEN.slice(0, -1)}`,
      `Bearer ${TOKEN}x`,
      `Basic ${btoa(`prometheus:${TOKEN}`)}`,
      TOKEN,
      `Bearer ${t.keys.admin}`,
    ]) {
      const res = await scrape(t, authorization);
      expect(res.status, String(authorization)).toBe(401);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      expect(res.headers.get('www-authenticate')).toMatch(/^Bearer /);
      expect(res.body.error).toMatchObject({ code: 'UNAUTHENTICATED', requestId: expect.any(String) });
      expect(JSON.stringify(res.body)).not.toContain(TOKEN);
      expect(JSON.stringify(res.body)).not.toContain('lexecon_');
    }
  });

  it('serves the exposition to a scraper presenting the configured token', async () => {
    const t = await app({ metricsToken: TOKEN });
    const res = await scrape(t, `Bearer ${TOKEN}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe(CONTENT_TYPE);
    expect(res.body).toContain('# TYPE lexecon_decisions_total counter');
  });

  it('leaves the scrape itself out of the HTTP metrics by default', async () => {
    const t = await app();
    await scrape(t);
    const res = await scrape(t);
    expect(values(res.body, 'lexecon_http_requests_total', 'endpoint="/metrics"').every((v) => v === 0)).toBe(true);
    // Not even in flight while it renders itself.
    expect(values(res.body, 'lexecon_concurrent_requests')).toEqual([0]);
  });

  it('counts the scrape like any request when /metrics is not excluded', async () => {
    const t = await app({ metricsExclude: [] });
    await scrape(t);
    const res = await scrape(t);
    expect(values(res.body, 'lexecon_http_requests_total', 'endpoint="/metrics",status="200"')).toEqual([1]);
    expect(values(res.body, 'lexecon_concurrent_requests')).toEqual([1]);
  });
});
