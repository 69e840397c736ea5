import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decisionRequest, samplePolicy } from './support/app';
import { type OtlpReceiver, startOtlpReceiver } from './support/otlp-receiver';
import { ADMIN_KEY, cleanUpServices, inParallel, type ServiceProcess, startService } from './support/service-process';

/**
 * The real process tracing every request while its collector misbehaves: it answers 500, accepts
 * exports and never answers, or is not there at all. Requests must not notice; memory must not grow
 * with the backlog (the batch processor's queue is bounded and what it drops is counted).
 */

afterAll(cleanUpServices);

const WARM_UP = 3_000;
const MEASURED = 20_000;
const CONCURRENCY = 16;
// Each server span records the User-Agent, so a large one makes every span that is kept measurable:
// were spans kept without bound, the 20,000 measured requests would hold at least
// 20,000 × 12 KB ≈ 240 MB of user-agent strings alone (plus ~1 KB per span of SDK objects).
const USER_AGENT_BYTES = 12_000;
// What a bounded queue legitimately holds: 2048 spans (~25 MB with these user agents), the batches
// being exported (512 spans, ~6 MB of JSON each), and the heap's own slack; observed peaks stay
// around +100 MB. The limit sits between that and the ≥ 240 MB an unbounded backlog would add.
const RSS_GROWTH_LIMIT = 160 * 1024 * 1024;
const MAX_QUEUE_SIZE = 2048;

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
  let service: ServiceProcess;
  const statuses = new Map<number, number>();
  const decisions: { status: number; allowed: unknown }[] = [];
  let baseline = 0;
  let peak = 0;
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

  async function load(count: number, measure: boolean) {
    const filler = 'x'.repeat(USER_AGENT_BYTES);
    await inParallel(count, CONCURRENCY, async (i) => {
      const res = await fetch(`${service.url}/`, { headers: { 'user-agent': `${filler}-${mode}-${measure}-${i}` } });
      await res.arrayBuffer();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      if (measure && i % 1000 === 999) peak = Math.max(peak, service.rssBytes());
    });
  }

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    if (mode === 'closed') await receiver.close();
    else receiver.answer(mode);
    service = await startService({
      TRACING_ENABLED: 'true',
      OTEL_SAMPLE_RATE: '1',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
    });
    const policy = await fetch(`${service.url}/api/policies`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify(samplePolicy),
    });
    expect(policy.status).toBe(201);
    await decideSome(10);
    // Warm-up fills the span queue and lets startup's memory settle before the baseline.
    await load(WARM_UP, false);
    baseline = service.rssBytes();
    await load(MEASURED, true);
    await decideSome(10);
    exposition = await (await fetch(`${service.url}/metrics`)).text();
  }, 300_000);

  afterAll(async () => {
    await service?.stop();
    await receiver?.close();
  });

  it('answers every request normally', () => {
    expect(Object.fromEntries(statuses)).toEqual({ 200: WARM_UP + MEASURED });
    expect(decisions).toEqual(Array(20).fill({ status: 200, allowed: true }));
  });

  it(`keeps resident memory within ${RSS_GROWTH_LIMIT / 2 ** 20} MB of its warmed-up size over ${MEASURED} traced requests`, () => {
    expect(peak).toBeGreaterThan(0);
    expect((peak - baseline) / 2 ** 20).toBeLessThan(RSS_GROWTH_LIMIT / 2 ** 20);
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
    const exited = await Promise.race([
      service.stop(),
      new Promise((resolve) => setTimeout(() => resolve('still running after 40 s'), 40_000)),
    ]);
    expect(exited).toBe(0);
  }, 60_000);
});
