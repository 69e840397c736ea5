import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { type IMetricReader, MeterProvider, type MetricData, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { METRICS } from './catalogue';
import { summarizeError } from './error-summary';
import { createResource, type ServiceIdentity } from './sdk';
import type { MetricsRenderer } from './telemetry';
import { metricViews } from './views';

export { metricViews } from './views';

/**
 * The OpenTelemetry SDK side of metrics, for runtime entries only: a MeterProvider whose
 * Prometheus reader is pulled by GET /metrics on the app's own port (no second port, no
 * prom-client). `target_info` stays (one series carrying service.name/version/instance.id, for
 * joins); the otel_scope_* labels on every sample are dropped: one meter, nothing to tell apart.
 */
export interface PrometheusMetricsOptions extends ServiceIdentity {
  detailed: boolean;
  /** More readers, e.g. the OTLP push reader. */
  readers?: IMetricReader[];
  /** False when metrics are only pushed (METRICS_EXPORTER=otlp): no pull reader, /metrics says so. */
  pull?: boolean;
}

export interface PrometheusMetrics extends MetricsRenderer {
  provider: MeterProvider;
  shutdown(): Promise<void>;
}

export function createPrometheusMetrics(options: PrometheusMetricsOptions): PrometheusMetrics {
  const pull = options.pull ?? true;
  const exporter = new PrometheusExporter({ preventServerStart: true, withoutScopeInfo: true });
  const provider = new MeterProvider({
    resource: createResource(options),
    readers: [...(pull ? [exporter] : []), ...(options.readers ?? [])],
    views: metricViews(options.detailed),
  });
  const serializer = createSerializer();
  return {
    provider,
    async render() {
      if (!pull) return '# metrics are pushed over OTLP (METRICS_EXPORTER=otlp): scrape the collector\n';
      const { resourceMetrics, errors } = await exporter.collect();
      // Observed gauges read the database: a failure is told by its summary, never its parameters.
      for (const error of errors) console.warn('metrics collection:', JSON.stringify(summarizeError(error)));
      return serializer.serialize(resourceMetrics);
    },
    shutdown: () => provider.shutdown(),
  };
}

const SUMMARY = METRICS.apiLatencySummary.name;
const SUMMARY_PARTS = new Set([SUMMARY, `${SUMMARY}_sum`, `${SUMMARY}_count`]);

/**
 * The SDK has no summary aggregation, so the summary is recorded as quantile gauges plus
 * cumulative _sum and _count instruments. The stock serializer writes everything else; the three
 * summary parts are written here as the one Prometheus summary family PromQL expects
 * (`# TYPE … summary`, `quantile` samples, `_sum`, `_count`).
 */
function createSerializer() {
  const stock = new PrometheusSerializer(undefined, false, undefined, false, true);
  return {
    serialize(resourceMetrics: ResourceMetrics): string {
      const parts: MetricData[] = [];
      const scopeMetrics = resourceMetrics.scopeMetrics.map((scope) => ({
        ...scope,
        metrics: scope.metrics.filter((metric) => {
          if (!SUMMARY_PARTS.has(metric.descriptor.name)) return true;
          parts.push(metric);
          return false;
        }),
      }));
      return stock.serialize({ ...resourceMetrics, scopeMetrics }) + serializeSummary(parts);
    },
  };
}

function serializeSummary(parts: MetricData[]): string {
  const quantiles = parts.find((m) => m.descriptor.name === SUMMARY);
  if (!quantiles) return '';
  const sum = parts.find((m) => m.descriptor.name === `${SUMMARY}_sum`);
  const count = parts.find((m) => m.descriptor.name === `${SUMMARY}_count`);
  let text = `# HELP ${SUMMARY} ${METRICS.apiLatencySummary.help}\n# TYPE ${SUMMARY} summary\n`;
  for (const point of quantiles.dataPoints) text += sample(SUMMARY, point.attributes, point.value as number);
  for (const point of sum?.dataPoints ?? []) text += sample(`${SUMMARY}_sum`, point.attributes, point.value as number);
  for (const point of count?.dataPoints ?? [])
    text += sample(`${SUMMARY}_count`, point.attributes, point.value as number);
  return `${text}\n`;
}

function sample(name: string, attributes: Record<string, unknown>, value: number): string {
  const labels = Object.entries(attributes)
    .map(([key, v]) => `${key}="${String(v).replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')}"`)
    .join(',');
  const formatted = Number.isNaN(value) ? 'NaN' : value === Number.POSITIVE_INFINITY ? '+Inf' : String(value);
  return `${name}${labels ? `{${labels}}` : ''} ${formatted}\n`;
}
