import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  alertmanagerConfigWithWebhook,
  type Daemon,
  freePort,
  prometheusConfig,
  RULES_FILE,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
} from './monitoring-stack';

/**
 * `npm run stack`: Lexecon, Prometheus (the project's rules, unshortened) and Alertmanager (the
 * project's routing, every receiver printing here instead of paging) on loopback, from the Debian
 * packages. Ctrl-C stops everything and removes the temporary data.
 */
const root = join(import.meta.dirname, '..');

async function portOr(preferred: number): Promise<number> {
  const server = createServer();
  const free = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(preferred, '127.0.0.1', () => resolve(true));
  });
  if (free) await new Promise((resolve) => server.close(resolve));
  return free ? preferred : freePort();
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'lexecon-stack-'));
  const adminKey = `stack-admin-${randomBytes(24).toString('hex')}`;
  const [appPort, prometheusPort, alertmanagerPort] = [await portOr(8000), await portOr(9090), await portOr(9093)];
  const daemons: Daemon[] = [];
  let stopping = false;

  const webhook = await startWebhookReceiver((message) => {
    for (const alert of message.alerts) {
      const { alertname, severity } = alert.labels;
      console.log(
        `[${message.receiver}] ${alert.status.toUpperCase()} ${alertname} (${severity}): ${alert.annotations.summary}`,
      );
    }
  });

  const app = spawn(process.execPath, ['--import', 'tsx', 'src/node.ts'], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      HOST: '127.0.0.1',
      PORT: String(appPort),
      LEXECON_DATA_DIR: join(dir, 'data'),
      LEXECON_BOOTSTRAP_ADMIN_KEY: adminKey,
      LEXECON_POLICY_FILE: join(root, 'examples/policies/enterprise_general_policy.json'),
      // Quicker than production so a tampered ledger shows up within a minute.
      LEXECON_LEDGER_VERIFY_INTERVAL_MS: '5000',
      LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS: '60000',
    },
  });

  async function stop(code: number) {
    if (stopping) return;
    stopping = true;
    console.log('\nstopping…');
    if (app.exitCode === null) app.kill('SIGTERM');
    await Promise.all(daemons.map((d) => d.stop()));
    await webhook.close();
    if (app.exitCode === null) await new Promise((resolve) => app.once('exit', resolve));
    rmSync(dir, { recursive: true, force: true });
    process.exit(code);
  }
  process.on('SIGINT', () => void stop(0));
  process.on('SIGTERM', () => void stop(0));
  app.once('exit', (code) => {
    if (!stopping) {
      console.error(`lexecon exited with ${code}`);
      void stop(1);
    }
  });

  try {
    const configFile = join(dir, 'prometheus.yml');
    writeFileSync(
      configFile,
      prometheusConfig({
        appTarget: `127.0.0.1:${appPort}`,
        alertmanagerTarget: `127.0.0.1:${alertmanagerPort}`,
        rulesFile: RULES_FILE,
        interval: '5s',
      }),
    );
    const alertmanagerFile = join(dir, 'alertmanager.yml');
    writeFileSync(alertmanagerFile, alertmanagerConfigWithWebhook(webhook.url));
    mkdirSync(join(dir, 'prometheus'));
    mkdirSync(join(dir, 'alertmanager'));
    daemons.push(
      await startAlertmanager({
        configFile: alertmanagerFile,
        dataDir: join(dir, 'alertmanager'),
        port: alertmanagerPort,
      }),
    );
    daemons.push(await startPrometheus({ configFile, dataDir: join(dir, 'prometheus'), port: prometheusPort }));
  } catch (err) {
    console.error((err as Error).message);
    await stop(1);
    return;
  }

  console.log(`
Lexecon       http://127.0.0.1:${appPort}   (admin key: ${adminKey})
Prometheus    http://127.0.0.1:${prometheusPort}/alerts
Alertmanager  http://127.0.0.1:${alertmanagerPort}
Alerts are printed here as Alertmanager routes them. Ctrl-C stops everything.`);
}

void main();
