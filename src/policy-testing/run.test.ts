import { describe, expect, it } from 'vitest';
import { type ExplainedPolicy, explainDecision } from '../decisions/explain';
import { type CompiledPolicy, compilePolicy } from '../governance/policy';
import { policyCoverage } from './coverage';
import { runSuite } from './run';
import { type PolicyTestSuite, readTestsFile } from './tests-file';

function policy(document: Record<string, unknown>): CompiledPolicy {
  const result = compilePolicy(document);
  if (!result.ok) throw new Error(`policy did not compile: ${JSON.stringify(result.problems)}`);
  return result.policy;
}

function suite(cases: { name: string; request: Record<string, unknown>; expect: Record<string, unknown> }[]) {
  const result = readTestsFile({ cases });
  if (!result.ok) throw new Error(`tests file invalid: ${JSON.stringify(result.problems)}`);
  return result.suite;
}

const clinic = policy({
  mode: 'strict',
  compliance_frameworks: ['HIPAA', 'HITECH'],
  terms: [
    { id: 'actor:nurse', type: 'actor', name: 'nurse' },
    { id: 'actor:bot', type: 'actor', name: 'bot' },
    { id: 'action:view', type: 'action', name: 'view' },
    { id: 'action:export', type: 'action', name: 'export' },
    { id: 'data:chart', type: 'data_class', name: 'chart', sensitivity: 'high' },
    { id: 'data:phi', type: 'data_class', name: 'phi', sensitivity: 'critical' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:nurse', action: 'action:view', object: 'data:chart', condition: 'on_shift' },
    { type: 'forbids', subject: 'actor:bot', action: 'action:view', object: 'data:phi', justification: 'No PHI' },
    { type: 'requires', action: 'action:export', condition: 'context.approved == true', object: 'data:chart' },
    { type: 'permits', subject: 'actor:nurse', action: 'action:export' },
  ],
  constraints: [
    { name: 'night', condition: 'context.hour >= 22', action: 'escalate' },
    { name: 'log', condition: 'request.action == "view"', action: 'annotate', obligation: 'log_access' },
  ],
});
const ref: ExplainedPolicy = { source: 'file', version: null, hash: 'f'.repeat(64) };

const request = (more: Record<string, unknown> = {}) => ({
  actor: 'nurse',
  proposed_action: 'view',
  tool: 'ehr',
  user_intent: 'check a chart',
  ...more,
});

const nurseViewsChart = {
  name: 'a nurse on shift views a chart',
  request: request({ data_classes: ['chart'], context: { on_shift: true } }),
  expect: {},
};
const botViewsPhi = { name: 'a bot views PHI', request: request({ actor: 'bot', data_classes: ['phi'] }), expect: {} };

describe('runSuite', () => {
  it('passes a case whose outcome has every field it expects, and keeps its explanation', () => {
    const tests = suite([
      {
        ...nurseViewsChart,
        expect: {
          allowed: true,
          decision: 'permit',
          reason_code: 'permitted',
          risk_level: 'high',
          obligations: ['log_access'],
          matched_relations: ['permits:actor:nurse:action:view:data:chart'],
        },
      },
    ]);
    const [result] = runSuite(clinic, ref, tests);
    expect(result).toMatchObject({ name: nurseViewsChart.name, passed: true, mismatches: [] });
    expect(result?.explanation).toEqual(explainDecision(clinic, tests.cases[0]!.request, ref));
  });

  it('names each field that differs, with what was expected and what the decision had', () => {
    const [result] = runSuite(
      clinic,
      ref,
      suite([
        {
          ...botViewsPhi,
          expect: { allowed: false, decision: 'escalate', reason: 'Denied: something else', violations: ['HIPAA'] },
        },
      ]),
    );
    expect(result?.passed).toBe(false);
    expect(result?.mismatches).toEqual([
      { field: 'decision', expected: 'escalate', actual: 'deny' },
      { field: 'reason', expected: 'Denied: something else', actual: 'Denied: No PHI' },
      { field: 'violations', expected: ['HIPAA'], actual: ['HIPAA', 'HITECH'] },
    ]);
  });

  it('compares violations, obligations and matched relations as sets: order and repetition do not matter', () => {
    const [result] = runSuite(
      clinic,
      ref,
      suite([
        {
          ...botViewsPhi,
          expect: {
            violations: ['HITECH', 'HIPAA', 'HITECH'],
            matched_relations: ['forbids:actor:bot:action:view:data:phi'],
          },
        },
        { ...nurseViewsChart, name: 'no obligation', expect: { obligations: [] } },
      ]),
    );
    expect(result?.passed).toBe(true);
  });

  it('checks only the fields a case names', () => {
    const results = runSuite(clinic, ref, suite([{ ...botViewsPhi, expect: { allowed: false } }]));
    expect(results.map((r) => r.passed)).toEqual([true]);
  });

  it('runs the cases in the order of the file', () => {
    const results = runSuite(
      clinic,
      ref,
      suite([
        { ...botViewsPhi, expect: { allowed: true } },
        { ...nurseViewsChart, expect: { allowed: true } },
      ]),
    );
    expect(results.map((r) => [r.name, r.passed])).toEqual([
      [botViewsPhi.name, false],
      [nurseViewsChart.name, true],
    ]);
  });
});

describe('policyCoverage', () => {
  const coverage = (tests: PolicyTestSuite, at?: string) => policyCoverage(clinic, runSuite(clinic, ref, tests), at);
  const only = (...cases: { name: string; request: Record<string, unknown> }[]) =>
    suite(cases.map((c) => ({ ...c, expect: { allowed: true } })));

  it('lists the relations no case exercised and the constraints no case fired, with pointers', () => {
    expect(coverage(only(nurseViewsChart))).toEqual({
      relations: {
        total: 4,
        exercised: 1,
        missed: [
          { id: 'forbids:actor:bot:action:view:data:phi', pointer: '/relations/1' },
          { id: 'requires:*:action:export:data:chart', pointer: '/relations/2' },
          { id: 'permits:actor:nurse:action:export', pointer: '/relations/3' },
        ],
      },
      constraints: { total: 2, fired: 1, missed: [{ name: 'night', pointer: '/constraints/0' }] },
    });
  });

  it('does not count a relation on a data class as exercised by a request that names other data or none', () => {
    const noData = { name: 'no data', request: request({ context: { on_shift: true } }) };
    const botNoPhi = { name: 'bot, no PHI', request: request({ actor: 'bot', data_classes: ['chart'] }) };
    const missed = coverage(only(noData, botNoPhi)).relations.missed.map((r) => r.pointer);
    expect(missed).toContain('/relations/0');
    expect(missed).toContain('/relations/1');
  });

  it('counts a relation whose conditions failed: they were evaluated against the case', () => {
    const offShift = { name: 'off shift', request: request({ data_classes: ['chart'] }) };
    expect(coverage(only(offShift)).relations.missed.map((r) => r.pointer)).not.toContain('/relations/0');
  });

  it('counts a requirement of any actor, met or not, once a case touches its object', () => {
    const exportChart = { name: 'export', request: request({ proposed_action: 'export', data_classes: ['chart'] }) };
    const result = coverage(only(exportChart, botViewsPhi));
    expect(result.relations.missed).toEqual([
      { id: 'permits:actor:nurse:action:view:data:chart', pointer: '/relations/0' },
    ]);
  });

  it('points into the wrapper when the policy file wraps the policy', () => {
    const result = coverage(only(nurseViewsChart), '/policy');
    expect(result.constraints.missed).toEqual([{ name: 'night', pointer: '/policy/constraints/0' }]);
  });
});
