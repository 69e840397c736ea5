import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  alertmanagerConfigWithWebhook,
  type Daemon,
  freePort,
  prometheusConfig,
  query,
  RULES_FILE,
  rulesWithShortFor,
  startAlertmanager,
  startPrometheus,
  startWebhookReceiver,
  type WebhookAlert,
} from '../scripts/monitoring-stack';
import { openPglite } from '../src/db/client';
import { decisionRequest } from './support/app';
import {
  ADMIN_KEY,
  cleanUpProcesses,
  type LexeconProcess,
  policyFile,
  seededDataDir,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { CONDITION_TIMEOUT_MS, PROCESS_SUITE } from './support/wait';

/**
 * The real service, a real Prometheus scraping it every second with the project's rules (only
 * `for:` shortened) and a real Alertmanager with the project's routing, posting to a webhook here.
 * Shows that every dashboard panel has data, that a tampered ledger pages (critical, PagerDuty
 * route) and that an authentication brute force warns (Slack route).
 */
vi.setConfig(PROCESS_SUITE);
const root = join(import.meta.dirname, '..');
const dashboard = JSON.parse(readFileSync(join(root, 'grafana/lexecon-dashboard.json'), 'utf8')) as {
  panels: { title: string; datasource: { type: string }; targets: { expr?: string }[] }[];
};

let app: LexeconProcess;
let appUrl: string;
let appEnv: Record<string, string>;
let dataDir: string;
let prometheus: Daemon;
let alertmanager: Daemon;
let webhook: Awaited<ReturnType<typeof startWebhookReceiver>>;

async function startApp() {
  app = await spawnLexecon(appEnv);
  await app.listening;
  await waitFor('the service to be ready', async () => ((await fetch(`${appUrl}/health/ready`)).ok ? true : undefined));
}

beforeAll(async () => {
  const dir = tempDir('lexecon-e2e-');
  dataDir = await seededDataDir();
  const appPort = await freePort();
  appUrl = `http://127.0.0.1:${appPort}`;
  appEnv = {
    PORT: String(appPort),
    LEXECON_DATA_DIR: dataDir,
    LEXECON_POLICY_FILE: policyFile(),
    // Verification every second and the whole chain every 10 s (the minimum), so tampering shows fast.
    LEXECON_LEDGER_VERIFY_INTERVAL_MS: '1000',
    LEXECON_LEDGER_FULL_VERIFY_INTERVAL_MS: '10000',
    LEXECON_SHUTDOWN_DELAY_MS: '0',
  };
  webhook = await startWebhookReceiver();
  const [prometheusPort, alertmanagerPort] = [await freePort(), await freePort()];

  const rules = join(dir, 'lexecon-alerts.yaml');
  writeFileSync(rules, rulesWithShortFor(readFileSync(RULES_FILE, 'utf8'), '1s'));
  const prometheusFile = join(dir, 'prometheus.yml');
  writeFileSync(
    prometheusFile,
    prometheusConfig({
      appTarget: `127.0.0.1:${appPort}`,
      alertmanagerTarget: `127.0.0.1:${alertmanagerPort}`,
      rulesFile: rules,
      interval: '1s',
    }),
  );
  const alertmanagerFile = join(dir, 'alertmanager.yml');
  writeFileSync(alertmanagerFile, alertmanagerConfigWithWebhook(webhook.url, { fast: true }));
  mkdirSync(join(dir, 'prometheus'));
  mkdirSync(join(dir, 'alertmanager'));

  await startApp();
  alertmanager = await startAlertmanager({
    configFile: alertmanagerFile,
    dataDir: join(dir, 'alertmanager'),
    port: alertmanagerPort,
  });
  prometheus = await startPrometheus({
    configFile: prometheusFile,
    dataDir: join(dir, 'prometheus'),
    port: prometheusPort,
  });
});

afterAll(async () => {
  await Promise.all([prometheus?.stop(), alertmanager?.stop(), webhook?.close()]);
  cleanUpProcesses();
});

const call = (method: string, path: string, key: string | null = ADMIN_KEY, body?: unknown) =>
  fetch(`${appUrl}${path}`, {
    method,
    headers: {
      ...(key ? { authorization: `Bearer ${key}` } : {}),
      ...(body ? { 'content-type': 'application/json' } : {}),
    },
    body: body ? JSON.stringify(body) : undefined,
  }).then(async (res) => ({ status: res.status, body: await res.text() }));

/** Runs `count` calls of `task`, `concurrency` at a time. */
async function burst<T>(count: number, concurrency: number, task: (i: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const i = next++;
        results[i] = await task(i);
      }
    }),
  );
  return results;
}

async function firingAlert(name: string) {
  const res = await fetch(`${prometheus.url}/api/v1/alerts`);
  const body = (await res.json()) as { data: { alerts: { labels: Record<string, string>; state: string }[] } };
  return body.data.alerts.find((a) => a.labels.alertname === name && a.state === 'firing');
}

function delivered(name: string): { receiver: string; alert: WebhookAlert } | undefined {
  for (const message of webhook.messages) {
    const alert = message.alerts.find((a) => a.labels.alertname === name && a.status === 'firing');
    if (alert) return { receiver: message.receiver, alert };
  }
  return undefined;
}

/** A panel query as Grafana sends it with "All" selected. */
const asGrafanaSends = (expr: string) =>
  expr.replaceAll('$__rate_interval', '30s').replaceAll('$namespace', '.*').replaceAll('$pod', '.*');

describe('monitoring end to end', () => {
  it('has data for every dashboard panel once the service has served some traffic', async () => {
    await burst(40, 8, (i) =>
      call(
        'POST',
        '/api/decide',
        ADMIN_KEY,
        decisionRequest(i % 4 === 0 ? { actor: 'model', proposed_action: 'write' } : {}),
      ),
    );
    // A steady trickle while the panels are read, so every rate window holds some of it.
    let trafficOn = true;
    const traffic = (async () => {
      while (trafficOn) {
        await Promise.all([
          call('POST', '/api/decide', ADMIN_KEY, decisionRequest()),
          call('GET', '/api/ledger/verify'),
          call('GET', '/no/such/route'),
          call('GET', '/api/ledger/entries', 'lx_not_a_real_key_0000000000000000'),
        ]);
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })();

    const panels = dashboard.panels.filter((p) => p.datasource.type === 'prometheus');
    for (const panel of panels) {
      for (const target of panel.targets) {
        const expr = asGrafanaSends(target.expr ?? '');
        const result = await waitFor(
          `data for "${panel.title}": ${expr}`,
          async () => {
            const series = await query(prometheus.url, expr);
            return series.length > 0 ? series : undefined;
          },
          CONDITION_TIMEOUT_MS,
          500,
        );
        expect(result.length, panel.title).toBeGreaterThan(0);
      }
    }
    trafficOn = false;
    await traffic;
  });

  it('fires LexeconHighAuthFailureRate on a burst of bad credentials and routes it to Slack as a warning', async () => {
    // 3,600 failures are above 10 per second averaged over the rule's 5-minute window.
    const statuses = await burst(3600, 24, (i) =>
      call('GET', '/api/ledger/entries', `lx_brute_force_${i.toString().padStart(24, '0')}`).then((r) => r.status),
    );
    expect(new Set(statuses)).toEqual(new Set([401]));

    // The password login (POST /api/auth/login) counts into the same alert: 401 per bad
    // password, 429 once its limiter blocks the source.
    const login = await burst(50, 5, () =>
      call('POST', '/api/auth/login', null, { username: 'admin', password: 'wrong-password' }).then((r) => r.status),
    );
    if (!login.includes(404)) {
      expect(login.every((status) => status === 401 || status === 429)).toBe(true);
      expect(login).toContain(401);
      await waitFor('password failures in Prometheus', async () => {
        const [series] = await query(
          prometheus.url,
          'sum(lexecon_auth_failures_total{method="password", reason="invalid_credentials"}) > 0',
        );
        return series;
      });
    }

    await waitFor(
      'LexeconHighAuthFailureRate to fire',
      () => firingAlert('LexeconHighAuthFailureRate'),
      CONDITION_TIMEOUT_MS,
      500,
    );
    const { receiver, alert } = await waitFor(
      'LexeconHighAuthFailureRate at the webhook',
      async () => delivered('LexeconHighAuthFailureRate'),
      CONDITION_TIMEOUT_MS,
      250,
    );
    expect(receiver).toBe('slack-notifications');
    expect(alert.labels).toMatchObject({ severity: 'warning', component: 'auth', job: 'lexecon' });
    expect(alert.annotations.runbook_url).toMatch(/^https:\/\/.+\/docs\/runbooks\.md#lexeconhighauthfailurerate$/);
  });

  it('pages PagerDuty with LexeconLedgerVerificationFailure when a ledger row is altered', async () => {
    expect(await firingAlert('LexeconLedgerVerificationFailure')).toBeUndefined();
    const [before] = await query(prometheus.url, 'sum(lexecon_ledger_integrity_checks_total{result="success"})');
    expect(Number(before?.value[1])).toBeGreaterThan(0);

    // An attacker with the database files: the service is stopped (PGlite is in-process), a
    // decision's recorded reason is rewritten with the append-only triggers switched off, the
    // service restarts.
    app.child.kill('SIGTERM');
    await app.exited;
    const database = await openPglite({ dataDir: join(dataDir, 'pglite') });
    await database.client.exec(
      `alter table ledger_entries disable trigger user;
       update ledger_entries set data = jsonb_set(data, '{reason}', '"approved by an attacker"')
         where seq = (select max(seq) from ledger_entries where event_type = 'decision');
       alter table ledger_entries enable trigger user;`,
    );
    await database.close();
    await startApp();
    // Nobody calls GET /api/ledger/verify: the background auditor finds it on its own.
    await waitFor('the auditor to log the failure', async () =>
      app.logs().some((line) => line.message === 'ledger verification failed') ? true : undefined,
    );

    await waitFor(
      'LexeconLedgerVerificationFailure to fire',
      () => firingAlert('LexeconLedgerVerificationFailure'),
      CONDITION_TIMEOUT_MS,
      500,
    );
    const { receiver, alert } = await waitFor(
      'LexeconLedgerVerificationFailure at the webhook',
      async () => delivered('LexeconLedgerVerificationFailure'),
      CONDITION_TIMEOUT_MS,
      250,
    );
    expect(receiver).toBe('pagerduty');
    expect(alert.labels).toMatchObject({ severity: 'critical', component: 'ledger', job: 'lexecon' });
    expect(alert.annotations.summary).toBe('Ledger integrity compromised');
    // And the service names the altered entry to whoever looks.
    const verification = JSON.parse((await call('GET', '/api/ledger/verify')).body);
    expect(verification).toMatchObject({ valid: false, first_invalid: { reason: 'hash_mismatch' } });
  });
});
