import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, realpathSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';

/**
 * One process per embedded data directory. Two PGlite instances on one directory each append to
 * their own copy of the ledger, and whatever one wrote is lost when the other's files win.
 *
 * The lock is an abstract Unix socket (Linux, see unix(7)) whose name is derived from the
 * directory's real path: binding it is atomic, so of two starts only one wins, and the kernel
 * releases it when the holder exits however it exits (kill -9 included), so nothing stale is left
 * to clean up. Abstract names live in the network namespace: processes in different namespaces
 * (two containers sharing a volume), or on different hosts, do not see each other's lock.
 * The lock file beside it only tells who holds the directory; it decides nothing.
 */
export const LOCK_FILE = 'lexecon.lock';

/** Who holds a data directory, as its lock file says. */
export interface DataDirHolder {
  pid: number;
  host: string;
  /** ISO 8601 time the holder took the lock. */
  since: string;
}

export interface DataDirLock {
  /** The directory's real path. */
  readonly dir: string;
  /** False where the platform has no abstract sockets: nothing stops a second process there. */
  readonly exclusive: boolean;
  /** Lets the next process take the directory; exiting has the same effect. */
  release(): Promise<void>;
}

export class DataDirLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly holder: DataDirHolder | undefined,
  ) {
    const who = holder
      ? `pid ${holder.pid} on host ${holder.host}, since ${holder.since}`
      : `not yet named in ${join(dir, LOCK_FILE)}`;
    super(
      `the data directory ${dir} is in use by another Lexecon process (${who}); two processes on one embedded ` +
        'database would fork its ledger. Stop that process, or give this one a LEXECON_DATA_DIR of its own.',
    );
    this.name = 'DataDirLockedError';
  }
}

/** Takes the directory (creating it) or rejects with DataDirLockedError naming the holder. */
export async function lockDataDir(directory: string): Promise<DataDirLock> {
  mkdirSync(directory, { recursive: true });
  const dir = realpathSync(directory);
  if (process.platform !== 'linux') return { dir, exclusive: false, release: async () => {} };
  const server = await bind(socketName(dir));
  if (!server) throw new DataDirLockedError(dir, livingHolder(readHolder(dir)));
  const holder: DataDirHolder = { pid: process.pid, host: hostname(), since: new Date().toISOString() };
  writeHolder(dir, holder);
  let released = false;
  return {
    dir,
    exclusive: true,
    async release() {
      if (released) return;
      released = true;
      // The file goes first: once the socket is closed, a new holder may write its own.
      if (JSON.stringify(readHolder(dir)) === JSON.stringify(holder)) rmSync(join(dir, LOCK_FILE), { force: true });
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A leading NUL puts the name in the abstract namespace: no file, gone with its last holder. */
function socketName(dir: string): string {
  return `\0lexecon/data-dir/${createHash('sha256').update(dir).digest('hex').slice(0, 32)}`;
}

/** The bound server, or undefined when another process holds the name. */
function bind(name: string): Promise<Server | undefined> {
  return new Promise((resolve, reject) => {
    // Nobody has anything to say to the lock; a connection is closed at once.
    const server = createServer((socket) => socket.destroy());
    server.once('error', (err: NodeJS.ErrnoException) =>
      err.code === 'EADDRINUSE' ? resolve(undefined) : reject(err),
    );
    server.listen({ path: name }, () => {
      // The lock must never be what keeps the process alive.
      server.unref();
      resolve(server);
    });
  });
}

/** Written whole then renamed, so a reader never sees half of it. */
function writeHolder(dir: string, holder: DataDirHolder): void {
  const temporary = join(dir, `${LOCK_FILE}.${process.pid}`);
  writeFileSync(temporary, `${JSON.stringify(holder)}\n`);
  renameSync(temporary, join(dir, LOCK_FILE));
}

/**
 * A file naming a process of this host that has exited was left by a holder killed with -9, and
 * the winner of the socket has not replaced it yet: it names nobody.
 */
function livingHolder(holder: DataDirHolder | undefined): DataDirHolder | undefined {
  if (!holder || holder.host !== hostname()) return holder;
  try {
    process.kill(holder.pid, 0);
    return holder;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? holder : undefined;
  }
}

function readHolder(dir: string): DataDirHolder | undefined {
  try {
    const parsed = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')) as Partial<DataDirHolder>;
    const { pid, host, since } = parsed;
    if (typeof pid === 'number' && typeof host === 'string' && typeof since === 'string') return { pid, host, since };
  } catch {}
  return undefined;
}
