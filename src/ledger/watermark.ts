import { eq, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { backgroundTasks, ledgerEntries } from '../db/schema';
import type { ChainPoint } from './verify';

/**
 * The highest entry this instance has committed or verified (its watermark), kept in memory and
 * shared with every instance through a row of background_tasks. The chain is append-only, so it
 * must always reach the watermark with the same hash: a head below it means the tail was cut off,
 * another hash there means the entry was rewritten. Both copies only ever rise: the memory one
 * survives an attacker who also edits the shared row, the shared one tells instances that never
 * saw the entries themselves. Neither is raised past a point the chain no longer holds: after a cut,
 * new legitimate entries must not paper over the evidence.
 */
export interface Watermarks {
  local(): ChainPoint | undefined;
  /** Raises the local watermark to `point` if it is higher, unless the chain lost the watermark. */
  raise(point: ChainPoint): void;
  /**
   * The head as read under the writers' lock (through `q`, the locked transaction): below the local
   * watermark, or another entry at its index or, below a longer head, at the watermark's index (a
   * rollback grown again), means the chain lost what this instance knew, and the local watermark
   * stays as evidence. Returns whether it lost it.
   */
  observeHead(q: Db | Tx, head: ChainPoint | undefined): Promise<boolean>;
  /** Keeps the local watermark where it is (a verification found the chain does not hold it). */
  freeze(): void;
  /** The highest watermark any instance has published. */
  shared(): Promise<ChainPoint | undefined>;
  /** Publishes the local watermark unless the shared one is known to be as high. */
  publish(): Promise<void>;
}

const ROW = 'ledger_watermark';

export function createWatermarks(db: Db, instanceId: string): Watermarks {
  let local: ChainPoint | undefined;
  let frozen = false;
  // The shared watermark's index as last read or written here: publishing below it is pointless.
  let sharedIndex = -1;

  return {
    local: () => local,
    raise(point) {
      if (!frozen && (!local || point.index > local.index)) local = { index: point.index, hash: point.hash };
    },
    async observeHead(q, head) {
      const lost = local !== undefined && (await lostAt(q, local, head));
      if (lost) frozen = true;
      return lost;
    },
    freeze() {
      frozen = true;
    },
    async shared() {
      const [row] = await db
        .select({ state: backgroundTasks.state })
        .from(backgroundTasks)
        .where(eq(backgroundTasks.name, ROW));
      const point = asPoint(row?.state);
      sharedIndex = point?.index ?? -1;
      return point;
    },
    async publish() {
      const point = local;
      if (!point || point.index <= sharedIndex) return;
      // Compare-and-set in one statement: a lower watermark never replaces a higher one, whichever
      // instance writes last, and none replaces one the chain no longer holds.
      await db
        .insert(backgroundTasks)
        .values({ name: ROW, holder: instanceId, leaseUntil: sql`now()`, state: { ...point } })
        .onConflictDoUpdate({
          target: backgroundTasks.name,
          set: { state: sql`excluded.state`, holder: sql`excluded.holder`, leaseUntil: sql`now()` },
          setWhere: sql`coalesce((${backgroundTasks.state}->>'index')::bigint, -1) < ${point.index}
            and (${backgroundTasks.state}->>'index' is null or exists (
              select 1 from ledger_entries held
              where held.seq = (${backgroundTasks.state}->>'index')::bigint and held.entry_hash = ${backgroundTasks.state}->>'hash'))`,
        });
      sharedIndex = Math.max(sharedIndex, point.index);
    },
  };
}

async function lostAt(q: Db | Tx, local: ChainPoint, head: ChainPoint | undefined): Promise<boolean> {
  if (!head || head.index < local.index) return true;
  if (head.index === local.index) return head.hash !== local.hash;
  const [row] = await q
    .select({ hash: ledgerEntries.entryHash })
    .from(ledgerEntries)
    .where(eq(ledgerEntries.seq, local.index));
  return row?.hash !== local.hash;
}

function asPoint(state: unknown): ChainPoint | undefined {
  const { index, hash } = (state ?? {}) as Partial<ChainPoint>;
  return Number.isSafeInteger(index) && typeof hash === 'string' ? { index: index as number, hash } : undefined;
}
