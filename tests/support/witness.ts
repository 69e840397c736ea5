import { appendFileSync, readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { decisionRequest } from './app';
import { ADMIN_KEY, freshRequest, type LexeconProcess, type RawResponse } from './lexecon-process';
import { waitFor } from './wait';

/**
 * A client that remembers every answer the service gave, so a chaos case can check the three
 * promises afterwards: nothing answered is lost (every 2xx decision is in the verified chain, at the
 * index and hash it was answered with), nothing wrong is answered (no `allowed: true` without its
 * entry, every refusal a precise status without decision fields), and recovery without restart.
 */
export interface AnsweredDecision {
  decision_id: string;
  index: number;
  hash: string;
  allowed: boolean;
}

export interface Outcome {
  status: number;
  code?: string;
  ms: number;
}

export interface Witness {
  readonly answered: Map<string, AnsweredDecision>;
  readonly outcomes: Outcome[];
  /** Answers that broke a promise on their own (a 2xx without its entry, a refusal carrying a decision, a 500). */
  readonly anomalies: string[];
  /** One decision; a connection error (the process died) counts as unanswered. */
  decide(service: Pick<LexeconProcess, 'port'>, overrides?: Record<string, unknown>): Promise<Outcome>;
  /** Keeps `concurrency` decisions in flight until the returned stop() is awaited. */
  load(service: Pick<LexeconProcess, 'port'>, concurrency: number): { stop(): Promise<void> };
  /** Outcomes recorded since `from` (an index into outcomes). */
  since(from: number): Outcome[];
}

export function createWitness(): Witness {
  const answered = new Map<string, AnsweredDecision>();
  const outcomes: Outcome[] = [];
  const anomalies: string[] = [];

  function record(res: RawResponse, ms: number): Outcome {
    const outcome: Outcome = { status: res.status, ms, code: res.body?.error?.code };
    outcomes.push(outcome);
    if (res.status === 200) {
      const body = res.body;
      if (typeof body?.ledger_entry_hash !== 'string' || typeof body?.ledger_entry_index !== 'number') {
        anomalies.push(`200 without a ledger entry: ${JSON.stringify(body).slice(0, 200)}`);
      } else {
        answered.set(body.decision_id, {
          decision_id: body.decision_id,
          index: body.ledger_entry_index,
          hash: body.ledger_entry_hash,
          allowed: body.allowed,
        });
      }
    } else {
      if (res.body && typeof res.body === 'object' && 'allowed' in res.body) {
        anomalies.push(`${res.status} carrying a decision: ${JSON.stringify(res.body).slice(0, 200)}`);
      }
      if (res.status >= 500 && res.status !== 503) anomalies.push(`${res.status} ${outcome.code}`);
    }
    return outcome;
  }

  async function decide(service: Pick<LexeconProcess, 'port'>, overrides: Record<string, unknown> = {}) {
    const started = performance.now();
    try {
      const res = await freshRequest(service.port, 'POST', '/api/decide', { body: decisionRequest(overrides) });
      return record(res, performance.now() - started);
    } catch {
      const outcome = { status: 0, ms: performance.now() - started };
      outcomes.push(outcome);
      return outcome;
    }
  }

  return {
    answered,
    outcomes,
    anomalies,
    decide,
    load(service, concurrency) {
      let running = true;
      const loops = Array.from({ length: concurrency }, async () => {
        while (running) {
          const outcome = await decide(service);
          // A refused or dead service answers at once: do not spin the CPU the recovery needs.
          if (outcome.status !== 200) await pause(50);
        }
      });
      return {
        async stop() {
          running = false;
          await Promise.all(loops);
        },
      };
    },
    since: (from) => outcomes.slice(from),
  };
}

export interface ChainAudit {
  valid: boolean;
  /** Decision entries in the chain. */
  decisionsInChain: number;
  /** Answered decisions found in the chain at the index and hash they were answered with. */
  answeredFound: number;
  /** Answered decisions missing from the chain, or found with another index or hash. */
  missing: string[];
  verification: Record<string, unknown>;
}

/** Verifies the chain and finds every answered decision in it, paging through the decision entries. */
export async function auditChain(service: Pick<LexeconProcess, 'port'>, witness: Witness): Promise<ChainAudit> {
  const verification = (await freshRequest(service.port, 'GET', '/api/ledger/verify')).body;
  const inChain = new Map<string, { index: number; hash: string }>();
  let cursor: string | null = null;
  do {
    const query: string = `event_type=decision&order=asc&limit=500${cursor ? `&cursor=${cursor}` : ''}`;
    const page = await freshRequest(service.port, 'GET', `/api/ledger/entries?${query}`);
    if (page.status !== 200) throw new Error(`GET /api/ledger/entries answered ${page.status}`);
    for (const entry of page.body.entries) {
      inChain.set(entry.data.decision_id, { index: entry.index, hash: entry.entry_hash });
    }
    cursor = page.body.next_cursor;
  } while (cursor);
  const missing: string[] = [];
  for (const decision of witness.answered.values()) {
    const found = inChain.get(decision.decision_id);
    if (!found || found.index !== decision.index || found.hash !== decision.hash) missing.push(decision.decision_id);
  }
  return {
    valid: verification?.valid === true,
    decisionsInChain: inChain.size,
    answeredFound: witness.answered.size - missing.length,
    missing,
    verification,
  };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

export async function readiness(service: Pick<LexeconProcess, 'port'>): Promise<RawResponse> {
  return freshRequest(service.port, 'GET', '/health/ready', { key: null });
}

/**
 * After a fault ends: how long until the same instance answers a decision with 200 and readiness
 * 200 again, then how many 5xx a burst of decisions gets (the promise is none).
 */
export async function measureRecovery(service: Pick<LexeconProcess, 'port'>, witness: Witness, burst = 20) {
  const started = Date.now();
  await waitFor('a decision answered 200 after the fault', async () =>
    (await witness.decide(service)).status === 200 ? true : undefined,
  );
  const decideMs = Date.now() - started;
  await waitFor('readiness 200 after the fault', async () =>
    (await readiness(service)).status === 200 ? true : undefined,
  );
  const readyMs = Date.now() - started;
  const outcomes = await Promise.all(Array.from({ length: burst }, () => witness.decide(service)));
  return { decideMs, readyMs, serverErrorsAfter: outcomes.filter((o) => o.status >= 500 || o.status === 0).length };
}

/** The median of the durations of 200 answers. */
export function p50(outcomes: readonly Outcome[]): number {
  const sorted = outcomes
    .filter((o) => o.status === 200)
    .map((o) => o.ms)
    .sort((a, b) => a - b);
  return sorted.length === 0 ? Number.NaN : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}

/** The highest resident set size the process has had (VmHWM), in MiB. */
export function peakRssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : Number.NaN;
}

/** A GET whose body is read and dropped, returning only status and size (large pages stay out of the test's heap). */
export function drain(port: number, path: string): Promise<{ status: number; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, path, agent: false, headers: { authorization: `Bearer ${ADMIN_KEY}` } },
      (res) => {
        let bytes = 0;
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** One line per chaos case, for the closing figures: appended to LEXECON_CHAOS_REPORT when set, always printed. */
export function reportCase(line: Record<string, unknown>): void {
  const text = JSON.stringify(line);
  console.log(`chaos: ${text}`);
  const file = process.env.LEXECON_CHAOS_REPORT;
  if (file) appendFileSync(file, `${text}\n`);
}
