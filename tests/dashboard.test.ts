import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { CATALOGUE_SERIES, labelsOf, namesIn } from './support/promql';

/**
 * grafana/lexecon-dashboard.json is kept as the JSON Grafana exports (so it can be edited in
 * Grafana and saved back) and checked here: the spec's panels and the on-call extras exist, every
 * query names real series and labels, and units and thresholds say what the alerts say.
 */
const root = join(import.meta.dirname, '..');
interface Target {
  expr?: string;
  refId: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  gridPos: { x: number; y: number; w: number; h: number };
  datasource: { type: string; uid: string };
  targets: Target[];
  links?: { url: string }[];
  fieldConfig: {
    defaults: {
      unit?: string;
      min?: number;
      max?: number;
      thresholds?: { steps: { color: string; value: number | null }[] };
    };
  };
}
const dashboard = JSON.parse(readFileSync(join(root, 'grafana/lexecon-dashboard.json'), 'utf8')) as {
  uid: string;
  refresh: string;
  panels: Panel[];
  links: { url: string }[];
  templating: { list: { name: string; type: string; query: unknown; allValue?: string }[] };
};
const provisioned = parse(readFileSync(join(root, 'grafana/provisioning/datasources/datasources.yaml'), 'utf8'))
  .datasources as { uid: string; type: string }[];
// biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's reference to the $datasource variable
const SELECTED_DATASOURCE = '${datasource}';
const prometheusPanels = dashboard.panels.filter((p) => p.datasource.type === 'prometheus');
const panel = (title: string) => {
  const found = dashboard.panels.find((p) => p.title === title);
  if (!found) throw new Error(`no panel ${title}`);
  return found;
};
const steps = (p: Panel) => p.fieldConfig.defaults.thresholds?.steps ?? [];

const SPEC_PANELS = [
  'HTTP Request Rate',
  'API Latency (p95)',
  'Decision Rate',
  'Cache Hit Rate',
  'Error Rate by Type',
  'Active Sessions',
  'Active DB Connections',
  'Active Policies',
  'Uptime',
];
const ON_CALL_PANELS = [
  'Decision Latency (p95, p99)',
  'Denials by Reason',
  'Ledger Integrity',
  'Ledger Verifications',
  'Rate-Limit Hits',
  'Authentication Failures',
  'Slow Traces (over 1 s)',
];

describe('grafana/lexecon-dashboard.json', () => {
  it("has the spec's nine panels and what on-call needs next, refreshing every 5 s", () => {
    expect(dashboard.panels.map((p) => p.title).sort()).toEqual([...SPEC_PANELS, ...ON_CALL_PANELS].sort());
    expect(dashboard.refresh).toBe('5s');
    expect(new Set(dashboard.panels.map((p) => p.id)).size).toBe(dashboard.panels.length);
  });

  it('lets the viewer pick the Prometheus datasource, the namespace and the pod', () => {
    const variables = Object.fromEntries(dashboard.templating.list.map((v) => [v.name, v]));
    expect(variables.datasource).toMatchObject({ type: 'datasource', query: 'prometheus' });
    for (const name of ['namespace', 'pod']) {
      expect(variables[name]).toMatchObject({ type: 'query', allValue: '.*' });
      expect(JSON.stringify(variables[name]?.query)).toContain('label_values(lexecon_node_uptime_seconds');
    }
  });

  it.each(prometheusPanels.map((p) => [p.title, p] as const))(
    '%s queries only catalogue series, with labels they carry, through the selected datasource, namespace and pod',
    (_title, p) => {
      expect(p.targets.length).toBeGreaterThan(0);
      for (const target of p.targets) {
        expect(target.datasource).toEqual({ type: 'prometheus', uid: SELECTED_DATASOURCE });
        const names = namesIn(target.expr ?? '');
        expect(names.series.length).toBeGreaterThan(0);
        for (const series of names.series) expect(CATALOGUE_SERIES.has(series), series).toBe(true);
        for (const { series, labels } of names.selectors) {
          for (const label of labels) expect(labelsOf(series), `${series}{${label}}`).toContain(label);
          expect(labels).toEqual(expect.arrayContaining(['namespace', 'pod']));
        }
        const everyLabel = new Set(names.series.flatMap(labelsOf));
        for (const label of names.grouping) expect([...everyLabel], `by (${label})`).toContain(label);
      }
    },
  );

  it.each(prometheusPanels.map((p) => [p.title, p] as const))('%s has a unit that fits its query', (_title, p) => {
    const exprs = p.targets.map((t) => t.expr ?? '');
    const unit = p.fieldConfig.defaults.unit;
    if (exprs.every((e) => e.startsWith('histogram_quantile('))) expect(unit).toBe('s');
    else if (exprs.some((e) => / \/ \(?sum\(rate\(/.test(e))) expect(unit).toBe('percentunit');
    else if (exprs.every((e) => e.includes('rate('))) expect(['reqps', 'ops']).toContain(unit);
    else if (exprs.some((e) => e.includes('uptime_seconds'))) expect(unit).toBe('s');
    else expect(unit).toBe('short');
  });

  it.each(dashboard.panels.map((p) => [p.title, p] as const))('%s has thresholds in ascending order', (_title, p) => {
    const values = steps(p).map((s) => s.value);
    if (values.length === 0) return;
    expect(values[0]).toBeNull();
    const rest = values.slice(1) as number[];
    expect(rest).toEqual([...rest].sort((a, b) => a - b));
  });

  it('shows a low cache hit rate in red and a high one in green, as a share from 0 to 1', () => {
    const cache = panel('Cache Hit Rate');
    expect(steps(cache).map((s) => s.color)).toEqual(['red', 'yellow', 'green']);
    // The first non-red step is the LexeconLowCacheHitRate threshold.
    expect(steps(cache)[1]?.value).toBe(0.5);
    expect(cache.fieldConfig.defaults).toMatchObject({ unit: 'percentunit', min: 0, max: 1 });
  });

  it('turns red where the alerts fire', () => {
    const redAt = (title: string) => steps(panel(title)).find((s) => s.color === 'red')?.value;
    expect(redAt('API Latency (p95)')).toBe(1); // LexeconHighLatency
    expect(redAt('Decision Latency (p95, p99)')).toBe(0.5); // LexeconSlowDecisions
    expect(redAt('Active DB Connections')).toBe(80); // LexeconDatabaseConnectionsHigh
    expect(redAt('Authentication Failures')).toBe(10); // LexeconHighAuthFailureRate
    expect(redAt('Ledger Integrity')).toBe(1); // any failure
    // No policy is the bad state: red at 0, green from 1.
    expect(steps(panel('Active Policies')).map((s) => [s.color, s.value])).toEqual([
      ['red', null],
      ['green', 1],
    ]);
  });

  it('links latency panels and the dashboard to Lexecon traces in Jaeger, and shows slow traces', () => {
    const jaeger = provisioned.find((d) => d.type === 'jaeger');
    expect(jaeger?.uid).toBe('jaeger');
    for (const title of ['API Latency (p95)', 'Decision Latency (p95, p99)']) {
      expect(panel(title).links?.[0]?.url).toMatch(/"datasource":"jaeger".*"service":"lexecon"/);
    }
    expect(dashboard.links.map((l) => l.url).join()).toContain('"datasource":"jaeger"');
    expect(panel('Slow Traces (over 1 s)').datasource).toEqual({ type: 'jaeger', uid: jaeger?.uid });
  });

  it('uses only datasources that Grafana is provisioned with', () => {
    const prometheus = provisioned.find((d) => d.type === 'prometheus');
    expect(prometheus).toMatchObject({ uid: 'prometheus' });
    for (const p of dashboard.panels)
      expect([SELECTED_DATASOURCE, ...provisioned.map((d) => d.uid)]).toContain(p.datasource.uid);
  });

  it('lays panels out without overlapping, within the 24-column grid', () => {
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w, title).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x++)
        for (let y = g.y; y < g.y + g.h; y++) {
          expect(cells.has(`${x},${y}`), `${title} overlaps at ${x},${y}`).toBe(false);
          cells.add(`${x},${y}`);
        }
    }
  });
});
