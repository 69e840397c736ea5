import { and, eq, gte, lt, lte, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client';
import { ledgerEntries } from '../db/schema';
import { rowsOf } from '../db/sql';
import type { LedgerEntry } from '../ledger/entry';
import { ENTRY_PAGE_BYTES, readEntryPage } from '../ledger/entry-page';
import type { Ledger } from '../ledger/store';

/** Audit views are computed from the ledger's decision entries: the evidence is the source. */
export interface DecisionFilter {
  actor?: string;
  decision?: 'permit' | 'deny' | 'escalate';
  riskLevel?: 'low' | 'medium' | 'high' | 'critical';
  from?: Date;
  to?: Date;
  /** Keyset cursor: decisions with a ledger index below this one (newest first). */
  cursor?: number;
  /** Most decisions; a page also ends before ENTRY_PAGE_BYTES of the entries it is read from. */
  limit: number;
}

export interface DecisionSummary {
  decision_id: string;
  request_id: string;
  timestamp: string;
  actor: string;
  proposed_action: string;
  tool: string;
  decision: string;
  allowed: boolean;
  reason: string;
  reason_code: string;
  risk_level: string;
  violations: unknown[];
  policy_version_hash: string | null;
  ledger_entry_index: number;
  ledger_entry_hash: string;
}

export interface DecisionStats {
  total_decisions: number;
  by_decision: Record<'permit' | 'deny' | 'escalate', number>;
  by_risk_level: Record<'low' | 'medium' | 'high' | 'critical', number>;
  violations_by_framework: Record<string, number>;
  allow_rate: number | null;
  first_decision_at: string | null;
  last_decision_at: string | null;
  last_24h: number;
  previous_24h: number;
}

export interface AuditQueries {
  decisions(
    filter: DecisionFilter,
  ): Promise<{ decisions: DecisionSummary[]; total: number; next_cursor: string | null }>;
  decision(decisionId: string): Promise<
    | {
        decision: DecisionSummary;
        entry: LedgerEntry;
        verification: { hash_valid: boolean; signature_valid: boolean; chain_link_valid: boolean };
      }
    | undefined
  >;
  stats(range: { from?: Date; to?: Date }, now?: Date): Promise<DecisionStats>;
}

const field = (name: string) => sql`${ledgerEntries.data}->>${name}`;

export function createAuditQueries(db: Db, ledger: Ledger): AuditQueries {
  function where(filter: Omit<DecisionFilter, 'limit' | 'cursor'>): SQL | undefined {
    return and(
      eq(ledgerEntries.eventType, 'decision'),
      filter.actor !== undefined ? sql`${field('actor')} = ${filter.actor}` : undefined,
      filter.decision !== undefined ? sql`${field('decision')} = ${filter.decision}` : undefined,
      filter.riskLevel !== undefined ? sql`${field('risk_level')} = ${filter.riskLevel}` : undefined,
      filter.from !== undefined ? gte(ledgerEntries.timestamp, filter.from) : undefined,
      filter.to !== undefined ? lte(ledgerEntries.timestamp, filter.to) : undefined,
    );
  }

  return {
    async decisions(filter) {
      const base = where(filter);
      const after = filter.cursor !== undefined ? and(base, lt(ledgerEntries.seq, filter.cursor)) : base;
      const [page, counted] = await Promise.all([
        readEntryPage(db, after, 'desc', { rows: filter.limit, bytes: ENTRY_PAGE_BYTES }),
        db.select({ count: sql<number>`count(*)::int` }).from(ledgerEntries).where(base),
      ]);
      return {
        decisions: page.entries.map(summarize),
        total: counted[0]?.count ?? 0,
        next_cursor: page.nextCursor === null ? null : String(page.nextCursor),
      };
    },

    async decision(decisionId) {
      const entry = await ledger.decisionEntry(decisionId);
      if (!entry) return undefined;
      const { hashValid, signatureValid } = await ledger.verifyEntry(entry);
      const previous = entry.index > 0 ? await ledger.entryByIndex(entry.index - 1) : undefined;
      return {
        decision: summarize(entry),
        entry,
        verification: {
          hash_valid: hashValid,
          signature_valid: signatureValid,
          chain_link_valid: previous?.entry_hash === entry.previous_hash,
        },
      };
    },

    async stats(range, now = new Date()) {
      const base = where(range);
      // Raw SQL parameters go to the driver as-is; postgres.js takes timestamps as ISO strings.
      const dayAgo = new Date(now.getTime() - 86_400_000).toISOString();
      const twoDaysAgo = new Date(now.getTime() - 2 * 86_400_000).toISOString();
      const [groups, totals, frameworks] = await Promise.all([
        db.execute(sql`
          select ${field('decision')} as decision, ${field('risk_level')} as risk_level, count(*)::int as n
          from ${ledgerEntries} where ${base} group by 1, 2`),
        db.execute(sql`
          select min(${ledgerEntries.timestamp}) as first_at, max(${ledgerEntries.timestamp}) as last_at,
            count(*) filter (where ${ledgerEntries.timestamp} > ${dayAgo}::timestamptz)::int as last_24h,
            count(*) filter (where ${ledgerEntries.timestamp} > ${twoDaysAgo}::timestamptz
              and ${ledgerEntries.timestamp} <= ${dayAgo}::timestamptz)::int as previous_24h
          from ${ledgerEntries} where ${base}`),
        db.execute(sql`
          select v->>'type' as framework, count(*)::int as n
          from ${ledgerEntries}, jsonb_array_elements(${ledgerEntries.data}->'violations') as v
          where ${base} group by 1`),
      ]);

      const stats: DecisionStats = {
        total_decisions: 0,
        by_decision: { permit: 0, deny: 0, escalate: 0 },
        by_risk_level: { low: 0, medium: 0, high: 0, critical: 0 },
        violations_by_framework: {},
        allow_rate: null,
        first_decision_at: null,
        last_decision_at: null,
        last_24h: 0,
        previous_24h: 0,
      };
      for (const row of rowsOf<{ decision: string; risk_level: string; n: number }>(groups)) {
        stats.total_decisions += row.n;
        if (row.decision in stats.by_decision) stats.by_decision[row.decision as 'permit'] += row.n;
        if (row.risk_level in stats.by_risk_level) stats.by_risk_level[row.risk_level as 'low'] += row.n;
      }
      for (const row of rowsOf<{ framework: string; n: number }>(frameworks))
        stats.violations_by_framework[row.framework] = row.n;
      const [total] = rowsOf<{ first_at: unknown; last_at: unknown; last_24h: number; previous_24h: number }>(totals);
      if (total) {
        stats.first_decision_at = isoOrNull(total.first_at);
        stats.last_decision_at = isoOrNull(total.last_at);
        stats.last_24h = total.last_24h;
        stats.previous_24h = total.previous_24h;
      }
      stats.allow_rate = stats.total_decisions > 0 ? stats.by_decision.permit / stats.total_decisions : null;
      return stats;
    },
  };
}

function summarize(entry: LedgerEntry): DecisionSummary {
  const d = entry.data;
  return {
    decision_id: d.decision_id as string,
    request_id: d.request_id as string,
    timestamp: entry.timestamp,
    actor: d.actor as string,
    proposed_action: d.proposed_action as string,
    tool: d.tool as string,
    decision: d.decision as string,
    allowed: d.allowed as boolean,
    reason: d.reason as string,
    reason_code: d.reason_code as string,
    risk_level: d.risk_level as string,
    violations: (d.violations as unknown[]) ?? [],
    policy_version_hash: (d.policy_version_hash as string | null) ?? null,
    ledger_entry_index: entry.index,
    ledger_entry_hash: entry.entry_hash,
  };
}

// Raw queries return timestamps as Date (postgres.js) or as strings (PGlite, some types).
function isoOrNull(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return new Date(value as string | Date).toISOString();
}
