import { createHash } from 'node:crypto';
import type { ExecutionContext } from 'hono';
import type { WorkerBindings } from './edge/config';
import { type Isolate, type MisconfiguredIsolate, prepareIsolate, startIsolate } from './edge/isolate';
import { metricsNotServed, misconfigured } from './edge/responses';
import { answerWhileStarting } from './health/starting';

/**
 * Workers entry: the same app and startup as Node (src/http/app.ts, src/startup.ts), configured from
 * bindings once per isolate, with per-request database connections and telemetry pushed after each
 * response.
 */
// The ledger's entry hash is synchronous by design; nodejs_compat's node:crypto hash is native.
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

// Check-then-set, never a shared pending promise: Workers cancel a request's continuation when the
// request that created the promise it awaits has finished.
let isolate: Isolate | MisconfiguredIsolate | undefined;

async function isolateFor(bindings: WorkerBindings): Promise<Isolate | MisconfiguredIsolate> {
  if (isolate) return isolate;
  const started = await startIsolate(bindings, sha256);
  isolate ??= started;
  return isolate;
}

async function handle(request: Request, bindings: WorkerBindings, ctx: ExecutionContext): Promise<Response> {
  const current = await isolateFor(bindings);
  if (current.kind === 'misconfigured') return misconfigured(request, current.errors);
  if (new URL(request.url).pathname === '/metrics') return metricsNotServed(request);

  const { services, database } = current.servicesFor();
  try {
    if (current.lifecycle.phase === 'starting') {
      try {
        await prepareIsolate(current, services, database);
      } catch (err) {
        current.logger.error('not ready to serve', { error: err });
        return answerWhileStarting(request, current.lifecycle);
      }
    }
    return await current.scope.run(services, () => current.app.fetch(request, bindings, ctx));
  } finally {
    // After the response: the client never waits for telemetry or for the connections to close.
    ctx.waitUntil(Promise.allSettled([current.telemetry.flush(), database.close()]));
  }
}

/** Background ledger verification without timers: a Cron Trigger; due-ness is decided cluster-wide. */
async function verifyLedger(bindings: WorkerBindings, ctx: ExecutionContext): Promise<void> {
  const current = await isolateFor(bindings);
  if (current.kind === 'misconfigured') return;
  const { services, database } = current.servicesFor();
  ctx.waitUntil(
    services.auditor.tick().finally(() => Promise.allSettled([current.telemetry.flush(), database.close()])),
  );
}

export default {
  fetch: handle,
  scheduled: (_controller: unknown, bindings: WorkerBindings, ctx: ExecutionContext) => verifyLedger(bindings, ctx),
};
