import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createTestMetrics, type TestMetrics } from '../../tests/support/app';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { metricValue } from '../../tests/support/lexecon-process';
import { silentLogger } from '../telemetry/logger';
import { createLedgerAuditor } from './auditor';
import { generateSigningKey } from './crypto';
import { createLedger, type Ledger } from './store';

describe.each(backends())('shared chain verification on $name', (backend) => {
  let tdb: TestDatabase;
  let metrics: TestMetrics;
  let ledger: Ledger;
  /** Called after each statement the ledger's database answers. */
  let afterStatement: ((table: string) => void) | undefined;

  beforeEach(async () => {
    metrics = createTestMetrics();
    afterStatement = undefined;
    tdb = await backend.open({
      observer: {
        ...metrics.observer,
        query(operation, table, seconds) {
          metrics.observer.query(operation, table, seconds);
          afterStatement?.(table);
        },
      },
    });
    ledger = createLedger({
      db: tdb.database.db,
      signingKey: await generateSigningKey(),
      telemetry: metrics.telemetry,
      // Several pages, so a walk takes turns with other work.
      verifyPageSize: 4,
    });
    for (let i = 0; i < 20; i++) await ledger.append({ eventType: 'decision', data: { decision_id: `dec_${i}` } });
  });
  afterEach(() => tdb.close());

  const integrityChecks = async () =>
    metricValue(await metrics.render(), 'lexecon_ledger_integrity_checks_total', { result: 'success' });

  it('walks the chain once for four verifications asked at once, and gives each its result', async () => {
    const before = await integrityChecks();
    const results = await Promise.all([ledger.verify(), ledger.verify(), ledger.verify(), ledger.verify()]);
    expect(results[0]).toMatchObject({ valid: true, entries_checked: 21 });
    for (const result of results) expect(result).toEqual(results[0]);
    expect((await integrityChecks()) - before).toBe(1);
  });

  it('gives verifications asked during the background full pass that pass’s result, without another walk', async () => {
    const auditor = createLedgerAuditor({
      db: tdb.database.db,
      ledger,
      logger: silentLogger,
      telemetry: metrics.telemetry,
      instanceId: 'shared-test',
      incrementalEveryMs: 60_000,
      fullEveryMs: 3_600_000,
    });
    const before = await integrityChecks();
    let joined: Promise<unknown[]> | undefined;
    afterStatement = (table) => {
      // Callers arriving once the background pass has begun reading the chain.
      if (table === 'ledger_entries' && !joined) {
        queueMicrotask(() => {
          joined = Promise.all([ledger.verify(), ledger.verify(), ledger.verify()]);
        });
      }
    };
    const record = await auditor.run('full');
    const results = await (joined as Promise<unknown[]>);

    expect(record).toMatchObject({ kind: 'full', valid: true, entries_checked: 21 });
    for (const result of results) {
      expect(result).toMatchObject({ valid: true, entries_checked: 21, head_index: record?.head_index });
    }
    expect((await integrityChecks()) - before).toBe(1);
  });

  it('walks again for a verification asked after the last one ended, and sees what was appended since', async () => {
    const before = await integrityChecks();
    expect(await ledger.verify()).toMatchObject({ valid: true, entries_checked: 21 });
    await ledger.append({ eventType: 'decision', data: { decision_id: 'dec_later' } });
    expect(await ledger.verify()).toMatchObject({ valid: true, entries_checked: 22 });
    expect((await integrityChecks()) - before).toBe(2);
  });
});
