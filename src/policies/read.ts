import { type CompiledPolicy, type PolicyProblem, readPolicyDocument } from '../governance/policy';
import { canonicalJson } from '../ledger/canonical-json';
import { sha256Hex } from '../ledger/crypto';
import type { PolicyFacts } from './schemas';

export type ReadPolicy =
  | { ok: false; problems: PolicyProblem[] }
  | { ok: true; document: unknown; policy: CompiledPolicy; facts: PolicyFacts };

/**
 * A document as a load reads it: unwrapped and compiled, then hashed and described as the load
 * records it. Validation and explanation read a document through it too, so none of them can
 * disagree with a load about a problem or a hash.
 */
export async function readPolicy(input: unknown): Promise<ReadPolicy> {
  const { document, compiled } = readPolicyDocument(input);
  if (!compiled.ok) return { ok: false, problems: compiled.problems };
  const policy = compiled.policy;
  const facts: PolicyFacts = {
    name: policy.name,
    policy_version: policy.version,
    mode: policy.mode,
    hash: await sha256Hex(canonicalJson(document)),
    terms_count: policy.terms.size,
    relations_count: policy.relations.length,
    constraints_count: policy.constraints.length,
    compliance_frameworks: policy.frameworks,
  };
  return { ok: true, document, policy, facts };
}
