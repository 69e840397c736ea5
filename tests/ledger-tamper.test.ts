import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, inject, it, vi } from 'vitest';
import { openPglite } from '../src/db/client';
import { storedHashIndex } from '../src/ledger/merkle';
import type { InvalidReason } from '../src/ledger/verify';
import { decisionRequest } from './support/app';
import type { BackendName } from './support/databases';
import { type CliRun, lexecon, scratchDir } from './support/lexecon-cli';
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
import { openPostgresFixture } from './support/postgres-fixture';
import { PROCESS_SUITE } from './support/wait';

/**
 * The tamper suite: the real service, its ledger tampered with behind its back by someone with
 * superuser rights on the database but not the signing key, and each tamper checked through every
 * view a person has of the ledger —
 * - verify: GET /api/ledger/verify names the first bad index and why;
 * - /health: the background verification names it (waited for, never slept on);
 * - the metric: the integrity checks that failed (integrityMetricShows);
 * - the command: `lexecon ledger export` from the service, then `lexecon ledger verify` offline with
 *   the published key; for a fork, `lexecon checkpoint consistency` and `lexecon receipt verify`.
 *
 * On PostgreSQL the service keeps running while the rows change. PGlite is one process's database,
 * so there the service stops, the data directory is edited, and a fresh process starts on it: what
 * that process finds, it finds from the database alone (the stored checkpoints, the shared
 * watermark), not from its memory of what it wrote.
 */
vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

const files = scratchDir();
afterAll(() => files.remove());

const SERVICE_ENV = {
  LEXECON_HEALTH_CACHE_MS: '0',
  LEXECON_SHUTDOWN_DELAY_MS: '0',
  // The shortest passes configuration allows: incremental every second, from genesis every 10 s.
  LEXECON_LEDGER_VERIFY_INTERVAL_MS: '1000',
  LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS: '10000',
};

/** One database of a test's own and the service on it. */
interface Site {
  readonly backend: BackendName;
  /** The service answering now: on PGlite, a new process after every tamper. */
  service: LexeconProcess;
  /** Whether the service runs on while the database is tampered with (PostgreSQL). */
  readonly live: boolean;
  /**
   * The metrics, before a tamper, of the service that will be asked about it: on PGlite that is the
   * fresh process started after it, whose counters start from nothing.
   */
  metricsBefore(): Promise<string>;
  /** Runs `statements` in one transaction as a superuser with the append-only triggers off. */
  tamper(statements: readonly string[]): Promise<void>;
  /** One more service process on the same database (PostgreSQL; PGlite allows one process). */
  startAnother(): Promise<LexeconProcess>;
  close(): Promise<void>;
}

async function started(env: Record<string, string>): Promise<LexeconProcess> {
  const service = await spawnLexecon(env);
  await service.listening;
  return service;
}

async function stopped(service: LexeconProcess): Promise<void> {
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
}

async function openPgliteSite(): Promise<Site> {
  const env = { ...SERVICE_ENV, LEXECON_DATA_DIR: await seededDataDir(), LEXECON_POLICY_FILE: policyFile() };
  const site: Site = {
    backend: 'pglite',
    live: false,
    service: await started(env),
    metricsBefore: async () => '',
    async tamper(statements) {
      await stopped(site.service);
      const database = await openPglite({ dataDir: join(env.LEXECON_DATA_DIR, 'pglite') });
      try {
        await database.client.exec(
          ['begin', 'set local session_replication_role = replica', ...statements, 'commit'].join(';\n'),
        );
      } finally {
        await database.close();
      }
      site.service = await started(env);
    },
    startAnother: () => Promise.reject(new Error('PGlite serves one process per data directory')),
    async close() {
      const { exitCode, signalCode } = site.service.child;
      if (exitCode === null && signalCode === null) await stopped(site.service);
    },
  };
  return site;
}

async function openPostgresSite(name: string): Promise<Site> {
  const fixture = await openPostgresFixture(`tamper_${name}`);
  const env = {
    ...SERVICE_ENV,
    DATABASE_URL: fixture.directUrl,
    DB_POOL_MAX: '4',
    LEXECON_DATA_DIR: tempDir(),
    LEXECON_POLICY_FILE: policyFile(),
  };
  const others: LexeconProcess[] = [];
  const site: Site = {
    backend: 'postgres',
    live: true,
    service: await started(env),
    metricsBefore: () => scrape(site.service),
    async tamper(statements) {
      await fixture.superuser.begin(async (sql) => {
        await sql`set local session_replication_role = replica`;
        for (const statement of statements) await sql.unsafe(statement);
      });
    },
    async startAnother() {
      const another = await started(env);
      others.push(another);
      return another;
    },
    async close() {
      for (const service of [site.service, ...others]) {
        if (service.child.exitCode === null && service.child.signalCode === null) service.child.kill('SIGKILL');
        await service.exited;
      }
      await fixture.close();
    },
  };
  return site;
}

const postgresTemplate = inject('postgresTemplate');
const backends: { name: BackendName; open(name: string): Promise<Site> }[] = [
  { name: 'pglite', open: openPgliteSite },
  ...(postgresTemplate ? [{ name: 'postgres' as const, open: openPostgresSite }] : []),
];

/** The columns of a ledger entry one can insert (data_bytes is generated). */
const ENTRY_COLUMNS = 'seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id';

// biome-ignore lint/suspicious/noExplicitAny: answers are read field by field
type Json = any;

async function decide(service: LexeconProcess, overrides: Record<string, unknown> = {}): Promise<Json> {
  const res = await service.call('POST', '/api/decide', decisionRequest(overrides));
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return res.body;
}

/** `n` decisions one after another: one group commit, so one checkpoint, each. */
async function decideTimes(service: LexeconProcess, n: number): Promise<Json[]> {
  const answers: Json[] = [];
  for (let i = 0; i < n; i++) answers.push(await decide(service, { user_intent: `read file ${i}` }));
  return answers;
}

/**
 * A verification that began after this call. A full walk already running when verify is asked
 * (the background auditor's, started before the tamper) answers for every caller, so the first
 * answer may predate the tamper; a walk running when the second is asked began after the first ended.
 */
async function verifyOf(service: LexeconProcess): Promise<Json> {
  expect((await service.call('GET', '/api/ledger/verify')).status).toBe(200);
  const res = await service.call('GET', '/api/ledger/verify');
  expect(res.status).toBe(200);
  return res.body;
}

async function scrape(service: LexeconProcess): Promise<string> {
  return (await fetch(`${service.url}/metrics`)).text();
}

async function ledgerCheck(service: LexeconProcess): Promise<Json> {
  const body = await (await fetch(`${service.url}/health`)).json();
  return body.checks.find((c: { name: string }) => c.name === 'ledger');
}

const names = (found: Json, expected: { index: number; reason: InvalidReason }) =>
  found?.index === expected.index && found?.reason === expected.reason;

/**
 * /health once the background verification (a pass of the shared auditor, not an API call) has
 * named the failure, and the check's integrity field names it too.
 */
async function healthNaming(service: LexeconProcess, expected: { index: number; reason: InvalidReason }) {
  return waitFor(`/health to name ${expected.reason} at ${expected.index}`, async () => {
    const ledger = await ledgerCheck(service);
    const passes = Object.values(ledger?.details?.last_verification ?? {}) as Json[];
    const byAuditor = passes.some((pass) => names(pass.first_invalid, expected));
    return byAuditor && names(ledger.details.integrity, expected) ? ledger : undefined;
  });
}

/**
 * The one place these cases read the integrity metrics: the counter of failed checks grew, and the
 * gauge by reason says which failure this instance holds.
 */
function integrityMetricShows(scrape: { before: string; after: string }, reason: InvalidReason): boolean {
  const failures = (exposition: string) =>
    metricValue(exposition, 'lexecon_ledger_integrity_checks_total', { result: 'failure' });
  return (
    failures(scrape.after) > failures(scrape.before) &&
    metricValue(scrape.after, 'lexecon_ledger_integrity_failure', { reason }) === 1
  );
}

async function metricShowing(service: LexeconProcess, before: string, reason: InvalidReason): Promise<void> {
  await waitFor(`the integrity metric to show ${reason}`, async () =>
    integrityMetricShows({ before, after: await scrape(service) }, reason) ? true : undefined,
  );
}

/** The key a reader pins: the note verifier key the service publishes. */
async function publishedKey(service: LexeconProcess): Promise<string> {
  return (await service.call('GET', '/api/ledger/public-key')).body.note_verifier_key;
}

let exports = 0;

/** `lexecon ledger export` from the service, then `lexecon ledger verify` of what it wrote. */
async function exportAndVerify(service: LexeconProcess, key: string): Promise<{ exported: CliRun; verified: CliRun }> {
  const out = files.path(`export-${exports++}.ndjson`);
  const exported = await lexecon(['ledger', 'export', '--url', service.url, '--out', out], {
    LEXECON_TOKEN: ADMIN_KEY,
  });
  const verified = await lexecon(['ledger', 'verify', out, '--key', key, '--format', 'json']);
  return { exported, verified };
}

describe.each(backends)(
  'a tampered ledger on $name, seen through verify, /health, the metric and the CLI',
  ({ name, open }) => {
    it('names an entry whose data was edited in the middle (hash_mismatch at its index)', async () => {
      const site = await open('edit');
      try {
        const key = await publishedKey(site.service);
        await decideTimes(site.service, 2);
        const denied = await decide(site.service, { actor: 'model', proposed_action: 'write', data_classes: ['pii'] });
        expect(denied.allowed).toBe(false);
        const target = denied.ledger_entry_index as number;
        await decideTimes(site.service, 3);
        expect((await verifyOf(site.service)).valid).toBe(true);

        // The denial, turned into an allow.
        const before = await site.metricsBefore();
        await site.tamper([
          `update ledger_entries set data = jsonb_set(data, '{allowed}', 'true') where seq = ${target}`,
        ]);
        const expected = { index: target, reason: 'hash_mismatch' } as const;

        expect(await verifyOf(site.service)).toMatchObject({ valid: false, first_invalid: expected });
        expect((await healthNaming(site.service, expected)).status).toBe('degraded');
        await metricShowing(site.service, before, expected.reason);
        const { exported, verified } = await exportAndVerify(site.service, key);
        expect(exported.code, exported.stderr).toBe(0);
        expect(verified.code).toBe(1);
        expect(verified.json().first_invalid).toMatchObject(expected);
      } finally {
        await site.close();
      }
    });

    it('names the entry after one deleted in the middle (chain_break); the export stops at the hole and the file verifies as cut there', async () => {
      const site = await open('hole');
      try {
        const key = await publishedKey(site.service);
        const answers = await decideTimes(site.service, 6);
        const target = answers[2].ledger_entry_index as number;

        // Only the entry: its tree hashes and the checkpoints stay, as they would after a careless edit.
        const before = await site.metricsBefore();
        await site.tamper([`delete from ledger_entries where seq = ${target}`]);
        // The first entry that no longer links is the one after the hole.
        const expected = { index: target + 1, reason: 'chain_break' } as const;

        expect(await verifyOf(site.service)).toMatchObject({ valid: false, first_invalid: expected });
        expect((await healthNaming(site.service, expected)).status).toBe('degraded');
        await metricShowing(site.service, before, expected.reason);
        // The export refuses to write past the hole, naming the index it found missing; what it wrote
        // before it verifies as an export cut off at that index.
        const { exported, verified } = await exportAndVerify(site.service, key);
        expect(exported.code).toBe(1);
        expect(exported.stderr).toContain(`entry ${target + 1} where ${target} was due`);
        expect(verified.code).toBe(1);
        expect(verified.json().first_invalid).toMatchObject({ index: target, reason: 'truncated' });
      } finally {
        await site.close();
      }
    });

    it('names a deleted tail as truncated at its first missing index, refuses to decide meanwhile (503 LEDGER_TRUNCATED), and decides again once the rows are back', async () => {
      const site = await open('tail');
      try {
        const key = await publishedKey(site.service);
        const answers = await decideTimes(site.service, 6);
        const head = answers.at(-1).ledger_entry_index as number;
        const kept = head - 3;
        expect((await verifyOf(site.service)).valid).toBe(true);

        // The entries only: the stored tree and its signed checkpoints still say how long the ledger was.
        const before = await site.metricsBefore();
        await site.tamper([
          `create table ledger_tail_copy as select * from ledger_entries where seq > ${kept}`,
          `delete from ledger_entries where seq > ${kept}`,
        ]);
        const expected = { index: kept + 1, reason: 'truncated' } as const;

        expect(await verifyOf(site.service)).toMatchObject({ valid: false, head_index: kept, first_invalid: expected });
        expect((await healthNaming(site.service, expected)).status).toBe('degraded');
        await metricShowing(site.service, before, expected.reason);
        // Appending now would sign a tree that forks the one already signed: the service refuses.
        const refused = await site.service.call('POST', '/api/decide', decisionRequest());
        expect(refused.status).toBe(503);
        expect(refused.body.error.code).toBe('LEDGER_TRUNCATED');
        expect(refused.body.decision_id).toBeUndefined();
        // From then on the ledger check reports the refused appends (unhealthy, so not ready), with
        // the integrity finding that explains them.
        const ready = await fetch(`${site.service.url}/health/ready`);
        expect(ready.status).toBe(503);
        expect(await ready.text()).toContain('LEDGER_TRUNCATED');
        expect(await ledgerCheck(site.service)).toMatchObject({
          status: 'unhealthy',
          details: { writes: { error: 'LEDGER_TRUNCATED' }, integrity: { reason: 'truncated' } },
        });
        const { exported, verified } = await exportAndVerify(site.service, key);
        expect(exported.code).toBe(1);
        expect(exported.stderr).toContain(`entries up to ${kept} only; its checkpoint covers ${head + 1}`);
        expect(verified.code).toBe(1);
        expect(verified.json().first_invalid).toMatchObject(expected);

        // The rows come back. On PostgreSQL the same process writes again without a restart; PGlite
        // can only be edited with its one process stopped, so there a fresh process writes again.
        await site.tamper([
          `insert into ledger_entries (${ENTRY_COLUMNS}) select ${ENTRY_COLUMNS} from ledger_tail_copy order by seq`,
          'drop table ledger_tail_copy',
        ]);
        const resumed = await waitFor('a decision accepted once the tail is back', async () => {
          const res = await site.service.call('POST', '/api/decide', decisionRequest());
          return res.status === 200 ? res.body : undefined;
        });
        expect(resumed.ledger_entry_index).toBe(head + 1);
        expect(await verifyOf(site.service)).toMatchObject({ valid: true, head_index: head + 1 });
        await waitFor('readiness back to 200', async () =>
          (await fetch(`${site.service.url}/health/ready`)).status === 200 ? true : undefined,
        );
        const again = await exportAndVerify(site.service, key);
        expect(again.exported.code, again.exported.stderr).toBe(0);
        expect(again.verified.code, again.verified.stdout).toBe(0);
      } finally {
        await site.close();
      }
    });

    it('proves a fork: two readers hold checkpoints of one size with two roots; the CLI refuses the pair and the older receipt against the newer checkpoint', async () => {
      const site = await open('fork');
      try {
        const key = await publishedKey(site.service);
        const first = site.service;
        const answers = await decideTimes(first, 8);
        // Reader A: the newest decision's receipt, and the checkpoint it fetches afterwards.
        const receiptA = answers.at(-1);
        const size = (receiptA.ledger_entry_index as number) + 1;
        expect(receiptA.receipt.tree_size).toBe(size);
        const checkpointA = await first.call('GET', '/api/ledger/checkpoint');
        expect(checkpointA.body).toMatch(new RegExp(`^lexecon/[^\\n]+\\n${size}\\n`));
        const fileA = files.path(`${name}-a.txt`);
        writeFileSync(fileA, checkpointA.body);
        const receiptFile = files.path(`${name}-receipt-a.json`);
        writeFileSync(receiptFile, JSON.stringify(receiptA));
        expect((await lexecon(['receipt', 'verify', receiptFile, '--key', key])).code).toBe(0);

        // The database goes back to the tree of `kept + 1` leaves, as a restored backup would: the
        // entries, tree hashes and checkpoints after it, and the shared verification state that
        // remembers them (the watermark, the auditor's cursors). On PostgreSQL the first process is
        // frozen meanwhile (SIGSTOP), so it neither writes nor re-shares what it remembers.
        const kept = size - 5;
        const firstBefore = await scrape(first);
        if (site.live) first.child.kill('SIGSTOP');
        await site.tamper([
          `delete from ledger_entries where seq > ${kept}`,
          `delete from ledger_tree_hashes where stored_index >= ${storedHashIndex(0, kept + 1)}`,
          `delete from ledger_checkpoints where tree_size > ${kept + 1}`,
          `delete from background_tasks where name in ('ledger_watermark', 'ledger_verify_incremental', 'ledger_verify_full')`,
        ]);
        // A fresh process appends other decisions until the tree is as large as the one A holds (on
        // PGlite the process started after the rollback; the first one is gone, and with it the
        // only memory of the first branch outside the readers' hands).
        const second = site.live ? await site.startAnother() : site.service;
        let grown = 0;
        while (grown < size)
          grown = (await decide(second, { actor: 'model', proposed_action: 'search' })).receipt.tree_size;
        expect(grown).toBe(size);
        const fileB = files.path(`${name}-b.txt`);
        writeFileSync(fileB, (await second.call('GET', '/api/ledger/checkpoint')).body);

        // Two signed roots for one tree size: the command names the fork.
        const consistency = await lexecon(
          ['checkpoint', 'consistency', fileA, fileB, '--url', second.url, '--key', key, '--format', 'json'],
          { LEXECON_TOKEN: ADMIN_KEY },
        );
        expect(consistency.code).toBe(1);
        expect(consistency.json().first_invalid).toMatchObject({ reason: 'inconsistent' });
        expect(consistency.json().first_invalid.message).toContain('fork');
        // A's receipt still verifies against its own checkpoint, and not against B's of the same size.
        const receiptAgainstB = files.path(`${name}-receipt-a-on-b.json`);
        const receiptB = { ...receiptA.receipt, checkpoint: readFileSync(fileB, 'utf8') };
        writeFileSync(receiptAgainstB, JSON.stringify(receiptB));
        const moved = await lexecon(['receipt', 'verify', receiptAgainstB, '--key', key, '--format', 'json']);
        expect(moved.code).toBe(1);
        expect(moved.json().first_invalid).toMatchObject({ index: size - 1, reason: 'bad_proof' });
        // The newer tree grows on; the proof the service gives from A's size to it does not start at A's root.
        await decideTimes(second, 2);
        const fileB2 = files.path(`${name}-b2.txt`);
        writeFileSync(fileB2, (await second.call('GET', '/api/ledger/checkpoint')).body);
        const proved = await lexecon(['checkpoint', 'consistency', fileA, fileB2, '--url', second.url, '--key', key], {
          LEXECON_TOKEN: ADMIN_KEY,
        });
        expect(proved.code, proved.stderr).toBe(1);
        expect(proved.stdout, proved.stderr).toContain('inconsistent');

        // The process that wrote the second branch cannot see the fork: the restored database is
        // consistent with itself (entries, tree, checkpoints, shared state all from one branch) and it
        // never saw the other. Only a reader's checkpoint, or a process that remembers the first
        // branch, can prove it.
        expect(await verifyOf(second)).toMatchObject({ valid: true, head_index: size + 1 });
        expect((await ledgerCheck(second)).status).toBe('healthy');
        expect(integrityMetricShows({ before: '', after: await scrape(second) }, 'truncated')).toBe(false);
        const { exported, verified } = await exportAndVerify(second, key);
        expect(exported.code, exported.stderr).toBe(0);
        expect(verified.code, verified.stdout).toBe(0);

        if (site.live) {
          // The first process remembers the head it wrote at index size - 1; another, validly signed,
          // entry is there now: to it the entries it wrote were cut off there and others appended.
          // /health names what this process found itself; the shared passes are run by either
          // process, so their record says what the last one found.
          first.child.kill('SIGCONT');
          const expected = { index: size - 1, reason: 'truncated' } as const;
          expect(await verifyOf(first)).toMatchObject({
            valid: false,
            first_invalid: { ...expected, watermark: { index: size - 1, hash: receiptA.ledger_entry_hash } },
          });
          const health = await waitFor('/health of the first process to name the fork', async () => {
            const ledger = await ledgerCheck(first);
            return names(ledger?.details?.integrity, expected) ? ledger : undefined;
          });
          expect(health.status).toBe('degraded');
          await metricShowing(first, firstBefore, expected.reason);
          // Appending on the second branch would sign checkpoints contradicting those it signed on
          // the first: it refuses, and says why.
          const refused = await first.call('POST', '/api/decide', decisionRequest());
          expect({ status: refused.status, code: refused.body.error?.code }).toEqual({
            status: 503,
            code: 'LEDGER_TRUNCATED',
          });
        }
      } finally {
        await site.close();
      }
    });
  },
);
