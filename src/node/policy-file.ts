import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describeProblem, readPolicyDocument } from '../governance/policy';
import { StartupError } from '../startup';

/**
 * LEXECON_POLICY_FILE's document, checked before anything slow (opening the database) happens, with
 * the name the ledger records it under.
 */
export function readPolicyFile(file: string): { document: unknown; loadedBy: string } {
  let document: unknown;
  try {
    document = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new StartupError(`LEXECON_POLICY_FILE: cannot read ${file} as JSON: ${(err as Error).message}`);
  }
  const { compiled } = readPolicyDocument(document);
  if (!compiled.ok) {
    const problems = compiled.problems.map((p) => `  ${describeProblem(p)}`).join('\n');
    throw new StartupError(`LEXECON_POLICY_FILE: ${file} is not a valid policy:\n${problems}`);
  }
  return { document, loadedBy: `policy-file:${basename(file)}` };
}
