import { and, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { backgroundTasks } from '../db/schema';
import type { Logger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/telemetry';
import type { IntegrityFailure, Ledger } from './store';
import type { ChainVerification, CheckpointPoint, FirstInvalid } from './verify';
import { failureCode } from './write-health';

/**
 * Verifies the ledger in the background, so the integrity metric (and its alert) moves without
 * anyone calling GET /api/ledger/verify. An incremental pass checks the entries added since the last
 * pass, often; a full pass re-checks every entry from genesis (tampering with an old row is only
 * caught there), rarely. A lease row makes one instance at a time do each pass when several share
 * the database; the row also carries the cursor and the last result, so any instance can take over
 * and every instance reports the same result.
 *
 * A pass publishes only a verdict every instance would reach: one that stops at an entry signed by
 * a key this instance does not trust (unknown_key) is kept here, and the pass is left due for an
 * instance that trusts the key. This instance then says, on its own, that it cannot verify.
 */
export type AuditKind = 'incremental' | 'full';

export interface AuditRecord {
  kind: AuditKind;
  at: string;
  valid: boolean;
  entries_checked: number;
  checkpoints_checked: number;
  head_index: number | null;
  first_invalid?: ChainVerification['first_invalid'];
  instance: string;
}

export interface AuditStatus {
  /** The last published pass of each kind: the same on every instance. */
  shared: Partial<Record<AuditKind, AuditRecord>>;
  /**
   * What this instance itself cannot accept, if anything: its own last failed verification, or
   * entries the shared passes verified under a key it does not trust.
   */
  here?: IntegrityFailure;
}

export interface LedgerAuditor {
  /** Runs whatever pass is due, cluster-wide, and this instance can lease; cheap when none is. */
  tick(): Promise<void>;
  /** Runs a pass now (unless another instance holds its lease). */
  run(kind: AuditKind): Promise<AuditRecord | undefined>;
  lastResults(): Promise<Partial<Record<AuditKind, AuditRecord>>>;
  status(): Promise<AuditStatus>;
}

export interface LedgerAuditorOptions {
  db: Db;
  ledger: Ledger;
  logger: Logger;
  telemetry: Pick<Telemetry, 'ledgerVerified'>;
  instanceId: string;
  incrementalEveryMs: number;
  fullEveryMs: number;
  now?: () => number;
}

interface TaskState {
  /** Last entry an incremental pass verified, to continue from. */
  cursor?: { index: number; hash: string };
  /** Newest checkpoint an incremental pass verified: the next one must be consistent with it. */
  checkpoint?: CheckpointPoint;
  /** Key id → first index it signed, over everything the passes of this kind verified. */
  signers?: Record<string, number>;
  last?: AuditRecord;
}

const KINDS = ['incremental', 'full'] as const;
const TASK: Record<AuditKind, string> = { incremental: 'ledger_verify_incremental', full: 'ledger_verify_full' };

export function createLedgerAuditor(options: LedgerAuditorOptions): LedgerAuditor {
  const { db, ledger, logger, telemetry, instanceId } = options;
  const now = options.now ?? Date.now;
  const every: Record<AuditKind, number> = { incremental: options.incrementalEveryMs, full: options.fullEveryMs };
  let running: Promise<void> | undefined;
  // After a pass this instance could not judge, it leaves that kind to others for one interval.
  const retryAt: Record<AuditKind, number> = { incremental: 0, full: 0 };
  // When this instance last counted and logged that it cannot verify the ledger.
  let reportedAt = Number.NEGATIVE_INFINITY;

  /**
   * Takes the task's lease if it is free, expired or ours, returning the shared state; undefined
   * when another instance holds it. The lease outlives a slow pass by a wide margin.
   */
  async function lease(kind: AuditKind): Promise<TaskState | undefined> {
    const ttlMs = Math.max(every[kind] * 2, 60_000);
    // Lease times are the database's clock on both sides, so instances' clock drift cannot matter.
    const until = sql`now() + ${ttlMs}::integer * interval '1 millisecond'`;
    const rows = await db
      .insert(backgroundTasks)
      .values({ name: TASK[kind], holder: instanceId, leaseUntil: until, state: {} })
      .onConflictDoUpdate({
        target: backgroundTasks.name,
        set: { holder: instanceId, leaseUntil: until },
        setWhere: sql`${backgroundTasks.leaseUntil} < now() or ${backgroundTasks.holder} = ${instanceId}`,
      })
      .returning({ state: backgroundTasks.state });
    return rows[0]?.state as TaskState | undefined;
  }

  async function finish(kind: AuditKind, state: TaskState): Promise<void> {
    // Done: the lease is released (expires now) so the next due pass may run anywhere.
    await db
      .update(backgroundTasks)
      .set({ state: state as Record<string, unknown>, leaseUntil: sql`now()` })
      .where(eq(backgroundTasks.name, TASK[kind]));
  }

  /** Gives the lease back without touching the shared state: the pass stays due. */
  async function release(kind: AuditKind): Promise<void> {
    await db
      .update(backgroundTasks)
      .set({ leaseUntil: sql`now()` })
      .where(and(eq(backgroundTasks.name, TASK[kind]), eq(backgroundTasks.holder, instanceId)));
  }

  async function run(kind: AuditKind, onlyIfDue = false): Promise<AuditRecord | undefined> {
    if (onlyIfDue && now() < retryAt[kind]) return undefined;
    const state = await lease(kind);
    if (!state) return undefined;
    // Due-ness is judged on the shared record, so replicas together keep the schedule.
    if (onlyIfDue && state.last && now() - Date.parse(state.last.at) < every[kind]) {
      await finish(kind, state);
      return undefined;
    }
    const result = await ledger.verify(
      kind === 'incremental' ? { after: state.cursor, checkpoint: state.checkpoint } : {},
    );
    const record: AuditRecord = {
      kind,
      at: new Date(now()).toISOString(),
      valid: result.valid,
      entries_checked: result.entries_checked,
      checkpoints_checked: result.checkpoints_checked,
      head_index: result.head_index,
      instance: instanceId,
      ...(result.first_invalid ? { first_invalid: result.first_invalid } : {}),
    };
    if (result.first_invalid?.reason === 'unknown_key') {
      // Another instance may trust that key: this verdict is this instance's alone.
      await release(kind);
      retryAt[kind] = now() + every[kind];
      reportedAt = now();
      return record;
    }
    // A valid pass moves the cursor to what it verified; an invalid one keeps failing from the same
    // place, so the integrity metric keeps saying so until someone looks.
    const cursor =
      result.valid && result.head_index !== null && result.head_hash !== null
        ? { index: result.head_index, hash: result.head_hash }
        : state.cursor;
    const signers = !result.valid
      ? state.signers
      : kind === 'incremental'
        ? mergeSigners(state.signers, result.signers)
        : result.signers;
    const checkpoint = result.valid ? (result.checkpoint ?? state.checkpoint) : state.checkpoint;
    await finish(kind, {
      ...state,
      cursor: kind === 'incremental' ? cursor : state.cursor,
      checkpoint: kind === 'incremental' ? checkpoint : state.checkpoint,
      signers,
      last: record,
    });
    return record;
  }

  async function readStates(): Promise<Partial<Record<AuditKind, TaskState>>> {
    const rows = await db.select().from(backgroundTasks);
    const states: Partial<Record<AuditKind, TaskState>> = {};
    for (const kind of KINDS) {
      const state = rows.find((r) => r.name === TASK[kind])?.state;
      if (state && typeof state === 'object') states[kind] = state as TaskState;
    }
    return states;
  }

  async function status(): Promise<AuditStatus> {
    const states = await readStates();
    const shared: AuditStatus['shared'] = {};
    for (const kind of KINDS) {
      const last = states[kind]?.last;
      if (last) shared[kind] = last;
    }
    const untrusted = firstUntrusted(states);
    const own = ledger.integrityFailure();
    const here =
      untrusted && !(own && own.first_invalid.index <= untrusted.index)
        ? { at: new Date(now()).toISOString(), incremental: false, first_invalid: untrusted }
        : own;
    return here ? { shared, here } : { shared };
  }

  /** The lowest entry the shared passes verified under a key this instance does not trust. */
  function firstUntrusted(states: Partial<Record<AuditKind, TaskState>>): FirstInvalid | undefined {
    let first: FirstInvalid | undefined;
    for (const kind of KINDS) {
      for (const [keyId, index] of Object.entries(states[kind]?.signers ?? {})) {
        if (ledger.trusts(keyId) || (first && first.index <= index)) continue;
        first = { index, entry_id: null, reason: 'unknown_key', key_id: keyId };
      }
    }
    return first;
  }

  /**
   * An instance that cannot verify entries other instances verified says so once per incremental
   * interval, in the integrity metric and the log, even when the passes are always done elsewhere.
   */
  async function reportUnverifiable(): Promise<void> {
    if (now() - reportedAt < every.incremental) return;
    const { here } = await status();
    if (here?.first_invalid.reason !== 'unknown_key') return;
    reportedAt = now();
    telemetry.ledgerVerified(false);
    logger.error('this instance cannot verify ledger entries signed by a key it does not trust', {
      ...here.first_invalid,
      configure: 'LEXECON_TRUSTED_PUBLIC_KEYS',
    });
  }

  return {
    run: (kind) => run(kind),
    tick() {
      running ??= (async () => {
        try {
          await ledger.publishWatermark();
          for (const kind of KINDS) await run(kind, true);
          await reportUnverifiable();
        } catch (err) {
          // A code, never the message: drizzle's messages carry the statement's parameters.
          logger.warn('background ledger verification could not run', { error: failureCode(err) });
        } finally {
          running = undefined;
        }
      })();
      return running;
    },
    async lastResults() {
      return (await status()).shared;
    },
    status,
  };
}

/** Key id → the lowest first index either map gives it. */
function mergeSigners(
  known: Record<string, number> | undefined,
  found: Record<string, number>,
): Record<string, number> {
  const merged = { ...known };
  for (const [keyId, index] of Object.entries(found)) merged[keyId] = Math.min(merged[keyId] ?? index, index);
  return merged;
}
