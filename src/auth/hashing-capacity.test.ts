import { describe, expect, it, vi } from 'vitest';
import { createHashingCapacity, HashingBusyError } from './hashing-capacity';
import { createPasswordHasher, nobleScrypt, type Scrypt, type ScryptParams } from './password';

const CHEAP: ScryptParams = { ln: 10, r: 8, p: 1 };
/** How long vi.waitFor polls: generous, for a machine loaded at twice its cores. */
const EVENTUALLY = { timeout: 20_000 };

/**
 * A KDF whose every call waits until the test finishes it: `finish(i)` computes call i for real,
 * `fail(i)` rejects it. `started` lists the calls in the order they began.
 */
function controlledKdf() {
  const calls: { password: string; resolve: () => void; reject: (err: Error) => void }[] = [];
  const scrypt: Scrypt = async (password, salt, params, length) => {
    await new Promise<void>((resolve, reject) =>
      calls.push({ password: new TextDecoder().decode(password), resolve, reject }),
    );
    return nobleScrypt(password, salt, params, length);
  };
  const call = (i: number) => {
    const found = calls[i];
    if (!found) throw new Error(`no KDF call ${i} (${calls.length} started)`);
    return found;
  };
  return {
    scrypt,
    started: () => calls.map((c) => c.password),
    finish: (i: number) => call(i).resolve(),
    fail: (i: number) => call(i).reject(new Error('kdf failed')),
  };
}

/** Lets queued promise callbacks run (no timers involved). */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('password hashing capacity', () => {
  it('never runs more hashes than its in-flight limit, and starts the waiting ones in arrival order', async () => {
    const kdf = controlledKdf();
    const capacity = createHashingCapacity({ inFlight: 2, queued: 3 });
    const hasher = createPasswordHasher(kdf.scrypt, CHEAP, capacity);
    const hashes = ['first', 'second', 'third', 'fourth', 'fifth'].map((p) => hasher.hash(p));
    await settle();
    expect(kdf.started()).toEqual(['first', 'second']);
    expect(capacity.usage()).toEqual({ places: 5, running: 2 });

    kdf.finish(1);
    await vi.waitFor(() => expect(kdf.started()).toEqual(['first', 'second', 'third']), EVENTUALLY);
    kdf.finish(0);
    await vi.waitFor(() => expect(kdf.started()).toEqual(['first', 'second', 'third', 'fourth']), EVENTUALLY);
    expect(capacity.usage().running).toBe(2);
    for (const i of [2, 3]) kdf.finish(i);
    await vi.waitFor(() => expect(kdf.started()).toHaveLength(5), EVENTUALLY);
    kdf.finish(4);
    expect(await Promise.all(hashes)).toHaveLength(5);
    expect(capacity.usage()).toEqual({ places: 0, running: 0 });
  });

  it('refuses at once beyond its line, without hashing, and takes callers again once a place frees', async () => {
    const kdf = controlledKdf();
    const capacity = createHashingCapacity({ inFlight: 1, queued: 2 });
    const hasher = createPasswordHasher(kdf.scrypt, CHEAP, capacity);
    const admitted = ['a', 'b', 'c'].map((p) => hasher.hash(p));
    await settle();

    await expect(hasher.hash('refused')).rejects.toBeInstanceOf(HashingBusyError);
    expect(capacity.usage()).toEqual({ places: 3, running: 1 });

    kdf.finish(0);
    await admitted[0];
    const later = hasher.hash('later');
    await settle();
    kdf.finish(1);
    await vi.waitFor(() => expect(kdf.started()).toEqual(['a', 'b', 'c']), EVENTUALLY);
    kdf.finish(2);
    await vi.waitFor(() => expect(kdf.started()).toEqual(['a', 'b', 'c', 'later']), EVENTUALLY);
    kdf.finish(3);
    await Promise.all([...admitted, later]);
    expect(kdf.started()).not.toContain('refused');
  });

  it('refuses a password check before looking the account up, whatever the name', async () => {
    const kdf = controlledKdf();
    const hasher = createPasswordHasher(kdf.scrypt, CHEAP, createHashingCapacity({ inFlight: 1, queued: 0 }));
    const busy = hasher.hash('occupies the only place');
    await settle();

    const lookup = vi.fn(async () => ({ passwordHash: 'irrelevant' }));
    const refusal = await hasher.check('guess', lookup).catch((err: unknown) => err);
    expect(refusal).toBeInstanceOf(HashingBusyError);
    expect(lookup).not.toHaveBeenCalled();
    kdf.finish(0);
    await busy;
  });

  it('frees the slot of a hash that fails and the place of a lookup that throws', async () => {
    const kdf = controlledKdf();
    const capacity = createHashingCapacity({ inFlight: 1, queued: 1 });
    const hasher = createPasswordHasher(kdf.scrypt, CHEAP, capacity);
    const failing = hasher.hash('fails');
    const waiting = hasher.hash('waits');
    await settle();
    kdf.fail(0);
    await expect(failing).rejects.toThrow('kdf failed');
    await vi.waitFor(() => expect(kdf.started()).toEqual(['fails', 'waits']), EVENTUALLY);
    kdf.finish(1);
    await waiting;

    const broken = hasher.check('pw', async () => {
      throw new Error('database gone');
    });
    await expect(broken).rejects.toThrow('database gone');
    expect(capacity.usage()).toEqual({ places: 0, running: 0 });
    const next = hasher.hash('next');
    await vi.waitFor(() => expect(kdf.started()).toEqual(['fails', 'waits', 'next']), EVENTUALLY);
    kdf.finish(2);
    await expect(next).resolves.toMatch(/^\$scrypt\$/);
  });

  it('says to retry after the time the line ahead takes to clear', async () => {
    let now = 0;
    const kdf = controlledKdf();
    const capacity = createHashingCapacity({ inFlight: 1, queued: 3 }, () => now);
    const hasher = createPasswordHasher(kdf.scrypt, CHEAP, capacity);
    const first = hasher.hash('timed');
    await settle();
    now += 700;
    kdf.finish(0);
    await first;

    const line = ['a', 'b', 'c', 'd'].map((p) => hasher.hash(p));
    await settle();
    const refusal = (await hasher.hash('refused').catch((err: unknown) => err)) as HashingBusyError;
    // Four places ahead at 0.7 s a hash, one at a time.
    expect(refusal.retryAfterSeconds).toBe(3);
    for (let i = 1; i <= 4; i++) {
      await vi.waitFor(() => expect(kdf.started()).toHaveLength(i + 1), EVENTUALLY);
      kdf.finish(i);
    }
    await Promise.all(line);
  });

  it('checks a known password, refuses a wrong one, and spends one hash on an unknown name', async () => {
    const calls: number[] = [];
    const counting: Scrypt = (...args) => {
      calls.push(1);
      return nobleScrypt(...args);
    };
    const hasher = createPasswordHasher(counting, CHEAP);
    const passwordHash = await hasher.hash('correct horse battery');
    expect(passwordHash).toMatch(/^\$scrypt\$ln=10,r=8,p=1\$/);
    const account = { id: 'usr_1', passwordHash };
    expect(await hasher.check('correct horse battery', async () => account)).toEqual({ account, matches: true });
    expect(await hasher.check('wrong horse battery', async () => account)).toEqual({ account, matches: false });
    calls.length = 0;
    expect(await hasher.check('anything at all', async () => undefined)).toEqual({
      account: undefined,
      matches: false,
    });
    expect(calls).toHaveLength(1);
  });

  it('refuses settings that would admit nothing', () => {
    expect(() => createHashingCapacity({ inFlight: 0, queued: 4 })).toThrow(/inFlight/);
    expect(() => createHashingCapacity({ inFlight: 1, queued: -1 })).toThrow(/queued/);
  });
});
