/**
 * The feature flags the service consults: a closed list in code, so flag names are bounded metric
 * labels and a typo is a compile error. Each one's default comes from `FEATURE_FLAG_<NAME>`.
 */
export const FLAG_DEFINITIONS = {
  metrics_detailed: {
    description:
      'Detailed metrics: the latency summary per endpoint, response sizes, query timing per table. Evaluated once at start with the instance id as the rollout key.',
    /** The metric Views are built at start, so a change is stored now and used from the next start. */
    applies: 'restart',
  },
} as const satisfies Record<string, { description: string; applies: 'immediately' | 'restart' }>;

export type FlagName = keyof typeof FLAG_DEFINITIONS;
export const FLAG_NAMES = Object.keys(FLAG_DEFINITIONS) as FlagName[];

/** The label for names outside the catalogue, so callers cannot grow the metric's series. */
export const UNKNOWN_FLAG = 'unknown';

/** Why a flag's value could not be used (lexecon_feature_flag_errors_total{error_type}). */
export const FLAG_ERROR_TYPES = ['unknown_flag', 'store_unavailable'] as const;
export type FlagErrorType = (typeof FLAG_ERROR_TYPES)[number];

/** Whether a flag is on, and for what share (0–100) of stable keys when it is. */
export interface FlagSetting {
  enabled: boolean;
  rolloutPercent: number;
}

export const FLAG_OFF: FlagSetting = { enabled: false, rolloutPercent: 100 };

/** The configuration variable that sets a flag's default. */
export function flagVariable(name: FlagName): string {
  return `FEATURE_FLAG_${name.toUpperCase()}`;
}

export function isFlagName(name: string): name is FlagName {
  return Object.hasOwn(FLAG_DEFINITIONS, name);
}
