import { readFileSync } from 'node:fs';
import autocannon from 'autocannon';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { decisionRequest, samplePolicy } from './support/app';
import {
  ADMIN_KEY,
  cleanUpProcesses,
  type LexeconProcess,
  seededDataDir,
  shutdownMs,
  spawnLexecon,
} from './support/lexecon-process';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver';
import { PROCESS_SUITE } from './support/wait';

/**
 * The real process tracing every request while its collector misbehaves: it answers 500, accepts
 * exports and never answers, or is not there at all. Requests must not notice; memory must not grow
 * with the backlog (the batch processor's queue is bounded and what it drops is counted).
 */

vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

/** Resident set size of a process now, from /proc. */
function rssBytes(pid: number | undefined): number {
  const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return Number(kb) * 1024;
}

const WARM_UP = 5_000;
const MEASURED = 40_000;
const BATCH = 2_500;
// Each server span records the User-Agent, so a large one makes every span kept measurable: were
// spans kept without bound, the 40,000 measured requests would hold at least 40,000 × 12 KB ≈ 480 MB
// of user-agent strings alone. (With the queue uncapped in a copy of src, this test measured +610 MB.)
const USER_AGENT_BYTES = 12_000;
// What a bounded pipeline legitimately holds: the 2048 queued spans (~25 MB with these user agents),
// the batches being exported or retried (512 spans, ~6 MB of JSON each), and the heap's sawtooth
// between collections. Observed: +50 to +80 MB for each kind of outage, and up to +190 MB in longer
// runs against a refused connection, where retries keep several batches in flight.
const RSS_GROWTH_LIMIT = 300 * 1024 * 1024;
const MAX_QUEUE_SIZE = 2048;
/** LEXECON_SHUTDOWN_GRACE_MS's default (README). */
const DEFAULT_SHUTDOWN_GRACE_MS = 25_000;

interface Sample {
  labels: Record<string, string>;
  value: number;
}

/** The samples of one metric in a Prometheus exposition. */
function samples(exposition: string, metric: string): Sample[] {
  const found: Sample[] = [];
  for (const match of exposition.matchAll(new RegExp(`^${metric}(?:\\{([^}]*)\\})? (\\S+)$`, 'gm'))) {
    const labels: Record<string, string> = {};
    for (const label of (match[1] ?? '').matchAll(/(\w+)="([^"]*)"/g)) labels[label[1] as string] = label[2] as string;
    found.push({ labels, value: Number(match[2]) });
  }
  return found;
}

const sum = (list: Sample[]) => list.reduce((total, s) => total + s.value, 0);

describe.each([
  { mode: 'error', collector: 'answers every export with HTTP 500', overflows: false },
  { mode: 'hang', collector: 'accepts exports and never answers', overflows: true },
  { mode: 'closed', collector: 'is down (connections refused)', overflows: true },
] as const)('a service whose collector $collector', ({ mode, overflows }) => {
  let receiver: OtlpReceiver;
  let service: LexeconProcess;
  const answered = { ok: 0, other: 0 };
  const decisions: { status: number; allowed: unknown }[] = [];
  const warmUp: number[] = [];
  const measured: number[] = [];
  let exposition = '';

  async function decideSome(count: number) {
    for (let i = 0; i < count; i++) {
      const res = await fetch(`${service.url}/api/decide`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(decisionRequest()),
      });
      decisions.push({ status: res.status, allowed: ((await res.json()) as { allowed?: unknown }).allowed });
    }
  }

  /** Sends `count` GET / requests with a large User-Agent, sampling resident memory after each batch. */
  async function load(count: number, rss: number[]) {
    for (let sent = 0; sent < count; sent += BATCH) {
      const options = {
        url: `${service.url}/`,
        connections: 16,
        amount: BATCH,
        headers: { 'user-agent': 'x'.repeat(USER_AGENT_BYTES) },
      };
      const result = await autocannon(options);
      answered.ok += result['2xx'];
      answered.other += result.non2xx + result.errors + result.timeouts;
      rss.push(rssBytes(service.child.pid));
    }
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    if (mode === 'closed') await receiver.close();
    else receiver.answer(mode);
    service = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    await service.listening;
    const policy = await fetch(`${service.url}/api/policies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(samplePolicy),
    });
    expect(policy.status).toBe(201);
    await decideSome(10);
    // Warm-up fills the span queue before memory is measured.
    await load(WARM_UP, warmUp);
    await load(MEASURED, measured);
    await decideSome(10);
    exposition = await (await fetch(`${service.url}/metrics`)).text();
  }, 300_000);

  afterAll(async () => {
    service?.child.kill('SIGTERM');
    await service?.exited;
    await receiver?.close();
  });

  it('answers every request normally', () => {
    expect(answered).toEqual({ ok: WARM_UP + MEASURED, other: 0 });
    expect(decisions).toEqual(Array(20).fill({ status: 200, allowed: true }));
  });

  it(`keeps resident memory within ${RSS_GROWTH_LIMIT / 2 ** 20} MB of its lowest over ${MEASURED} traced requests`, () => {
    // Growth: the highest RSS of the last 10,000 requests over the lowest before them. The lowest,
    // not the first: startup's memory (~350 MB with PGlite) is returned at an unpredictable moment,
    // which only ever lowers RSS.
    const tail = measured.slice(-10_000 / BATCH);
    const before = [...warmUp, ...measured.slice(0, -10_000 / BATCH)];
    const growth = Math.max(...tail) - Math.min(...before);
    expect(Math.round(growth / 2 ** 20)).toBeLessThan(RSS_GROWTH_LIMIT / 2 ** 20);
  });

  it('never queues more than maxQueueSize spans, and counts every span it could not deliver', () => {
    const [capacity] = samples(exposition, 'otel_sdk_processor_span_queue_capacity');
    const [queued] = samples(exposition, 'otel_sdk_processor_span_queue_size');
    expect(capacity?.value).toBe(MAX_QUEUE_SIZE);
    expect(queued?.value).toBeLessThanOrEqual(MAX_QUEUE_SIZE);
    const processed = samples(exposition, 'otel_sdk_processor_span_processed_total');
    const delivered = processed.filter((s) => s.labels.error_type === undefined);
    const dropped = processed.filter((s) => s.labels.error_type === 'queue_full');
    const failed = processed.filter((s) => s.labels.error_type !== undefined && s.labels.error_type !== 'queue_full');
    expect(sum(delivered)).toBe(0);
    expect(sum(failed)).toBeGreaterThan(0);
    if (overflows) expect(sum(dropped)).toBeGreaterThan(0);
  });

  it('reports the outage in its log without a line per failed export', () => {
    const complaints = service.logs().filter((l) => l.message === 'opentelemetry sdk');
    expect(complaints.length).toBeGreaterThan(0);
    // Thousands of spans failed in dozens of exports over about a minute.
    expect(complaints.length).toBeLessThan(30);
  });

  it('still stops on SIGTERM within its grace period, with exit code 0', async () => {
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
    expect(shutdownMs(service)).toBeLessThanOrEqual(DEFAULT_SHUTDOWN_GRACE_MS);
  });
});
