import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { noopTelemetry, type Telemetry } from '../telemetry/telemetry';
import { generateSigningKey, type SigningKey } from './crypto';
import { createLedger } from './store';
import type { InvalidReason } from './verify';

/** What the ledger tells the metrics about its checkpoints and integrity, in order. */
type Report = { signed: number } | { seen: number } | { integrity: InvalidReason | undefined };

const decision = (id: string) => ({ eventType: 'decision' as const, data: { decision_id: id } });

describe.each(backends())('what the ledger reports to the checkpoint and integrity metrics on $name', (backend) => {
  let tdb: TestDatabase;
  let signingKey: SigningKey;

  beforeEach(async () => {
    tdb = await backend.open();
    signingKey = await generateSigningKey();
  });
  afterEach(() => tdb.close());

  /** A ledger whose checkpoint and integrity reports are recorded. */
  function recordedLedger() {
    const reports: Report[] = [];
    const telemetry: Telemetry = {
      ...noopTelemetry,
      ledgerCheckpointed: (treeSize) => reports.push({ signed: treeSize }),
      ledgerCheckpointSeen: (treeSize) => reports.push({ seen: treeSize }),
      ledgerIntegrity: (reason) => reports.push({ integrity: reason }),
    };
    return { ledger: createLedger({ db: tdb.database.db, signingKey, telemetry }), reports };
  }

  it('reports each checkpoint a group commit signs, and at a restart the newest stored one without counting it', async () => {
    const first = recordedLedger();
    await first.ledger.ensureGenesis();
    for (const i of [1, 2, 3]) await first.ledger.append(decision(`dec_${i}`));
    expect(first.reports).toEqual([{ signed: 1 }, { signed: 2 }, { signed: 3 }, { signed: 4 }]);

    const restarted = recordedLedger();
    await restarted.ledger.ensureGenesis();
    expect(restarted.reports).toEqual([{ seen: 4 }]);
  });

  it('counts the checkpoint start-up signs over a ledger written before the tree', async () => {
    const old = recordedLedger();
    await old.ledger.ensureGenesis();
    for (const i of [1, 2, 3, 4, 5]) await old.ledger.append(decision(`dec_${i}`));
    await tdb.superuser(
      `set session_replication_role = replica; delete from ledger_tree_hashes; delete from ledger_checkpoints;
       set session_replication_role = origin`,
    );

    const restarted = recordedLedger();
    await restarted.ledger.ensureGenesis();
    expect(restarted.reports).toEqual([{ signed: 6 }, { seen: 6 }]);
  });

  it('reports the reason of a failed verification, and no failure once a whole-chain verification passes again', async () => {
    const { ledger, reports } = recordedLedger();
    await ledger.ensureGenesis();
    for (const i of [1, 2, 3]) await ledger.append(decision(`dec_${i}`));
    reports.length = 0;
    const edit = (id: string) =>
      tdb.superuser(
        `alter table ledger_entries disable trigger user;
         update ledger_entries set data = jsonb_set(data, '{decision_id}', '"${id}"') where seq = 2;
         alter table ledger_entries enable trigger user`,
      );

    await edit('forged');
    expect(await ledger.verify()).toMatchObject({ valid: false, first_invalid: { index: 2, reason: 'hash_mismatch' } });
    expect(reports).toContainEqual({ integrity: 'hash_mismatch' });

    await edit('dec_2');
    reports.length = 0;
    expect(await ledger.verify()).toMatchObject({ valid: true });
    expect(reports).toEqual([{ integrity: undefined }, { seen: 4 }]);
  });
});
