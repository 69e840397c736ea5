import type { Context } from 'hono';
import type { AuditQueries } from './audit/queries';
import type { ApiKeyStore } from './auth/api-keys';
import type { Principal } from './auth/permissions';
import type { SessionStore } from './auth/sessions';
import type { SignIn } from './auth/sign-in';
import type { UserStore } from './auth/users';
import type { DecisionService } from './decisions/service';
import type { ErrorCode } from './errors';
import type { FlagStore } from './flags/store';
import type { HealthChecker } from './health/checker';
import type { Lifecycle } from './health/lifecycle';
import type { LedgerAuditor } from './ledger/auditor';
import type { Ledger } from './ledger/store';
import type { PolicyStore } from './policies/store';
import type { RateLimits } from './rate-limit';
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

export interface AppSettings {
  serviceName: string;
  version: string;
  maxBodyBytes: number;
  /** LEXECON_MAX_DECISION_BYTES for POST /api/decide and /api/decide/verify (default DEFAULT_MAX_DECISION_BYTES). */
  maxDecisionBytes?: number;
  /** When set, GET /metrics requires `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Path prefixes left out of the HTTP metrics; default /metrics and /health. */
  metricsExclude?: readonly string[];
  /** Path prefixes never traced; default /metrics and /health. */
  tracingExclude?: readonly string[];
  /** The caller's address for rate limits and the audit trail (runtime-specific; see src/rate-limit). */
  clientIp?: (c: Context<AppEnv>) => string;
  /** Exact origins answered with CORS headers; none by default. */
  corsAllowedOrigins?: readonly string[];
}

/** Renders the Prometheus text exposition of everything recorded so far. */
export interface MetricsRenderer {
  render(): Promise<string>;
}

export interface AppEnv {
  Variables: {
    requestId: string;
    services: Services;
    settings: AppSettings;
    principal: Principal;
    /** Route templates the app serves, for bounded `endpoint` labels. */
    routes: ReadonlySet<string>;
    /** The error code answered, if any (for the server span's error.type). */
    errorCode: ErrorCode;
  };
}
