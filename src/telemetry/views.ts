import { createAllowListAttributesProcessor, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { ALL_METRICS, type MetricDefinition } from './catalogue';

/**
 * FEATURE_FLAG_METRICS_DETAILED as Views: lean drops detailed-only labels (histograms re-aggregate
 * correctly without them); recording code never branches on it.
 */
export function metricViews(detailed: boolean): ViewOptions[] {
  if (detailed) return [];
  const views: ViewOptions[] = [];
  for (const definition of ALL_METRICS as MetricDefinition[]) {
    if (definition.kind === 'summary') continue;
    if (definition.detailedLabels) {
      views.push({
        instrumentName: definition.name,
        attributesProcessors: [createAllowListAttributesProcessor([...definition.labels])],
      });
    }
  }
  return views;
}
