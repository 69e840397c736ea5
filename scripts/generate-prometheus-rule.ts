import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * Writes k8s/lexecon/prometheus-rule.yaml, the Prometheus Operator's wrapper around the one rules
 * file (k8s/monitoring/rules/lexecon-alerts.yaml). The operator needs the rules inline, so this
 * copy is generated; tests/k8s.test.ts fails when it no longer matches.
 */
const root = join(import.meta.dirname, '..');
export const RULES_FILE = join(root, 'k8s/monitoring/rules/lexecon-alerts.yaml');
export const PROMETHEUS_RULE_FILE = join(root, 'k8s/lexecon/prometheus-rule.yaml');

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
  writeFileSync(PROMETHEUS_RULE_FILE, renderPrometheusRule(readFileSync(RULES_FILE, 'utf8')));
  console.log(`wrote ${PROMETHEUS_RULE_FILE}`);
}
