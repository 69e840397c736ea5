import { desc, eq } from 'drizzle-orm';
import { type CacheStatsSource, createLruCache, estimateBytes } from '../cache/lru';
import type { Db } from '../db/client';
import { type PolicyRow, policies } from '../db/schema';
import { AppError } from '../errors';
import { type CompiledPolicy, compilePolicy } from '../governance/policy';
import { canonicalJson } from '../ledger/canonical-json';
import { sha256Hex } from '../ledger/crypto';
import type { LedgerEntry } from '../ledger/entry';
import type { Ledger } from '../ledger/store';
import type { Logger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/telemetry';
import { readPolicy } from './read';
import type { PolicyValidation } from './schemas';

export interface PolicySummary {
  version: number;
  name: string;
  policy_version: string;
  mode: string;
  hash: string;
  terms_count: number;
  relations_count: number;
  loaded_at: string;
  loaded_by: string;
  ledger_index: number;
}

export interface ActivePolicy {
  summary: PolicySummary;
  compiled: CompiledPolicy;
}

export interface LoadResult {
  status: 'loaded' | 'unchanged';
  policy: PolicySummary;
}

export interface PolicyStore {
  /** Validates, stores, ledgers and activates a policy; throws INVALID_POLICY listing every problem. */
  load(input: unknown, loadedBy: string): Promise<LoadResult>;
  /**
   * What a load of the document would find: its problems, or what it would record and whether it
   * is the newest loaded one. Stores, activates, ledgers and counts nothing.
   */
  validate(input: unknown): Promise<PolicyValidation>;
  /**
   * The active policy. Another instance may have loaded a newer one, so the latest version is
   * re-read when the cached one is older than the refresh interval (one query, shared by callers).
   */
  active(): Promise<ActivePolicy | undefined>;
  history(limit: number): Promise<PolicySummary[]>;
  /** When the active policy was last confirmed against the ledger (ms since epoch), if ever. */
  lastRefreshedAt(): number | undefined;
  document(version: number): Promise<{ summary: PolicySummary; document: Record<string, unknown> } | undefined>;
  /** The cache holding the compiled active policy, for the health check. */
  readonly cache: CacheStatsSource;
}

export interface PolicyStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  logger: Logger;
  refreshMs: number;
  now?: () => number;
}

const ACTIVE = 'active';
// A compiled policy is a few times its document; documents are limited far below this by the body limit.
const POLICY_CACHE_BYTES = 64 * 1024 * 1024;

export function createPolicyStore(options: PolicyStoreOptions): PolicyStore {
  const { db, ledger, telemetry, logger } = options;
  const now = options.now ?? Date.now;
  // The compiled active policy (null: confirmed that none is loaded), served until the refresh
  // interval passes and then confirmed against the ledger. Looked up on every decision, so its
  // lookups are counted but not given spans of their own.
  const cache = createLruCache<typeof ACTIVE, ActivePolicy | null>({
    name: 'policy',
    maxItems: 1,
    maxBytes: POLICY_CACHE_BYTES,
    ttlMs: options.refreshMs,
    sizeOf: estimateBytes,
    telemetry,
    now,
    traceLookups: false,
  });
  // The last policy activated, kept past the cache's expiry so that a refresh finding the same
  // ledger entry does not verify and compile it again.
  let current: ActivePolicy | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<ActivePolicy | undefined> | undefined;

  /**
   * The active policy is the one named by the newest policy_loaded ledger entry, not merely the
   * newest row: rows can be edited by whoever owns the database, signed entries cannot.
   */
  function refresh(): Promise<ActivePolicy | undefined> {
    return telemetry.inSpan('policy.refresh', {}, async (span) => {
      const {
        entries: [entry],
      } = await ledger.entries({ eventType: 'policy_loaded', order: 'desc', limit: 1 });
      // Ledger indexes only grow: a refresh that read the head before a concurrent load committed
      // must not put the older policy back.
      const changed = entry !== undefined && entry.index > (current?.summary.ledger_index ?? -1);
      if (entry && changed) {
        const [row] = await db.select().from(policies).where(eq(policies.ledgerSeq, entry.index));
        current = await activate(row, entry, ledger, logger);
        telemetry.policyActivated(describe(current.compiled));
      }
      span.set({ 'policy.changed': changed, policy_version_hash: current?.summary.hash });
      checkedAt = now();
      cache.set(ACTIVE, current ?? null);
      return current;
    });
  }

  return {
    load(input, loadedBy) {
      return telemetry.inSpan('policy.load', {}, async (span) => {
        const result = await load(input, loadedBy);
        span.set({ 'policy.status': result.status, policy_version_hash: result.policy.hash });
        return result;
      });
    },

    validate(input) {
      return telemetry.inSpan('policy.validate', {}, async (span) => {
        const result = await validate(input);
        span.set({ 'policy.valid': result.valid, policy_version_hash: result.valid ? result.policy.hash : undefined });
        return result;
      });
    },

    async active() {
      const cached = cache.get(ACTIVE);
      if (cached !== undefined) return cached ?? undefined;
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },

    lastRefreshedAt: () => (Number.isFinite(checkedAt) ? checkedAt : undefined),

    cache,

    async history(limit) {
      const rows = await db.select().from(policies).orderBy(desc(policies.id)).limit(limit);
      return rows.map(toSummary);
    },

    async document(version) {
      const [row] = await db.select().from(policies).where(eq(policies.id, version));
      return row && { summary: toSummary(row), document: row.document };
    },
  };

  async function validate(input: unknown): Promise<PolicyValidation> {
    const read = await readPolicy(input);
    if (!read.ok) return { valid: false, problems: read.problems };
    // What a load compares with (under its lock): the newest row, which the newest policy_loaded entry names.
    const [latest] = await db.select({ hash: policies.hash }).from(policies).orderBy(desc(policies.id)).limit(1);
    return { valid: true, problems: [], policy: read.facts, identical_to_active: latest?.hash === read.facts.hash };
  }

  async function load(input: unknown, loadedBy: string): Promise<LoadResult> {
    const read = await readPolicy(input);
    if (!read.ok) {
      telemetry.policyLoaded('invalid');
      throw new AppError('INVALID_POLICY', `The policy has ${read.problems.length} problem(s)`, {
        problems: read.problems,
      });
    }
    const { document, policy, facts } = read;
    const { hash, ...recorded } = facts;
    const loadedAt = new Date(now());
    // Under the ledger lock, so that "unchanged" is judged against what is really active now,
    // even when another instance or a concurrent request loads at the same moment.
    const result = await db.transaction(async (tx) => {
      await ledger.lock(tx);
      const [latest] = await tx.select().from(policies).orderBy(desc(policies.id)).limit(1);
      if (latest?.hash === hash) return { status: 'unchanged' as const, row: latest };
      const [entry] = await ledger.appendInTransaction(tx, [
        {
          eventType: 'policy_loaded',
          timestamp: loadedAt,
          data: { ...recorded, policy_hash: hash, loaded_by: loadedBy },
        },
      ]);
      const [inserted] = await tx
        .insert(policies)
        .values({
          name: policy.name,
          policyVersion: policy.version,
          mode: policy.mode,
          hash,
          document: document as Record<string, unknown>,
          termsCount: policy.terms.size,
          relationsCount: policy.relations.length,
          loadedAt,
          loadedBy,
          ledgerSeq: (entry as LedgerEntry).index,
        })
        .returning();
      return { status: 'loaded' as const, row: inserted as PolicyRow };
    });
    telemetry.policyLoaded(result.status);
    if (result.status === 'loaded') {
      // Whatever was cached is no longer what this instance decides with.
      cache.delete(ACTIVE);
      current = { summary: toSummary(result.row), compiled: policy };
      cache.set(ACTIVE, current);
      checkedAt = now();
      telemetry.policyActivated(describe(policy));
    }
    return { status: result.status, policy: toSummary(result.row) };
  }
}

/**
 * Compiles a stored policy only if it is exactly what the signed ledger says was loaded: the entry
 * must verify, and the document must hash to the entry's policy_hash. Otherwise decisions fail
 * closed (503) rather than run on a policy nobody loaded.
 */
async function activate(
  row: PolicyRow | undefined,
  entry: LedgerEntry,
  ledger: Ledger,
  logger: Logger,
): Promise<ActivePolicy> {
  const recorded = entry.data.policy_hash;
  const hash = row ? await sha256Hex(canonicalJson(row.document)) : undefined;
  const { hashValid, signatureValid } = await ledger.verifyEntry(entry);
  const compiled = row && compilePolicy(row.document);
  if (!row || hash !== recorded || row.hash !== recorded || !hashValid || !signatureValid || !compiled?.ok) {
    logger.error('stored policy failed its integrity check', {
      ledger_index: entry.index,
      recorded_hash: recorded,
      actual_hash: hash ?? null,
      entry_verified: hashValid && signatureValid,
    });
    throw new AppError('SERVICE_UNAVAILABLE', 'The active policy failed its integrity check; decisions are suspended');
  }
  return { summary: toSummary(row), compiled: compiled.policy };
}

/** What telemetry needs of a policy: its actor terms (the only actor label values) and frameworks. */
function describe(policy: CompiledPolicy) {
  const actorTerms = [...policy.terms.values()].filter((t) => t.type === 'actor').map((t) => t.id);
  return { actorTerms, frameworks: policy.frameworks };
}

function toSummary(row: PolicyRow): PolicySummary {
  return {
    version: row.id,
    name: row.name,
    policy_version: row.policyVersion,
    mode: row.mode,
    hash: row.hash,
    terms_count: row.termsCount,
    relations_count: row.relationsCount,
    loaded_at: row.loadedAt.toISOString(),
    loaded_by: row.loadedBy,
    ledger_index: row.ledgerSeq,
  };
}
