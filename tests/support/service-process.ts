import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { openPglite } from '../../src/db/client';

/**
 * The real service process, started as `npm start` starts it (`node --import tsx src/node.ts`) and
 * spoken to over real HTTP, on an embedded PGlite data dir of its own. The data dir is seeded from
 * the migrated template of the global setup, so a start skips initdb (~7 s).
 */
export const ADMIN_KEY = 'test-bootstrap-admin-key-0123456789abcdef';

export interface ServiceProcess {
  readonly url: string;
  readonly pid: number;
  /** Every line written to stdout and stderr so far. */
  readonly lines: string[];
  /** The stdout lines that are JSON objects (the structured log). */
  logs(): Record<string, unknown>[];
  /** Resident set size now, from /proc. */
  rssBytes(): number;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  readonly exited: Promise<number | null>;
}

const dirs: string[] = [];
const running = new Set<ChildProcess>();
let seeded: string | undefined;

/** A data dir with a migrated PGlite database in it, new for each call. */
async function seededDataDir(): Promise<string> {
  if (!seeded) {
    seeded = mkdtempSync(join(tmpdir(), 'lexecon-seed-'));
    dirs.push(seeded);
    const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
    const database = await openPglite({ dataDir: join(seeded, 'pglite'), loadDataDir: template });
    await database.close();
  }
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-process-'));
  dirs.push(dir);
  mkdirSync(dir, { recursive: true });
  cpSync(join(seeded, 'pglite'), join(dir, 'pglite'), { recursive: true });
  return dir;
}

/** Kills any service a failed test left running and removes every data dir made; for afterAll. */
export function cleanUpServices(): void {
  for (const child of running) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  running.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  seeded = undefined;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startService(env: Record<string, string>): Promise<ServiceProcess> {
  const port = await freePort();
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
    cwd: join(import.meta.dirname, '..', '..'),
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      // Stop at once on SIGTERM: no load balancer to wait for here.
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  const lines: string[] = [];
  const collect = (stream: NodeJS.ReadableStream | null) => {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter(Boolean));
    });
    stream?.on('end', () => {
      if (partial) lines.push(partial);
    });
  };
  collect(child.stdout);
  collect(child.stderr);
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const deadline = Date.now() + 90_000;
  while (!lines.some((line) => line.includes('"message":"listening"'))) {
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 50))]);
    if (code !== 'waiting') throw new Error(`service exited with ${code}:\n${lines.join('\n')}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`service did not start:\n${lines.join('\n')}`);
    }
  }
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid as number,
    lines,
    logs() {
      const parsed: Record<string, unknown>[] = [];
      for (const line of lines) {
        if (!line.startsWith('{')) continue;
        try {
          parsed.push(JSON.parse(line) as Record<string, unknown>);
        } catch {}
      }
      return parsed;
    },
    rssBytes() {
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${child.pid}/status`, 'utf8'))?.[1];
      return Number(kb) * 1024;
    },
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    exited,
  };
}

/** Runs `count` calls of `send`, `concurrency` at a time; resolves to every result in call order. */
export async function inParallel<T>(count: number, concurrency: number, send: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = new Array(count);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await send(i);
      }
    }),
  );
  return results;
}
