/** The ledger check every decide measurement ends with: the chain is valid and no acknowledged decision is missing. */
import type { Result } from 'autocannon';
import type { LedgerCheck } from './report';

export interface ChainVerification {
  valid: boolean;
  entries_checked: number;
}

export async function verifyLedger(baseUrl: string, adminKey: string): Promise<ChainVerification> {
  const res = await fetch(`${baseUrl}/api/ledger/verify`, { headers: { authorization: `Bearer ${adminKey}` } });
  if (!res.ok) throw new Error(`GET /api/ledger/verify answered ${res.status}: ${await res.text()}`);
  return (await res.json()) as ChainVerification;
}

/**
 * The ledger must have grown by at least the decisions answered 2xx and at most the requests sent minus
 * non-2xx answers (a request in flight when the client stopped may be recorded without being counted).
 */
export function checkLedger(runs: Result[], verification: ChainVerification, entriesBefore: number): LedgerCheck {
  const grew = verification.entries_checked - entriesBefore;
  const acknowledged = runs.reduce((total, r) => total + r['2xx'], 0);
  const atMost = runs.reduce((total, r) => total + (r.requests.sent ?? r['2xx']) - r.non2xx, 0);
  const ok = verification.valid && grew >= acknowledged && grew <= atMost;
  return { valid: verification.valid, grew, acknowledged, atMost, ok };
}
