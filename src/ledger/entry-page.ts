import { and, asc, desc, eq, lte, or, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { type LedgerRow, ledgerEntries } from '../db/schema';
import type { LedgerEntry, LedgerEventType } from './entry';

/**
 * Most bytes of entry JSON one page of entries holds, whoever reads it: the API (ledger entries,
 * audit decisions) or a verification. An agent may record decisions of more than half a megabyte,
 * so a page of 500 rows could otherwise be hundreds of megabytes in memory at once; and on PGlite a
 * page is read on the event loop's thread, so a small page also keeps a verification's turns short.
 */
export const ENTRY_PAGE_BYTES = 1024 * 1024;

/**
 * What an entry's fixed fields (index, ids, timestamp, hashes, signature, key id) add to its `data`
 * in JSON: ~430 bytes, rounded up, so a page's count never falls short of its size.
 */
export const ENTRY_ENVELOPE_BYTES = 512;

export interface PageLimits {
  rows: number;
  bytes: number;
}

export interface EntryPage {
  entries: LedgerEntry[];
  /** Index of the last entry when more entries match after it (in the page's order), else null. */
  nextCursor: number | null;
}

/**
 * One page of entries matching `where`, in index order: at most `limits.rows`, and no more bytes of
 * JSON than `limits.bytes` unless its first entry alone is larger (a page always holds one). The
 * database sizes the page from the stored `data_bytes` column, reading only the sizes of the rows
 * that could belong to it; the rows' `data` is fetched for the page alone.
 */
export async function readEntryPage(
  db: Db,
  where: SQL | undefined,
  order: 'asc' | 'desc',
  limits: PageLimits,
): Promise<EntryPage> {
  const direction = order === 'asc' ? sql`asc` : sql`desc`;
  // One row beyond the page tells whether another page follows.
  const candidates = db.$with('candidates').as(
    db
      .select({ seq: ledgerEntries.seq, dataBytes: ledgerEntries.dataBytes })
      .from(ledgerEntries)
      .where(where)
      .orderBy(order === 'asc' ? asc(ledgerEntries.seq) : desc(ledgerEntries.seq))
      .limit(limits.rows + 1),
  );
  const inOrder = sql`over (order by ${candidates.seq} ${direction})`;
  const sized = db.$with('sized').as(
    db
      .select({
        seq: candidates.seq,
        position: sql<number>`row_number() ${inOrder}`.as('position'),
        runningBytes: sql<number>`sum(${candidates.dataBytes} + ${ENTRY_ENVELOPE_BYTES}) ${inOrder}`.as(
          'running_bytes',
        ),
        candidates: sql<number>`count(*) over ()`.as('candidate_count'),
      })
      .from(candidates),
  );
  const rows = await db
    .with(candidates, sized)
    .select({ entry: ledgerEntries, candidates: sized.candidates })
    .from(ledgerEntries)
    .innerJoin(sized, eq(ledgerEntries.seq, sized.seq))
    .where(and(lte(sized.position, limits.rows), or(eq(sized.position, 1), lte(sized.runningBytes, limits.bytes))))
    .orderBy(order === 'asc' ? asc(ledgerEntries.seq) : desc(ledgerEntries.seq));
  const entries = rows.map((row) => fromRow(row.entry));
  const last = entries.at(-1);
  const more = last !== undefined && entries.length < Number(rows[0]?.candidates);
  return { entries, nextCursor: more ? last.index : null };
}

export function fromRow(row: Omit<LedgerRow, 'dataBytes'>): LedgerEntry {
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
