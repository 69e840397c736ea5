/**
 * Tests wait on conditions, never for a guessed time; these budgets only bound a wait whose
 * condition never comes true, so they are generous. They hold at a load average of twice the cores
 * (the README's claim; see .ci/run): quiet, a start on a seeded data dir takes ~2 s, one that runs
 * initdb ~8 s, a SIGTERM with no shutdown delay under 1 s, and at that load each takes three to four
 * times as long.
 */

/** A condition polled for: a start, readiness flipping, a span or a metric push landing. */
export const CONDITION_TIMEOUT_MS = 60_000;

/** A test (or hook) that starts the service a few times. */
export const PROCESS_TEST_TIMEOUT_MS = 180_000;

/** For `vi.setConfig` at the top of a suite that starts the service. */
export const PROCESS_SUITE = { testTimeout: PROCESS_TEST_TIMEOUT_MS, hookTimeout: PROCESS_TEST_TIMEOUT_MS };

/** Polls `probe` every `everyMs` until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs = CONDITION_TIMEOUT_MS,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}
