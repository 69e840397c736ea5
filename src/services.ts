import { createAuditQueries } from './audit/queries';
import { createApiKeyStore } from './auth/api-keys';
import type { Services } from './context';
import { type Db, ping } from './db/client';
import { createDecisionService } from './decisions/service';
import type { PublicKey, Sha256Hex, SigningKey } from './ledger/crypto';
import { createLedger } from './ledger/store';
import { createPolicyStore } from './policies/store';
import type { Logger } from './telemetry/logger';
import type { Telemetry } from './telemetry/telemetry';

export interface ServiceDeps {
  db: Db;
  signingKey: SigningKey;
  trustedKeys?: PublicKey[];
  /** The runtime's fastest synchronous SHA-256, for ledger entry hashes. */
  sha256?: Sha256Hex;
  telemetry: Telemetry;
  logger: Logger;
  policyRefreshMs: number;
}

/** Wires the domain services over one database; every runtime entry and every test builds them here. */
export function createServices(deps: ServiceDeps): Services {
  const { db, telemetry, logger } = deps;
  const ledger = createLedger({
    db,
    signingKey: deps.signingKey,
    trustedKeys: deps.trustedKeys,
    sha256: deps.sha256,
    telemetry,
  });
  const policies = createPolicyStore({ db, ledger, telemetry, logger, refreshMs: deps.policyRefreshMs });
  return {
    logger,
    telemetry,
    ledger,
    policies,
    decisions: createDecisionService({ ledger, policies, telemetry }),
    apiKeys: createApiKeyStore({ db, ledger, telemetry }),
    audit: createAuditQueries(db, ledger),
    pingDatabase: () => ping(db),
  };
}
