import { isDatabaseUnavailable } from '../db/errors';
import { noopTracing, type TraceContext, type Tracing } from '../telemetry/telemetry';
import type { LedgerEntry } from './entry';

export interface Head {
  index: number;
  hash: string;
}

export interface GroupCommitStages<E> {
  /** Hashes and signs `events` chained onto `head`; no database access. */
  build(head: Head, events: E[]): Promise<LedgerEntry[]>;
  /** Inserts built entries in one statement; the database rejects them if `head` was stale. */
  insert(entries: LedgerEntry[]): Promise<void>;
  /** The safe path: reads the real head under the writers' lock and appends, in one transaction. */
  appendLocked(events: E[]): Promise<LedgerEntry[]>;
  /** True when another writer extended the chain first. */
  isConflict(err: unknown): boolean;
}

interface Waiter<E> {
  event: E;
  /** The caller's trace context: the group commit is a child of the first caller's, linked to the rest. */
  trace: TraceContext;
  resolve(entry: LedgerEntry): void;
  reject(err: unknown): void;
}

/**
 * Group commit with a two-stage pipeline. Appends that arrive while a group is committing queue up
 * and go together in the next group, so durability costs one commit per group, not per entry, and
 * every caller is answered only after its entry is committed.
 *
 * While group N is in the database, the appends queued before N's commit began are already hashed
 * and signed as group N+1 on N's predicted head (later arrivals wait for N, so groups grow); that
 * work is used only if N commits exactly as predicted, else rebuilt on the real head. While no other
 * instance interleaves, a group is one statement; after a conflict it takes the locked path.
 */
export function createGroupCommitWriter<E>(
  stages: GroupCommitStages<E>,
  maxBatch: number,
  tracing: Pick<Tracing, 'captureContext' | 'inSpan' | 'detached'> = noopTracing,
) {
  const queue: Waiter<E>[] = [];
  let running = false;
  // The head this instance last committed, when it is sure of it.
  let knownHead: Head | undefined;

  function settle(batch: Waiter<E>[], entries: LedgerEntry[]): Head | undefined {
    for (const [i, waiter] of batch.entries()) waiter.resolve(entries[i] as LedgerEntry);
    const last = entries.at(-1);
    knownHead = last && { index: last.index, hash: last.entry_hash };
    return knownHead;
  }

  async function commitLocked(batch: Waiter<E>[]): Promise<Head | undefined> {
    try {
      return settle(batch, await stages.appendLocked(batch.map((w) => w.event)));
    } catch (err) {
      knownHead = undefined;
      // One bad event must not fail its neighbours: retry them one by one unless the database is gone.
      if (batch.length > 1 && !isDatabaseUnavailable(err)) {
        for (const waiter of batch) await commitLocked([waiter]);
        return knownHead;
      }
      for (const waiter of batch) waiter.reject(err);
      return undefined;
    }
  }

  /** Commits one group; never rejects. Resolves to the head it committed, or undefined. */
  function commit(batch: Waiter<E>[], built: LedgerEntry[] | undefined): Promise<Head | undefined> {
    const [first, ...rest] = batch;
    return tracing.inSpan(
      'ledger.commit',
      { 'ledger.group_size': batch.length, 'ledger.path': built ? 'single_statement' : 'locked' },
      () => commitGroup(batch, built),
      { parent: first?.trace, links: rest.map((w) => w.trace) },
    );
  }

  async function commitGroup(batch: Waiter<E>[], built: LedgerEntry[] | undefined): Promise<Head | undefined> {
    if (!built) return commitLocked(batch);
    try {
      await stages.insert(built);
      return settle(batch, built);
    } catch (err) {
      knownHead = undefined;
      if (stages.isConflict(err) || batch.length > 1) return commitLocked(batch);
      for (const waiter of batch) waiter.reject(err);
      return undefined;
    }
  }

  async function run(): Promise<void> {
    running = true;
    let inFlight: Promise<Head | undefined> | undefined;
    let predicted: Head | undefined;
    try {
      for (;;) {
        if (queue.length === 0) {
          if (!inFlight) break;
          await inFlight;
          inFlight = undefined;
          continue;
        }
        if (inFlight && !predicted) {
          // Nothing to chain onto until the group in flight lands.
          await inFlight;
          inFlight = undefined;
        }
        const head = inFlight ? predicted : knownHead;
        const batch = queue.splice(0, maxBatch);
        const built = head
          ? await stages
              .build(
                head,
                batch.map((w) => w.event),
              )
              .catch(() => undefined)
          : undefined;
        const landed = inFlight ? await inFlight : knownHead;
        const usable =
          built && head && landed && landed.index === head.index && landed.hash === head.hash ? built : undefined;
        const last = usable?.at(-1);
        predicted = last && { index: last.index, hash: last.entry_hash };
        inFlight = commit(batch, usable);
      }
    } finally {
      running = false;
    }
  }

  return {
    append(event: E): Promise<LedgerEntry> {
      return new Promise<LedgerEntry>((resolve, reject) => {
        queue.push({ event, trace: tracing.captureContext(), resolve, reject });
        // The loop outlives this caller and serves many: it must not run inside this caller's trace.
        if (!running) void tracing.detached(run);
      });
    },
    /** Another path appended: the next group reads the head under the lock. */
    forgetHead() {
      knownHead = undefined;
    },
  };
}
