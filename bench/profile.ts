/**
 * A CPU profile (`node --cpu-prof`) condensed into µs per request per stage of the request's path, for
 * the time window of one measured run. Each sample goes to the innermost frame of the service's own
 * code on its stack (so a synchronous write under the request log counts as the request log), else the
 * innermost library frame, else Node's own code; what is left is V8's (GC, native code).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** A measured run, in the monotonic clock's µs (the clock V8 stamps profile samples with). */
export interface ProfileWindow {
  startUs: number;
  endUs: number;
  requests: number;
}

export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

// Ordered: the first pattern a frame's url matches names its stage.
const SERVICE_STAGES: [RegExp, string][] = [
  [/\/src\/http\/middleware\/([\w-]+)/, 'middleware: $1'],
  [/\/src\/http\/routes\//, 'route handlers'],
  [/\/src\/http\//, 'HTTP shell (errors, context)'],
  [/\/src\/ledger\//, 'ledger (hashing, tree, checkpoints)'],
  [/\/src\/(decisions|governance|policies)\//, 'decision: evaluation and assembly'],
  [/\/src\/telemetry\/logger/, 'logger (request log line, write)'],
  [/\/src\/telemetry\//, 'telemetry'],
  [/\/src\/db\//, 'database layer'],
  // The Node entry hands the core its native SHA-256 (entry hashes, API key lookups) and scrypt.
  [/\/src\/node\.ts$/, 'native hashing (node:crypto, from the Node entry)'],
  [/\/src\/node\//, 'Node entry (checkpoint signing, stdout log)'],
  [/\/src\/([\w-]+)/, 'service: $1'],
];
const LIBRARY_STAGES: [RegExp, string][] = [
  [/node_modules\/@electric-sql\/pglite\//, 'PGlite'],
  [/node_modules\/@opentelemetry\//, 'OpenTelemetry SDK'],
  [/node_modules\/(zod|@hono\/zod-openapi|@hono\/zod-validator|@asteasolutions)\//, 'validation (zod)'],
  [/node_modules\/@hono\/node-server\//, 'Node adapter (@hono/node-server)'],
  [/node_modules\/hono\//, 'Hono'],
  [/node_modules\/(drizzle-orm|postgres)\//, 'database driver'],
  [/node_modules\/@noble\//, 'hashing library'],
  [/node_modules\//, 'other libraries'],
];

/** µs of CPU per request by stage, over the samples inside `window`, from every profile in `dir`. */
export function stagesIn(dir: string, window: ProfileWindow): Record<string, number> {
  const micros: Record<string, number> = {};
  for (const file of readdirSync(dir).filter((name) => name.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile;
    const stageOf = stageResolver(profile.nodes);
    let at = profile.startTime;
    profile.samples.forEach((id, i) => {
      at += profile.timeDeltas[i] ?? 0;
      // A sample stands for the time until the next one.
      const duration = profile.timeDeltas[i + 1] ?? 0;
      if (at < window.startUs || at >= window.endUs) return;
      const stage = stageOf(id);
      if (stage !== undefined) micros[stage] = (micros[stage] ?? 0) + duration;
    });
  }
  const requests = Math.max(1, window.requests);
  return Object.fromEntries(Object.entries(micros).map(([stage, total]) => [stage, total / requests]));
}

/** The stage of a profile node by the rule above; undefined for idle time. Memoised per node. */
function stageResolver(nodes: ProfileNode[]): (id: number) => string | undefined {
  const byId = new Map(nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const memo = new Map<number, string | undefined>();
  return (id) => {
    if (memo.has(id)) return memo.get(id);
    const leaf = byId.get(id)?.callFrame;
    let library: string | undefined;
    let core: string | undefined;
    let service: string | undefined;
    for (let at: number | undefined = id; at !== undefined && service === undefined; at = parent.get(at)) {
      const url = byId.get(at)?.callFrame.url ?? '';
      // A library's own src/ (postgres.js, the OpenTelemetry SDK) is not the service's.
      if (!url.includes('/node_modules/')) service = match(SERVICE_STAGES, url);
      library ??= match(LIBRARY_STAGES, url);
      if (url.startsWith('node:')) core ??= 'Node core (http, net, streams, fs)';
    }
    const name = leaf?.functionName ?? '';
    const stage =
      name === '(idle)'
        ? undefined
        : (service ??
          library ??
          core ??
          (name === '(garbage collector)' ? 'garbage collection' : 'V8 and native code, unattributed'));
    memo.set(id, stage);
    return stage;
  };
}

function match(rules: [RegExp, string][], url: string): string | undefined {
  for (const [pattern, stage] of rules) {
    const found = pattern.exec(url);
    if (found) return stage.replace('$1', found[1] ?? '');
  }
  return undefined;
}
