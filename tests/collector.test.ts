import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { parseConfig } from '../src/config';
import { ALL_METRICS } from '../src/telemetry/catalogue';

/**
 * The collector configuration tested as data: no collector binary is installed here, so these
 * check what `otelcol validate` would (every component a pipeline names is defined) plus what it
 * would not (ports agree with the app's defaults, names stay current, the sidecar cannot drift
 * from the README or the k8s manifests).
 */

type Components = Record<string, Record<string, unknown> | null>;
interface Pipeline {
  receivers?: string[];
  processors?: string[];
  exporters?: string[];
}
interface CollectorConfig {
  receivers?: Components;
  processors?: Components;
  exporters?: Components;
  connectors?: Components;
  extensions?: Components;
  service: {
    extensions?: string[];
    pipelines: Record<string, Pipeline>;
    telemetry?: {
      metrics?: { readers?: { pull?: { exporter?: { prometheus?: { host?: string; port?: number } } } }[] };
    };
  };
}

const root = join(import.meta.dirname, '..');
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const load = (file: string) => parse(read(file)) as CollectorConfig;

const sidecar = load('collector/sidecar.yaml');
const overlay = parse(read('collector/sidecar-to-gateway.yaml')) as Partial<CollectorConfig>;
const gateway = load('collector/gateway.yaml');
/** What the collector runs with `--config=sidecar.yaml --config=sidecar-to-gateway.yaml`. */
const sidecarWithGateway = mergeConfigs(sidecar, overlay) as CollectorConfig;
const readme = read('collector/README.md');

/** The collector merges config files in order: maps merge key by key, anything else is replaced. */
function mergeConfigs(base: unknown, override: unknown): unknown {
  if (!isMap(base) || !isMap(override)) return override;
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) merged[key] = mergeConfigs(base[key], value);
  return merged;
}

function isMap(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `${env:NAME}`, the collector's reference to an environment variable. */
const envReference = (name: string) => `\${env:${name}}`;
const ENV_REFERENCE = /\$\{env:([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/** The value the collector sees when no variable is set: `${env:X:-d}` becomes d, `${env:X}` empty. */
const withDefaults = (value: string) =>
  value.replace(ENV_REFERENCE, (_, _name, fallback: string | undefined) => fallback ?? '');

const setting = (component: Record<string, unknown> | null | undefined, path: string): unknown =>
  path.split('.').reduce<unknown>((value, key) => (isMap(value) ? value[key] : undefined), component);

function portOf(endpoint: unknown): number {
  const match = /:(\d+)$/.exec(withDefaults(String(endpoint)));
  if (!match) throw new Error(`no port in endpoint ${String(endpoint)}`);
  return Number(match[1]);
}

const typeOf = (id: string) => id.split('/')[0];
const allPipelines = (config: CollectorConfig) => Object.values(config.service.pipelines);
const used = (config: CollectorConfig, kind: keyof Pipeline) =>
  new Set(allPipelines(config).flatMap((pipeline) => pipeline[kind] ?? []));

const CONFIGS = [
  { name: 'collector/sidecar.yaml', config: sidecar, unusedOnPurpose: ['debug'] },
  // The overlay replaces the traces exporters, so the Jaeger exporter is left defined and idle.
  {
    name: 'collector/sidecar.yaml + sidecar-to-gateway.yaml',
    config: sidecarWithGateway,
    unusedOnPurpose: ['debug', 'otlp_grpc/jaeger'],
  },
  { name: 'collector/gateway.yaml', config: gateway, unusedOnPurpose: [] },
];

/**
 * Type names renamed in 2025–2026 and kept only as deprecated aliases (collector#14396,
 * contrib#45339): otlp→otlp_grpc and otlphttp→otlp_http exporters (v0.144.0),
 * k8sattributes→k8s_attributes (v0.146.0), loadbalancing→load_balancing and
 * resourcedetection→resource_detection (v0.153.0), spanmetrics→span_metrics, … The otlp
 * *receiver* keeps its name: it serves both protocols.
 */
const DEPRECATED_ALIASES: Record<'receivers' | 'processors' | 'exporters' | 'connectors', string[]> = {
  receivers: ['hostmetrics', 'filelog', 'httpcheck'],
  processors: ['k8sattributes', 'resourcedetection', 'logdedup'],
  exporters: ['otlp', 'otlphttp', 'loadbalancing', 'prometheusremotewrite'],
  connectors: ['spanmetrics', 'servicegraph'],
};

describe.each(CONFIGS.map((c) => [c.name, c] as const))('%s', (_name, { config, unusedOnPurpose }) => {
  it('names in its pipelines only components it defines', () => {
    const receivers = { ...config.receivers, ...config.connectors };
    const exporters = { ...config.exporters, ...config.connectors };
    for (const pipeline of allPipelines(config)) {
      for (const id of pipeline.receivers ?? []) expect(receivers, `receiver ${id}`).toHaveProperty([id]);
      for (const id of pipeline.processors ?? []) expect(config.processors, `processor ${id}`).toHaveProperty([id]);
      for (const id of pipeline.exporters ?? []) expect(exporters, `exporter ${id}`).toHaveProperty([id]);
    }
  });

  it('uses every receiver, processor and exporter it defines, except the documented optional ones', () => {
    const unused = [
      ...Object.keys(config.receivers ?? {}).filter((id) => !used(config, 'receivers').has(id)),
      ...Object.keys(config.processors ?? {}).filter((id) => !used(config, 'processors').has(id)),
      ...Object.keys(config.exporters ?? {}).filter((id) => !used(config, 'exporters').has(id)),
    ];
    expect(unused.sort()).toEqual([...unusedOnPurpose].sort());
  });

  it('puts memory_limiter first in every pipeline', () => {
    for (const [name, pipeline] of Object.entries(config.service.pipelines)) {
      expect(pipeline.processors?.[0], name).toBe('memory_limiter');
    }
  });

  it('answers health checks on port 13133 through the enabled health_check extension', () => {
    expect(config.service.extensions).toContain('health_check');
    expect(Object.keys(config.extensions ?? {}).sort()).toEqual([...(config.service.extensions ?? [])].sort());
    expect(portOf(setting(config.extensions?.health_check, 'endpoint'))).toBe(13133);
  });

  it('serves its own metrics for Prometheus on port 8888', () => {
    const readers = config.service.telemetry?.metrics?.readers ?? [];
    expect(readers.map((reader) => reader.pull?.exporter?.prometheus)).toContainEqual({ host: '0.0.0.0', port: 8888 });
  });

  it('uses the current component names, not the deprecated aliases', () => {
    for (const [kind, aliases] of Object.entries(DEPRECATED_ALIASES)) {
      const types = Object.keys(config[kind as keyof typeof DEPRECATED_ALIASES] ?? {}).map(typeOf);
      expect(
        types.filter((type) => aliases.includes(type!)),
        kind,
      ).toEqual([]);
    }
  });
});

describe('collector/sidecar.yaml', () => {
  it('runs a traces and a metrics pipeline, both from the OTLP receiver', () => {
    expect(Object.keys(sidecar.service.pipelines).sort()).toEqual(['metrics', 'traces']);
    for (const pipeline of allPipelines(sidecar)) expect(pipeline.receivers).toEqual(['otlp']);
  });

  it('receives OTLP over gRPC on 4317 and HTTP on 4318, on all interfaces', () => {
    expect(setting(sidecar.receivers?.otlp, 'protocols.grpc.endpoint')).toBe('0.0.0.0:4317');
    expect(setting(sidecar.receivers?.otlp, 'protocols.http.endpoint')).toBe('0.0.0.0:4318');
  });

  it("is where the app's default OTLP endpoints point: localhost, the HTTP port, the receiver's paths", () => {
    const result = parseConfig({});
    if (!result.ok) throw new Error('the empty environment must be a valid configuration');
    const traces = new URL(result.config.telemetry.tracing.tracesEndpoint);
    const metrics = new URL(result.config.telemetry.metricsEndpoint);
    const http = sidecar.receivers?.otlp;
    for (const url of [traces, metrics]) {
      expect(url.hostname).toBe('localhost');
      expect(Number(url.port)).toBe(portOf(setting(http, 'protocols.http.endpoint')));
    }
    expect(traces.pathname).toBe(setting(http, 'protocols.http.traces_url_path') ?? '/v1/traces');
    expect(metrics.pathname).toBe(setting(http, 'protocols.http.metrics_url_path') ?? '/v1/metrics');
  });

  it('sends traces to the Jaeger collector over OTLP/gRPC unless JAEGER_OTLP_ENDPOINT says otherwise', () => {
    expect(sidecar.service.pipelines.traces?.exporters).toEqual(['otlp_grpc/jaeger']);
    const endpoint = String(setting(sidecar.exporters?.['otlp_grpc/jaeger'], 'endpoint'));
    expect(endpoint).toMatch(/^\$\{env:JAEGER_OTLP_ENDPOINT:-[^}]+\}$/);
    expect(withDefaults(endpoint)).toBe('jaeger-collector.monitoring.svc:4317');
  });

  it('batches in the exporter queue rather than with a batch processor', () => {
    expect(Object.keys(sidecar.processors ?? {}).map(typeOf)).not.toContain('batch');
    expect(setting(sidecar.exporters?.['otlp_grpc/jaeger'], 'sending_queue.batch')).toBeTruthy();
  });

  it('serves pushed metrics for Prometheus on port 8889 without adding suffixes or scope labels', () => {
    const prometheus = sidecar.exporters?.prometheus;
    expect(sidecar.service.pipelines.metrics?.exporters).toEqual(['prometheus']);
    expect(portOf(setting(prometheus, 'endpoint'))).toBe(8889);
    expect(setting(prometheus, 'translation_strategy')).toBe('UnderscoreEscapingWithoutSuffixes');
    expect(setting(prometheus, 'without_scope_info')).toBe(true);
    expect(setting(prometheus, 'add_metric_suffixes')).toBeUndefined();
  });

  it('defines the debug exporter but leaves it out of every pipeline', () => {
    expect(sidecar.exporters).toHaveProperty(['debug']);
    expect(used(sidecar, 'exporters').has('debug')).toBe(false);
  });

  it('labels data with the pod, namespace, pod uid and node from downward-API variables', () => {
    const actions = setting(sidecar.processors?.['resource/k8s'], 'attributes') as { key: string; value: string }[];
    expect(Object.fromEntries(actions.map((a) => [a.key, a.value]))).toEqual({
      'k8s.pod.name': envReference('K8S_POD_NAME'),
      'k8s.namespace.name': envReference('K8S_NAMESPACE_NAME'),
      'k8s.pod.uid': envReference('K8S_POD_UID'),
      'k8s.node.name': envReference('K8S_NODE_NAME'),
    });
    for (const pipeline of allPipelines(sidecar)) expect(pipeline.processors).toContain('resource/k8s');
  });

  it('sends traces only to the gateway, by trace ID, when merged with sidecar-to-gateway.yaml', () => {
    expect(sidecarWithGateway.service.pipelines.traces).toEqual({
      ...sidecar.service.pipelines.traces,
      exporters: ['load_balancing'],
    });
    expect(sidecarWithGateway.service.pipelines.metrics).toEqual(sidecar.service.pipelines.metrics);
    expect(setting(sidecarWithGateway.exporters?.load_balancing, 'routing_key')).toBe('traceID');
  });
});

describe('collector/README.md', () => {
  it.each(['sidecar.yaml', 'sidecar-to-gateway.yaml', 'gateway.yaml'])(
    'names every environment variable collector/%s reads',
    (file) => {
      const variables = [...read(`collector/${file}`).matchAll(ENV_REFERENCE)].map((match) => match[1]);
      expect(variables.length).toBeGreaterThan(0);
      for (const variable of variables) expect(readme, variable).toContain(`\`${variable}\``);
    },
  );
});

describe('metric names on the push path', () => {
  // With suffixes on, the collector would append the unit and _total that a name lacks. They are
  // off, so names must already carry both to be Prometheus names (docs/metrics.md).
  const UNIT_SUFFIX: Record<string, string> = { s: '_seconds', By: '_bytes', '1': '_ratio' };
  const suffixesAdded = (definition: (typeof ALL_METRICS)[number]) => {
    const base = definition.name.replace(/_total$/, '');
    const unit = UNIT_SUFFIX[definition.unit];
    return [
      ...(unit && !base.endsWith(unit) ? [unit] : []),
      ...(definition.kind === 'counter' && !definition.name.endsWith('_total') ? ['_total'] : []),
    ];
  };

  it.each(ALL_METRICS.filter((d) => d.kind !== 'summary').map((d) => [d.name, d] as const))(
    '%s already ends in its unit and, for a counter, _total',
    (_name, definition) => {
      expect(suffixesAdded(definition)).toEqual([]);
      if (!UNIT_SUFFIX[definition.unit]) expect(definition.unit).toMatch(/^\{[a-z_]+\}$/);
    },
  );

  it("has one name without its unit, the spec's summary, which is why the collector adds no suffixes", () => {
    const renamed = ALL_METRICS.filter((d) => suffixesAdded(d).length > 0);
    expect(renamed.map((d) => [d.name, suffixesAdded(d)])).toEqual([['lexecon_api_latency_summary', ['_seconds']]]);
  });
});

describe('collector/gateway.yaml', () => {
  const policies = setting(gateway.processors?.tail_sampling, 'policies') as {
    type: string;
    [config: string]: unknown;
  }[];

  it('keeps every trace with an error span', () => {
    const errors = policies.filter((p) => p.type === 'status_code');
    expect(errors.map((p) => setting(p, 'status_code.status_codes'))).toContainEqual(['ERROR']);
    // A drop policy would win over every keep decision, errors included.
    expect(policies.map((p) => p.type)).not.toContain('drop');
  });

  it('keeps traces slower than one second and a fixed share of the rest', () => {
    const slow = policies.find((p) => p.type === 'latency');
    expect(setting(slow, 'latency.threshold_ms')).toBe(1000);
    const rest = Number(
      setting(
        policies.find((p) => p.type === 'probabilistic'),
        'probabilistic.sampling_percentage',
      ),
    );
    expect(rest).toBeGreaterThan(0);
    expect(rest).toBeLessThan(100);
  });

  it('runs tail sampling right after memory_limiter and exports to Jaeger over OTLP/gRPC', () => {
    expect(gateway.service.pipelines.traces).toEqual({
      receivers: ['otlp'],
      processors: ['memory_limiter', 'tail_sampling'],
      exporters: ['otlp_grpc/jaeger'],
    });
    expect(withDefaults(String(setting(gateway.exporters?.['otlp_grpc/jaeger'], 'endpoint')))).toBe(
      'jaeger-collector.monitoring.svc:4317',
    );
  });

  it("listens on the port the sidecars' load_balancing exporter resolves to", () => {
    const grpc = portOf(setting(gateway.receivers?.otlp, 'protocols.grpc.endpoint'));
    expect(Number(setting(overlay.exporters?.load_balancing, 'resolver.dns.port'))).toBe(grpc);
  });
});

describe('k8s manifests', () => {
  const k8s = join(root, 'k8s');

  if (!existsSync(k8s)) {
    it('has no k8s manifests to cross-check yet (the manifests issue adds the check)', () => {
      expect(existsSync(k8s)).toBe(false);
    });
  } else {
    it('run the collector with the ports, probes and variables its configuration expects', () => {
      const pods = collectorPods(k8s);
      expect(pods.length, 'no manifest in k8s/ runs an OpenTelemetry Collector container').toBeGreaterThan(0);
      for (const { file, collector, others } of pods) {
        // gateway.yaml, not sidecar-to-gateway.yaml (the sidecar's overlay).
        const isGateway = /(^|[^-])gateway\.yaml/.test(JSON.stringify([collector.args, collector.command]));
        const config = isGateway ? gateway : sidecar;
        const listening = listeningPorts(config);
        const declared = (collector.ports ?? []).map((p) => p.containerPort);
        expect(listening, `${file}: ${collector.name} declares a port the collector does not listen on`).toEqual(
          expect.arrayContaining(declared),
        );
        const named = new Map((collector.ports ?? []).map((p) => [p.name, p.containerPort]));
        for (const probe of [collector.livenessProbe, collector.readinessProbe, collector.startupProbe]) {
          const port = probe?.httpGet?.port;
          if (port !== undefined) expect(typeof port === 'number' ? port : named.get(port), file).toBe(13133);
        }
        const env = new Set((collector.env ?? []).map((variable) => variable.name));
        const required = [...read(`collector/${isGateway ? 'gateway' : 'sidecar'}.yaml`).matchAll(ENV_REFERENCE)]
          .filter((match) => match[2] === undefined)
          .map((match) => match[1]);
        for (const variable of required) expect([...env], `${file}: ${collector.name} env`).toContain(variable);
        for (const app of others) {
          const endpoint = app.env?.find((variable) => variable.name === 'OTEL_EXPORTER_OTLP_ENDPOINT')?.value;
          if (endpoint === undefined) continue;
          const url = new URL(endpoint);
          expect([url.hostname, Number(url.port)], `${file}: ${app.name}`).toEqual([
            'localhost',
            portOf(setting(sidecar.receivers?.otlp, 'protocols.http.endpoint')),
          ]);
        }
      }
    });
  }
});

interface Container {
  name: string;
  image?: string;
  args?: string[];
  command?: string[];
  ports?: { name?: string; containerPort: number }[];
  env?: { name: string; value?: string }[];
  livenessProbe?: { httpGet?: { port?: number | string } };
  readinessProbe?: { httpGet?: { port?: number | string } };
  startupProbe?: { httpGet?: { port?: number | string } };
}

function listeningPorts(config: CollectorConfig): number[] {
  const endpoints = [
    setting(config.receivers?.otlp, 'protocols.grpc.endpoint'),
    setting(config.receivers?.otlp, 'protocols.http.endpoint'),
    setting(config.exporters?.prometheus, 'endpoint'),
    setting(config.extensions?.health_check, 'endpoint'),
  ].filter((endpoint) => endpoint !== undefined);
  const telemetry = (config.service.telemetry?.metrics?.readers ?? []).map((r) => r.pull?.exporter?.prometheus?.port);
  return [...endpoints.map(portOf), ...telemetry.filter((port) => port !== undefined)];
}

/** Every pod template in the manifests (any workload kind) with a collector container in it. */
function collectorPods(dir: string) {
  const pods: { file: string; collector: Container; others: Container[] }[] = [];
  for (const file of yamlFiles(dir)) {
    for (const document of parseAllDocuments(readFileSync(file, 'utf8'))) {
      // A templated file (Helm) is not YAML until rendered; the caller insists on finding a pod.
      if (document.errors.length > 0) continue;
      const manifest = document.toJS() as unknown;
      const spec = setting(manifest as Record<string, unknown>, 'spec');
      const podSpec =
        setting(spec as Record<string, unknown>, 'template.spec') ??
        setting(spec as Record<string, unknown>, 'jobTemplate.spec.template.spec') ??
        (setting(manifest as Record<string, unknown>, 'kind') === 'Pod' ? spec : undefined);
      if (!isMap(podSpec)) continue;
      // Native sidecars are init containers with restartPolicy: Always.
      const containers = [
        ...((podSpec.initContainers ?? []) as Container[]),
        ...((podSpec.containers ?? []) as Container[]),
      ];
      for (const container of containers) {
        if (!/opentelemetry-collector|otelcol/.test(container.image ?? '')) continue;
        pods.push({ file, collector: container, others: containers.filter((c) => c !== container) });
      }
    }
  }
  return pods;
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry) ? [path] : [];
  });
}
