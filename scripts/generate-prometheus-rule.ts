import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * `npm run generate:prometheus-rule`: points every runbook_url of the one rules file
 * (k8s/monitoring/rules/lexecon-alerts.yaml) at the runbook base, then writes the Prometheus
 * Operator's wrapper around those rules, the optional component's prometheus-rule.yaml. The
 * operator needs the rules inline, so that copy is generated; tests fail when either drifts.
 *
 * The base is set here once, or for one run with RUNBOOK_BASE_URL (k8s/README.md): alert
 * notifications in PagerDuty and Slack need absolute links, and only the deployment knows where
 * its copy of docs/runbooks.md is served.
 */
const root = join(import.meta.dirname, '..');
export const RULES_FILE = join(root, 'k8s/monitoring/rules/lexecon-alerts.yaml');
export const PROMETHEUS_RULE_FILE = join(root, 'k8s/lexecon/components/prometheus-operator/prometheus-rule.yaml');
export const RUNBOOKS_FILE = 'docs/runbooks.md';
export const DEFAULT_RUNBOOK_BASE_URL = `https://github.com/lexecon/lexecon/blob/main/${RUNBOOKS_FILE}`;

/** The rules with every runbook_url set to `<base>#<its anchor>`; all else, comments included, as it was. */
export function withRunbookBase(rules: string, base: string): string {
  const url = new URL(base);
  if (url.protocol !== 'https:' || url.hash || url.search) {
    throw new Error(`runbook base ${base}: an https URL without query or fragment`);
  }
  return rules.replace(/^(\s+runbook_url: ).*#([\w-]+)$/gm, (_line, key: string, anchor: string) => {
    return `${key}${base}#${anchor}`;
  });
}

export function renderPrometheusRule(rules: string): string {
  const { groups } = parse(rules) as { groups: unknown[] };
  const manifest = {
    apiVersion: 'monitoring.coreos.com/v1',
    kind: 'PrometheusRule',
    metadata: { name: 'lexecon', labels: { 'app.kubernetes.io/name': 'lexecon' } },
    spec: { groups },
  };
  return `# Generated from k8s/monitoring/rules/lexecon-alerts.yaml by\n# \`npm run generate:prometheus-rule\`: edit that file, not this one.\n${stringify(manifest, { lineWidth: 0 })}`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const base = process.env.RUNBOOK_BASE_URL || DEFAULT_RUNBOOK_BASE_URL;
  const rules = withRunbookBase(readFileSync(RULES_FILE, 'utf8'), base);
  writeFileSync(RULES_FILE, rules);
  writeFileSync(PROMETHEUS_RULE_FILE, renderPrometheusRule(rules));
  console.log(`runbook links: ${base}#<alert>\nwrote ${RULES_FILE}\nwrote ${PROMETHEUS_RULE_FILE}`);
}
