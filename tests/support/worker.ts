import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Miniflare } from 'miniflare';
import postgres from 'postgres';
import { inject } from 'vitest';
import { buildWorker } from '../../scripts/build-worker';
import { openPostgres } from '../../src/db/client';
import { withDatabase } from './global-setup';
import { CONDITION_TIMEOUT_MS } from './wait';

/**
 * The Workers build run by workerd itself (through Miniflare), as `npm run build:worker` bundles it,
 * against a real PostgreSQL database reached over workerd's TCP sockets.
 */

// workerd reaches databases over TCP only, so PGlite (the suite's fallback) cannot serve these tests;
// without TEST_DATABASE_URL they use the local server CI and development machines run.
const LOCAL_POSTGRES = 'postgres://postgres@127.0.0.1:5432/postgres';

export interface WorkerDatabase {
  readonly url: string;
  close(): Promise<void>;
}

/** A migrated, empty database: a clone of the suite's template, or freshly migrated on the local server. */
export async function openWorkerDatabase(): Promise<WorkerDatabase> {
  const template = inject('postgresTemplate');
  const adminUrl = template?.adminUrl ?? LOCAL_POSTGRES;
  const name = `lexecon_w_${process.pid}_${Math.random().toString(36).slice(2, 10)}`;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
  try {
    await admin.unsafe(template ? `create database ${name} template ${template.template}` : `create database ${name}`);
  } catch (err) {
    await admin.end();
    throw new Error(
      `The Workers suite needs PostgreSQL and could not create a database on ${adminUrl} (${(err as Error).message}). Set TEST_DATABASE_URL.`,
    );
  }
  const url = withDatabase(adminUrl, name);
  if (!template) {
    const database = openPostgres(url, { poolMax: 1 });
    await database.migrate();
    await database.close();
  }
  return {
    url,
    async close() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    },
  };
}

export interface WorkerBundle {
  readonly path: string;
  remove(): void;
}

/** Bundles the worker once per test file, into a directory of its own. */
export async function bundleWorker(): Promise<WorkerBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-worker-'));
  const { outfile } = await buildWorker(join(dir, 'worker.js'));
  return { path: outfile, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export interface RunningWorker {
  readonly miniflare: Miniflare;
  fetch(
    method: string,
    path: string,
    options?: { key?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<WorkerAnswer>;
  /** Runs the scheduled handler as a Cron Trigger would. */
  triggerCron(cron: string): Promise<void>;
  close(): Promise<void>;
}

export interface WorkerAnswer {
  status: number;
  headers: Headers;
  body: unknown;
}

/** Starts workerd with the bundle, as wrangler.toml configures it (nodejs_compat). */
export function startWorker(
  bundle: WorkerBundle,
  options: { bindings: Record<string, string>; hyperdrive?: string },
): RunningWorker {
  const miniflare = new Miniflare({
    modules: true,
    scriptPath: bundle.path,
    modulesRoot: dirname(bundle.path),
    compatibilityDate: '2025-09-01',
    compatibilityFlags: ['nodejs_compat'],
    bindings: options.bindings,
    ...(options.hyperdrive ? { hyperdrives: { HYPERDRIVE: options.hyperdrive } } : {}),
  });
  return {
    miniflare,
    async fetch(method, path, { key, body, headers: extra } = {}) {
      const headers: Record<string, string> = { ...extra };
      if (key) headers.authorization = `Bearer ${key}`;
      if (body !== undefined) headers['content-type'] = 'application/json';
      const response = await miniflare.dispatchFetch(`http://lexecon.test${path}`, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: response.status, headers: response.headers as unknown as Headers, body: parsed };
    },
    async triggerCron(cron) {
      // The Fetcher type Miniflare returns omits scheduled(), which the runtime provides.
      const handler = (await miniflare.getWorker()) as unknown as { scheduled(o: { cron: string }): Promise<unknown> };
      await handler.scheduled({ cron });
    },
    close: () => miniflare.dispose(),
  };
}

/** Every metric data point the collector received, decoded from the raw OTLP/HTTP JSON bodies. */
export interface ReceivedPoint {
  metric: string;
  attributes: Record<string, unknown>;
  /** Sum and gauge value, or histogram count. */
  value: number;
}

interface JsonMetricsBody {
  resourceMetrics?: {
    scopeMetrics?: {
      metrics?: (Record<string, { dataPoints?: JsonPoint[] } | undefined> & { name: string })[];
    }[];
  }[];
}

interface JsonPoint {
  attributes?: { key: string; value: Record<string, unknown> }[];
  asInt?: number | string;
  asDouble?: number;
  count?: number | string;
}

export function metricPoints(bodies: readonly string[]): ReceivedPoint[] {
  const points: ReceivedPoint[] = [];
  for (const text of bodies) {
    let body: JsonMetricsBody;
    try {
      body = JSON.parse(text) as JsonMetricsBody;
    } catch {
      continue;
    }
    for (const resource of body.resourceMetrics ?? []) {
      for (const scope of resource.scopeMetrics ?? []) {
        for (const metric of scope.metrics ?? []) {
          for (const field of ['sum', 'gauge', 'histogram']) {
            for (const point of metric[field]?.dataPoints ?? []) {
              const attributes: Record<string, unknown> = {};
              for (const { key, value } of point.attributes ?? []) attributes[key] = Object.values(value)[0];
              const value = Number(point.asInt ?? point.asDouble ?? point.count ?? 0);
              points.push({ metric: metric.name, attributes, value });
            }
          }
        }
      }
    }
  }
  return points;
}

/** Polls until `done` holds (pushes happen after the response, in waitUntil). */
export async function eventually<T>(
  read: () => T,
  done: (value: T) => boolean,
  timeoutMs = CONDITION_TIMEOUT_MS,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = read();
    if (done(value)) return value;
    if (Date.now() > until) throw new Error('the condition did not hold in time');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
