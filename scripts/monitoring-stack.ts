import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';

/**
 * Prometheus and Alertmanager from the Debian packages, on loopback, with the project's own rules
 * and routing: shared by the end-to-end test (tests/monitoring-e2e.test.ts) and `npm run stack`.
 */
const root = join(import.meta.dirname, '..');
export const RULES_FILE = join(root, 'k8s/monitoring/rules/lexecon-alerts.yaml');
export const ALERTMANAGER_FILE = join(root, 'k8s/monitoring/alertmanager/alertmanager.yaml');

/** Debian names the Alertmanager binary prometheus-alertmanager; upstream tarballs, alertmanager. */
const BINARIES = {
  prometheus: ['prometheus'],
  promtool: ['promtool'],
  alertmanager: ['prometheus-alertmanager', 'alertmanager'],
  amtool: ['amtool'],
} as const;

/** The path of a tool, or an error saying which Debian package provides it. */
export function binary(tool: keyof typeof BINARIES): string {
  for (const name of BINARIES[tool]) {
    try {
      return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    } catch {}
  }
  const pkg = tool === 'alertmanager' || tool === 'amtool' ? 'prometheus-alertmanager' : 'prometheus';
  throw new Error(`${BINARIES[tool].join(' or ')} not found: install the Debian package ${pkg} (.ci/run does)`);
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export interface PrometheusConfigOptions {
  appTarget: string;
  alertmanagerTarget: string;
  rulesFile: string;
  /** As a Prometheus duration, e.g. "1s" for tests, "5s" for the local stack. */
  interval: string;
}

/** The k8s scrape job's settings (job lexecon, /metrics, honor_labels) on a static target. */
export function prometheusConfig(options: PrometheusConfigOptions): string {
  return stringify({
    global: { scrape_interval: options.interval, evaluation_interval: options.interval },
    rule_files: [options.rulesFile],
    alerting: { alertmanagers: [{ static_configs: [{ targets: [options.alertmanagerTarget] }] }] },
    scrape_configs: [
      {
        job_name: 'lexecon',
        metrics_path: '/metrics',
        honor_labels: true,
        static_configs: [{ targets: [options.appTarget] }],
      },
    ],
  });
}

interface RuleFile {
  groups: { name: string; rules: { alert?: string; record?: string; expr: string; for?: string }[] }[];
}

/** The rules with every `for:` capped at `maxFor`; expressions untouched. */
export function rulesWithShortFor(rules: string, maxFor: string): string {
  const parsed = parse(rules) as RuleFile;
  for (const group of parsed.groups) for (const rule of group.rules) if (rule.for) rule.for = maxFor;
  return stringify(parsed, { lineWidth: 0 });
}

interface Route {
  receiver?: string;
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: Route[];
}

/**
 * The real routing tree and inhibitions with every receiver replaced by a webhook to `url`
 * (Alertmanager puts the receiver's name in the payload). `fast` shortens the grouping timers.
 */
export function alertmanagerConfigWithWebhook(url: string, options: { fast?: boolean } = {}): string {
  const config = parse(readFileSync(ALERTMANAGER_FILE, 'utf8')) as {
    global?: Record<string, unknown>;
    route: Route;
    receivers: { name: string }[];
  };
  config.receivers = config.receivers.map(({ name }) => ({ name, webhook_configs: [{ url, send_resolved: true }] }));
  if (options.fast) {
    const shorten = (route: Route) => {
      if (route.group_wait) route.group_wait = '1s';
      if (route.group_interval) route.group_interval = '1s';
      for (const child of route.routes ?? []) shorten(child);
    };
    shorten(config.route);
  }
  return stringify(config);
}

export interface Daemon {
  readonly url: string;
  readonly child: ChildProcess;
  readonly output: string[];
  stop(): Promise<void>;
}

/** Starts a daemon and resolves once `readyPath` answers 200 (rejects if it exits first). */
async function startDaemon(command: string, args: string[], url: string, readyPath: string): Promise<Daemon> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const output: string[] = [];
  for (const stream of [child.stdout, child.stderr])
    stream?.on('data', (chunk: Buffer) => output.push(chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const daemon: Daemon = {
    url,
    child,
    output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${command} exited with ${child.exitCode}:\n${output.join('')}`);
    const ready = await fetch(`${url}${readyPath}`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return daemon;
    if (Date.now() > deadline) {
      await daemon.stop();
      throw new Error(`${command} did not become ready:\n${output.join('')}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export async function startPrometheus(options: { configFile: string; dataDir: string; port: number }) {
  return startDaemon(
    binary('prometheus'),
    [
      `--config.file=${options.configFile}`,
      `--storage.tsdb.path=${options.dataDir}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      '--web.enable-lifecycle',
      '--log.level=warn',
    ],
    `http://127.0.0.1:${options.port}`,
    '/-/ready',
  );
}

export async function startAlertmanager(options: { configFile: string; dataDir: string; port: number }) {
  return startDaemon(
    binary('alertmanager'),
    [
      `--config.file=${options.configFile}`,
      `--storage.path=${options.dataDir}`,
      `--web.listen-address=127.0.0.1:${options.port}`,
      // One instance: no gossip cluster (and no port 9094 to collide with).
      '--cluster.listen-address=',
      '--log.level=warn',
    ],
    `http://127.0.0.1:${options.port}`,
    '/-/ready',
  );
}

export interface WebhookAlert {
  status: 'firing' | 'resolved';
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

export interface WebhookMessage {
  receiver: string;
  status: string;
  alerts: WebhookAlert[];
}

/** An HTTP server receiving Alertmanager's webhook posts, keeping every message. */
export async function startWebhookReceiver(onMessage: (message: WebhookMessage) => void = () => {}) {
  const messages: WebhookMessage[] = [];
  const server: Server = createHttpServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      try {
        const message = JSON.parse(body) as WebhookMessage;
        messages.push(message);
        onMessage(message);
      } catch {}
      res.writeHead(200).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/alerts`,
    messages,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Alertmanager keeps its connections alive; close() alone would wait for them.
        server.closeAllConnections();
      }),
  };
}

/** A PromQL instant query; the result vector. */
export async function query(prometheusUrl: string, promql: string) {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as {
    status: string;
    error?: string;
    data: { result: { metric: Record<string, string>; value: [number, string] }[] };
  };
  if (body.status !== 'success') throw new Error(`query failed: ${promql}: ${body.error}`);
  return body.data.result;
}
