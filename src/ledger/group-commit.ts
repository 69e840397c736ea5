import { isDatabaseUnavailable } from '../db/errors';
import { noopTracing, type TraceContext, type Tracing } from '../telemetry/telemetry';
import { LedgerTruncatedError } from './errors';

export interface Head {
  index: number;
  hash: string;
}

/** A group built or committed: one result per event, in order, and the head it leaves. */
export interface Group<R, H extends Head = Head> {
  results: R[];
  head: H;
}

export interface GroupCommitStages<E, G extends Group<unknown, H>, H extends Head = Head> {
  /** Hashes and signs `events` chained onto `head`; no database access. */
  build(head: H, events: E[]): Promise<G>;
  /** Inserts a built group in one statement; the database rejects it if `head` was stale. */
  insert(group: G): Promise<void>;
  /** The safe path: reads the real head under the writers' lock and appends, in one transaction. */
  appendLocked(events: E[]): Promise<G>;
  /** True when another writer extended the chain first. */
  isConflict(err: unknown): boolean;
}

type ResultOf<G> = G extends Group<infer R, Head> ? R : never;

interface Waiter<E, R> {
  event: E;
  /** The caller's trace context: the group commit is a child of the first caller's, linked to the rest. */
  trace: TraceContext;
  resolve(result: R): void;
  reject(err: unknown): void;
}

/**
 * Hands the event loop back once: appends made in the same turn (a burst of requests) and the
 * callbacks of I/O that completed meanwhile queue up first, so a group takes all of them even
 * when building it never waits (a synchronous signature would otherwise commit one entry per group).
 */
const yieldToEventLoop = () =>
  new Promise<void>((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));

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
export function createGroupCommitWriter<E, G extends Group<unknown, H>, H extends Head = Head>(
  stages: GroupCommitStages<E, G, H>,
  maxBatch: number,
  tracing: Pick<Tracing, 'captureContext' | 'inSpan' | 'detached'> = noopTracing,
) {
  type R = ResultOf<G>;
  const queue: Waiter<E, R>[] = [];
  let running = false;
  // The head this instance last committed, when it is sure of it.
  let knownHead: H | undefined;

  function settle(batch: Waiter<E, R>[], group: G): H | undefined {
    for (const [i, waiter] of batch.entries()) waiter.resolve(group.results[i] as R);
    knownHead = group.head;
    return knownHead;
  }

  async function commitLocked(batch: Waiter<E, R>[]): Promise<H | undefined> {
    try {
      return settle(batch, await stages.appendLocked(batch.map((w) => w.event)));
    } catch (err) {
      knownHead = undefined;
      // One bad event must not fail its neighbours: retry them one by one unless the ledger cannot write at all.
      if (batch.length > 1 && !isDatabaseUnavailable(err) && !(err instanceof LedgerTruncatedError)) {
        for (const waiter of batch) await commitLocked([waiter]);
        return knownHead;
      }
      for (const waiter of batch) waiter.reject(err);
      return undefined;
    }
  }

  /** Commits one group; never rejects. Resolves to the head it committed, or undefined. */
  function commit(batch: Waiter<E, R>[], built: G | undefined): Promise<H | undefined> {
    const [first, ...rest] = batch;
    return tracing.inSpan(
      'ledger.commit',
      { 'ledger.group_size': batch.length, 'ledger.path': built ? 'single_statement' : 'locked' },
      () => commitGroup(batch, built),
      { parent: first?.trace, links: rest.map((w) => w.trace) },
    );
  }

  async function commitGroup(batch: Waiter<E, R>[], built: G | undefined): Promise<H | undefined> {
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
    let inFlight: Promise<H | undefined> | undefined;
    let predicted: H | undefined;
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
        await yieldToEventLoop();
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
        predicted = usable?.head;
        inFlight = commit(batch, usable);
      }
    } finally {
      running = false;
    }
  }

  return {
    append(event: E): Promise<R> {
      return new Promise<R>((resolve, reject) => {
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
