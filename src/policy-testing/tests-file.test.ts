import { describe, expect, it } from 'vitest';
import type { PolicyProblem } from '../governance/policy';
import { readTestsFile, TESTS_FILE_LIMITS } from './tests-file';

const request = {
  actor: 'nurse',
  proposed_action: 'view',
  tool: 'ehr',
  user_intent: 'check a chart',
};

const aCase = (name: string, expect: Record<string, unknown> = { allowed: true }) => ({ name, request, expect });

function problems(value: unknown): PolicyProblem[] {
  const result = readTestsFile(value);
  if (result.ok) throw new Error('the tests file was read but should not have been');
  return result.problems;
}

describe('readTestsFile', () => {
  it('reads each request as POST /api/decide does, defaults included', () => {
    const result = readTestsFile({ cases: [aCase('nurse views', { decision: 'permit', violations: [] })] });
    expect(result).toEqual({
      ok: true,
      suite: {
        cases: [
          {
            name: 'nurse views',
            request: {
              ...request,
              data_classes: [],
              risk_level: 1,
              requested_output_type: 'tool_action',
              context: {},
            },
            expect: { decision: 'permit', violations: [] },
          },
        ],
      },
    });
  });

  it('reports a misspelt expectation at the field itself, naming the fields allowed', () => {
    expect(problems({ cases: [aCase('a', { allow: true })] })).toEqual([
      {
        pointer: '/cases/0/expect/allow',
        message:
          'unknown field "allow"; allowed: allowed, decision, reason_code, reason, risk_level, violations, obligations, matched_relations',
      },
    ]);
  });

  it('reports an unknown key in a case, in a request and at the top, each with its pointer', () => {
    const found = problems({
      cases: [
        { ...aCase('a'), expected: {} },
        { ...aCase('b'), request: { ...request, actr: 'x' } },
      ],
      version: 2,
    });
    expect(found.map((p) => p.pointer).sort()).toEqual(['/cases/0/expected', '/cases/1/request/actr', '/version']);
    expect(found.find((p) => p.pointer === '/version')?.message).toBe('unknown field "version"; allowed: cases');
  });

  it('refuses an expectation that checks nothing', () => {
    expect(problems({ cases: [aCase('a', {})] })).toEqual([
      {
        pointer: '/cases/0/expect',
        message: expect.stringContaining('expect needs at least one of allowed, decision'),
      },
    ]);
    const alongOthers = problems({ cases: [{ ...aCase('a'), request: {} }, aCase('b', {})] });
    expect(alongOthers.map((p) => p.pointer)).toContain('/cases/1/expect');
  });

  it('checks the values expected: a decision, a reason code and a risk level must be ones an outcome can have', () => {
    const found = problems({
      cases: [aCase('a', { decision: 'allow', reason_code: 'denied', risk_level: 'severe', violations: 'HIPAA' })],
    });
    expect(found.map((p) => p.pointer)).toEqual([
      '/cases/0/expect/decision',
      '/cases/0/expect/reason_code',
      '/cases/0/expect/risk_level',
      '/cases/0/expect/violations',
    ]);
  });

  it('reports every invalid request field with a pointer into the file', () => {
    const found = problems({
      cases: [aCase('ok'), { ...aCase('bad'), request: { ...request, actor: 'no spaces allowed', risk_level: 9 } }],
    });
    expect(found.map((p) => p.pointer)).toEqual(['/cases/1/request/actor', '/cases/1/request/risk_level']);
  });

  it('refuses two cases with one name, pointing at the second and naming the first', () => {
    expect(problems({ cases: [aCase('same'), aCase('other'), aCase(' same ')] })).toEqual([
      { pointer: '/cases/2/name', message: 'duplicate case name "same" (also /cases/0)' },
    ]);
  });

  it('holds the documented limits: 1 to 10,000 cases, names up to 500 characters', () => {
    expect(problems({ cases: [] }).map((p) => p.pointer)).toEqual(['/cases']);
    const many = Array.from({ length: TESTS_FILE_LIMITS.cases + 1 }, (_, i) => aCase(`case ${i}`));
    expect(problems({ cases: many })).toEqual([{ pointer: '/cases', message: expect.stringContaining('10000') }]);
    expect(readTestsFile({ cases: many.slice(1) }).ok).toBe(true);
    expect(problems({ cases: [aCase('x'.repeat(501))] }).map((p) => p.pointer)).toEqual(['/cases/0/name']);
    expect(readTestsFile({ cases: [aCase('x'.repeat(500))] }).ok).toBe(true);
  });

  it('reports a file that is not an object of cases at its root', () => {
    expect(problems([aCase('a')])).toEqual([{ pointer: '', message: expect.stringContaining('expected object') }]);
    expect(problems({}).map((p) => p.pointer)).toEqual(['/cases']);
  });
});
