import type { Meter } from '@opentelemetry/api';
import { DB_ERROR_TYPES } from '../../db/errors';
import { METRICS } from '../catalogue';
import type { ConnectionState, DatabaseMetrics } from '../telemetry';
import { createAttributeCache, instrumentsOf, type TakeTurns } from './instruments';

export interface DatabaseMetricsOptions {
  /** Scrape-time reads of the database take turns with every other one (see createMetricsTelemetry). */
  turns: TakeTurns;
  /** A statement succeeded after a connection failure: counted by the error metrics. */
  recovered(): void;
}

/** Statement and transaction durations, failed statements by kind, and this instance's connections. */
export function createDatabaseMetrics(meter: Meter, options: DatabaseMetricsOptions): DatabaseMetrics {
  const { counter, histogram, gauge } = instrumentsOf(meter);
  const queryDuration = histogram(METRICS.dbQueryDuration);
  const transactionDuration = histogram(METRICS.dbTransactionDuration);
  const dbErrors = counter(METRICS.dbErrors);
  const dbErrorAttributes = new Map(DB_ERROR_TYPES.map((type) => [type as string, { error_type: type }]));
  for (const attributes of dbErrorAttributes.values()) dbErrors.add(0, attributes);
  const active = gauge(METRICS.dbConnectionsActive);
  const idle = gauge(METRICS.dbConnectionsIdle);
  const cached = createAttributeCache();
  let databaseDown = false;

  return {
    dbQuery(operation, table, seconds) {
      queryDuration.record(
        seconds,
        cached(`${operation}\u0000${table}`, () => ({ operation, table })),
      );
      if (databaseDown) {
        databaseDown = false;
        options.recovered();
      }
    },
    dbFailed(errorType) {
      dbErrors.add(1, dbErrorAttributes.get(errorType));
      if (errorType === 'connection') databaseDown = true;
    },
    dbTransaction(seconds) {
      transactionDuration.record(seconds);
    },
    observeConnections(read) {
      meter.addBatchObservableCallback(
        async (result) => {
          const state: ConnectionState = await options.turns(read);
          result.observe(active, state.active);
          result.observe(idle, state.idle);
        },
        [active, idle],
      );
    },
  };
}
