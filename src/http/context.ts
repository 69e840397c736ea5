import type { Context } from 'hono';
import type { Principal } from '../auth/permissions';
import type { ErrorCode } from '../errors';
import type { Services } from '../services';

export interface AppSettings {
  serviceName: string;
  version: string;
  maxBodyBytes: number;
  /**
   * LEXECON_MAX_DECISION_BYTES for POST /api/decide and /api/decide/verify, and the request in a
   * POST /api/decide/explain (default DEFAULT_MAX_DECISION_BYTES).
   */
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

export interface AppEnv {
  Variables: {
    requestId: string;
    services: Services;
    settings: AppSettings;
    principal: Principal;
    /** Route templates the app serves, for bounded `endpoint` labels. */
    routes: ReadonlySet<string>;
    /** The JSON request body as read and parsed once by jsonBody, for the route's schema to validate. */
    body: unknown;
    /** The error code answered, if any (for the server span's error.type). */
    errorCode: ErrorCode;
  };
}
