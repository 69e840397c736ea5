import { eq } from 'drizzle-orm';
import type { Db } from '../db/client';
import { type FeatureFlagRow, featureFlags } from '../db/schema';
import type { Ledger } from '../ledger/store';
import type { Logger } from '../telemetry/logger';
import type { Telemetry } from '../telemetry/telemetry';
import {
  FLAG_DEFINITIONS,
  FLAG_NAMES,
  FLAG_OFF,
  type FlagName,
  type FlagSetting,
  isFlagName,
  UNKNOWN_FLAG,
} from './definitions';
import { inRollout } from './rollout';

/** Where a flag's effective setting comes from: its configuration default, or a row set through the API. */
export type FlagSource = 'config' | 'database';

export interface FlagState {
  name: FlagName;
  description: string;
  default: { enabled: boolean; rollout_percent: number };
  enabled: boolean;
  rollout_percent: number;
  source: FlagSource;
  updated_at: string | null;
  updated_by: string | null;
  /** When a change takes effect: at once, or from the next start of each instance. */
  applies: 'immediately' | 'restart';
}

export interface FlagStore {
  /**
   * Whether `flag` is on for `stableKey`: synchronous, from the last known state. With a rollout
   * below 100%, a key is in when its bucket is below the percentage; without a key, only a full
   * rollout is on. An unknown name is off (and counted as `unknown`, never under the caller's string).
   */
  isEnabled(flag: FlagName | (string & {}), stableKey?: string): boolean;
  /** Every flag with its effective setting, read fresh from the database. */
  list(): Promise<FlagState[]>;
  /** Stores a setting and records it in the ledger, in one transaction; effective here at once. */
  update(name: FlagName, setting: FlagSetting, updatedBy: string): Promise<FlagState>;
  /** Reads the database's settings now. */
  refresh(): Promise<void>;
}

export interface FlagStoreOptions {
  db: Db;
  ledger: Ledger;
  telemetry: Telemetry;
  logger: Logger;
  /** Defaults from configuration (`FEATURE_FLAG_<NAME>`); absent flags are off. */
  defaults?: Partial<Record<FlagName, FlagSetting>>;
  /** How stale the database's settings may get on an instance that did not change them. */
  refreshMs?: number;
  now?: () => number;
}

interface Override {
  setting: FlagSetting;
  updatedAt: Date;
  updatedBy: string;
}

export function createFlagStore(options: FlagStoreOptions): FlagStore {
  const { db, ledger, telemetry, logger } = options;
  const refreshMs = options.refreshMs ?? 10_000;
  const now = options.now ?? Date.now;
  const defaults = new Map(FLAG_NAMES.map((name) => [name, options.defaults?.[name] ?? FLAG_OFF]));
  // Effective settings by name: what isEnabled reads. Replaced whole on refresh, so a reader never
  // sees half of one.
  let effective = new Map<FlagName, FlagSetting>(defaults);
  let overrides = new Map<FlagName, Override>();
  // Never read yet: the first evaluation triggers a read, not one refreshMs later.
  let loadedAt = Number.NEGATIVE_INFINITY;
  let refreshing: Promise<void> | undefined;

  function apply(next: Map<FlagName, Override>) {
    overrides = next;
    const settings = new Map(defaults);
    for (const [name, override] of next) settings.set(name, override.setting);
    effective = settings;
  }

  async function read(): Promise<void> {
    const rows = await db.select().from(featureFlags);
    const next = new Map<FlagName, Override>();
    // Rows for flags no longer in the code are kept in the table but ignored.
    for (const row of rows) if (isFlagName(row.name)) next.set(row.name, toOverride(row));
    apply(next);
  }

  function refreshInBackground() {
    if (refreshing || now() - loadedAt < refreshMs) return;
    // Retry no sooner than refreshMs after a failure: an unavailable database is not asked per call.
    loadedAt = now();
    refreshing = read()
      .catch((err: unknown) => {
        for (const name of FLAG_NAMES) telemetry.flagFailed(name, 'store_unavailable');
        logger.warn('feature flags: keeping the last known settings; cannot read them', { error: err });
      })
      .finally(() => {
        refreshing = undefined;
      });
  }

  function state(name: FlagName): FlagState {
    const fallback = defaults.get(name) ?? FLAG_OFF;
    const override = overrides.get(name);
    const setting = override?.setting ?? fallback;
    return {
      name,
      description: FLAG_DEFINITIONS[name].description,
      default: { enabled: fallback.enabled, rollout_percent: fallback.rolloutPercent },
      enabled: setting.enabled,
      rollout_percent: setting.rolloutPercent,
      source: override ? 'database' : 'config',
      updated_at: override ? override.updatedAt.toISOString() : null,
      updated_by: override ? override.updatedBy : null,
      applies: FLAG_DEFINITIONS[name].applies,
    };
  }

  return {
    isEnabled(flag, stableKey) {
      refreshInBackground();
      const setting = effective.get(flag as FlagName);
      if (!setting) {
        telemetry.flagFailed(UNKNOWN_FLAG, 'unknown_flag');
        telemetry.flagEvaluated(UNKNOWN_FLAG, false);
        return false;
      }
      // Found in the map, so one of the catalogue's names.
      const on = settingIsOn(flag as FlagName, setting, stableKey);
      telemetry.flagEvaluated(flag, on);
      return on;
    },

    async list() {
      loadedAt = now();
      await read();
      return FLAG_NAMES.map(state);
    },

    async update(name, setting, updatedBy) {
      const updatedAt = new Date(now());
      const next = await db.transaction(async (tx) => {
        // The ledger's lock first: concurrent updates then record the previous value they replaced.
        await ledger.lock(tx);
        const [previous] = await tx.select().from(featureFlags).where(eq(featureFlags.name, name));
        const row = { name, enabled: setting.enabled, rolloutPercent: setting.rolloutPercent, updatedAt, updatedBy };
        await tx
          .insert(featureFlags)
          .values(row)
          .onConflictDoUpdate({
            target: featureFlags.name,
            set: { enabled: row.enabled, rolloutPercent: row.rolloutPercent, updatedAt, updatedBy },
          });
        const before = previous ? toOverride(previous).setting : (defaults.get(name) ?? FLAG_OFF);
        await ledger.appendInTransaction(tx, [
          {
            eventType: 'feature_flag_updated',
            data: {
              flag: name,
              enabled: setting.enabled,
              rollout_percent: setting.rolloutPercent,
              previous: {
                enabled: before.enabled,
                rollout_percent: before.rolloutPercent,
                source: previous ? 'database' : 'config',
              },
              updated_by: updatedBy,
              applies: FLAG_DEFINITIONS[name].applies,
            },
            timestamp: updatedAt,
          },
        ]);
        return toOverride(row);
      });
      apply(new Map(overrides).set(name, next));
      return state(name);
    },

    async refresh() {
      loadedAt = now();
      await read();
    },
  };
}

/** Whether a setting is on for a key: enabled, and a full rollout or a key whose bucket is inside it. */
export function settingIsOn(flag: FlagName, setting: FlagSetting, stableKey: string | undefined): boolean {
  if (!setting.enabled) return false;
  if (setting.rolloutPercent >= 100) return true;
  return stableKey !== undefined && inRollout(flag, stableKey, setting.rolloutPercent);
}

/**
 * One flag's effective setting read straight from the database, for decisions made once at start
 * before the services exist (metrics_detailed shapes the metric Views the services report through).
 */
export async function readStartupSetting(db: Db, name: FlagName, fallback: FlagSetting): Promise<FlagSetting> {
  const [row] = await db.select().from(featureFlags).where(eq(featureFlags.name, name));
  return row ? toOverride(row).setting : fallback;
}

function toOverride(row: FeatureFlagRow): Override {
  return {
    setting: { enabled: row.enabled, rolloutPercent: row.rolloutPercent },
    updatedAt: row.updatedAt,
    updatedBy: row.updatedBy,
  };
}
