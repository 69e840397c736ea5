import { eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { backgroundTasks } from '../db/schema';
import type { ChainPoint } from './verify';

/**
 * The highest entry this instance has committed or verified (its watermark), kept in memory and
 * shared with every instance through a row of background_tasks. The chain is append-only, so it
 * must always reach the watermark with the same hash: a head below it means the tail was cut off,
 * another hash there means the entry was rewritten. Both copies only ever rise: the memory one
 * survives an attacker who also edits the shared row, the shared one tells instances that never
 * saw the entries themselves.
 */
export interface Watermarks {
  local(): ChainPoint | undefined;
  /** Raises the local watermark to `point` if it is higher. */
  raise(point: ChainPoint): void;
  /** The highest watermark any instance has published. */
  shared(): Promise<ChainPoint | undefined>;
  /** Publishes the local watermark unless the shared one is known to be as high. */
  publish(): Promise<void>;
}

const ROW = 'ledger_watermark';

export function createWatermarks(db: Db, instanceId: string): Watermarks {
  let local: ChainPoint | undefined;
  // The shared watermark's index as last read or written here: publishing below it is pointless.
  let sharedIndex = -1;

  return {
    local: () => local,
    raise(point) {
      if (!local || point.index > local.index) local = { index: point.index, hash: point.hash };
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
      // instance writes last.
      await db
        .insert(backgroundTasks)
        .values({ name: ROW, holder: instanceId, leaseUntil: sql`now()`, state: { ...point } })
        .onConflictDoUpdate({
          target: backgroundTasks.name,
          set: { state: sql`excluded.state`, holder: sql`excluded.holder`, leaseUntil: sql`now()` },
          setWhere: sql`coalesce((${backgroundTasks.state}->>'index')::bigint, -1) < ${point.index}`,
        });
      sharedIndex = Math.max(sharedIndex, point.index);
    },
  };
}

function asPoint(state: unknown): ChainPoint | undefined {
  const { index, hash } = (state ?? {}) as Partial<ChainPoint>;
  return Number.isSafeInteger(index) && typeof hash === 'string' ? { index: index as number, hash } : undefined;
}
