import { desc, eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { type PolicyRow, policies } from '../db/schema';
import { AppError } from '../errors';
import { type CompiledPolicy, compilePolicy, unwrapPolicyDocument } from '../governance/policy';
import { canonicalJson } from '../ledger/canonical-json';
import { sha256Hex } from '../ledger/crypto';
import type { Ledger } from '../ledger/store';
import type { Logger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/telemetry';

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
   * The active policy. Another instance may have loaded a newer one, so the latest version is
   * re-read when the cached one is older than the refresh interval (one query, shared by callers).
   */
  active(): Promise<ActivePolicy | undefined>;
  history(limit: number): Promise<PolicySummary[]>;
  document(version: number): Promise<{ summary: PolicySummary; document: Record<string, unknown> } | undefined>;
}

export interface PolicyStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  logger: Logger;
  refreshMs: number;
  now?: () => number;
}

export function createPolicyStore(options: PolicyStoreOptions): PolicyStore {
  const { db, ledger, telemetry, logger } = options;
  const now = options.now ?? Date.now;
  let current: ActivePolicy | undefined;
  let checkedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<ActivePolicy | undefined> | undefined;

  async function refresh(): Promise<ActivePolicy | undefined> {
    const [latest] = await db.select({ id: policies.id }).from(policies).orderBy(desc(policies.id)).limit(1);
    if (latest && latest.id !== current?.summary.version) {
      const [row] = await db.select().from(policies).where(eq(policies.id, latest.id));
      if (row) current = await activate(row, logger);
    }
    checkedAt = now();
    return current;
  }

  return {
    async load(input, loadedBy) {
      const document = unwrapPolicyDocument(input);
      const compiled = compilePolicy(document);
      if (!compiled.ok) {
        telemetry.policyLoaded('invalid');
        throw new AppError('INVALID_POLICY', `The policy has ${compiled.problems.length} problem(s)`, {
          problems: compiled.problems,
        });
      }
      const hash = await sha256Hex(canonicalJson(document));
      const active = await this.active();
      if (active?.summary.hash === hash) {
        telemetry.policyLoaded('unchanged');
        return { status: 'unchanged', policy: active.summary };
      }

      const policy = compiled.policy;
      const loadedAt = new Date(now());
      const row = await db.transaction(async (tx) => {
        const [entry] = await ledger.appendInTransaction(tx, [
          {
            eventType: 'policy_loaded',
            timestamp: loadedAt,
            data: {
              name: policy.name,
              policy_version: policy.version,
              mode: policy.mode,
              policy_hash: hash,
              compliance_frameworks: policy.frameworks,
              terms_count: policy.terms.size,
              relations_count: policy.relations.length,
              constraints_count: policy.constraints.length,
              loaded_by: loadedBy,
            },
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
            ledgerSeq: (entry as { index: number }).index,
          })
          .returning();
        return inserted as PolicyRow;
      });
      current = { summary: toSummary(row), compiled: policy };
      checkedAt = now();
      telemetry.policyLoaded('loaded');
      return { status: 'loaded', policy: current.summary };
    },

    async active() {
      if (now() - checkedAt < options.refreshMs) return current;
      refreshing ??= refresh().finally(() => {
        refreshing = undefined;
      });
      return refreshing;
    },

    async history(limit) {
      const rows = await db.select().from(policies).orderBy(desc(policies.id)).limit(limit);
      return rows.map(toSummary);
    },

    async document(version) {
      const [row] = await db.select().from(policies).where(eq(policies.id, version));
      return row && { summary: toSummary(row), document: row.document };
    },
  };
}

/**
 * Compiles a stored policy, refusing one whose document no longer matches its recorded hash:
 * decisions then fail closed (503) instead of running on a policy nobody loaded.
 */
async function activate(row: PolicyRow, logger: Logger): Promise<ActivePolicy> {
  const hash = await sha256Hex(canonicalJson(row.document));
  const compiled = compilePolicy(row.document);
  if (hash !== row.hash || !compiled.ok) {
    logger.error('stored policy failed its integrity check', {
      version: row.id,
      recorded_hash: row.hash,
      actual_hash: hash,
    });
    throw new AppError('SERVICE_UNAVAILABLE', 'The active policy failed its integrity check; decisions are suspended');
  }
  return { summary: toSummary(row), compiled: compiled.policy };
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
