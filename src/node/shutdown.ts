import type { Server } from 'node:http';
import type { Config } from '../config';
import type { Lifecycle } from '../health/lifecycle';
import type { Logger } from '../telemetry/logger';

export interface ShutdownOptions {
  server: Server;
  lifecycle: Lifecycle;
  logger: Logger;
  config: Config['lifecycle'];
}

/**
 * SIGTERM/SIGINT: readiness turns 503 at once; after the delay (load balancers and the endpoints
 * controller catch up meanwhile) the server stops accepting connections and in-flight requests
 * finish; then the registered steps run in reverse order (telemetry flush, database close) and the
 * process exits 0 — all inside the grace period, which must be shorter than Kubernetes' (30 s).
 */
export function createShutdown(options: ShutdownOptions) {
  const { server, lifecycle, logger, config } = options;
  const steps: (() => Promise<unknown>)[] = [];
  let stopping = false;

  async function stop(signal: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    const deadline = Date.now() + config.shutdownGraceMs;
    lifecycle.draining();
    logger.info('draining', { signal, delay_ms: config.shutdownDelayMs, grace_ms: config.shutdownGraceMs });
    // Leave time at the end for flushing telemetry and closing the pool.
    const flushBudget = Math.min(5_000, config.shutdownGraceMs / 4);
    await sleep(Math.min(config.shutdownDelayMs, deadline - Date.now() - flushBudget));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    server.closeIdleConnections();
    const idleSweep = setInterval(() => server.closeIdleConnections(), 250);
    const drained = await Promise.race([
      closed.then(() => true),
      sleep(deadline - Date.now() - flushBudget).then(() => false),
    ]);
    clearInterval(idleSweep);
    if (!drained) {
      logger.warn('grace period over: closing the connections still open');
      server.closeAllConnections();
    }
    // Each step gets an equal share of the time left: a telemetry flush retrying against a dead
    // collector would otherwise use it all, and the database would close after the deadline.
    const ordered = steps.reverse();
    for (const [i, step] of ordered.entries()) {
      await Promise.race([
        step().catch((err) => logger.warn('shutdown step failed', { error: err })),
        sleep((deadline - Date.now()) / (ordered.length - i)),
      ]);
    }
    logger.info('stopped', { signal, drained });
    process.exit(0);
  }

  return Object.assign(stop, {
    /** Registers a step to run at shutdown (later registrations run first). */
    before(step: () => Promise<unknown>) {
      steps.push(step);
    },
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
