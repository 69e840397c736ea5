import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import postgres from 'postgres';

/** The service under test, running as its own process from source (`npm start` runs the same code compiled). */
export interface ServiceProcess {
  readonly baseUrl: string;
  readonly pid: number;
  /** CPU time the process has used so far (user + system, all threads), from /proc; Linux only. */
  cpuSeconds(): number;
  /** SIGTERM, then wait for a clean exit (SIGKILL after the timeout); returns the exit code. */
  stop(): Promise<number | null>;
  /** Lines of the server log that report errors (level error, or anything that is not a JSON log line). */
  problems(): string[];
}

export interface StartOptions {
  root: string;
  env: Record<string, string | undefined>;
  logFile: string;
  nodeFlags?: string[];
  /** The Node binary to run (default: the one running the benchmark). */
  node?: string;
  /** The script to run, relative to root (default: the service's Node entry, src/node.ts). */
  entry?: string;
  /** The path that answers 200 once the server is ready (default /health). */
  readyPath?: string;
}

/** A new, empty database on the server `adminUrl` reaches, for one run, and how to drop it. */
export interface ScratchDatabase {
  readonly url: string;
  readonly name: string;
  /** The administrative connection it was created on (for questions about the server). */
  readonly admin: postgres.Sql;
  drop(): Promise<void>;
}

export async function createScratchDatabase(adminUrl: string, prefix: string): Promise<ScratchDatabase> {
  const admin = postgres(adminUrl, { max: 1, connect_timeout: 3, onnotice: () => {} });
  const name = `${prefix}_${process.pid}`;
  try {
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name}`);
  } catch (err) {
    await admin.end({ timeout: 1 });
    throw err;
  }
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    admin,
    async drop() {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end({ timeout: 5 });
    },
  };
}

const START_TIMEOUT_MS = 60_000;
// /proc reports times in USER_HZ ticks, which the kernel fixes at 100 on every mainstream architecture.
const USER_HZ = 100;
const STOP_TIMEOUT_MS = 15_000;

export async function startService(options: StartOptions): Promise<ServiceProcess> {
  const port = await freePort();
  const log = openSync(options.logFile, 'w');
  const entry = options.entry ?? 'src/node.ts';
  const child = spawn(options.node ?? process.execPath, [...(options.nodeFlags ?? []), '--import', 'tsx', entry], {
    cwd: options.root,
    env: { ...process.env, ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', log, log],
  });
  closeSync(log);
  const baseUrl = `http://127.0.0.1:${port}`;
  const service: ServiceProcess = {
    baseUrl,
    pid: child.pid as number,
    cpuSeconds: () => readCpuSeconds(child.pid as number),
    stop: () => stopChild(child),
    problems: () => readProblems(options.logFile),
  };
  try {
    await waitUntilReady(`${baseUrl}${options.readyPath ?? '/health'}`, child);
  } catch (err) {
    await service.stop();
    throw new Error(`${(err as Error).message}; server log: ${options.logFile}`);
  }
  return service;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() =>
        address && typeof address === 'object' ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function waitUntilReady(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the server exited with code ${child.exitCode} during start`);
    const status = await fetch(url).then(
      (res) => res.status,
      () => 0,
    );
    if (status === 200) return;
    await sleep(200);
  }
  throw new Error(`GET ${new URL(url).pathname} did not answer 200 within ${START_TIMEOUT_MS / 1000} s`);
}

async function stopChild(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
  return child.exitCode;
}

function readProblems(logFile: string): string[] {
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.trim() !== '' && (!line.startsWith('{') || line.includes('"level":"error"')));
}

/**
 * CPU seconds used so far by each PostgreSQL backend serving `database`, by process id, or undefined when
 * the server's processes are not visible here (another host or container). A decision's cost on
 * PostgreSQL is the service's CPU plus this; the server's shared background processes are left out.
 */
export async function backendCpuSeconds(
  admin: postgres.Sql,
  database: string,
): Promise<Map<number, number> | undefined> {
  const rows = await admin<{ pid: number }[]>`select pid from pg_stat_activity where datname = ${database}`;
  const cpu = new Map<number, number>();
  for (const { pid } of rows) {
    try {
      cpu.set(pid, readCpuSeconds(pid));
    } catch {
      return undefined;
    }
  }
  return cpu;
}

/** CPU the backends used between two readings; a backend that started in between counts from zero. */
export function backendCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let total = 0;
  for (const [pid, seconds] of after) total += seconds - (before.get(pid) ?? 0);
  return total;
}

/** utime + stime of /proc/<pid>/stat (fields 14 and 15, counted after the parenthesised command name). */
function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / USER_HZ;
}
