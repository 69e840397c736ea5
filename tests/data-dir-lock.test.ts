import { realpathSync } from 'node:fs';
import { hostname } from 'node:os';
import { afterAll, describe, expect, it } from 'vitest';
import { decisionRequest } from './support/app';
import {
  cleanUpProcesses,
  type LexeconProcess,
  policyFile,
  seededDataDir,
  spawnLexecon,
} from './support/lexecon-process';
import { PROCESS_TEST_TIMEOUT_MS } from './support/wait';

/**
 * One process per embedded data directory (src/db/data-dir-lock.ts), on the real process: two
 * PGlite instances on one directory would each extend their own copy of the ledger, and one copy's
 * answered decisions would be gone after a restart.
 */
afterAll(cleanUpProcesses);

interface Answered {
  index: number;
  hash: string;
  id: string;
}

async function decide(service: LexeconProcess, n: number): Promise<Answered[]> {
  const answered: Answered[] = [];
  for (let i = 0; i < n; i++) {
    const res = await service.call('POST', '/api/decide', decisionRequest());
    expect(res.status).toBe(200);
    answered.push({ index: res.body.ledger_entry_index, hash: res.body.ledger_entry_hash, id: res.body.decision_id });
  }
  return answered;
}

/** Every answered decision is the entry at its index, and the whole chain verifies. */
async function expectInVerifiedChain(service: LexeconProcess, answered: Answered[]): Promise<void> {
  expect((await service.call('GET', '/api/ledger/verify')).body).toMatchObject({ valid: true });
  for (const { index, hash, id } of answered) {
    const entry = await service.call('GET', `/api/ledger/entries/${index}`);
    expect(entry.status, `entry ${index}`).toBe(200);
    expect(entry.body.entry_hash, `entry ${index}`).toBe(hash);
    expect(entry.body.data.decision_id, `entry ${index}`).toBe(id);
  }
}

async function stop(service: LexeconProcess): Promise<void> {
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
}

/** Resolves to whether the process came to serve or exited first. */
function outcome(service: LexeconProcess): Promise<'serving' | 'exited'> {
  return Promise.race([service.listening.then(() => 'serving' as const), service.exited.then(() => 'exited' as const)]);
}

describe('two processes on one embedded data directory', { timeout: PROCESS_TEST_TIMEOUT_MS }, () => {
  it('refuses the second with exit code 1 and a message naming the directory and the holder, while the first keeps serving its chain, which a restart after a clean stop still holds', async () => {
    const dataDir = await seededDataDir();
    const env = { LEXECON_DATA_DIR: dataDir, LEXECON_POLICY_FILE: policyFile(), LEXECON_SHUTDOWN_DELAY_MS: '0' };
    const first = await spawnLexecon(env);
    await first.listening;
    const answered = await decide(first, 5);

    const second = await spawnLexecon(env);
    expect(await outcome(second)).toBe('exited');
    expect((await second.exited).code).toBe(1);
    const refusal = second.lines.join('\n');
    expect(refusal).toContain(`the data directory ${realpathSync(dataDir)} is in use by another Lexecon process`);
    expect(refusal).toContain(`pid ${first.child.pid} on host ${hostname()}, since `);
    // Refused before the database was opened.
    expect(refusal).not.toContain('using embedded PGlite');

    answered.push(...(await decide(first, 5)));
    await expectInVerifiedChain(first, answered);
    await stop(first);

    const next = await spawnLexecon(env);
    await next.listening;
    await expectInVerifiedChain(next, answered);
    await stop(next);
  });

  it('lets a start after kill -9 of the holder serve, with every decision answered before the kill in the verified chain', async () => {
    const env = { LEXECON_DATA_DIR: await seededDataDir(), LEXECON_POLICY_FILE: policyFile() };
    const holder = await spawnLexecon(env);
    await holder.listening;
    const answered = await decide(holder, 10);
    holder.child.kill('SIGKILL');
    expect((await holder.exited).code).toBeNull();

    const next = await spawnLexecon(env);
    await next.listening;
    await expectInVerifiedChain(next, answered);
    next.child.kill('SIGKILL');
  });

  it('lets exactly one of two processes started at the same instant serve, over the lock a killed holder left', async () => {
    const env = { LEXECON_DATA_DIR: await seededDataDir(), LEXECON_POLICY_FILE: policyFile() };
    const killed = await spawnLexecon(env);
    await killed.listening;
    const answered = await decide(killed, 3);
    killed.child.kill('SIGKILL');
    await killed.exited;

    const both = await Promise.all([spawnLexecon(env), spawnLexecon(env)]);
    const outcomes = await Promise.all(both.map(outcome));
    expect([...outcomes].sort()).toEqual(['exited', 'serving']);
    const winner = both[outcomes.indexOf('serving')] as LexeconProcess;
    const loser = both[outcomes.indexOf('exited')] as LexeconProcess;
    expect((await loser.exited).code).toBe(1);
    expect(loser.lines.join('\n')).toContain('is in use by another Lexecon process');
    answered.push(...(await decide(winner, 3)));
    await expectInVerifiedChain(winner, answered);
    winner.child.kill('SIGKILL');
  });
});
