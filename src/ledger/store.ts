import { and, asc, desc, eq, gt, gte, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { isDatabaseUnavailable } from '../db/errors';
import { type LedgerRow, ledgerEntries } from '../db/schema';
import { newId } from '../ids';
import type { Telemetry } from '../telemetry/telemetry';
import type { PublicKey, SigningKey } from './crypto';
import { computeEntryHash, GENESIS_PREVIOUS_HASH, type LedgerEntry, type LedgerEventType } from './entry';
import { type ChainVerification, verifyChain } from './verify';

export interface LedgerEvent {
  eventType: Exclude<LedgerEventType, 'genesis'>;
  data: Record<string, unknown>;
  /** When the event happened; defaults to the moment it is appended. */
  timestamp?: Date;
}

export interface EntryFilter {
  eventType?: LedgerEventType;
  from?: Date;
  to?: Date;
  /** Keyset cursor: entries after (ascending) or before (descending) this index. */
  cursor?: number;
  order: 'asc' | 'desc';
  limit: number;
}

export interface Ledger {
  /** Appends one event; concurrent calls are committed together in one transaction (group commit). */
  append(event: LedgerEvent): Promise<LedgerEntry>;
  /** Appends inside a caller's transaction, for events that must commit atomically with other rows. */
  appendInTransaction(tx: Tx, events: LedgerEvent[]): Promise<LedgerEntry[]>;
  /** Waits for, then holds until `tx` ends, the lock every ledger writer takes: a read-then-append guard. */
  lock(tx: Tx): Promise<void>;
  /** Creates the genesis entry if the ledger is empty; safe to call from every instance at start. */
  ensureGenesis(): Promise<LedgerEntry>;
  head(): Promise<LedgerEntry | undefined>;
  entries(filter: EntryFilter): Promise<LedgerEntry[]>;
  entryByHash(hash: string): Promise<LedgerEntry | undefined>;
  entryByIndex(index: number): Promise<LedgerEntry | undefined>;
  decisionEntry(decisionId: string): Promise<LedgerEntry | undefined>;
  verify(): Promise<ChainVerification>;
  /** Recomputes one entry's hash and checks its signature (no chain walk). */
  verifyEntry(entry: LedgerEntry): Promise<{ hashValid: boolean; signatureValid: boolean }>;
  readonly signingKey: SigningKey;
}

export interface LedgerOptions {
  db: Db;
  signingKey: SigningKey;
  /** Keys whose signatures verify besides the signing key (rotated-out keys). */
  trustedKeys?: PublicKey[];
  telemetry: Telemetry;
  /** Most events per group-commit transaction. */
  maxBatch?: number;
  /** Entries read per page while verifying; bounds verification memory. */
  verifyPageSize?: number;
  now?: () => Date;
}

// Every writer, in every instance, serialises on this transaction-scoped advisory lock.
const APPEND_LOCK_KEY = 0x6c78_6c64;

export function createLedger(options: LedgerOptions): Ledger {
  const { db, signingKey, telemetry } = options;
  const now = options.now ?? (() => new Date());
  const maxBatch = options.maxBatch ?? 128;
  const verifyPageSize = options.verifyPageSize ?? 500;
  const keys = new Map<string, PublicKey>([[signingKey.keyId, signingKey]]);
  for (const key of options.trustedKeys ?? []) keys.set(key.keyId, key);

  async function lock(tx: Tx): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${APPEND_LOCK_KEY})`);
  }

  async function appendInTransaction(tx: Tx, events: LedgerEvent[]): Promise<LedgerEntry[]> {
    await lock(tx);
    const [headRow] = await tx
      .select({ seq: ledgerEntries.seq, entryHash: ledgerEntries.entryHash })
      .from(ledgerEntries)
      .orderBy(desc(ledgerEntries.seq))
      .limit(1);
    let index = headRow ? headRow.seq + 1 : 0;
    let previousHash = headRow ? headRow.entryHash : GENESIS_PREVIOUS_HASH;

    const pending = headRow ? events : [genesisEvent(now()), ...events];
    const unsigned: Omit<LedgerEntry, 'signature' | 'key_id'>[] = [];
    for (const event of pending) {
      const entry = {
        index,
        entry_id: newId('ent'),
        event_type: event.eventType,
        timestamp: (event.timestamp ?? now()).toISOString(),
        data: event.data,
        previous_hash: previousHash,
      };
      const entryHash = await computeEntryHash(entry);
      unsigned.push({ ...entry, entry_hash: entryHash });
      previousHash = entryHash;
      index++;
    }
    // Signatures do not depend on each other, so they run concurrently off the main thread.
    const signatures = await Promise.all(unsigned.map((e) => signingKey.sign(e.entry_hash)));
    const entries = unsigned.map((e, i) => ({ ...e, signature: signatures[i] as string, key_id: signingKey.keyId }));

    await tx.insert(ledgerEntries).values(entries.map(toRow));
    telemetry.ledgerEntriesAppended(entries.length);
    return headRow ? entries : entries.slice(1);
  }

  const writer = createGroupCommitWriter(db, appendInTransaction, maxBatch);

  async function readEntries(where: SQL | undefined, order: 'asc' | 'desc', limit: number) {
    const rows = await db
      .select()
      .from(ledgerEntries)
      .where(where)
      .orderBy(order === 'asc' ? asc(ledgerEntries.seq) : desc(ledgerEntries.seq))
      .limit(limit);
    return rows.map(fromRow);
  }

  return {
    signingKey,
    append: writer,
    appendInTransaction,
    lock,

    async ensureGenesis() {
      const existing = await this.entryByIndex(0);
      if (existing) return existing;
      await db.transaction((tx) => appendInTransaction(tx, []));
      return (await this.entryByIndex(0)) as LedgerEntry;
    },

    async head() {
      const [entry] = await readEntries(undefined, 'desc', 1);
      return entry;
    },

    entries(filter) {
      const conditions = [
        filter.eventType && eq(ledgerEntries.eventType, filter.eventType),
        filter.from && gte(ledgerEntries.timestamp, filter.from),
        filter.to && lte(ledgerEntries.timestamp, filter.to),
        filter.cursor !== undefined &&
          (filter.order === 'asc' ? gt(ledgerEntries.seq, filter.cursor) : lt(ledgerEntries.seq, filter.cursor)),
      ].filter((c): c is SQL => Boolean(c));
      return readEntries(and(...conditions), filter.order, filter.limit);
    },

    async entryByHash(hash) {
      const [entry] = await readEntries(eq(ledgerEntries.entryHash, hash), 'asc', 1);
      return entry;
    },

    async entryByIndex(index) {
      const [entry] = await readEntries(eq(ledgerEntries.seq, index), 'asc', 1);
      return entry;
    },

    async decisionEntry(decisionId) {
      const [entry] = await readEntries(
        and(eq(ledgerEntries.eventType, 'decision'), sql`${ledgerEntries.data}->>'decision_id' = ${decisionId}`),
        'asc',
        1,
      );
      return entry;
    },

    async verify() {
      const head = await this.head();
      const result = await verifyChain({
        headIndex: head?.index ?? -1,
        keys,
        readPage: (afterIndex) =>
          readEntries(afterIndex < 0 ? undefined : gt(ledgerEntries.seq, afterIndex), 'asc', verifyPageSize),
      });
      telemetry.ledgerVerified(result.valid);
      return result;
    },

    async verifyEntry(entry) {
      const hashValid = (await computeEntryHash(entry)) === entry.entry_hash;
      const key = keys.get(entry.key_id);
      const signatureValid = key ? await key.verify(entry.entry_hash, entry.signature) : false;
      return { hashValid, signatureValid };
    },
  };
}

function genesisEvent(at: Date) {
  return {
    eventType: 'genesis' as const,
    data: { message: 'Lexecon ledger initialized' },
    timestamp: at,
  };
}

interface Waiter {
  event: LedgerEvent;
  resolve(entry: LedgerEntry): void;
  reject(err: unknown): void;
}

/**
 * Group commit: the first append starts a transaction at once; appends that arrive while it runs
 * queue up and go together in the next one. Durability is per transaction, so each caller still
 * gets its answer only after its entry is committed, and throughput grows with concurrency.
 */
function createGroupCommitWriter(
  db: Db,
  appendInTransaction: (tx: Tx, events: LedgerEvent[]) => Promise<LedgerEntry[]>,
  maxBatch: number,
) {
  const queue: Waiter[] = [];
  let flushing = false;

  async function commit(batch: Waiter[]): Promise<void> {
    try {
      const entries = await db.transaction((tx) =>
        appendInTransaction(
          tx,
          batch.map((w) => w.event),
        ),
      );
      for (const [i, waiter] of batch.entries()) waiter.resolve(entries[i] as LedgerEntry);
    } catch (err) {
      // One bad event must not fail its neighbours: retry them one by one unless the database is gone.
      if (batch.length > 1 && !isDatabaseUnavailable(err)) {
        for (const waiter of batch) await commit([waiter]);
        return;
      }
      for (const waiter of batch) waiter.reject(err);
    }
  }

  async function flush(): Promise<void> {
    flushing = true;
    try {
      while (queue.length > 0) await commit(queue.splice(0, maxBatch));
    } finally {
      flushing = false;
    }
  }

  return function append(event: LedgerEvent): Promise<LedgerEntry> {
    return new Promise<LedgerEntry>((resolve, reject) => {
      queue.push({ event, resolve, reject });
      if (!flushing) void flush();
    });
  };
}

function toRow(entry: LedgerEntry) {
  return {
    seq: entry.index,
    entryId: entry.entry_id,
    eventType: entry.event_type,
    timestamp: new Date(entry.timestamp),
    data: entry.data,
    previousHash: entry.previous_hash,
    entryHash: entry.entry_hash,
    signature: entry.signature,
    keyId: entry.key_id,
  };
}

export function fromRow(row: LedgerRow): LedgerEntry {
  return {
    index: row.seq,
    entry_id: row.entryId,
    event_type: row.eventType as LedgerEventType,
    timestamp: row.timestamp.toISOString(),
    data: row.data,
    previous_hash: row.previousHash,
    entry_hash: row.entryHash,
    signature: row.signature,
    key_id: row.keyId,
  };
}
