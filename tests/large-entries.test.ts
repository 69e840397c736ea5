import { readFileSync, writeFileSync } from 'node:fs';
import postgres from 'postgres';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ENTRY_PAGE_BYTES } from '../src/ledger/entry-page';
import { withDatabase } from './support/global-setup';
import {
  cleanUpProcesses,
  type LexeconProcess,
  policyFile,
  seededDataDir,
  spawnLexecon,
  waitFor,
} from './support/lexecon-process';

/**
 * Decisions as large as an agent may send (~575 KB: 1000 data classes of 512 characters and a
 * 64 KiB context), written through the real service, then read back six at a time by a fresh
 * process: every read answers, and the process stays under 512 MB on PostgreSQL. On PGlite the
 * embedded database alone holds ~450 MB of the process (its WebAssembly heap, ledger empty or not),
 * so there the reads' own share is bounded instead.
 */
afterAll(cleanUpProcesses);

const MB = 1024 * 1024;
const RSS_LIMIT_MB = 512;
const PGLITE_READS_LIMIT_MB = 128;
const DECISIONS = 500;
const WRITERS = 4;

/** Denied (no capability token repeats the data classes), so the entry is about the request's size. */
function largeDecision(n: number) {
  return {
    actor: 'model',
    proposed_action: 'write',
    tool: 'bulk_exporter',
    user_intent: `large decision ${n}`,
    data_classes: Array.from({ length: 1000 }, (_, i) => `class-${n}-${i}-`.padEnd(512, 'd')),
    context: Object.fromEntries(Array.from({ length: 7 }, (_, i) => [`note_${i}`, 'n'.repeat(9000)])),
  };
}

/** The process's peak resident set (VmHWM) since it started or was last reset, in MB. */
function peakRssMb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]) / 1024;
}

/** Starts the peak over from the resident set of now (clear_refs, proc(5)); returns that. */
function resetPeakRss(pid: number): number {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
  return peakRssMb(pid);
}

async function start(env: Record<string, string>): Promise<LexeconProcess> {
  const service = await spawnLexecon(env);
  await service.listening;
  await waitFor('the service to be ready', async () =>
    (await fetch(`${service.url}/health/ready`)).status === 200 ? true : undefined,
  );
  return service;
}

async function stop(service: LexeconProcess): Promise<void> {
  service.child.kill('SIGTERM');
  expect((await service.exited).code).toBe(0);
}

async function writeLargeDecisions(service: LexeconProcess): Promise<void> {
  let next = 0;
  const statuses: number[] = [];
  await Promise.all(
    Array.from({ length: WRITERS }, async () => {
      while (next < DECISIONS) statuses.push((await service.call('POST', '/api/decide', largeDecision(next++))).status);
    }),
  );
  expect(statuses).toEqual(Array(DECISIONS).fill(200));
}

interface Backend {
  name: string;
  env(): Promise<{ env: Record<string, string>; drop?: () => Promise<void> }>;
  /** Checks the reads' peak resident set, given the process's when they began. */
  expectMemory(peakMb: number, beforeMb: number): void;
}

const memory = (peak: number, before: number) =>
  `peak RSS ${peak.toFixed(0)} MB, ${before.toFixed(0)} MB before the reads`;

const template = inject('postgresTemplate');
const backends: Backend[] = [
  {
    name: 'PGlite',
    env: async () => ({ env: { LEXECON_DATA_DIR: await seededDataDir() } }),
    expectMemory: (peak, before) => expect(peak - before, memory(peak, before)).toBeLessThan(PGLITE_READS_LIMIT_MB),
  },
];
if (template) {
  backends.push({
    name: 'PostgreSQL',
    async env() {
      const name = `lexecon_large_${process.pid}`;
      const admin = postgres(template.adminUrl, { max: 1, onnotice: () => {} });
      await admin.unsafe(`drop database if exists ${name} with (force)`);
      await admin.unsafe(`create database ${name} template ${template.template}`);
      return {
        env: { DATABASE_URL: withDatabase(template.adminUrl, name) },
        async drop() {
          await admin.unsafe(`drop database if exists ${name} with (force)`);
          await admin.end();
        },
      };
    },
    expectMemory: (peak, before) => expect(peak, memory(peak, before)).toBeLessThan(RSS_LIMIT_MB),
  });
}

describe.each(backends)('six concurrent large reads on $name', (backend) => {
  it('answer every read (entries pages of at most 1 MiB, verifications of the whole chain) in bounded memory', async () => {
    const { env: database, drop } = await backend.env();
    try {
      const env = {
        ...database,
        // The decision size cap, raised to let these through; the body limit above it.
        LEXECON_MAX_DECISION_BYTES: String(MB),
        LEXECON_MAX_BODY_BYTES: String(2 * MB),
        LEXECON_POLICY_FILE: policyFile(),
        LEXECON_SHUTDOWN_DELAY_MS: '0',
      };
      const writer = await start(env);
      await writeLargeDecisions(writer);
      await stop(writer);

      // A fresh process, so what the writes left in memory does not count.
      const reader = await start(env);
      const pid = reader.child.pid as number;
      const before = resetPeakRss(pid);
      const [ascending, descending, decisions, audit, ...verifications] = await Promise.all([
        reader.call('GET', '/api/ledger/entries?limit=500'),
        reader.call('GET', '/api/ledger/entries?limit=500&order=desc'),
        reader.call('GET', '/api/ledger/entries?limit=500&event_type=decision'),
        reader.call('GET', '/api/audit/decisions?limit=500'),
        reader.call('GET', '/api/ledger/verify'),
        reader.call('GET', '/api/ledger/verify'),
      ]);
      const peak = peakRssMb(pid);
      const head = await reader.call('GET', '/api/ledger/head');

      for (const page of [ascending, descending, decisions]) {
        expect(page.status).toBe(200);
        expect(page.body.entries.length).toBeGreaterThan(0);
        if (page.body.entries.length > 1) {
          expect(Buffer.byteLength(JSON.stringify(page.body.entries))).toBeLessThanOrEqual(ENTRY_PAGE_BYTES);
        }
        expect(page.body.next_cursor).not.toBeNull();
      }
      expect(descending.body.entries[0].index).toBe(head.body.index);
      expect(audit.status).toBe(200);
      expect(audit.body.total).toBe(DECISIONS);
      expect(audit.body.decisions.length).toBeGreaterThan(0);
      expect(audit.body.next_cursor).not.toBeNull();
      for (const verification of verifications) {
        expect(verification.status).toBe(200);
        expect(verification.body).toMatchObject({ valid: true, entries_checked: head.body.index + 1 });
      }
      backend.expectMemory(peak, before);
      await stop(reader);
    } finally {
      await drop?.();
    }
  }, 300_000);
});
