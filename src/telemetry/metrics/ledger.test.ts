import { afterEach, describe, expect, it } from 'vitest';
import { INVALID_REASONS } from '../../ledger/verify';
import { METRICS } from '../catalogue';
import { createPrometheusMetrics, type PrometheusMetrics } from '../prometheus';
import { createLedgerMetrics } from './ledger';

const opened: PrometheusMetrics[] = [];
afterEach(async () => {
  await Promise.all(opened.splice(0).map((p) => p.shutdown()));
});

function setup() {
  const prometheus = createPrometheusMetrics({
    serviceName: 'lexecon',
    serviceVersion: '1.2.3',
    instanceId: 'host-7',
    detailed: false,
  });
  opened.push(prometheus);
  const ledger = createLedgerMetrics(prometheus.provider.getMeter('lexecon', '1.2.3'));
  return { ledger, scrape: () => prometheus.render() };
}

/** Value of each sample of `name`, keyed by its labels as written (`{}` for none). */
function samples(exposition: string, name: string): Record<string, number> {
  const found: Record<string, number> = {};
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{.*\})? (\S+)$/.exec(line);
    if (match?.[1] === name) found[match[2] ?? '{}'] = Number(match[3]);
  }
  return found;
}

const failures = (exposition: string) => samples(exposition, METRICS.ledgerIntegrityFailure.name);
const byReason = (failing?: string) =>
  Object.fromEntries(INVALID_REASONS.map((reason) => [`{reason="${reason}"}`, reason === failing ? 1 : 0]));

describe('ledger checkpoint metrics', () => {
  it('start with no checkpoint counted and a tree of size 0', async () => {
    const exposition = await setup().scrape();
    expect(samples(exposition, METRICS.ledgerTreeSize.name)).toEqual({ '{}': 0 });
    expect(samples(exposition, METRICS.ledgerCheckpoints.name)).toEqual({ '{}': 0 });
  });

  it('count each checkpoint signed and show the size of the newest, whatever order they are reported in', async () => {
    const { ledger, scrape } = setup();
    ledger.ledgerCheckpointed(3);
    ledger.ledgerCheckpointed(9);
    // A group commit that finished on another connection after a later one.
    ledger.ledgerCheckpointed(6);
    const exposition = await scrape();
    expect(samples(exposition, METRICS.ledgerTreeSize.name)).toEqual({ '{}': 9 });
    expect(samples(exposition, METRICS.ledgerCheckpoints.name)).toEqual({ '{}': 3 });
  });

  it('take the size of a checkpoint read or verified without counting it as signed here', async () => {
    const { ledger, scrape } = setup();
    ledger.ledgerCheckpointSeen(40);
    let exposition = await scrape();
    expect(samples(exposition, METRICS.ledgerTreeSize.name)).toEqual({ '{}': 40 });
    expect(samples(exposition, METRICS.ledgerCheckpoints.name)).toEqual({ '{}': 0 });

    ledger.ledgerCheckpointSeen(12);
    ledger.ledgerCheckpointed(41);
    exposition = await scrape();
    expect(samples(exposition, METRICS.ledgerTreeSize.name)).toEqual({ '{}': 41 });
    expect(samples(exposition, METRICS.ledgerCheckpoints.name)).toEqual({ '{}': 1 });
  });
});

describe('ledger integrity failure metric', () => {
  it('has every reason at 0 before any verification, and no other series', async () => {
    expect(failures(await setup().scrape())).toEqual(byReason());
  });

  it('shows 1 for the standing failure’s reason only, moves with it, and goes back to 0 when none stands', async () => {
    const { ledger, scrape } = setup();
    ledger.ledgerIntegrity('rewritten');
    expect(failures(await scrape())).toEqual(byReason('rewritten'));
    ledger.ledgerIntegrity('truncated');
    expect(failures(await scrape())).toEqual(byReason('truncated'));
    ledger.ledgerIntegrity(undefined);
    expect(failures(await scrape())).toEqual(byReason());
  });

  it('leaves the integrity check counter to count verifications by result', async () => {
    const { ledger, scrape } = setup();
    ledger.ledgerVerified(false);
    ledger.ledgerIntegrity('bad_signature');
    const exposition = await scrape();
    expect(samples(exposition, METRICS.ledgerIntegrityChecks.name)).toEqual({
      '{result="success"}': 0,
      '{result="failure"}': 1,
    });
  });
});
