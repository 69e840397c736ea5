import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { type DataDirLock, DataDirLockedError, LOCK_FILE, lockDataDir } from './data-dir-lock';

const root = mkdtempSync(join(tmpdir(), 'lexecon-lock-'));
const held: DataDirLock[] = [];
const children = new Set<ChildProcess>();
let made = 0;

afterEach(async () => {
  for (const lock of held.splice(0)) await lock.release();
  for (const child of children) child.kill('SIGKILL');
  children.clear();
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

function newDir(): string {
  return join(root, `data-${++made}`);
}

async function lock(dir: string): Promise<DataDirLock> {
  const taken = await lockDataDir(dir);
  held.push(taken);
  return taken;
}

async function refusal(dir: string): Promise<DataDirLockedError> {
  const err = await lockDataDir(dir).then(
    (unexpected) => {
      held.push(unexpected);
      throw new Error(`${dir} was locked twice`);
    },
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(DataDirLockedError);
  return err as DataDirLockedError;
}

/**
 * Another process that tries to lock `dir`, says "won" or "lost" on stdout, and then holds what it
 * got until it is killed.
 */
function locker(dir: string): { child: ChildProcess; outcome: Promise<string> } {
  const script = `
    import { lockDataDir } from './src/db/data-dir-lock.ts';
    try { await lockDataDir(process.argv[1]); console.log('won'); }
    catch (err) { console.log(err.name === 'DataDirLockedError' ? 'lost' : String(err)); }
    setInterval(() => {}, 60_000);`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, dir], {
    cwd: join(import.meta.dirname, '..', '..'),
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  const outcome = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`the locker exited with ${code} before saying anything`)));
  });
  return { child, outcome };
}

function killed(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });
}

// The lock is Linux's (abstract sockets); elsewhere lockDataDir says it is not exclusive.
describe('the data directory lock', () => {
  it('refuses a second holder of a directory, naming the directory and the holder', async () => {
    const dir = newDir();
    const first = await lock(dir);
    expect(first.exclusive).toBe(true);
    const err = await refusal(dir);
    expect(err.dir).toBe(first.dir);
    expect(err.holder).toEqual({ pid: process.pid, host: hostname(), since: expect.any(String) });
    expect(err.message).toContain(`the data directory ${first.dir} is in use`);
    expect(err.message).toContain(`pid ${process.pid} on host ${hostname()}, since ${err.holder?.since}`);
  });

  it('treats a directory reached through a symbolic link as the directory itself', async () => {
    const dir = newDir();
    await lock(dir);
    const link = `${dir}-link`;
    symlinkSync(dir, link);
    expect((await refusal(link)).dir).toBe(dir);
  });

  it('locks different directories independently', async () => {
    await lock(newDir());
    expect((await lock(newDir())).exclusive).toBe(true);
  });

  it('lets the next holder in once released, and removes the lock file', async () => {
    const dir = newDir();
    const first = await lockDataDir(dir);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    await first.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    await lock(dir);
  });

  it('is taken from a holder killed with SIGKILL, whose lock file stays behind', async () => {
    const dir = newDir();
    const holder = locker(dir);
    expect(await holder.outcome).toBe('won');
    const left = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(left.pid).toBe(holder.child.pid);
    await refusal(dir);

    await killed(holder.child);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
    await lock(dir);
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
  });

  it('names nobody rather than a dead process when the lock file is stale', async () => {
    const dir = newDir();
    const holder = locker(dir);
    expect(await holder.outcome).toBe('won');
    const dead = locker(newDir());
    expect(await dead.outcome).toBe('won');
    await killed(dead.child);
    // What a winner that has not yet written its own details leaves to read: a killed holder's file.
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: dead.child.pid, host: hostname(), since: new Date().toISOString() }),
    );
    const err = await refusal(dir);
    expect(err.holder).toBeUndefined();
    expect(err.message).toContain(`not yet named in ${join(dir, LOCK_FILE)}`);
  });

  it('lets exactly one of several processes racing for a directory with a stale lock win', async () => {
    const dir = newDir();
    const first = locker(dir);
    expect(await first.outcome).toBe('won');
    await killed(first.child);

    const racers = Array.from({ length: 6 }, () => locker(dir));
    const outcomes = await Promise.all(racers.map((r) => r.outcome));
    expect(outcomes.sort()).toEqual(['lost', 'lost', 'lost', 'lost', 'lost', 'won']);
  });

  it('creates the directory when it does not exist yet', async () => {
    const dir = join(newDir(), 'nested');
    await lock(dir);
    expect(existsSync(dir)).toBe(true);
  });

  it('does not keep a process alive that has nothing else to do', async () => {
    const script = `
      import { lockDataDir } from './src/db/data-dir-lock.ts';
      await lockDataDir(process.argv[1]);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script, newDir()], {
      cwd: join(import.meta.dirname, '..', '..'),
      stdio: 'inherit',
    });
    children.add(child);
    expect(await new Promise((resolve) => child.on('exit', resolve))).toBe(0);
  });
});
