import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { PrometheusRule, ServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1';
import { Deployment, StatefulSet } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { NetworkPolicy } from 'kubernetes-models/networking.k8s.io/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { ClusterRole, ClusterRoleBinding } from 'kubernetes-models/rbac.authorization.k8s.io/v1';
import { ConfigMap, Namespace, Service, ServiceAccount } from 'kubernetes-models/v1';
import { afterAll, describe, expect, it } from 'vitest';
import { parse, parseAllDocuments, stringify } from 'yaml';
import {
  DEFAULT_RUNBOOK_BASE_URL,
  PROMETHEUS_RULE_FILE,
  renderPrometheusRule,
} from '../scripts/generate-prometheus-rule';
import { binary } from '../scripts/monitoring-stack';
import { CONFIG_VARIABLES, parseConfig } from '../src/config';
import { createApp } from '../src/http/app';
import { noopTelemetry } from '../src/telemetry/telemetry';
import {
  find,
  type Layer,
  loadLayer,
  type Manifest,
  ofKind,
  readDocuments,
  root,
  yamlFiles,
} from './support/manifests';

/**
 * The manifests checked offline: they parse, validate against the Kubernetes schemas and the
 * Prometheus Operator's CRD schemas (kubernetes-models), and agree with each other and with the app
 * (probe paths, environment variables, shutdown timing), the collector configuration and the alert
 * rules. The two layers apply as they are; the operator's objects are an optional component.
 */
const service = loadLayer('k8s/lexecon');
const monitoring = loadLayer('k8s/monitoring');
const OPERATOR_COMPONENT = 'components/prometheus-operator';
/** k8s/lexecon with the Prometheus Operator component enabled, as k8s/lexecon/kustomization.yaml shows. */
const withOperator = loadLayer('k8s/lexecon', { components: [OPERATOR_COMPONENT] });
const component = loadLayer(`k8s/lexecon/${OPERATOR_COMPONENT}`);
const read = (file: string) => readFileSync(join(root, file), 'utf8');
const readme = read('k8s/README.md');
const rulesText = read('k8s/monitoring/rules/lexecon-alerts.yaml');

// biome-ignore lint/suspicious/noExplicitAny: kubernetes-models constructors take their own types
const MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'v1/Namespace': Namespace,
  'v1/ServiceAccount': ServiceAccount,
  'v1/ConfigMap': ConfigMap,
  'v1/Service': Service,
  'apps/v1/Deployment': Deployment,
  'apps/v1/StatefulSet': StatefulSet,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget,
  'autoscaling/v2/HorizontalPodAutoscaler': HorizontalPodAutoscaler,
  'networking.k8s.io/v1/NetworkPolicy': NetworkPolicy,
  'rbac.authorization.k8s.io/v1/ClusterRole': ClusterRole,
  'rbac.authorization.k8s.io/v1/ClusterRoleBinding': ClusterRoleBinding,
};
/** The Prometheus Operator's kinds, validated against its CRDs' OpenAPI schemas (@kubernetes-models/prometheus-operator). */
// biome-ignore lint/suspicious/noExplicitAny: kubernetes-models constructors take their own types
const CRD_MODELS: Record<string, new (data: any) => { validate(): void }> = {
  'monitoring.coreos.com/v1/ServiceMonitor': ServiceMonitor,
  'monitoring.coreos.com/v1/PrometheusRule': PrometheusRule,
};
/** The directory of the kustomization a file belongs to: the nearest one above it. */
const kustomizationOf = (file: string): string => {
  let dir = dirname(file);
  while (dir !== '.' && !existsSync(join(root, dir, 'kustomization.yaml'))) dir = dirname(dir);
  return dir;
};
const typeOf = (manifest: Manifest) => `${manifest.apiVersion}/${manifest.kind}`;
const validate = (manifest: Manifest) => {
  const Model = MODELS[typeOf(manifest)] ?? CRD_MODELS[typeOf(manifest)];
  if (!Model) throw new Error(`no schema for ${typeOf(manifest)}`);
  new Model(manifest).validate();
};

const LAYERS = [withOperator, monitoring];
const allObjects = LAYERS.flatMap((layer) => layer.objects);
// biome-ignore lint/suspicious/noExplicitAny: pod specs are read field by field
type Container = Record<string, any>;
const podSpec = (workload: Manifest) => workload.spec.template.spec;
const containersOf = (workload: Manifest): Container[] => [
  ...(podSpec(workload).initContainers ?? []),
  ...podSpec(workload).containers,
];
const workloads = allObjects.filter((o) => ['Deployment', 'StatefulSet'].includes(o.manifest.kind));
const matches = (selector: Record<string, string>, labels: Record<string, string>) =>
  Object.entries(selector).every(([key, value]) => labels[key] === value);

const deployment = find(service, 'Deployment', 'lexecon');
const app = podSpec(deployment).containers.find((c: Container) => c.name === 'lexecon') as Container;
const appConfig = find(service, 'ConfigMap', 'lexecon-config');

describe('k8s/ YAML', () => {
  it.each(yamlFiles(join(root, 'k8s')).map((file) => relative(root, file)))('%s parses', (file) => {
    expect(readDocuments(join(root, file)).length).toBeGreaterThan(0);
  });

  it.each([service, component, monitoring].map((layer) => [layer.dir, layer] as const))(
    '%s applies every manifest in its directory (none forgotten)',
    (_dir, layer) => {
      const listed = new Set(layer.objects.map((o) => o.file));
      const generated = new Set(
        (layer.kustomization.configMapGenerator ?? []).flatMap((g) => g.files.map((f) => f.split('=').at(-1)!)),
      );
      const files = yamlFiles(join(root, layer.dir))
        .map((file) => relative(root, file))
        .filter((file) => kustomizationOf(file) === layer.dir)
        .filter((file) => !file.endsWith('kustomization.yaml'))
        .filter((file) => !generated.has(relative(layer.dir, file)));
      expect(files.length).toBeGreaterThan(0);
      for (const file of files) expect([...listed], file).toContain(file);
    },
  );
});

describe.each(
  allObjects.map((o) => [`${o.file}: ${o.manifest.kind} ${o.manifest.metadata.name}`, o.manifest] as const),
)('%s', (_name, manifest) => {
  it('validates against the schema of its kind (Kubernetes, or the CRD that defines it)', () => {
    expect(() => validate(manifest)).not.toThrow();
  });
});

describe('schema validation', () => {
  it('rejects a Deployment with a wrongly typed field, so a passing manifest means something', () => {
    const broken = structuredClone(deployment);
    broken.spec.template.spec.containers[0].ports[0].containerPort = 'eight thousand';
    expect(() => validate(broken)).toThrow();
  });

  it('rejects a ServiceMonitor and a PrometheusRule that break their CRD schemas', () => {
    const monitor = structuredClone(find(withOperator, 'ServiceMonitor', 'lexecon'));
    monitor.spec.endpoints[0].honorLabels = 'yes';
    expect(() => validate(monitor)).toThrow();
    const rule = structuredClone(find(withOperator, 'PrometheusRule', 'lexecon'));
    delete rule.spec.groups[0].rules[0].expr;
    expect(() => validate(rule)).toThrow();
  });

  it('has no schema for a kind it does not know, so no kind goes unchecked', () => {
    expect(() => validate({ apiVersion: 'example.com/v1', kind: 'Unknown', metadata: { name: 'x' } })).toThrow(
      'no schema for example.com/v1/Unknown',
    );
  });
});

describe('the two layers together, as they are', () => {
  it('apply only kinds built into Kubernetes: no CRD is needed, so no Prometheus Operator', () => {
    for (const { file, manifest } of [...service.objects, ...monitoring.objects]) {
      expect(MODELS[typeOf(manifest)], `${file}: ${typeOf(manifest)}`).toBeDefined();
    }
  });

  it('leave the operator objects to a component that adds exactly them, in namespace lexecon', () => {
    expect(component.kustomization.kind).toBe('Component');
    const added = withOperator.objects.filter((o) => !service.objects.some((s) => s.file === o.file));
    expect(added.map((o) => typeOf(o.manifest)).sort()).toEqual(Object.keys(CRD_MODELS).sort());
    for (const { manifest } of added) expect(manifest.metadata.namespace).toBe('lexecon');
    // k8s/lexecon/kustomization.yaml shows the two lines that enable it.
    expect(read('k8s/lexecon/kustomization.yaml')).toContain(`# components:\n#   - ${OPERATOR_COMPONENT}\n`);
  });

  it("let the monitoring layer's Prometheus discover the Lexecon endpoints and reach port http", () => {
    const role = find(monitoring, 'ClusterRole', 'lexecon-prometheus');
    const core = role.rules.find((r: Container) => r.apiGroups.includes(''));
    expect(core.resources).toEqual(expect.arrayContaining(['services', 'endpoints', 'pods']));
    expect(core.verbs).toEqual(['get', 'list', 'watch']);
    const binding = find(monitoring, 'ClusterRoleBinding', 'lexecon-prometheus');
    const prometheus = podSpec(find(monitoring, 'StatefulSet', 'prometheus'));
    expect(binding.subjects).toEqual([
      { kind: 'ServiceAccount', name: prometheus.serviceAccountName, namespace: 'monitoring' },
    ]);
    const [api] = find(service, 'NetworkPolicy', 'lexecon').spec.ingress;
    expect(api.from).toBeUndefined();
    expect(api.ports.map((p: Container) => p.port)).toContain('http');
  });
});

describe('the service layer', () => {
  it('puts every object in namespace lexecon, which it creates', () => {
    expect(find(service, 'Namespace', 'lexecon')).toBeDefined();
    for (const { manifest } of service.objects.filter((o) => o.manifest.kind !== 'Namespace')) {
      expect(manifest.metadata.namespace, manifest.kind).toBe('lexecon');
    }
  });

  it('selects its own pods from the Deployment, Service, PodDisruptionBudget and NetworkPolicy', () => {
    const labels = deployment.spec.template.metadata.labels;
    expect(matches(deployment.spec.selector.matchLabels, labels)).toBe(true);
    expect(matches(find(service, 'Service', 'lexecon').spec.selector, labels)).toBe(true);
    expect(matches(find(service, 'PodDisruptionBudget', 'lexecon').spec.selector.matchLabels, labels)).toBe(true);
    expect(matches(find(service, 'NetworkPolicy', 'lexecon').spec.podSelector.matchLabels, labels)).toBe(true);
    const hpa = find(service, 'HorizontalPodAutoscaler', 'lexecon');
    expect(hpa.spec.scaleTargetRef).toMatchObject({ kind: 'Deployment', name: deployment.metadata.name });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
  });

  it('serves port http (8000) from the Service to the app container', () => {
    const svc = find(service, 'Service', 'lexecon');
    const http = svc.spec.ports.find((p: Container) => p.name === 'http');
    expect(http.port).toBe(8000);
    expect(app.ports).toContainEqual({ name: http.targetPort, containerPort: 8000 });
    const config = parseConfig(appConfig.data);
    expect(config.ok && config.config.http.port).toBe(8000);
  });

  it('has the ServiceMonitor scrape /metrics on the Service port http every 15 s', () => {
    const monitor = find(withOperator, 'ServiceMonitor', 'lexecon');
    const svc = find(service, 'Service', 'lexecon');
    expect(matches(monitor.spec.selector.matchLabels, svc.metadata.labels)).toBe(true);
    expect(monitor.spec.endpoints).toEqual([{ port: 'http', path: '/metrics', interval: '15s', honorLabels: true }]);
    expect(svc.spec.ports.map((p: Container) => p.name)).toContain('http');
  });

  it('probes the app exactly as the spec says, on paths the app serves', () => {
    expect(app.livenessProbe).toEqual({
      httpGet: { path: '/health/live', port: 'http' },
      initialDelaySeconds: 30,
      periodSeconds: 10,
      timeoutSeconds: 5,
      failureThreshold: 3,
    });
    expect(app.readinessProbe).toEqual({
      httpGet: { path: '/health/ready', port: 'http' },
      initialDelaySeconds: 10,
      periodSeconds: 5,
      timeoutSeconds: 3,
      failureThreshold: 2,
    });
    expect(app.startupProbe).toEqual({
      httpGet: { path: '/health/startup', port: 'http' },
      initialDelaySeconds: 0,
      periodSeconds: 10,
      failureThreshold: 30,
    });
    const routes = createApp({
      services: { telemetry: noopTelemetry } as never,
      metrics: { render: async () => '' },
      settings: { serviceName: 'lexecon', version: 'x', maxBodyBytes: 1024 },
    }).routes.filter((r) => r.method === 'GET');
    for (const probe of [app.livenessProbe, app.readinessProbe, app.startupProbe]) {
      expect(
        routes.map((r) => r.path),
        probe.httpGet.path,
      ).toContain(probe.httpGet.path);
    }
    expect(routes.map((r) => r.path)).toContain(find(withOperator, 'ServiceMonitor', 'lexecon').spec.endpoints[0].path);
  });

  it('sets only environment variables the app reads, to values it accepts', () => {
    const names = [...Object.keys(appConfig.data), ...app.env.map((e: Container) => e.name)];
    for (const name of names) expect(CONFIG_VARIABLES, name).toContain(name);
    expect(app.envFrom).toEqual([{ configMapRef: { name: appConfig.metadata.name } }]);
    const env = {
      ...appConfig.data,
      ...Object.fromEntries(app.env.filter((e: Container) => 'value' in e).map((e: Container) => [e.name, e.value])),
      DATABASE_URL: 'postgres://lexecon@postgres:5432/lexecon',
    };
    const parsed = parseConfig(env);
    expect(parsed.ok ? [] : parsed.errors).toEqual([]);
  });

  it('takes every secret from the Secret lexecon-secrets, whose keys k8s/README.md says how to create', () => {
    const refs = app.env
      .filter((e: Container) => e.valueFrom?.secretKeyRef)
      .map((e: Container) => e.valueFrom.secretKeyRef);
    expect(refs.map((r: Container) => r.name)).toEqual(refs.map(() => 'lexecon-secrets'));
    for (const ref of refs) expect(readme).toContain(`--from-literal=${ref.key}=`);
    for (const name of ['DATABASE_URL', 'LEXECON_SIGNING_KEY', 'LEXECON_BOOTSTRAP_ADMIN_KEY']) {
      expect(app.env.find((e: Container) => e.name === name)?.valueFrom?.secretKeyRef, name).toBeDefined();
    }
    // No secret ever sits in the ConfigMap.
    for (const name of Object.keys(appConfig.data)) expect(name).not.toMatch(/KEY|TOKEN|PASSWORD|DATABASE_URL/);
  });

  it('gives the app its shutdown grace period and a little more before Kubernetes kills it', () => {
    const parsed = parseConfig(appConfig.data);
    if (!parsed.ok) throw new Error('invalid ConfigMap');
    const { shutdownGraceMs, shutdownDelayMs } = parsed.config.lifecycle;
    expect(shutdownDelayMs).toBeLessThan(shutdownGraceMs);
    expect(shutdownGraceMs).toBeLessThan(podSpec(deployment).terminationGracePeriodSeconds * 1000);
  });

  it('verifies the whole ledger more often than the integrity alert looks back', () => {
    const parsed = parseConfig(appConfig.data);
    if (!parsed.ok) throw new Error('invalid ConfigMap');
    const window = /lexecon_ledger_integrity_checks_total\{result="failure"\}\[(\d+)m\]/.exec(rulesText);
    expect(window).not.toBeNull();
    expect(parsed.config.verification.fullEveryMs).toBeLessThan(Number(window![1]) * 60_000);
  });

  it('mounts the collector sidecar configuration generated from collector/sidecar.yaml', () => {
    const collector = podSpec(deployment).initContainers[0];
    expect(collector.restartPolicy).toBe('Always');
    const mount = collector.volumeMounts[0];
    const volume = podSpec(deployment).volumes.find((v: Container) => v.name === mount.name);
    const generated = service.configMaps.get(volume.configMap.name);
    expect(generated?.get('sidecar.yaml')).toBe(read('collector/sidecar.yaml'));
    expect(collector.args).toEqual([`--config=${mount.mountPath}/sidecar.yaml`]);
  });

  it('sets memory and CPU alert thresholds at 80 % of the app container limits', () => {
    const memory = Number(/process_resident_memory_bytes\{job="lexecon"\}\) > (\d+)/.exec(rulesText)?.[1]);
    const cpu = Number(/process_cpu_seconds_total\{job="lexecon"\}\[5m\]\)\) > ([\d.]+)/.exec(rulesText)?.[1]);
    expect(app.resources.limits.memory).toBe('512Mi');
    expect(memory / (512 * 1024 * 1024)).toBeCloseTo(0.8, 2);
    expect(app.resources.limits.cpu).toBe('500m');
    expect(cpu / 0.5).toBeCloseTo(0.8, 2);
  });

  it('carries the rules file unchanged in the component PrometheusRule (npm run generate:prometheus-rule)', () => {
    expect(read(relative(root, PROMETHEUS_RULE_FILE))).toBe(renderPrometheusRule(rulesText));
    const rule = find(withOperator, 'PrometheusRule', 'lexecon');
    expect(rule.spec.groups).toEqual((parse(rulesText) as { groups: unknown }).groups);
  });

  it('lets in the API from anywhere and metrics only from the monitoring namespace, on declared ports', () => {
    const policy = find(service, 'NetworkPolicy', 'lexecon');
    const declared = new Set(
      containersOf(deployment).flatMap((c) => (c.ports ?? []).flatMap((p: Container) => [p.name, p.containerPort])),
    );
    for (const rule of policy.spec.ingress) for (const port of rule.ports) expect(declared).toContain(port.port);
    const [api, metrics] = policy.spec.ingress;
    expect(api.from).toBeUndefined();
    expect(metrics.from).toEqual([
      { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } },
    ]);
    // Prometheus scrapes the app's own port; it is open to all, so the monitoring namespace included.
    expect(api.ports.map((p: Container) => p.port)).toContain('http');
  });
});

describe('every workload', () => {
  it.each(workloads.map((w) => [`${w.manifest.kind} ${w.manifest.metadata.name}`, w.manifest] as const))(
    '%s runs unprivileged: non-root, read-only root filesystem, no escalation, no capabilities, limits set',
    (_name, workload) => {
      expect(podSpec(workload).securityContext.runAsNonRoot).toBe(true);
      expect(podSpec(workload).securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
      for (const container of containersOf(workload)) {
        expect(container.securityContext, container.name).toEqual({
          allowPrivilegeEscalation: false,
          readOnlyRootFilesystem: true,
          capabilities: { drop: ['ALL'] },
        });
        expect(container.resources.limits, container.name).toMatchObject({
          cpu: expect.any(String),
          memory: expect.any(String),
        });
        expect(container.image, container.name).not.toMatch(/:latest$/);
      }
    },
  );

  it.each(workloads.map((w) => [`${w.manifest.kind} ${w.manifest.metadata.name}`, w.manifest] as const))(
    '%s mounts only ConfigMaps the layers create and probes ports it declares',
    (_name, workload) => {
      const layer = LAYERS.find((l) => l.objects.some((o) => o.manifest === workload)) as Layer;
      const configMaps = new Set([
        ...layer.configMaps.keys(),
        ...ofKind(layer, 'ConfigMap').map((c) => c.metadata.name),
      ]);
      for (const volume of podSpec(workload).volumes ?? []) {
        if (volume.configMap) expect([...configMaps]).toContain(volume.configMap.name);
      }
      for (const container of containersOf(workload)) {
        const ports = new Set((container.ports ?? []).map((p: Container) => p.name));
        for (const probe of [container.livenessProbe, container.readinessProbe, container.startupProbe]) {
          if (probe?.httpGet) expect([...ports], container.name).toContain(probe.httpGet.port);
        }
        for (const { configMapRef } of container.envFrom ?? []) expect([...configMaps]).toContain(configMapRef.name);
      }
    },
  );
});

describe('the monitoring layer', () => {
  const prometheus = find(monitoring, 'StatefulSet', 'prometheus');
  const prometheusContainer = podSpec(prometheus).containers[0];
  const prometheusConfig = parse(monitoring.configMaps.get('prometheus-config')?.get('prometheus.yml') ?? '');
  const alertmanager = find(monitoring, 'StatefulSet', 'alertmanager');
  const alertmanagerConfig = parse(monitoring.configMaps.get('alertmanager-config')?.get('alertmanager.yml') ?? '');
  const serviceUrl = (name: string) => {
    const svc = find(monitoring, 'Service', name);
    return `${name}.monitoring.svc:${svc.spec.ports[0].port}`;
  };

  it('puts every object in namespace monitoring', () => {
    for (const { manifest } of monitoring.objects.filter(
      (o) => !['Namespace', 'ClusterRole', 'ClusterRoleBinding'].includes(o.manifest.kind),
    )) {
      expect(manifest.metadata.namespace, manifest.kind).toBe('monitoring');
    }
  });

  it("keeps 15 days of metrics, at most 50 GB (the spec's cost section), on a volume that fits them", () => {
    expect(prometheusContainer.args).toEqual(
      expect.arrayContaining(['--storage.tsdb.retention.time=15d', '--storage.tsdb.retention.size=50GB']),
    );
    const storage = prometheus.spec.volumeClaimTemplates[0].spec.resources.requests.storage;
    expect(Number.parseInt(storage, 10)).toBeGreaterThan(50);
  });

  it('scrapes Lexecon as the ServiceMonitor would: Service label, port http, /metrics, 15 s, honoring labels', () => {
    const job = prometheusConfig.scrape_configs.find((j: Container) => j.job_name === 'lexecon');
    const monitor = find(withOperator, 'ServiceMonitor', 'lexecon');
    expect(job).toMatchObject({
      metrics_path: monitor.spec.endpoints[0].path,
      scrape_interval: '15s',
      honor_labels: true,
    });
    expect(job.kubernetes_sd_configs[0].namespaces.names).toEqual([service.kustomization.namespace]);
    const keep = job.relabel_configs.filter((r: Container) => r.action === 'keep');
    expect(keep).toContainEqual({
      source_labels: ['__meta_kubernetes_service_label_app_kubernetes_io_name'],
      regex: monitor.spec.selector.matchLabels['app.kubernetes.io/name'],
      action: 'keep',
    });
    expect(keep).toContainEqual({
      source_labels: ['__meta_kubernetes_endpoint_port_name'],
      regex: 'http',
      action: 'keep',
    });
    // job, namespace and pod labels, which the rules aggregate by and the dashboard filters on.
    const targets = job.relabel_configs.map((r: Container) => r.target_label).filter(Boolean);
    expect(targets).toEqual(expect.arrayContaining(['namespace', 'pod']));
  });

  it('has a configuration promtool accepts, with the rules file it loads', () => {
    // Debian's Prometheus is built without Kubernetes discovery: a static target stands in for it.
    const config = structuredClone(prometheusConfig);
    for (const job of config.scrape_configs) {
      if (!job.kubernetes_sd_configs) continue;
      delete job.kubernetes_sd_configs;
      job.static_configs = [{ targets: ['10.0.0.1:8000'] }];
    }
    config.rule_files = [join(root, 'k8s/monitoring/rules/lexecon-alerts.yaml')];
    const dir = mkdtempSync(join(tmpdir(), 'lexecon-prometheus-'));
    try {
      writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
      const result = spawnSync(binary('promtool'), ['check', 'config', join(dir, 'prometheus.yml')], {
        encoding: 'utf8',
      });
      expect(result.status, result.stdout + result.stderr).toBe(0);
      expect(result.stdout).toContain('SUCCESS: 1 rule files found');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('loads the rules file from where the rules ConfigMap is mounted and sends alerts to the Alertmanager Service', () => {
    const mount = prometheusContainer.volumeMounts.find((m: Container) => m.name === 'rules');
    expect(prometheusConfig.rule_files).toEqual([`${mount.mountPath}/*.yaml`]);
    expect(monitoring.configMaps.get('prometheus-rules')?.get('lexecon-alerts.yaml')).toBe(rulesText);
    expect(prometheusConfig.alerting.alertmanagers[0].static_configs[0].targets).toEqual([serviceUrl('alertmanager')]);
    const config = prometheusContainer.volumeMounts.find((m: Container) => m.name === 'config');
    expect(prometheusContainer.args).toContain(`--config.file=${config.mountPath}/prometheus.yml`);
  });

  it('reads the PagerDuty and Slack keys from files of the mounted Secret alertmanager-keys, documented in k8s/README.md', () => {
    const container = podSpec(alertmanager).containers[0];
    const volume = podSpec(alertmanager).volumes.find((v: Container) => v.secret);
    const mount = container.volumeMounts.find((m: Container) => m.name === volume.name);
    const files = alertmanagerConfig.receivers.flatMap((r: Container) => [
      ...(r.pagerduty_configs ?? []).map((c: Container) => c.routing_key_file),
      ...(r.slack_configs ?? []).map((c: Container) => c.api_url_file),
    ]);
    expect(files).toHaveLength(2);
    const items = volume.secret.items.map((i: Container) => `${mount.mountPath}/${i.path}`);
    expect(items.sort()).toEqual([...files].sort());
    for (const item of volume.secret.items) expect(readme).toContain(`--from-literal=${item.key}=`);
    expect(readme).toContain(`secret generic ${volume.secret.secretName}`);
    expect(JSON.stringify(alertmanagerConfig)).not.toMatch(/hooks\.slack\.com|service_key:|routing_key:/);
  });

  it('points Grafana at the Prometheus and Jaeger Services and loads the dashboard from where it is mounted', () => {
    const layer = loadLayer('grafana');
    const datasources = parse(layer.configMaps.get('grafana-datasources')?.get('datasources.yaml') ?? '').datasources;
    expect(datasources.map((d: Container) => [d.uid, d.url])).toEqual([
      ['prometheus', `http://${serviceUrl('prometheus')}`],
      ['jaeger', `http://${serviceUrl('jaeger-query')}`],
    ]);
    const provider = parse(layer.configMaps.get('grafana-dashboard-providers')?.get('lexecon.yaml') ?? '').providers[0];
    const grafana = podSpec(find(monitoring, 'Deployment', 'grafana'));
    const volume = grafana.volumes.find((v: Container) => v.configMap?.name === 'grafana-dashboards');
    const mount = grafana.containers[0].volumeMounts.find((m: Container) => m.name === volume.name);
    expect(provider.options.path).toBe(mount.mountPath);
    expect(layer.configMaps.get('grafana-dashboards')?.get('lexecon-dashboard.json')).toBe(
      read('grafana/lexecon-dashboard.json'),
    );
    for (const key of ['admin-user', 'admin-password']) expect(readme).toContain(`--from-literal=${key}=`);
  });

  it('runs Jaeger where the collector sidecar sends traces, with the query UI the spec port-forwards', () => {
    const sidecar = parse(read('collector/sidecar.yaml'));
    const endpoint = /:-([^}]+)\}/.exec(sidecar.exporters['otlp_grpc/jaeger'].endpoint)?.[1];
    expect(endpoint).toBe(serviceUrl('jaeger-collector'));
    const collector = find(monitoring, 'Service', 'jaeger-collector');
    const jaeger = podSpec(find(monitoring, 'Deployment', 'jaeger')).containers[0];
    const grpc = collector.spec.ports.find((p: Container) => p.port === 4317);
    expect(jaeger.ports).toContainEqual({ name: grpc.targetPort, containerPort: 4317 });
    expect(find(monitoring, 'Service', 'jaeger-query').spec.ports[0].port).toBe(16686);
    for (const name of ['jaeger-collector', 'jaeger-query']) {
      expect(
        matches(
          find(monitoring, 'Service', name).spec.selector,
          podSpec(find(monitoring, 'Deployment', 'jaeger')) &&
            find(monitoring, 'Deployment', 'jaeger').spec.template.metadata.labels,
        ),
      ).toBe(true);
    }
  });

  it('routes every Service to pods that declare its target port', () => {
    for (const svc of ofKind(monitoring, 'Service')) {
      const workload = workloads.find((w) => matches(svc.spec.selector, w.manifest.spec.template.metadata.labels));
      expect(workload, svc.metadata.name).toBeDefined();
      const ports = containersOf(workload!.manifest).flatMap((c) => (c.ports ?? []).map((p: Container) => p.name));
      for (const port of svc.spec.ports) expect(ports, svc.metadata.name).toContain(port.targetPort);
    }
  });
});

describe('k8s/README.md', () => {
  it.each(['observability.metrics', 'observability.tracing', 'observability.healthChecks'])(
    'maps the Helm values block %s to manifests and variables',
    (key) => {
      expect(readme).toContain(key);
    },
  );

  it('says how to enable the Prometheus Operator component and how to set the runbook base', () => {
    expect(readme).toContain(`components:\n    - ${OPERATOR_COMPONENT}\n`);
    expect(readme).toContain(`k8s/lexecon/${OPERATOR_COMPONENT}/`);
    expect(readme).toContain(DEFAULT_RUNBOOK_BASE_URL);
    expect(readme).toMatch(/RUNBOOK_BASE_URL='https:\/\/[^']+' \\\n {2}npm run generate:prometheus-rule/);
  });
});

/** What `kubectl kustomize` (kustomize itself) builds: kind, namespace and name of each object, generated names without their hash. */
function built(dir: string): string[] {
  const out = execFileSync(kubectl!, ['kustomize', dir], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  return parseAllDocuments(out).map((document) => {
    const manifest = document.toJS() as Manifest;
    expect(() => validate(manifest), `${manifest.kind} ${manifest.metadata.name}`).not.toThrow();
    const name =
      manifest.kind === 'ConfigMap' ? manifest.metadata.name.replace(/-[a-z0-9]{10}$/, '') : manifest.metadata.name;
    return `${manifest.kind} ${manifest.metadata.namespace ?? '-'}/${name}`;
  });
}
const readBy = (layer: Layer) => [
  ...layer.objects.map(
    ({ manifest }) => `${manifest.kind} ${manifest.metadata.namespace ?? '-'}/${manifest.metadata.name}`,
  ),
  ...[...layer.configMaps.keys()].map((name) => `ConfigMap ${layer.kustomization.namespace}/${name}`),
];
const kubectl = (() => {
  try {
    return execFileSync('sh', ['-c', 'command -v kubectl'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
})();

// Debian's kubectl (kubernetes-client, 1.20) embeds a kustomize too old for components and
// `labels`, so no install step can provide it: where kubectl is missing, the reading above stands alone.
describe.skipIf(!kubectl)(`kubectl kustomize${kubectl ? '' : ' (skipped: kubectl is not installed)'}`, () => {
  let copy = '';
  afterAll(() => copy && rmSync(copy, { recursive: true, force: true }));

  it.each([service, monitoring].map((layer) => [layer.dir, layer] as const))(
    'builds %s into the objects the tests read, each valid against its schema',
    (dir, layer) => {
      expect(built(join(root, dir)).sort()).toEqual(readBy(layer).sort());
    },
  );

  it('builds k8s/lexecon with the Prometheus Operator component enabled as its kustomization.yaml shows', () => {
    copy = mkdtempSync(join(tmpdir(), 'lexecon-k8s-'));
    for (const dir of ['k8s', 'collector', 'grafana']) cpSync(join(root, dir), join(copy, dir), { recursive: true });
    const file = join(copy, 'k8s/lexecon/kustomization.yaml');
    writeFileSync(file, read('k8s/lexecon/kustomization.yaml').replace(/^# (components:\n)# ( {2}- .+\n)/m, '$1$2'));
    expect(built(join(copy, 'k8s/lexecon')).sort()).toEqual(readBy(withOperator).sort());
  });
});
