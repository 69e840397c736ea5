import { type ChildProcess, spawn } from 'node:child_process';
import { statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { openNote, parseCheckpoint, parseVerifierKey } from '../src/ledger/note';
import { decisionRequest, samplePolicy } from './support/app';
import { withDatabase } from './support/global-setup';
import { cleanUpProcesses, freePort, tempDir } from './support/lexecon-process';
import { CONDITION_TIMEOUT_MS, PROCESS_SUITE } from './support/wait';

/** The real service process from source (`npm start` runs its build: tests/build.test.ts), over real HTTP. */
interface Service {
  url: string;
  process: ChildProcess;
  logs: string[];
  stop(): Promise<number | null>;
}

const ADMIN_KEY = 'test-bootstrap-admin-key-0123456789abcdef';
vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

function run(env: Record<string, string>): { process: ChildProcess; logs: string[]; exited: Promise<number | null> } {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
    cwd: join(import.meta.dirname, '..'),
    // No shutdown delay: no load balancer needs time to stop sending here.
    env: { PATH: process.env.PATH ?? '', HOST: '127.0.0.1', LEXECON_SHUTDOWN_DELAY_MS: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: string[] = [];
  child.stdout?.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  child.stderr?.on('data', (chunk: Buffer) => logs.push(...chunk.toString().split('\n').filter(Boolean)));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { process: child, logs, exited };
}

async function start(env: Record<string, string>): Promise<Service> {
  const port = await freePort();
  const { process: child, logs, exited } = run({ PORT: String(port), ...env });
  const deadline = Date.now() + CONDITION_TIMEOUT_MS;
  while (!logs.some((line) => line.includes('"message":"listening"'))) {
    const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('waiting'), 100))]);
    if (code !== 'waiting') throw new Error(`service exited with ${code}:\n${logs.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`service did not start:\n${logs.join('\n')}`);
  }
  return {
    url: `http://127.0.0.1:${port}`,
    process: child,
    logs,
    async stop() {
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function call(service: Service, method: string, path: string, body?: unknown) {
  const res = await fetch(`${service.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${ADMIN_KEY}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

describe('the Node entry on embedded PGlite', () => {
  const dataDir = tempDir('lexecon-entry-');
  const policyFile = join(dataDir, 'policy.json');
  writeFileSync(policyFile, JSON.stringify(samplePolicy));
  const env = { LEXECON_DATA_DIR: dataDir, LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY, LEXECON_POLICY_FILE: policyFile };
  let first: { keyId: string; entries: number; hash: string };

  it('serves decisions over HTTP with a bootstrap admin key and a policy file, and stops cleanly on SIGTERM', async () => {
    const service = await start(env);
    expect((await fetch(`${service.url}/`)).status).toBe(200);
    const decision = await call(service, 'POST', '/api/decide', decisionRequest());
    expect(decision.body).toMatchObject({ allowed: true, decision: 'permit' });
    // Its receipt's checkpoint, signed through node:crypto, opens with the published verifier key.
    const verifier = parseVerifierKey((await call(service, 'GET', '/api/ledger/public-key')).body.note_verifier_key);
    const checkpoint = parseCheckpoint((await openNote(decision.body.receipt.checkpoint, verifier)).body);
    expect(checkpoint.size).toBe(decision.body.receipt.tree_size);
    const verification = await call(service, 'GET', '/api/ledger/verify');
    expect(verification.body.valid).toBe(true);
    const policies = await call(service, 'GET', '/api/policies');
    first = {
      keyId: (await call(service, 'GET', '/api/ledger/public-key')).body.key_id,
      entries: verification.body.entries_checked,
      hash: policies.body.active.hash,
    };
    // The generated signing key is private to the service account.
    expect(statSync(join(dataDir, 'signing-key.pem')).mode & 0o777).toBe(0o600);
    expect(await service.stop()).toBe(0);
  });

  it('restarts onto the same ledger, signing key and policy without writing anything at startup', async () => {
    const service = await start(env);
    expect(service.logs.some((l) => l.includes('"status":"unchanged"'))).toBe(true);
    expect((await call(service, 'GET', '/api/ledger/public-key')).body.key_id).toBe(first.keyId);
    expect((await call(service, 'GET', '/api/policies')).body.active.hash).toBe(first.hash);
    expect((await call(service, 'GET', '/api/ledger/verify')).body).toMatchObject({
      valid: true,
      entries_checked: first.entries,
    });
    expect(await service.stop()).toBe(0);
  });

  it('refuses to start when another signing key would extend a ledger it cannot sign for', async () => {
    const { exited, logs } = run({
      ...env,
      PORT: String(await freePort()),
      LEXECON_SIGNING_KEY: Buffer.alloc(32, 7).toString('base64'),
    });
    expect(await exited).toBe(1);
    expect(logs.join('\n')).toMatch(
      /signed by the checkpoint key named "lexecon\/[0-9a-f]{16}".*same LEXECON_SIGNING_KEY/,
    );
  });
});

describe('the Node entry refuses bad input at startup', () => {
  it('names every invalid variable and what it allows', async () => {
    const { exited, logs } = run({
      PORT: 'eighty',
      LEXECON_BOOTSTRAP_ADMIN_KEY: 'short',
      LEXECON_DATA_DIR: tempDir('lexecon-entry-'),
    });
    expect(await exited).toBe(1);
    const text = logs.join('\n');
    expect(text).toContain('PORT: must be an integer from 1 to 65535, got "eighty"');
    expect(text).toContain('LEXECON_BOOTSTRAP_ADMIN_KEY: must be at least 32 characters');
    expect(text).not.toContain('short"');
  });

  it('lists every problem of an invalid policy file', async () => {
    const dir = tempDir('lexecon-entry-');
    const file = join(dir, 'bad.json');
    writeFileSync(
      file,
      JSON.stringify({
        terms: [{ id: 'actor:a', type: 'actor', name: 'a' }],
        relations: [
          { type: 'permits', subject: 'actor:a', action: 'action:missing' },
          { type: 'implies', subject: 'actor:a', action: 'x' },
        ],
      }),
    );
    const { exited, logs } = run({ LEXECON_DATA_DIR: dir, LEXECON_POLICY_FILE: file, PORT: String(await freePort()) });
    expect(await exited).toBe(1);
    const text = logs.join('\n');
    expect(text).toContain('is not a valid policy');
    expect(text).toContain('/relations/0/action: references undefined term "action:missing"');
    expect(text).toContain('/relations/1/type');
  });
});

const postgresTemplate = inject('postgresTemplate');

describe.runIf(postgresTemplate)('the Node entry on PostgreSQL (DATABASE_URL)', () => {
  it('migrates an empty database at start and records decisions in it', async () => {
    const settings = postgresTemplate as { adminUrl: string };
    const name = `lexecon_entry_${process.pid}`;
    const admin = postgres(settings.adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`drop database if exists ${name} with (force)`);
    await admin.unsafe(`create database ${name}`);
    try {
      const service = await start({
        DATABASE_URL: withDatabase(settings.adminUrl, name),
        DB_POOL_MAX: '4',
        LEXECON_DATA_DIR: tempDir('lexecon-entry-'),
        LEXECON_SIGNING_KEY: Buffer.alloc(32, 9).toString('base64'),
        LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
      });
      expect(service.logs.some((l) => l.includes('using PostgreSQL'))).toBe(true);
      expect((await call(service, 'POST', '/api/policies', samplePolicy)).status).toBe(201);
      expect((await call(service, 'POST', '/api/decide', decisionRequest())).body.allowed).toBe(true);
      expect((await call(service, 'GET', '/api/ledger/verify')).body.valid).toBe(true);
      expect(await service.stop()).toBe(0);
    } finally {
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.end();
    }
  });
});
