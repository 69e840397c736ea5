import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { runSuite } from '../policy-testing/run';
import { readTestsFile } from '../policy-testing/tests-file';
import { evaluate } from './evaluate';
import { type CompiledPolicy, compilePolicy } from './policy';

const directory = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
const files = readdirSync(directory).filter((name) => name.endsWith('.json') && !name.endsWith('.tests.json'));

function read(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${directory}${file}`, 'utf8')) as Record<string, unknown>;
}

function load(file: string): CompiledPolicy {
  const result = compilePolicy(read(file));
  if (!result.ok) throw new Error(`${file}: ${JSON.stringify(result.problems)}`);
  return result.policy;
}

describe('examples/policies', () => {
  it('holds the four example policies', () => {
    expect(files.sort()).toEqual([
      'enterprise_general_policy.json',
      'financial_services_policy.json',
      'gdpr_compliance_policy.json',
      'hipaa_healthcare_policy.json',
    ]);
  });

  it.each(files)('%s has a tests file beside it', (file) => {
    expect(existsSync(`${directory}${testsFileOf(file)}`)).toBe(true);
  });

  it.each(files)('%s compiles with no problems', (file) => {
    expect(compilePolicy(read(file))).toMatchObject({ ok: true });
  });

  it.each(files)('%s names every term with the word a caller sends and rates every data class', (file) => {
    const terms = read(file).terms as { id: string; type: string; name: string; sensitivity?: string }[];
    for (const term of terms) {
      expect(term.name).toBe(term.id.slice(term.id.indexOf(':') + 1));
      if (term.type === 'data_class') expect(term.sensitivity).toMatch(/^(low|medium|high|critical)$/);
    }
  });

  it.each(files)('%s keeps its description, metadata and audit requirements', (file) => {
    const document = read(file);
    expect(document).toHaveProperty('description');
    expect(document).toHaveProperty('metadata');
    expect(document).toHaveProperty('audit_requirements');
    expect(document.version).toBe('1.0.0');
  });
});

/**
 * Every case of the tests file beside each example, one test per case, named by its sentence: the
 * examples keep meaning what they say. `lexecon policy test` runs the same files (tests/policy-cli.test.ts).
 */
describe.each(files)('%s, as its tests file says', (file) => {
  const policy = load(file);
  const tests = readTestsFile(read(testsFileOf(file)));
  if (!tests.ok) throw new Error(`${testsFileOf(file)}: ${JSON.stringify(tests.problems)}`);
  const results = runSuite(policy, { source: 'file', version: null, hash: null }, tests.suite);

  it.each(results.map((result) => [result.name, result] as const))('%s', (_name, result) => {
    expect(result.mismatches).toEqual([]);
  });
});

// The worked examples in docs/policy-language.md quote these modes, frameworks and severities,
// which a tests file does not pin (it names the frameworks violated, not their severity).
describe('the worked examples in docs/policy-language.md', () => {
  const base = { tool: 'agent', user_intent: '', risk_level: 1, context: {} };
  it.each([
    [
      'hipaa_healthcare_policy.json',
      'paranoid',
      { actor: 'ai_clinical_assistant', proposed_action: 'view_phi', data_classes: ['phi'] },
      ['HIPAA:critical', 'HITECH:critical'],
    ],
    [
      'enterprise_general_policy.json',
      'strict',
      { actor: 'ai_assistant', proposed_action: 'read_file', data_classes: ['company_confidential'] },
      ['SOC 2:high', 'ISO 27001:high'],
    ],
    [
      'financial_services_policy.json',
      'strict',
      {
        actor: 'ai_fraud_detector',
        proposed_action: 'access_pci_cardholder_data',
        data_classes: ['pci_cardholder_data'],
        context: { business_need_documented: true },
      },
      ['PCI-DSS:critical'],
    ],
    [
      'gdpr_compliance_policy.json',
      'strict',
      { actor: 'ai_model', proposed_action: 'read', data_classes: ['public', 'personal_data'] },
      ['GDPR:high'],
    ],
  ] as const)('%s is %s and its prohibition is a %j violation', (file, mode, request, violations) => {
    const policy = load(file);
    expect(policy.mode).toBe(mode);
    const result = evaluate(policy, { ...base, ...request, data_classes: [...request.data_classes] });
    expect(result.violations.map((v) => `${v.type}:${v.severity}`)).toEqual(violations);
  });
});

function testsFileOf(file: string): string {
  return file.replace(/\.json$/, '.tests.json');
}
