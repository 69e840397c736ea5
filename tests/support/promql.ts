import { ALL_METRICS, type MetricDefinition } from '../../src/telemetry/catalogue';

/**
 * Enough PromQL reading to check queries against the catalogue: which series names a query
 * selects and which label names it uses. Not a parser; the queries checked are our own.
 */
const FUNCTIONS_AND_KEYWORDS = new Set([
  ...['sum', 'min', 'max', 'avg', 'count', 'topk', 'bottomk', 'quantile', 'stddev', 'group'],
  ...['rate', 'irate', 'increase', 'delta', 'histogram_quantile', 'absent', 'absent_over_time', 'vector'],
  ...['max_over_time', 'min_over_time', 'avg_over_time', 'time', 'label_values', 'clamp_min', 'scalar'],
  ...['by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'and', 'or', 'unless', 'offset', 'bool'],
  'e',
  'Inf',
  'NaN',
]);

/** Labels every scraped series has or gets from discovery, whatever the metric. */
export const TARGET_LABELS = ['job', 'instance', 'namespace', 'pod', 'service', 'container', 'endpoint'];

/** Series names that a catalogue entry produces in Prometheus. */
export function seriesOf(definition: MetricDefinition): string[] {
  if (definition.kind === 'histogram') return ['_bucket', '_sum', '_count'].map((s) => definition.name + s);
  if (definition.kind === 'summary') return [definition.name, `${definition.name}_sum`, `${definition.name}_count`];
  return [definition.name];
}

export const CATALOGUE_SERIES = new Map<string, MetricDefinition>(
  ALL_METRICS.flatMap((d) => seriesOf(d).map((s) => [s, d] as const)),
);

/** The labels a series may carry: the catalogue's (lean and detailed), target labels, le/quantile. */
export function labelsOf(series: string): string[] {
  const definition = CATALOGUE_SERIES.get(series);
  if (!definition) return TARGET_LABELS;
  const extra = series.endsWith('_bucket') ? ['le'] : definition.kind === 'summary' ? ['quantile'] : [];
  return [...definition.labels, ...(definition.detailedLabels ?? []), ...TARGET_LABELS, ...extra];
}

export interface QueryNames {
  /** Series names selected, e.g. lexecon_http_request_duration_seconds_bucket. */
  series: string[];
  /** Label names in each series' own selector. */
  selectors: { series: string; labels: string[] }[];
  /** Label names in by(…), without(…), on(…), ignoring(…) clauses. */
  grouping: string[];
}

export function namesIn(query: string): QueryNames {
  const withoutStrings = query.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/\$\w+/g, '');
  const selectors = [...withoutStrings.matchAll(/([a-zA-Z_:][\w:]*)\s*\{([^}]*)\}/g)]
    .filter((m) => !FUNCTIONS_AND_KEYWORDS.has(m[1]!))
    .map((m) => ({ series: m[1]!, labels: [...m[2]!.matchAll(/([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!) }));
  const grouping = [...withoutStrings.matchAll(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)/g)]
    .flatMap((m) => m[1]!.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
  const bare = withoutStrings
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ');
  const series = [...bare.matchAll(/(?<![\w.])([a-zA-Z_:][\w:]*)(?![\w(])/g)]
    .map((m) => m[1]!)
    .filter((name) => !FUNCTIONS_AND_KEYWORDS.has(name) && !/^\d/.test(name));
  return { series: [...new Set(series)], selectors, grouping: [...new Set(grouping)] };
}
