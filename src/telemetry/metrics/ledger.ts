import type { Meter } from '@opentelemetry/api';
import { LEDGER_EVENT_TYPES } from '../../ledger/entry';
import { METRICS } from '../catalogue';
import type { LedgerMetrics } from '../telemetry';
import { instrumentsOf } from './instruments';

const OTHER_EVENT = { event_type: 'other' };

/** Entries committed (in all and by event type) and whole-chain verifications by result. */
export function createLedgerMetrics(meter: Meter): LedgerMetrics {
  const { counter } = instrumentsOf(meter);
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

  return {
    ledgerAppended(entries) {
      ledgerEntries.add(entries.length);
      for (const entry of entries) auditEntries.add(1, eventAttributes.get(entry.event_type) ?? OTHER_EVENT);
    },
    ledgerVerified(valid) {
      integrity.add(1, valid ? success : failure);
    },
  };
}
