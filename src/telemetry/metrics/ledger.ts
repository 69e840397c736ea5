import type { Meter } from '@opentelemetry/api';
import { LEDGER_EVENT_TYPES } from '../../ledger/entry';
import { INVALID_REASONS, type InvalidReason } from '../../ledger/verify';
import { METRICS } from '../catalogue';
import type { LedgerMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

const OTHER_EVENT = { event_type: 'other' };

/**
 * Entries committed (in all and by event type), whole-chain verifications by result, the verifiable
 * log's checkpoints (how many this instance signed, the size of the newest it knows) and which
 * integrity failure, if any, stands on this instance.
 */
export function createLedgerMetrics(meter: Meter): LedgerMetrics {
  const { counter, gauge } = instrumentsOf(meter);
  const ledgerEntries = counter(METRICS.ledgerEntries);
  ledgerEntries.add(0);
  const auditEntries = counter(METRICS.auditLogEntries);
  const eventAttributes = new Map(LEDGER_EVENT_TYPES.map((type) => [type as string, { event_type: type }]));
  for (const attributes of eventAttributes.values()) auditEntries.add(0, attributes);
  const integrity = counter(METRICS.ledgerIntegrityChecks);
  const success = { result: 'success' };
  const failure = { result: 'failure' };
  integrity.add(0, success);
  integrity.add(0, failure);

  // Group commits of one instance, on several connections, may report out of order: the newest wins.
  let treeSize = 0;
  gauge(METRICS.ledgerTreeSize).addCallback((result) => result.observe(treeSize));
  const checkpoints = counter(METRICS.ledgerCheckpoints);
  checkpoints.add(0);
  const seen = (size: number) => {
    treeSize = Math.max(treeSize, size);
  };

  // Every reason has a series from the start, so an alert on one going to 1 sees it go from 0.
  let failing: InvalidReason | undefined;
  const reasonAttributes = INVALID_REASONS.map((reason) => ({ reason }));
  gauge(METRICS.ledgerIntegrityFailure).addCallback((result) => {
    for (const attributes of reasonAttributes) result.observe(attributes.reason === failing ? 1 : 0, attributes);
  });

  return {
    ledgerAppended(entries) {
      ledgerEntries.add(entries.length);
      for (const entry of entries) auditEntries.add(1, eventAttributes.get(entry.event_type) ?? OTHER_EVENT);
    },
    ledgerVerified(valid) {
      integrity.add(1, valid ? success : failure);
    },
    ledgerCheckpointed(size) {
      checkpoints.add(1);
      seen(size);
    },
    ledgerCheckpointSeen: seen,
    ledgerIntegrity(reason) {
      failing = reason;
    },
  };
}
