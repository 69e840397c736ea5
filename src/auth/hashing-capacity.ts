/**
 * How much password hashing one instance does at once. scrypt is deliberately expensive (about a
 * quarter of a second of one core here) and on Node it runs on the libuv thread pool, whose four
 * threads also run the WebCrypto Ed25519 signature every decision needs: unbounded, a flood of
 * sign-ins queues hundreds of hashes ahead of those signatures and takes both cores. So a few
 * hashes run at a time, a short line waits in arrival order, and anyone beyond the line is refused
 * at once — before any account is looked up, so a refusal says nothing about which names exist.
 */
export interface HashingCapacitySettings {
  /** Hashes running at once: leave thread-pool threads and a core to the decisions. */
  inFlight: number;
  /** Callers waiting for a hash beyond those; more are refused at once. */
  queued: number;
}

/**
 * One hash at a time (of the thread pool's four threads and the machine's two cores), and a line of
 * eight: about two seconds' wait at most at ~0.25 s a hash.
 */
export const DEFAULT_HASHING_CAPACITY: HashingCapacitySettings = { inFlight: 1, queued: 8 };

/** The line is full: retry after the given time. A plain error, which the HTTP shell answers as 429. */
export class HashingBusyError extends Error {
  override readonly name = 'HashingBusyError';
  constructor(readonly retryAfterSeconds: number) {
    super('password hashing is at capacity');
  }
}

/** Runs `hash` in one of the in-flight slots, once one is free (in the order asked). */
export type HashSlot = <T>(hash: () => Promise<T>) => Promise<T>;

export interface HashingCapacity {
  /**
   * Takes a place in line at once — or throws HashingBusyError without calling `work` when all
   * inFlight + queued places are held — and gives it back when `work` settles, however it settles.
   * `work` does what it needs before the hash (an account lookup) without holding a slot, then
   * hashes through `slot`.
   */
  admit<T>(work: (slot: HashSlot) => Promise<T>): Promise<T>;
  /** Places held (in flight, waiting or looking up) and hashes running: for tests and health. */
  usage(): { places: number; running: number };
}

export function createHashingCapacity(
  settings: HashingCapacitySettings = DEFAULT_HASHING_CAPACITY,
  now: () => number = Date.now,
): HashingCapacity {
  const { inFlight, queued } = settings;
  if (!(Number.isInteger(inFlight) && inFlight >= 1 && Number.isInteger(queued) && queued >= 0)) {
    throw new Error('hashing capacity: inFlight must be a positive integer and queued a non-negative one');
  }
  let places = 0;
  let running = 0;
  const waiting: (() => void)[] = [];
  // The last hash's duration, for an honest Retry-After: the time the line ahead takes to clear.
  let lastHashMs = 0;

  function retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((places / inFlight) * (lastHashMs / 1000)));
  }

  async function slot<T>(hash: () => Promise<T>): Promise<T> {
    if (running < inFlight) running++;
    // A finishing hash hands its slot straight to the first in line, so no newcomer overtakes it.
    else await new Promise<void>((resolve) => waiting.push(resolve));
    const started = now();
    try {
      return await hash();
    } finally {
      lastHashMs = now() - started;
      const next = waiting.shift();
      if (next) next();
      else running--;
    }
  }

  return {
    async admit(work) {
      if (places >= inFlight + queued) throw new HashingBusyError(retryAfterSeconds());
      places++;
      try {
        return await work(slot);
      } finally {
        places--;
      }
    },
    usage: () => ({ places, running }),
  };
}
