import { type ChildProcess, spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inject } from 'vitest';
import { openPglite } from '../../src/db/client';
import { samplePolicy } from './app';

/**
 * The real service process (from source, `node --import tsx src/node.ts`, unless a test runs the
 * build), spawned without waiting for it to be ready, so tests can watch it start, serve, drain and exit.
 */
export const ADMIN_KEY = 'test-bootstrap-admin-key-0123456789abcdef';
/** A fixed Ed25519 seed, so restarts and several processes sign with the same key. */
export const SIGNING_KEY = Buffer.alloc(32, 11).toString('base64');

export interface LexeconProcess {
  readonly url: string;
  readonly port: number;
  readonly child: ChildProcess;
  /** Every stdout and stderr line so far. */
  readonly lines: string[];
  /** Resolves once "listening" is logged; rejects if the process exits first. */
  readonly listening: Promise<void>;
  /** The exit code and when (Date.now()) the process exited. */
  readonly exited: Promise<{ code: number | null; at: number }>;
  /** The structured log lines (JSON objects). */
  logs(): Record<string, unknown>[];
  /** Fetch with the bootstrap admin key. */
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any; headers: Headers }>;
}

const dirs: string[] = [];
const children = new Set<ChildProcess>();
let seeded: string | undefined;

export function tempDir(prefix = 'lexecon-proc-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

/** A data dir holding the global setup's migrated PGlite template, so a start skips initdb. */
export async function seededDataDir(): Promise<string> {
  if (!seeded) {
    seeded = tempDir('lexecon-seed-');
    const template = new Blob([readFileSync(inject('pgliteTemplate'))]);
    const database = await openPglite({ dataDir: join(seeded, 'pglite'), loadDataDir: template });
    await database.close();
  }
  const dir = tempDir();
  cpSync(join(seeded, 'pglite'), join(dir, 'pglite'), { recursive: true });
  return dir;
}

/** A policy file (the sample policy) in a directory of its own. */
export function policyFile(): string {
  const file = join(tempDir('lexecon-policy-'), 'policy.json');
  writeFileSync(file, JSON.stringify(samplePolicy));
  return file;
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Kills whatever a failed test left running and removes the directories made; for afterAll. */
export function cleanUpProcesses(): void {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.clear();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  seeded = undefined;
}

/** How to run the service: by default through tsx from this checkout; `node dist/node.js` in a build. */
export interface Command {
  args: string[];
  cwd: string;
}

export const FROM_SOURCE: Command = {
  args: ['--import', 'tsx', 'src/node.ts'],
  cwd: join(import.meta.dirname, '..', '..'),
};

export async function spawnLexecon(env: Record<string, string>, command = FROM_SOURCE): Promise<LexeconProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, command.args, {
    cwd: command.cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOST: '127.0.0.1',
      PORT: String(port),
      LEXECON_SIGNING_KEY: SIGNING_KEY,
      LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  const lines: string[] = [];
  let onLine: () => void = () => {};
  for (const stream of [child.stdout, child.stderr]) {
    let partial = '';
    stream?.on('data', (chunk: Buffer) => {
      const parts = (partial + chunk.toString()).split('\n');
      partial = parts.pop() ?? '';
      lines.push(...parts.filter(Boolean));
      onLine();
    });
  }
  const exited = new Promise<{ code: number | null; at: number }>((resolve) =>
    child.on('exit', (code) => resolve({ code, at: Date.now() })),
  );
  const listening = new Promise<void>((resolve, reject) => {
    onLine = () => {
      if (lines.some((line) => line.includes('"message":"listening"'))) resolve();
    };
    void exited.then(({ code }) => reject(new Error(`service exited with ${code}:\n${lines.join('\n')}`)));
  });
  listening.catch(() => {});
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    port,
    child,
    lines,
    listening,
    exited,
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
    async call(method, path, body) {
      const res = await fetch(`${url}${path}`, {
        method,
        headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        body: body ? JSON.stringify(body) : undefined,
      });
      const text = await res.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
  };
}

/**
 * The sum of a metric's samples in a Prometheus text exposition whose labels include `labels`
 * (0 when there is none).
 */
export function metricValue(exposition: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of exposition.split('\n')) {
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const found = Object.fromEntries(
      [...(match[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]] as const),
    );
    if (Object.entries(labels).every(([key, value]) => found[key] === value)) total += Number(match[3]);
  }
  return total;
}

export { waitFor } from './wait';

/**
 * How long the service's shutdown took by its own clock, from the "draining" line (logged as the
 * signal arrives) to "stopped" (logged as it exits): what the grace period bounds, unaffected by
 * how late a loaded machine lets the test notice the exit.
 */
export function shutdownMs(service: LexeconProcess): number {
  const at = (message: string) => {
    const line = service.logs().find((l) => l.message === message);
    if (!line) throw new Error(`no "${message}" line in the log:\n${service.lines.join('\n')}`);
    return Date.parse(line.time as string);
  };
  return at('stopped') - at('draining');
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
}

/** One request on a connection of its own (no keep-alive pool), so it proves the server accepts connections. */
export function freshRequest(
  port: number,
  method: string,
  path: string,
  options: { body?: unknown; key?: string | null } = {},
): Promise<RawResponse> {
  const pending = openRequest(port, method, path, options.key === undefined ? ADMIN_KEY : options.key);
  if (options.body !== undefined) pending.write(JSON.stringify(options.body));
  return pending.finish();
}

/**
 * A request whose body the test writes when it likes (chunked), to keep a request in flight: the
 * headers go at once, then `write` parts of the body, then `finish` for the response.
 */
export function openRequest(port: number, method: string, path: string, key: string | null = ADMIN_KEY) {
  const req = httpRequest({
    host: '127.0.0.1',
    port,
    method,
    path,
    agent: false,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      'content-type': 'application/json',
      ...(method === 'GET' ? {} : { 'transfer-encoding': 'chunked' }),
    },
  });
  const response = new Promise<RawResponse>((resolve, reject) => {
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('error', reject);
      res.on('end', () => {
        let body: unknown = text;
        try {
          body = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
      });
    });
  });
  response.catch(() => {});
  req.flushHeaders();
  return {
    /** Resolves or rejects like finish() would, without ending the body. */
    response,
    write(text: string) {
      req.write(text);
    },
    finish(): Promise<RawResponse> {
      req.end();
      return response;
    },
  };
}

/** Whether a new TCP connection to the port is accepted. */
export function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
