import { bytesToHex, hexToBytes } from '@noble/hashes/utils.js';
import { and, asc, desc, eq, gt, gte, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { Db, Tx } from '../db/client';
import { ledgerCheckpoints, ledgerEntries } from '../db/schema';
import { newId } from '../ids';
import { type Logger, silentLogger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/telemetry';
import { type PublicKey, portableSha256Hex, type Sha256Hex, type SigningKey } from './crypto';
import {
  canonicalEntry,
  computeEntryHash,
  GENESIS_PREVIOUS_HASH,
  type LedgerEntry,
  type LedgerEventType,
} from './entry';
import { ENTRY_PAGE_BYTES, type EntryPage, fromRow, readEntryPage } from './entry-page';
import { LedgerTruncatedError } from './errors';
import { createGroupCommitWriter, type Group, type Head } from './group-commit';
import { leafHash, verifyConsistency, verifyInclusion } from './merkle';
import { isNoteKeyId, noteSignerIds } from './note';
import {
  type CheckpointSigner,
  catchUp,
  checkpointEdge,
  consistencyProof,
  growTree,
  growthRows,
  type InclusionProof,
  inclusionProof,
  latestCheckpoint,
  type Receipt,
  type StoredCheckpoint,
  type TreeEdge,
  type TreeGrowth,
} from './tree-store';
import {
  type ChainVerification,
  type CheckpointPoint,
  type CheckpointRow,
  checkCheckpoint,
  checkpointSigned,
  type FirstInvalid,
  settleUnsigned,
  verifyChain,
} from './verify';
import { createWatermarks } from './watermark';
import { createWriteHealth, type WriteFailure } from './write-health';

export interface LedgerEvent {
  eventType: Exclude<LedgerEventType, 'genesis'>;
  data: Record<string, unknown>;
  /** When the event happened; defaults to the moment it is appended. */
  timestamp?: Date;
}

export { fromRow } from './entry-page';

export interface EntryFilter {
  eventType?: LedgerEventType;
  from?: Date;
  to?: Date;
  /** Keyset cursor: entries after (ascending) or before (descending) this index. */
  cursor?: number;
  order: 'asc' | 'desc';
  /** Most entries; a page also ends before ENTRY_PAGE_BYTES of entry JSON. */
  limit: number;
}

/** An appended entry and its proof of inclusion in the checkpoint signed for its group commit. */
export interface Appended {
  entry: LedgerEntry;
  receipt: Receipt;
}

export interface Ledger {
  /** Appends one event; concurrent calls are committed together in one transaction (group commit). */
  append(event: LedgerEvent): Promise<Appended>;
  /** Appends inside a caller's transaction, for events that must commit atomically with other rows. */
  appendInTransaction(tx: Tx, events: LedgerEvent[]): Promise<LedgerEntry[]>;
  /** Waits for, then holds until `tx` ends, the lock every ledger writer takes: a read-then-append guard. */
  lock(tx: Tx): Promise<void>;
  /** Creates the genesis entry if the ledger is empty; safe to call from every instance at start. */
  ensureGenesis(): Promise<LedgerEntry>;
  head(): Promise<LedgerEntry | undefined>;
  entries(filter: EntryFilter): Promise<EntryPage>;
  entryByHash(hash: string): Promise<LedgerEntry | undefined>;
  entryByIndex(index: number): Promise<LedgerEntry | undefined>;
  decisionEntry(decisionId: string): Promise<LedgerEntry | undefined>;
  /**
   * Verifies the chain, from genesis or from an entry already verified (an incremental pass). A
   * full verification asked for while one runs gets that run's result instead of walking again.
   */
  verify(options?: VerifyOptions): Promise<ChainVerification>;
  /**
   * Recomputes one entry's hash and checks what signs it (no chain walk): its own signature, or for
   * an entry without one, an inclusion proof in the newest checkpoint and that checkpoint's signature.
   */
  verifyEntry(entry: LedgerEntry): Promise<{ hashValid: boolean; signatureValid: boolean }>;
  /**
   * Whether what this key id signed verifies on this instance (its key or a trusted one): an entry's
   * key id, or a checkpoint signer's `<name>+<key hash>`.
   */
  trusts(keyId: string): boolean;
  /**
   * What signed the head, when this instance does not trust it: the head's own key, or for an
   * unsigned head the newest checkpoint's origin (its key's name).
   */
  untrustedHead(): Promise<{ index: number; signer: string } | undefined>;
  /** This instance's last failed verification, kept until a whole-chain verification passes. */
  integrityFailure(): IntegrityFailure | undefined;
  /** Shares the highest entry this instance committed or verified with the other instances. */
  publishWatermark(): Promise<void>;
  /** Set while appends on this instance fail for reasons other than the event itself. */
  writeFailure(): WriteFailure | undefined;
  /**
   * Appends a probe event through the whole write path (writers' lock, head, hash and sign,
   * insert) in a transaction that is rolled back; success clears a write failure. Concurrent
   * calls share one probe.
   */
  probeWrite(): Promise<boolean>;
  /** The newest signed checkpoint, if the tree has one yet. */
  checkpoint(): Promise<StoredCheckpoint | undefined>;
  /** Inclusion of leaf `index` in the tree of `treeSize` leaves; callers keep treeSize ≤ the checkpointed size. */
  inclusionProof(index: number, treeSize: number): Promise<InclusionProof>;
  /** Consistency of the tree of `from` leaves with that of `to`; 1 ≤ from ≤ to ≤ the checkpointed size. */
  consistencyProof(from: number, to: number): Promise<{ from: number; to: number; hashes: string[] }>;
  readonly signingKey: SigningKey;
  /** The checkpoints' origin line, which is also their signing key's name (LEXECON_LOG_ORIGIN). */
  readonly logOrigin: string;
}

export interface IntegrityFailure {
  at: string;
  /** Found by an incremental pass (which starts at a verified entry) rather than from genesis. */
  incremental: boolean;
  first_invalid: FirstInvalid;
}

export interface VerifyOptions {
  after?: { index: number; hash: string };
  /** With `after`: the newest checkpoint already verified, which the newest one must be consistent with. */
  checkpoint?: CheckpointPoint;
}

export interface LedgerOptions {
  db: Db;
  signingKey: SigningKey;
  /** Keys whose signatures verify besides the signing key (rotated-out keys). */
  trustedKeys?: PublicKey[];
  telemetry: Telemetry;
  /** Most events per group-commit transaction. */
  maxBatch?: number;
  /** SHA-256 for entry hashes; defaults to a portable implementation, Node passes its native one. */
  sha256?: Sha256Hex;
  /** Checkpoints' origin and key name; default `lexecon/<key id>`. */
  logOrigin?: string;
  /**
   * Ed25519 over raw bytes with `signingKey`, synchronous where the runtime allows it (Node's
   * node:crypto: no thread-pool hop per checkpoint); defaults to the key's own (WebCrypto) signBytes.
   */
  signBytes?: (message: Uint8Array) => Uint8Array | Promise<Uint8Array>;
  /** Most entries read per page while verifying (a page also ends before ENTRY_PAGE_BYTES). */
  verifyPageSize?: number;
  /** Leaves added per transaction while the tree catches up with entries written without it. */
  treeFillPageSize?: number;
  /** This instance's name where it shares its watermark. */
  instanceId?: string;
  logger?: Logger;
  now?: () => Date;
}

// Every writer, in every instance, serialises on this transaction-scoped advisory lock.
const APPEND_LOCK_KEY = 0x6c78_6c64;

/** What a write probe appends, inside a transaction that never commits. */
const WRITE_PROBE = { eventType: 'decision', data: { decision_id: 'write-probe', write_probe: true } } as const;

/** A head together with the edge of the tree over the entries up to it. */
interface LedgerHead extends Head {
  edge: TreeEdge;
}

/** A group ready to insert: its entries, what they add to the tree, and each caller's result. */
interface BuiltGroup extends Group<Appended, LedgerHead> {
  entries: LedgerEntry[];
  /** The entries as a JSON array of rows for the insert: the hashed canonical text plus entry_hash. */
  rowsJson: string;
  growth: TreeGrowth;
}

export function createLedger(options: LedgerOptions): Ledger {
  const { db, signingKey, telemetry } = options;
  const now = options.now ?? (() => new Date());
  const maxBatch = options.maxBatch ?? 128;
  const verifyPageSize = options.verifyPageSize ?? 500;
  const treeFillPageSize = options.treeFillPageSize ?? 2_000;
  const sha256 = options.sha256 ?? portableSha256Hex;
  const logger = options.logger ?? silentLogger;
  const keys = new Map<string, PublicKey>([[signingKey.keyId, signingKey]]);
  for (const key of options.trustedKeys ?? []) keys.set(key.keyId, key);
  const watermarks = createWatermarks(db, options.instanceId ?? 'unknown');
  const writes = createWriteHealth(logger, now);
  let integrityFailure: IntegrityFailure | undefined;
  let probing: Promise<boolean> | undefined;
  const logOrigin = options.logOrigin ?? `lexecon/${signingKey.keyId}`;
  const checkpointSigner: CheckpointSigner = {
    origin: logOrigin,
    publicKey: signingKey.raw,
    sign: options.signBytes ?? ((message) => signingKey.signBytes(message)),
  };

  async function lock(tx: Tx): Promise<void> {
    await tx.execute(sql`select pg_advisory_xact_lock(${APPEND_LOCK_KEY})`);
  }

  async function readHead(q: Db | Tx): Promise<Head | undefined> {
    const [row] = await q
      .select({ index: ledgerEntries.seq, hash: ledgerEntries.entryHash })
      .from(ledgerEntries)
      .orderBy(desc(ledgerEntries.seq))
      .limit(1);
    return row;
  }

  /**
   * Chains events onto `head` (a genesis entry first if the ledger is empty), hashed. No entry is
   * signed on its own: the group's checkpoint signs the tree that holds them all.
   */
  function buildEntries(head: Head | undefined, events: LedgerEvent[]) {
    let index = head ? head.index + 1 : 0;
    let previousHash = head ? head.hash : GENESIS_PREVIOUS_HASH;
    const pending = head ? events : [genesisEvent(now()), ...events];
    const entries: LedgerEntry[] = [];
    let rowsJson = '';
    for (const event of pending) {
      const entry = {
        index,
        entry_id: newId('ent'),
        event_type: event.eventType,
        timestamp: (event.timestamp ?? now()).toISOString(),
        data: event.data,
        previous_hash: previousHash,
      };
      // Synchronous on purpose: an await per entry would hand the event loop back between links
      // while the group's commit is still ahead, stretching every group commit.
      const canonical = canonicalEntry(entry);
      const entryHash = sha256(canonical);
      entries.push({ ...entry, entry_hash: entryHash, signature: null, key_id: null });
      // The text just hashed is the row, so the insert stores exactly what was hashed without
      // serialising the entry again; signature and key_id are absent, hence null.
      rowsJson += `${rowsJson ? ',' : '['}${canonical.slice(0, -1)},"entry_hash":"${entryHash}"}`;
      previousHash = entryHash;
      index++;
    }
    return { entries, rowsJson: `${rowsJson}]` };
  }

  /**
   * Builds a group on `head`, whose tree `edge` describes: the entries, their stored tree hashes and
   * the signed checkpoint, with each event's receipt. Reads `q` only for tree hashes the edge lacks.
   */
  async function build(
    head: Head | undefined,
    edge: TreeEdge,
    events: LedgerEvent[],
    q?: Db | Tx,
  ): Promise<BuiltGroup> {
    const { entries, rowsJson } = buildEntries(head, events);
    const growth = await growTree(
      edge,
      entries.map((e) => e.entry_hash),
      checkpointSigner,
      q,
    );
    const results = entries.map((entry, i) => ({ entry, receipt: growth.receipts[i] as Receipt }));
    const last = entries.at(-1) as LedgerEntry;
    return {
      entries,
      rowsJson,
      growth,
      results: head ? results : results.slice(1),
      head: { index: last.index, hash: last.entry_hash, edge: growth.edge },
    };
  }

  /** Under the writers' lock: reads the head, brings the tree up to it, builds the group on both. */
  async function buildLocked(tx: Tx, events: LedgerEvent[]): Promise<BuiltGroup> {
    await lock(tx);
    const head = await readHead(tx);
    const lostWatermark = await watermarks.observeHead(tx, head);
    // Entries another instance's older build appended have no tree hashes yet: they get them here.
    const edge = await catchUp(tx, head?.index ?? -1, treeFillPageSize);
    const entries = head ? head.index + 1 : 0;
    // A tree with more leaves than entries was signed over rows since deleted: chaining onto the
    // survivors would sign a second tree of the same size, a fork of what receipts already prove.
    if (edge.size > entries || lostWatermark) {
      throw new LedgerTruncatedError(entries, Math.max(edge.size, (watermarks.local()?.index ?? -1) + 1));
    }
    return build(head, edge, events, tx);
  }

  async function insert(q: Db | Tx, group: BuiltGroup): Promise<void> {
    await insertRows(q, group);
    // Counted when the statement succeeds; inside a caller's transaction that later rolls back
    // (a rare policy-load failure) this over-counts, which no metric consumer relies on.
    telemetry.ledgerAppended(group.entries);
    // A copy of every checkpoint outside the database, for comparing with what it holds later.
    const { checkpoint } = group.growth;
    logger.info('checkpoint', {
      origin: logOrigin,
      tree_size: checkpoint.treeSize,
      root_hash: bytesToHex(checkpoint.rootHash),
    });
    telemetry.ledgerCheckpointed(checkpoint.treeSize);
  }

  /**
   * One statement: takes the writers' lock, then inserts every entry in order, and after them the
   * tree hashes they add and the group's checkpoint. The insert trigger rejects entries that do not
   * extend the committed head, and the primary keys reject tree rows already written, so a stale
   * head fails loudly, never forks.
   */
  async function insertRows(q: Db | Tx, group: BuiltGroup): Promise<void> {
    const { checkpoint } = group.growth;
    // The tree rows wait for the first entry, hence for the lock: a writer holding it never waits on them.
    await q.execute(sql`
      with entries as (
        insert into ledger_entries (seq, entry_id, event_type, "timestamp", data, previous_hash, entry_hash, signature, key_id)
        select r.index, r.entry_id, r.event_type, r."timestamp", r.data, r.previous_hash, r.entry_hash, r.signature, r.key_id
        from jsonb_to_recordset(${group.rowsJson}::jsonb) as r(
          "index" bigint, entry_id text, event_type text, "timestamp" timestamptz, data jsonb,
          previous_hash text, entry_hash text, signature text, key_id text)
        cross join (select pg_advisory_xact_lock(${APPEND_LOCK_KEY})) as writers_lock
        order by r.index
        returning seq
      ),
      tree_hashes as (
        insert into ledger_tree_hashes (stored_index, hash)
        select r.i, decode(r.h, 'hex')
        from jsonb_to_recordset(${growthRows(group.growth)}::jsonb) as r(i bigint, h text)
        where exists (select from entries)
      )
      insert into ledger_checkpoints (tree_size, root_hash, note)
      select ${checkpoint.treeSize}, decode(${bytesToHex(checkpoint.rootHash)}, 'hex'), ${checkpoint.note}
      where exists (select from entries)`);
  }

  async function appendInTransaction(tx: Tx, events: LedgerEvent[]): Promise<LedgerEntry[]> {
    const group = await buildLocked(tx, events);
    await insert(tx, group);
    return group.results.map((r) => r.entry);
  }

  /**
   * Gives the stored tree every entry (a ledger from before the tree, or a tail appended by an older
   * build), a page per transaction so neither memory nor the writers' lock is held long, then
   * checkpoints it.
   */
  async function fillTree(): Promise<void> {
    for (let done = false; !done; ) {
      done = await db.transaction(async (tx) => {
        await lock(tx);
        const head = await readHead(tx);
        if (!head) return true;
        const edge = await catchUp(tx, head.index, treeFillPageSize, 1);
        if (edge.size <= head.index) return false;
        if (await checkpointEdge(tx, edge, checkpointSigner)) telemetry.ledgerCheckpointed(edge.size);
        return true;
      });
    }
  }

  /** Tells the metrics the newest stored checkpoint, which this instance may not have signed. */
  async function reportNewestCheckpoint(): Promise<void> {
    const newest = await latestCheckpoint(db);
    if (newest) telemetry.ledgerCheckpointSeen(newest.treeSize);
  }

  /** Reports an append's outcome: a committed one raises the watermark. */
  async function tracked<T>(append: Promise<T>, committed: (result: T) => LedgerEntry | undefined): Promise<T> {
    try {
      const result = await append;
      writes.succeeded();
      const last = committed(result);
      if (last) watermarks.raise({ index: last.index, hash: last.entry_hash });
      return result;
    } catch (err) {
      writes.failed(err);
      throw err;
    }
  }

  async function probeWrite(): Promise<boolean> {
    const rolledBack = new Error('write probe rolled back');
    try {
      await db.transaction(async (tx) => {
        await insertRows(tx, await buildLocked(tx, [{ ...WRITE_PROBE }]));
        throw rolledBack;
      });
    } catch (err) {
      if (err !== rolledBack) {
        writes.failed(err);
        return false;
      }
    }
    writes.succeeded();
    return true;
  }

  /** An entry's own signature, or for one without, its leaf in the checkpoint of its group commit. */
  async function signed(entry: LedgerEntry): Promise<boolean> {
    if (entry.signature !== null || entry.key_id !== null) {
      const key = keys.get(entry.key_id ?? '');
      return key ? key.verify(entry.entry_hash, entry.signature ?? '') : false;
    }
    return inItsCheckpoint(entry);
  }

  /**
   * Whether the first checkpoint whose tree holds the entry (the one signed for its group commit)
   * is signed by a trusted key and proves it: its signer vouched for it, not whoever signed later.
   */
  async function inItsCheckpoint(entry: LedgerEntry): Promise<boolean> {
    const [first] = await readCheckpoints(entry.index, 1);
    if (!first || !(await checkpointSigned(first, keys.values()))) return false;
    const proof = await inclusionProof(db, entry.index, first.treeSize).catch(() => undefined);
    return (
      proof !== undefined &&
      verifyInclusion(
        entry.index,
        first.treeSize,
        leafHash(hexToBytes(entry.entry_hash)),
        proof.hashes.map(hexToBytes),
        first.rootHash,
      )
    );
  }

  let fullVerification: Promise<ChainVerification> | undefined;

  function verifyInSpan(options: VerifyOptions): Promise<ChainVerification> {
    return telemetry.inSpan('ledger.verify', { 'ledger.incremental': options.after !== undefined }, async (span) => {
      const result = await verifyAll(options);
      span.set({
        'ledger.valid': result.valid,
        'ledger.entries_checked': result.entries_checked,
        'ledger.checkpoints_checked': result.checkpoints_checked,
      });
      return result;
    });
  }

  async function verifyAll(options: VerifyOptions) {
    // Watermarks are read before the head: anything they name was committed before it was read.
    const known = [watermarks.local(), await watermarks.shared()];
    await watermarks.publish();
    const head = await readHead(db);
    const result = await verifyChain({
      headIndex: head?.index ?? -1,
      keys,
      sha256,
      after: options.after,
      known,
      // A long walk hands the event loop back between pages, so decisions keep being answered.
      betweenPages: () => new Promise((resolve) => setTimeout(resolve, 0)),
      readPage: async (afterIndex) => {
        const where = afterIndex < 0 ? undefined : gt(ledgerEntries.seq, afterIndex);
        return (await readEntryPage(db, where, 'asc', { rows: verifyPageSize, bytes: ENTRY_PAGE_BYTES })).entries;
      },
      entryAt: async (index) => (await readEntries(eq(ledgerEntries.seq, index), 'asc', 1))[0],
      covered: inItsCheckpoint,
      checkpoints: {
        readPage: (afterSize) => readCheckpoints(afterSize, verifyPageSize),
        signed: (row) => checkCheckpoint(row, keys.values()),
      },
    })
      .then((walked) =>
        walked.valid ? checkLatestCheckpoint(walked, walked.checkpoint ?? options.checkpoint) : walked,
      )
      .then((checked) => settleUnsigned(checked, inItsCheckpoint));
    telemetry.ledgerVerified(result.valid);
    if (result.first_invalid?.reason === 'truncated' || result.first_invalid?.reason === 'rewritten') {
      watermarks.freeze();
    }
    if (result.first_invalid) {
      integrityFailure = {
        at: now().toISOString(),
        incremental: options.after !== undefined,
        first_invalid: result.first_invalid,
      };
      logger.error('ledger verification failed', {
        from_index: options.after ? options.after.index + 1 : 0,
        entries_checked: result.entries_checked,
        ...result.first_invalid,
      });
    } else if (!options.after) {
      integrityFailure = undefined;
    }
    telemetry.ledgerIntegrity(integrityFailure?.first_invalid.reason);
    if (result.checkpoint) telemetry.ledgerCheckpointSeen(result.checkpoint.tree_size);
    if (result.valid && result.head_index !== null && result.head_hash !== null) {
      watermarks.raise({ index: result.head_index, hash: result.head_hash });
      await watermarks.publish();
    }
    return result;
  }

  async function readCheckpoints(afterSize: number, limit: number): Promise<CheckpointRow[]> {
    const rows = await db
      .select({
        treeSize: ledgerCheckpoints.treeSize,
        rootHash: ledgerCheckpoints.rootHash,
        note: ledgerCheckpoints.note,
      })
      .from(ledgerCheckpoints)
      .where(gt(ledgerCheckpoints.treeSize, afterSize))
      .orderBy(asc(ledgerCheckpoints.treeSize))
      .limit(limit);
    return rows.map((r) => ({ ...r, rootHash: new Uint8Array(r.rootHash) }));
  }

  /**
   * After a valid walk: every checkpoint since `since` (the newest verified before) is signed, the
   * newest one's tree is no bigger than the chain (else the tail was cut), and it extends `since` (a
   * consistency proof over the stored hashes: O(log n) reads).
   */
  async function checkLatestCheckpoint(result: ChainVerification, since?: CheckpointPoint): Promise<ChainVerification> {
    const newest = await latestCheckpoint(db);
    if (!newest) return result;
    // Read after the checkpoint: the entries it covers were committed with it.
    const chainSize = ((await readHead(db))?.index ?? -1) + 1;
    const fail = (index: number, reason: FirstInvalid['reason'], extra = {}, size = newest.treeSize) => ({
      ...result,
      valid: false,
      first_invalid: { index, entry_id: null, reason, ...extra, checkpoint: { tree_size: size } },
    });
    const unsigned = await firstUnsignedCheckpoint(result, since?.tree_size ?? newest.treeSize - 1, newest.treeSize);
    if (unsigned) {
      const { row, check, firstIndex } = unsigned;
      return check.reason === 'unknown_key'
        ? fail(firstIndex, 'unknown_key', { key_id: check.key_id }, row.treeSize)
        : fail(row.treeSize - 1, 'bad_signature', {}, row.treeSize);
    }
    if (newest.treeSize > chainSize) return fail(chainSize, 'truncated');
    if (since && newest.treeSize < since.tree_size) return fail(newest.treeSize, 'truncated');
    // Nothing to prove when the walk's own last checkpoint is the newest one: it checked that one's root.
    if (since?.tree_size === newest.treeSize && since.root_hash === bytesToHex(newest.rootHash)) return result;
    if (since && !(await extendsCheckpoint(since, newest))) return fail(since.tree_size - 1, 'rewritten');
    return {
      ...result,
      checkpoints_checked: result.checkpoints_checked + 1,
      checkpoint: { tree_size: newest.treeSize, root_hash: bytesToHex(newest.rootHash) },
    };
  }

  /**
   * The first checkpoint of a size in (afterSize, upTo] whose signature fails, a page at a time (a
   * minute of group commits is a few thousand); records each valid one's signer in `result.signers`.
   */
  async function firstUnsignedCheckpoint(result: ChainVerification, afterSize: number, upTo: number) {
    for (let after = afterSize; after < upTo; ) {
      const rows = (await readCheckpoints(after, verifyPageSize)).filter((row) => row.treeSize <= upTo);
      if (rows.length === 0) return undefined;
      const checks = await Promise.all(rows.map((row) => checkCheckpoint(row, keys.values())));
      for (const [i, check] of checks.entries()) {
        const row = rows[i] as CheckpointRow;
        if (!check.ok) return { row, check, firstIndex: after };
        for (const id of noteSignerIds(row.note)) result.signers[id] ??= after;
        after = row.treeSize;
      }
    }
    return undefined;
  }

  async function extendsCheckpoint(older: CheckpointPoint, newer: StoredCheckpoint): Promise<boolean> {
    const proof = await consistencyProof(db, older.tree_size, newer.treeSize).then(
      (p) => p.hashes.map(hexToBytes),
      // Stored hashes that are gone prove nothing.
      () => undefined,
    );
    return (
      proof !== undefined &&
      verifyConsistency(older.tree_size, newer.treeSize, hexToBytes(older.root_hash), newer.rootHash, proof)
    );
  }

  const writer = createGroupCommitWriter<LedgerEvent, BuiltGroup, LedgerHead>(
    {
      // On a predicted head the edge is the previous group's, in memory: nothing to read.
      build: (head, events) => build(head, head.edge, events),
      insert: (group) => insert(db, group),
      appendLocked: (events) =>
        db.transaction(async (tx) => {
          const group = await buildLocked(tx, events);
          await insert(tx, group);
          return group;
        }),
      isConflict: isChainConflict,
    },
    maxBatch,
    telemetry,
  );

  async function readEntries(where: SQL | undefined, order: 'asc' | 'desc', limit: number) {
    const rows = await db
      .select()
      .from(ledgerEntries)
      .where(where)
      .orderBy(order === 'asc' ? asc(ledgerEntries.seq) : desc(ledgerEntries.seq))
      .limit(limit);
    return rows.map(fromRow);
  }

  const newestEntry = async () => (await readEntries(undefined, 'desc', 1))[0];

  return {
    signingKey,
    logOrigin,
    append: (event) => tracked(writer.append(event), committedEntry),
    async appendInTransaction(tx, events) {
      // The caller's transaction commits these later, if at all: only a commit raises the watermark.
      const entries = await tracked(appendInTransaction(tx, events), () => undefined);
      // The head moved outside the group writer: its next group reads it again instead of
      // predicting from a stale one and failing on the taken index.
      writer.forgetHead();
      return entries;
    },
    lock,
    trusts: (keyId) => keys.has(keyId) || [...keys.values()].some((key) => isNoteKeyId(keyId, key.raw)),
    async untrustedHead() {
      const head = await newestEntry();
      if (!head) return undefined;
      if (head.key_id !== null)
        return keys.has(head.key_id) ? undefined : { index: head.index, signer: `key ${head.key_id}` };
      const newest = await latestCheckpoint(db);
      if (!newest || (await checkpointSigned(newest, keys.values()))) return undefined;
      const origin = newest.note.slice(0, newest.note.indexOf('\n'));
      return { index: newest.treeSize - 1, signer: `the checkpoint key named ${JSON.stringify(origin)}` };
    },
    integrityFailure: () => integrityFailure,
    publishWatermark: () => watermarks.publish(),
    writeFailure: () => writes.current(),
    probeWrite() {
      probing ??= probeWrite().finally(() => {
        probing = undefined;
      });
      return probing;
    },

    async ensureGenesis() {
      const existing = await this.entryByIndex(0);
      if (existing) {
        await fillTree();
        await reportNewestCheckpoint();
        return existing;
      }
      await db.transaction((tx) => appendInTransaction(tx, []));
      return (await this.entryByIndex(0)) as LedgerEntry;
    },

    checkpoint: () => latestCheckpoint(db),
    inclusionProof: (index, treeSize) => inclusionProof(db, index, treeSize),
    consistencyProof: (from, to) => consistencyProof(db, from, to),

    head: newestEntry,

    entries(filter) {
      const conditions = [
        filter.eventType && eq(ledgerEntries.eventType, filter.eventType),
        filter.from && gte(ledgerEntries.timestamp, filter.from),
        filter.to && lte(ledgerEntries.timestamp, filter.to),
        filter.cursor !== undefined &&
          (filter.order === 'asc' ? gt(ledgerEntries.seq, filter.cursor) : lt(ledgerEntries.seq, filter.cursor)),
      ].filter((c): c is SQL => Boolean(c));
      return readEntryPage(db, and(...conditions), filter.order, { rows: filter.limit, bytes: ENTRY_PAGE_BYTES });
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

    verify(options = {}) {
      if (options.after) return verifyInSpan(options);
      // Full walks are shared: callers arriving during one (API calls, the background full pass)
      // get its result, so a burst of them costs one walk of the chain, not one each.
      fullVerification ??= verifyInSpan(options).finally(() => {
        fullVerification = undefined;
      });
      return fullVerification;
    },

    async verifyEntry(entry) {
      const hashValid = computeEntryHash(entry, sha256) === entry.entry_hash;
      return { hashValid, signatureValid: await signed(entry) };
    },
  };
}

/** Another writer got there first: a taken index (unique_violation) or a stale link (our trigger). */
function isChainConflict(err: unknown): boolean {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    const code = (current as { code?: unknown }).code;
    if (code === '23505' || code === '23000') return true;
    current = (current as { cause?: unknown }).cause;
  }
  return false;
}

/** What an append resolves to holds the entry it committed. */
const committedEntry = (appended: Appended) => appended.entry;

function genesisEvent(at: Date) {
  return {
    eventType: 'genesis' as const,
    data: { message: 'Lexecon ledger initialized' },
    timestamp: at,
  };
}
