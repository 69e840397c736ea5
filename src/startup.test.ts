import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { samplePolicy, TEST_PASSWORDS } from '../tests/support/app';
import { backends, type TestDatabase } from '../tests/support/databases';
import { type Config, parseConfig } from './config';
import { createLifecycle } from './health/lifecycle';
import { generateSigningKey, type SigningKey } from './ledger/crypto';
import { createServices, type Services } from './services';
import { type BootstrapReport, bootstrap, StartupError, serviceDeps } from './startup';
import { silentLogger } from './telemetry/logger';
import { noopTelemetry } from './telemetry/telemetry';

const ADMIN_KEY = 'lxk_bootstrap-admin-key-for-the-startup-test';

function configOf(env: Record<string, string>): Config {
  const parsed = parseConfig(env);
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.config;
}

const config = configOf({
  LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
  LEXECON_BOOTSTRAP_ADMIN_USER: 'first-admin',
  LEXECON_BOOTSTRAP_ADMIN_PASSWORD: 'a long and unguessable passphrase',
});

const silent: BootstrapReport = { untrustedHead: (head) => `untrusted ${head.index}: ${head.signer}` };

describe.each(backends())('the bootstrap both runtimes run before serving, on $name', (backend) => {
  let tdb: TestDatabase;
  beforeEach(async () => {
    tdb = await backend.open();
  });
  afterEach(() => tdb.close());

  function servicesSigningWith(signingKey: SigningKey): Services {
    return createServices(
      serviceDeps(config, {
        db: tdb.database.db,
        signingKey,
        telemetry: noopTelemetry,
        logger: silentLogger,
        lifecycle: createLifecycle(),
        passwords: TEST_PASSWORDS,
      }),
    );
  }

  it('creates the admin key and user and applies the policy even when the runtime reports none of it', async () => {
    const services = servicesSigningWith(await generateSigningKey());
    const policy = { document: samplePolicy, loadedBy: 'policy-binding:LEXECON_POLICY' };
    await bootstrap({ config, services, policy, report: silent });

    expect(await services.apiKeys.authenticate(ADMIN_KEY)).toMatchObject({ role: 'admin' });
    expect((await services.users.list()).map((u) => u.username)).toEqual(['first-admin']);
    expect((await services.policies.active())?.summary).toMatchObject({ name: 'Sample', loaded_by: policy.loadedBy });
    expect(services.lifecycle.steps.policy).toBe(true);
  });

  it('reports each step, and finds everything in place when it runs again', async () => {
    const signingKey = await generateSigningKey();
    const policy = { document: samplePolicy, loadedBy: 'policy-file:policy.json' };
    const steps: unknown[] = [];
    const report: BootstrapReport = {
      ...silent,
      adminKey: (result) => steps.push(['key', result]),
      adminUser: (username, result) => steps.push(['user', username, result]),
      policyApplied: (result) => steps.push(['policy', result.status]),
    };
    await bootstrap({ config, services: servicesSigningWith(signingKey), policy, report });
    await bootstrap({ config, services: servicesSigningWith(signingKey), policy, report });

    expect(steps).toEqual([
      ['key', 'created'],
      ['user', 'first-admin', 'created'],
      ['policy', 'loaded'],
      ['key', 'exists'],
      ['user', 'first-admin', 'users_exist'],
      ['policy', 'unchanged'],
    ]);
  });

  it('stops with the runtime’s message, before any bootstrap write, when a key it does not trust signed the ledger head', async () => {
    const other = servicesSigningWith(await generateSigningKey());
    await other.ledger.ensureGenesis();
    const services = servicesSigningWith(await generateSigningKey());

    // The genesis entry has no signature of its own: the other key's checkpoint signs it.
    const started = bootstrap({ config, services, report: silent });
    await expect(started).rejects.toThrow(StartupError);
    await expect(started).rejects.toThrow(`untrusted 0: the checkpoint key named "${other.ledger.logOrigin}"`);
    expect(await services.apiKeys.authenticate(ADMIN_KEY)).toBeUndefined();
    expect(services.lifecycle.steps.policy).toBe(false);
  });
});
