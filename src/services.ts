import { type AuditQueries, createAuditQueries } from './audit/queries';
import { type ApiKeyStore, createApiKeyStore } from './auth/api-keys';
import { createPasswordHasher, type PasswordHasher } from './auth/password';
import { createSessionStore, type SessionSettings, type SessionStore } from './auth/sessions';
import { createSignIn, type LoginThrottle, type SignIn } from './auth/sign-in';
import { createUserStore, type UserStore } from './auth/users';
import type { ConnectionState, Db } from './db/client';
import { ping } from './db/sql';
import { createDecisionService, type DecisionService } from './decisions/service';
import type { FlagName, FlagSetting } from './flags/definitions';
import { createFlagStore, type FlagStore } from './flags/store';
import { createHealthChecker, type HealthChecker } from './health/checker';
import { createHealthChecks, type RuntimeProbes } from './health/checks';
import { type Lifecycle, servingLifecycle } from './health/lifecycle';
import { createLedgerAuditor, type LedgerAuditor } from './ledger/auditor';
import type { PublicKey, Sha256Hex, SigningKey } from './ledger/crypto';
import { createLedger, type Ledger, type LedgerOptions } from './ledger/store';
import { createPolicyStore, type PolicyStore } from './policies/store';
import { createRateLimits, type RateLimitSettings, type RateLimits } from './rate-limit';
import type { Logger } from './telemetry/logger';
import type { Telemetry } from './telemetry/telemetry';

/** What handlers reach through the context: interfaces, so tests and runtimes swap implementations. */
export interface Services {
  logger: Logger;
  telemetry: Telemetry;
  ledger: Ledger;
  policies: PolicyStore;
  decisions: DecisionService;
  apiKeys: ApiKeyStore;
  users: UserStore;
  sessions: SessionStore;
  signIn: SignIn;
  audit: AuditQueries;
  auditor: LedgerAuditor;
  flags: FlagStore;
  rateLimits: RateLimits;
  lifecycle: Lifecycle;
  health: HealthChecker;
  /** A cheap round trip to the database. */
  pingDatabase(): Promise<void>;
}

export interface ServiceDeps {
  db: Db;
  signingKey: SigningKey;
  trustedKeys?: PublicKey[];
  /** The runtime's fastest synchronous SHA-256, for ledger entry hashes. */
  sha256?: Sha256Hex;
  /** The runtime's fastest Ed25519 signature with signingKey (Node: synchronous), for checkpoints. */
  signBytes?: LedgerOptions['signBytes'];
  /** The ledger's checkpoint origin (LEXECON_LOG_ORIGIN); default `lexecon/<key id>`. */
  logOrigin?: string;
  telemetry: Telemetry;
  logger: Logger;
  policyRefreshMs: number;
  /** This instance's name in leases and health output; default a random one. */
  instanceId?: string;
  lifecycle?: Lifecycle;
  probes?: RuntimeProbes;
  databaseState?: () => Promise<ConnectionState>;
  health?: { timeoutMs: number; cacheMs: number; maxEventLoopLagMs: number };
  verification?: { incrementalEveryMs: number; fullEveryMs: number };
  /** Password hashing (Node passes its native scrypt); tests pass cheap parameters. */
  passwords?: PasswordHasher;
  sessions?: SessionSettings;
  loginThrottle?: LoginThrottle;
  /** Limiter sizes and store; default DEFAULT_RATE_LIMITS (in-process). */
  rateLimits?: RateLimitSettings;
  requireMfaForAdmin?: boolean;
  /** The clock sessions and TOTP read; tests move it. */
  now?: () => number;
  /** Feature flag defaults from configuration and how often to re-read the database's settings. */
  flags?: { defaults: Partial<Record<FlagName, FlagSetting>>; refreshMs: number };
}

/** Wires the domain services over one database; every runtime entry and every test builds them here. */
export function createServices(deps: ServiceDeps): Services {
  const { db, telemetry, logger } = deps;
  const instanceId = deps.instanceId ?? `instance-${crypto.randomUUID().slice(0, 8)}`;
  const ledger = createLedger({
    db,
    signingKey: deps.signingKey,
    trustedKeys: deps.trustedKeys,
    sha256: deps.sha256,
    signBytes: deps.signBytes,
    logOrigin: deps.logOrigin,
    telemetry,
    logger,
    instanceId,
  });
  const policies = createPolicyStore({ db, ledger, telemetry, logger, refreshMs: deps.policyRefreshMs });
  const apiKeys = createApiKeyStore({ db, ledger, telemetry, sha256: deps.sha256, now: deps.now });
  const users = createUserStore({
    db,
    ledger,
    telemetry,
    passwords: deps.passwords ?? createPasswordHasher(),
    now: deps.now,
  });
  const sessions = createSessionStore({ db, telemetry, settings: deps.sessions, sha256: deps.sha256, now: deps.now });
  telemetry.observeSessions(() => sessions.countActive());
  const rateLimits = createRateLimits({ db, logger, settings: deps.rateLimits, now: deps.now });
  const signIn = createSignIn({
    users,
    sessions,
    ledger,
    telemetry,
    throttle: deps.loginThrottle ?? rateLimits.loginThrottle,
    requireMfaForAdmin: deps.requireMfaForAdmin ?? false,
  });
  const lifecycle = deps.lifecycle ?? servingLifecycle();
  const auditor = createLedgerAuditor({
    db,
    ledger,
    logger,
    telemetry,
    instanceId,
    incrementalEveryMs: deps.verification?.incrementalEveryMs ?? 60_000,
    fullEveryMs: deps.verification?.fullEveryMs ?? 3_600_000,
  });
  const pingDatabase = () => ping(db);
  const healthSettings = deps.health ?? { timeoutMs: 1_000, cacheMs: 1_000, maxEventLoopLagMs: 2_000 };
  const health = createHealthChecker(
    createHealthChecks({
      lifecycle,
      pingDatabase,
      databaseState: deps.databaseState ?? (async () => ({ active: 0, idle: 0 })),
      policies,
      ledger,
      auditor,
      caches: [apiKeys.cache, policies.cache, sessions.cache],
      probes: deps.probes ?? {},
      maxEventLoopLagMs: healthSettings.maxEventLoopLagMs,
      // Half the check's budget: the other half reads the head and the verification results.
      writeProbeWaitMs: healthSettings.timeoutMs / 2,
    }),
    { timeoutMs: healthSettings.timeoutMs, cacheMs: healthSettings.cacheMs },
  );
  return {
    logger,
    telemetry,
    ledger,
    policies,
    decisions: createDecisionService({ ledger, policies, telemetry }),
    apiKeys,
    users,
    sessions,
    signIn,
    audit: createAuditQueries(db, ledger),
    auditor,
    flags: createFlagStore({
      db,
      ledger,
      telemetry,
      logger,
      defaults: deps.flags?.defaults,
      refreshMs: deps.flags?.refreshMs,
    }),
    rateLimits,
    lifecycle,
    health,
    pingDatabase,
  };
}
