import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { decisionRequest } from './support/app';
import { withDatabase } from './support/global-setup';
import {
  ADMIN_KEY,
  cleanUpProcesses,
  type LexeconProcess,
  metricValue,
  policyFile,
  seededDataDir,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';

/**
 * A sign-in flood against the real process: 400 sign-ins for usernames that do not exist, from 40
 * addresses (ten each, inside the per-address limit; the process trusts 127.0.0.1 as its proxy, so
 * X-Forwarded-For names them), sent at once while agents decide. Password hashing is bounded per
 * instance, so the flood is answered — a few checked, the rest refused at once — instead of queuing
 * hundreds of scrypt runs ahead of the signature every decision needs. Timings are the benchmark's
 * business (bench/sign-in-flood.ts); this asserts what a user sees.
 */
afterAll(cleanUpProcesses);

const ADDRESSES = 40;
const SIGN_INS_PER_ADDRESS = 10;
/** server.requestTimeout in src/node.ts: no request may take longer to be answered than this. */
const SERVER_REQUEST_TIMEOUT_MS = 30_000;
const DECIDERS = 2;

interface Answer {
  status: number;
  headers: Headers;
  // biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
  body: any;
}

const postgresTemplate = inject('postgresTemplate');

interface ProcessBackend {
  name: string;
  /** The environment of a process on a fresh database of this backend, and how to drop it. */
  prepare(): Promise<{ env: Record<string, string>; drop(): Promise<void> }>;
}

const processBackends: ProcessBackend[] = [
  {
    name: 'pglite',
    prepare: async () => ({ env: { LEXECON_DATA_DIR: await seededDataDir() }, drop: async () => {} }),
  },
];
if (postgresTemplate) {
  processBackends.push({
    name: 'postgres',
    async prepare() {
      const name = `lexecon_flood_${process.pid}`;
      const admin = postgres(postgresTemplate.adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.unsafe(`create database ${name} template ${postgresTemplate.template}`);
      return {
        env: { DATABASE_URL: withDatabase(postgresTemplate.adminUrl, name), LEXECON_DATA_DIR: tempDir() },
        async drop() {
          await admin.unsafe(`drop database if exists ${name} with (force)`);
          await admin.end();
        },
      };
    },
  });
}

async function send(service: LexeconProcess, path: string, init: RequestInit): Promise<Answer> {
  const res = await fetch(`${service.url}${path}`, { ...init, signal: AbortSignal.timeout(SERVER_REQUEST_TIMEOUT_MS) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {}
  return { status: res.status, headers: res.headers, body };
}

const asAdmin = { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' };

function signIn(service: LexeconProcess, address: string, username: string): Promise<Answer> {
  return send(service, '/api/auth/login', {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-forwarded-for': address },
    body: JSON.stringify({ username, password: 'a guessed passphrase 42' }),
  });
}

function decide(service: LexeconProcess, i: number): Promise<Answer> {
  return send(service, '/api/decide', {
    method: 'POST',
    headers: asAdmin,
    body: JSON.stringify(decisionRequest({ request_id: `flood-${i}` })),
  });
}

/** Every decision entry of the ledger, by entry hash, paged as any client would. */
async function decisionEntries(service: LexeconProcess): Promise<Map<string, { index: number; decisionId: unknown }>> {
  const found = new Map<string, { index: number; decisionId: unknown }>();
  let cursor: string | null = null;
  do {
    const query: string = `event_type=decision&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await send(service, `/api/ledger/entries?${query}`, { headers: asAdmin });
    expect(page.status).toBe(200);
    for (const entry of page.body.entries) {
      found.set(entry.entry_hash, { index: entry.index, decisionId: entry.data.decision_id });
    }
    cursor = page.body.next_cursor;
  } while (cursor);
  return found;
}

describe.each(processBackends)('a sign-in flood against the Node process on $name', (backend) => {
  it('answers every sign-in, refusing the excess at once with 429 and Retry-After, while every decision answers 200 and lands in the verified chain', {
    timeout: 180_000,
  }, async () => {
    const database = await backend.prepare();
    let started: LexeconProcess | undefined;
    try {
      const service = await spawnLexecon({
        ...database.env,
        LEXECON_POLICY_FILE: policyFile(),
        LEXECON_TRUSTED_PROXIES: '127.0.0.1',
        LEXECON_SHUTDOWN_DELAY_MS: '0',
      });
      started = service;
      await service.listening;

      const decisions: Answer[] = [];
      let flooding = true;
      let asked = 0;
      const deciders = Array.from({ length: DECIDERS }, async () => {
        while (flooding) decisions.push(await decide(service, asked++));
      });
      // Read below; if the flood fails first, the process is killed under them and that is no news.
      for (const decider of deciders) decider.catch(() => {});
      const flood = Promise.all(
        Array.from({ length: ADDRESSES * SIGN_INS_PER_ADDRESS }, (_, i) =>
          signIn(service, `10.11.${i % ADDRESSES}.1`, `nobody-${i}`),
        ),
      );
      // The deciders stop with the flood, however it ends, and each of them must have finished cleanly.
      const signIns = await flood.finally(() => {
        flooding = false;
      });
      for (const decider of await Promise.allSettled(deciders)) expect(decider.status).toBe('fulfilled');
      decisions.push(await decide(service, asked++));

      // Every sign-in was answered: checked (401), or refused before any hash (429) and told when to retry.
      const statuses = new Set(signIns.map((s) => s.status));
      expect([...statuses].sort()).toEqual([401, 429]);
      const refused = signIns.filter((s) => s.status === 429);
      for (const res of refused) {
        expect(res.body.error.code).toBe('RATE_LIMITED');
        expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      }
      const exposition = await (await fetch(`${service.url}/metrics`)).text();
      const counted =
        metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login_instance' }) +
        metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'password_hashing' });
      expect(counted).toBe(refused.length);
      expect(metricValue(exposition, 'lexecon_rate_limit_hits_total', { limiter: 'login' })).toBe(0);
      expect(
        metricValue(exposition, 'lexecon_auth_failures_total', { method: 'password', reason: 'invalid_credentials' }),
      ).toBe(signIns.length - refused.length);

      // Every decision was answered, and each answer is an entry of a chain that verifies.
      expect(decisions.length).toBeGreaterThan(DECIDERS);
      for (const res of decisions) expect(res.status).toBe(200);
      const verification = await send(service, '/api/ledger/verify', { headers: asAdmin });
      expect(verification.body).toMatchObject({ valid: true });
      const entries = await decisionEntries(service);
      for (const { body } of decisions) {
        expect(entries.get(body.ledger_entry_hash)).toEqual({
          index: body.ledger_entry_index,
          decisionId: body.decision_id,
        });
        expect(body.ledger_entry_index).toBeLessThanOrEqual(verification.body.head_index);
      }

      // The process is alive and still signs people in.
      expect(service.child.exitCode).toBeNull();
      expect((await send(service, '/health/live', {})).status).toBe(200);
      let attempt = 0;
      await waitFor(
        'a sign-in checked again once the budget refills',
        async () => ((await signIn(service, `10.12.${attempt++}.1`, 'nobody-after')).status === 401 ? true : undefined),
        60_000,
        500,
      );
    } finally {
      started?.child.kill('SIGKILL');
      await started?.exited;
      await database.drop();
    }
  });
});
