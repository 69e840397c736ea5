import type { AuditQueries } from './audit/queries';
import type { ApiKeyStore } from './auth/api-keys';
import type { Principal } from './auth/permissions';
import type { DecisionService } from './decisions/service';
import type { ErrorCode } from './errors';
import type { HealthChecker } from './health/checker';
import type { Lifecycle } from './health/lifecycle';
import type { LedgerAuditor } from './ledger/auditor';
import type { Ledger } from './ledger/store';
import type { PolicyStore } from './policies/store';
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
  audit: AuditQueries;
  auditor: LedgerAuditor;
  lifecycle: Lifecycle;
  health: HealthChecker;
  /** A cheap round trip to the database. */
  pingDatabase(): Promise<void>;
}

export interface AppSettings {
  serviceName: string;
  version: string;
  maxBodyBytes: number;
  /** When set, GET /metrics requires `Authorization: Bearer <token>`. */
  metricsToken?: string;
  /** Path prefixes left out of the HTTP metrics; default /metrics and /health. */
  metricsExclude?: readonly string[];
  /** Path prefixes never traced; default /metrics and /health. */
  tracingExclude?: readonly string[];
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
