import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { backgroundTasks } from '../db/schema';
import type { Logger } from '../telemetry/logger';
import type { Ledger } from './store';
import type { ChainVerification } from './verify';

/**
 * Verifies the ledger in the background, so the integrity metric (and its alert) moves without
 * anyone calling GET /api/ledger/verify. An incremental pass checks the entries added since the last
 * pass, often; a full pass re-checks every entry from genesis (tampering with an old row is only
 * caught there), rarely. A lease row makes one instance at a time do each pass when several share
 * the database; the row also carries the cursor and the last result, so any instance can take over
 * and every instance reports the same result.
 */
export type AuditKind = 'incremental' | 'full';

export interface AuditRecord {
  kind: AuditKind;
  at: string;
  valid: boolean;
  entries_checked: number;
  head_index: number | null;
  first_invalid?: ChainVerification['first_invalid'];
  instance: string;
}

export interface LedgerAuditor {
  /** Runs whatever pass is due, cluster-wide, and this instance can lease; cheap when none is. */
  tick(): Promise<void>;
  /** Runs a pass now (unless another instance holds its lease). */
  run(kind: AuditKind): Promise<AuditRecord | undefined>;
  lastResults(): Promise<Partial<Record<AuditKind, AuditRecord>>>;
}

export interface LedgerAuditorOptions {
  db: Db;
  ledger: Ledger;
  logger: Logger;
  instanceId: string;
  incrementalEveryMs: number;
  fullEveryMs: number;
  now?: () => number;
}

interface TaskState {
  /** Last entry an incremental pass verified, to continue from. */
  cursor?: { index: number; hash: string };
  last?: AuditRecord;
}

const TASK: Record<AuditKind, string> = { incremental: 'ledger_verify_incremental', full: 'ledger_verify_full' };

export function createLedgerAuditor(options: LedgerAuditorOptions): LedgerAuditor {
  const { db, ledger, logger, instanceId } = options;
  const now = options.now ?? Date.now;
  const every: Record<AuditKind, number> = { incremental: options.incrementalEveryMs, full: options.fullEveryMs };
  let running: Promise<void> | undefined;

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

  async function run(kind: AuditKind, onlyIfDue = false): Promise<AuditRecord | undefined> {
    const state = await lease(kind);
    if (!state) return undefined;
    // Due-ness is judged on the shared record, so replicas together keep the schedule.
    if (onlyIfDue && state.last && now() - Date.parse(state.last.at) < every[kind]) {
      await finish(kind, state);
      return undefined;
    }
    const after = kind === 'incremental' ? state.cursor : undefined;
    const result = await ledger.verify({ after });
    const record: AuditRecord = {
      kind,
      at: new Date(now()).toISOString(),
      valid: result.valid,
      entries_checked: result.entries_checked,
      head_index: result.head_index,
      instance: instanceId,
      ...(result.first_invalid ? { first_invalid: result.first_invalid } : {}),
    };
    // A valid pass moves the cursor to what it verified; an invalid one keeps failing from the same
    // place, so the integrity metric keeps saying so until someone looks.
    const cursor =
      result.valid && result.head_index !== null && result.head_hash !== null
        ? { index: result.head_index, hash: result.head_hash }
        : state.cursor;
    await finish(kind, { ...state, cursor: kind === 'incremental' ? cursor : state.cursor, last: record });
    if (!record.valid) logger.error('ledger verification failed', { ...record });
    return record;
  }

  return {
    run: (kind) => run(kind),
    tick() {
      running ??= (async () => {
        try {
          for (const kind of ['incremental', 'full'] as const) await run(kind, true);
        } catch (err) {
          logger.warn('background ledger verification could not run', { error: (err as Error).message });
        } finally {
          running = undefined;
        }
      })();
      return running;
    },
    async lastResults() {
      const rows = await db.select().from(backgroundTasks);
      const results: Partial<Record<AuditKind, AuditRecord>> = {};
      for (const kind of ['incremental', 'full'] as const) {
        const last = (rows.find((r) => r.name === TASK[kind])?.state as TaskState | undefined)?.last;
        if (last) results[kind] = last;
      }
      return results;
    },
  };
}
