import { createHashingCapacity } from './auth/hashing-capacity';
import { createPasswordHasher, DEFAULT_SCRYPT, type PasswordHasher, type Scrypt } from './auth/password';
import { DEFAULT_SESSION_SETTINGS } from './auth/sessions';
import type { Config } from './config';
import type { TracingSettings } from './health/checks';
import { type ClientIpOptions, createClientIpResolver } from './http/client-ip';
import type { AppSettings } from './http/context';
import type { LoadResult } from './policies/store';
import type { RateLimitSettings } from './rate-limit';
import type { ServiceDeps, Services } from './services';

/**
 * One startup path for both runtime entries (src/node.ts, src/worker.ts): the services'
 * dependencies, the app's settings and the bootstrap sequence, from parsed configuration plus what
 * each runtime provides. Web-standard APIs only: the Workers bundle includes this module.
 */

const SERVICE_NAME = 'lexecon';

/** Stops startup with a message for the operator: Node prints it and exits, the edge logs it and answers "starting". */
export class StartupError extends Error {
  override readonly name = 'StartupError';
}

/** What the runtime provides under the services; the rest comes from configuration. */
export type RuntimeServiceDeps = Pick<
  ServiceDeps,
  | 'db'
  | 'signingKey'
  | 'trustedKeys'
  | 'sha256'
  | 'signBytes'
  | 'telemetry'
  | 'logger'
  | 'instanceId'
  | 'lifecycle'
  | 'probes'
  | 'databaseState'
> & {
  /** One per process or isolate (see passwordHasherFor). */
  passwords: PasswordHasher;
  /** Overrides RATE_LIMIT_STORE where the runtime allows only one store. */
  rateLimitStore?: RateLimitSettings['store'];
};

export function serviceDeps(config: Config, runtime: RuntimeServiceDeps): ServiceDeps {
  const { rateLimitStore = config.rateLimit.store, ...provided } = runtime;
  return {
    ...provided,
    logOrigin: config.signing.logOrigin,
    policyRefreshMs: config.policy.refreshMs,
    health: config.health,
    verification: config.verification,
    flags: config.flags,
    sessions: { ...DEFAULT_SESSION_SETTINGS, idleMs: config.auth.sessionIdleMs, maxAgeMs: config.auth.sessionMaxAgeMs },
    requireMfaForAdmin: config.auth.requireMfaForAdmin,
    rateLimits: { ...config.rateLimit, store: rateLimitStore },
    probes: { ...provided.probes, tracing: tracingSettings(config.telemetry) },
  };
}

/** What /health shows of tracing: whether it is on and how requests are sampled. */
function tracingSettings(telemetry: Config['telemetry']): TracingSettings {
  return {
    enabled: !telemetry.disabled && telemetry.tracing.enabled,
    sample_rate: telemetry.tracing.sampleRate,
    sample_rates: telemetry.tracing.routeSampleRates,
  };
}

/**
 * The password hasher over the runtime's scrypt. Make one per process or isolate: its bounded
 * hashing capacity (LEXECON_PASSWORD_HASHES_IN_FLIGHT, LEXECON_PASSWORD_HASH_QUEUE) holds only
 * across the requests that share it.
 */
export function passwordHasherFor(config: Config, scrypt: Scrypt): PasswordHasher {
  return createPasswordHasher(scrypt, DEFAULT_SCRYPT, createHashingCapacity(config.auth.passwordHashing));
}

export interface RuntimeSettings {
  version: string;
  /** How the runtime learns the caller's address, and which proxies' X-Forwarded-For it believes. */
  clientIp: ClientIpOptions;
}

export function appSettings(config: Config, runtime: RuntimeSettings): AppSettings {
  return {
    serviceName: SERVICE_NAME,
    version: runtime.version,
    maxBodyBytes: config.http.maxBodyBytes,
    maxDecisionBytes: config.http.maxDecisionBytes,
    metricsToken: config.telemetry.metricsToken,
    metricsExclude: config.telemetry.metricsExclude,
    tracingExclude: config.telemetry.tracing.exclude,
    corsAllowedOrigins: config.http.corsAllowedOrigins,
    clientIp: createClientIpResolver(runtime.clientIp),
  };
}

/** What a runtime says while it bootstraps; each keeps its own lines. */
export interface BootstrapReport {
  /** The message startup stops with when the ledger head was signed by a key this instance does not trust. */
  untrustedHead(head: { index: number; signer: string }): string;
  adminKey?(result: Awaited<ReturnType<Services['apiKeys']['ensureBootstrapAdmin']>>): void;
  adminUser?(username: string, result: Awaited<ReturnType<Services['users']['ensureBootstrapAdmin']>>): void;
  policyApplied?(result: LoadResult): void;
}

export interface BootstrapOptions {
  config: Config;
  services: Services;
  /** A policy document the runtime was given (LEXECON_POLICY_FILE, LEXECON_POLICY) and its name in the ledger. */
  policy?: { document: unknown; loadedBy: string };
  report: BootstrapReport;
}

/**
 * What holds before the app serves: the ledger has its genesis and a head this instance can verify,
 * the bootstrap admin key and user exist, the given policy document is loaded and a policy is
 * active. Every step is idempotent, so instances sharing a database (and an isolate's concurrent
 * first requests) may each run it.
 */
export async function bootstrap({ config, services, policy, report }: BootstrapOptions): Promise<void> {
  await services.ledger.ensureGenesis();
  const untrusted = await services.ledger.untrustedHead();
  if (untrusted) throw new StartupError(report.untrustedHead(untrusted));
  // Each step's result is taken first: `report.x?.(await step())` would skip the step when x is absent.
  if (config.bootstrapAdminKey) {
    const result = await services.apiKeys.ensureBootstrapAdmin(config.bootstrapAdminKey);
    report.adminKey?.(result);
  }
  const admin = config.auth.bootstrapAdmin;
  if (admin) {
    const result = await services.users.ensureBootstrapAdmin(admin.username, admin.password);
    report.adminUser?.(admin.username, result);
  }
  if (policy) {
    const result = await services.policies.load(policy.document, policy.loadedBy);
    report.policyApplied?.(result);
  }
  await services.policies.active();
  services.lifecycle.completed('policy');
}
