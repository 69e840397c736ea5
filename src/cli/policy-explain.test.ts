import { writeFileSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../tests/support/cli-io';
import { scratchDir } from '../../tests/support/lexecon-cli';
import { DEFAULT_MAX_DECISION_BYTES } from '../config';
import { explainDecision } from '../decisions/explain';
import { DecisionRequestSchema } from '../decisions/schemas';
import { compilePolicy } from '../governance/policy';
import { canonicalJson } from '../ledger/canonical-json';
import { portableSha256Hex } from '../ledger/crypto';

const policy = {
  name: 'clinic',
  version: '2.0',
  mode: 'strict',
  compliance_frameworks: ['HIPAA'],
  terms: [
    { id: 'actor:nurse', type: 'actor', name: 'nurse' },
    { id: 'actor:bot', type: 'actor', name: 'bot' },
    { id: 'action:view', type: 'action', name: 'view' },
    { id: 'data:chart', type: 'data_class', name: 'chart', sensitivity: 'medium' },
    { id: 'data:phi', type: 'data_class', name: 'phi', sensitivity: 'critical' },
  ],
  relations: [
    {
      type: 'permits',
      subject: 'actor:nurse',
      action: 'action:view',
      object: 'data:chart',
      condition: 'context.on_shift == true',
    },
    { type: 'forbids', subject: 'actor:bot', action: 'action:view', object: 'data:phi', justification: 'No PHI' },
  ],
  constraints: [{ name: 'night', condition: 'context.hour >= 22', action: 'escalate' }],
};

const nurseAtNight = {
  actor: 'nurse',
  proposed_action: 'view',
  tool: 'ehr',
  user_intent: 'read a chart',
  data_classes: ['chart', 'x-rays'],
  context: { on_shift: true, hour: 23 },
};

describe('lexecon policy explain', () => {
  const files = scratchDir();
  afterAll(() => files.remove());
  const write = (name: string, value: unknown) => {
    writeFileSync(files.path(name), typeof value === 'string' ? value : JSON.stringify(value));
    return files.path(name);
  };
  const policyFile = write('clinic.json', policy);

  it('prints the decision and reason first, then the trace: terms, relations, constraints, mode, risk, rule', async () => {
    const run = await runCli(['policy', 'explain', policyFile, '--request', write('night.json', nurseAtNight)]);
    expect(run.code).toBe(0);
    const hash = portableSha256Hex(canonicalJson(policy));
    expect(run.stdout).toBe(
      [
        'decision: deny (not allowed, not_permitted, medium risk)',
        'reason: Action not explicitly permitted',
        `policy: clinic 2.0 (sha256 ${hash})`,
        '',
        'terms matched',
        '  actor   "nurse" → actor:nurse',
        '  action  "view" → action:view',
        '  data    "chart" → data:chart',
        '          "x-rays" → (no term of the policy)',
        '',
        'relations considered',
        '  permitted  permits:actor:nurse:action:view:data:chart  (permits actor:nurse → action:view on data:chart)',
        '    holds  context.on_shift == true   (context.on_shift = true)',
        '',
        'constraints',
        '  fired  night  (escalate)',
        '    holds  context.hour >= 22   (context.hour = 23)',
        '',
        'mode: strict allows only what permits cover: the action, and every data class the request names',
        'risk: medium (declared 1; data: data:chart medium)',
        'violations: none',
        '',
        'rule: Deny by default: no permit that held covers the data class "x-rays".',
        '',
      ].join('\n'),
    );
  });

  it('shows a prohibition that decided, the compliance rule it broke, and a condition that failed', async () => {
    const bot = { ...nurseAtNight, actor: 'bot', data_classes: ['phi'], context: {} };
    const run = await runCli(['policy', 'explain', policyFile, '--request', write('bot.json', bot)]);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('decision: deny (not allowed, forbidden, critical risk)\nreason: Denied: No PHI\n');
    expect(run.stdout).toContain(
      '  forbade  forbids:actor:bot:action:view:data:phi  (forbids actor:bot → action:view on data:phi)  [decided]\n' +
        '    justification: No PHI\n',
    );
    expect(run.stdout).toContain(
      '  not fired  night  (escalate)\n    fails  context.hour >= 22   (context.hour = null)',
    );
    expect(run.stdout).toContain('violations\n  HIPAA (critical) by forbids:actor:bot:action:view:data:phi: No PHI\n');
    expect(run.stdout).toContain('decided by: forbids:actor:bot:action:view:data:phi\n');
  });

  it('prints, with --format json, the explanation exactly as explainDecision answers it', async () => {
    const run = await runCli([
      'policy',
      'explain',
      policyFile,
      '--request',
      write('n.json', nurseAtNight),
      '--format',
      'json',
    ]);
    const compiled = compilePolicy(policy);
    if (!compiled.ok) throw new Error('the policy compiles');
    const expected = explainDecision(compiled.policy, DecisionRequestSchema.parse(nurseAtNight), {
      source: 'file',
      version: null,
      hash: portableSha256Hex(canonicalJson(policy)),
    });
    expect(run.json()).toEqual(JSON.parse(JSON.stringify(expected)));
    expect(run.json()).toMatchObject({ recorded: false, decision: 'deny' });
  });

  it('reads the request from stdin with --request -', async () => {
    const run = await runCli(['policy', 'explain', policyFile, '--request', '-'], JSON.stringify(nurseAtNight));
    expect([run.code, run.stdout.split('\n')[0]]).toEqual([
      0,
      'decision: deny (not allowed, not_permitted, medium risk)',
    ]);
  });

  it('lists the problems of a request POST /api/decide would refuse, with pointers, and exits 1', async () => {
    const bad = write('bad.json', { ...nurseAtNight, actor: 'a nurse', risk_level: 0, extra: 1 });
    const run = await runCli(['policy', 'explain', policyFile, '--request', bad]);
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')).toEqual([
      `${bad}: /actor: must be letters, digits and _ - . @ :`,
      `${bad}: /risk_level: Too small: expected number to be >=1`,
      `${bad}: /extra: unknown field "extra"; allowed: request_id, actor, proposed_action, tool, user_intent, data_classes, risk_level, requested_output_type, policy_mode, context`,
      '',
    ]);
    const json = await runCli(['policy', 'explain', policyFile, '--request', bad, '--format', 'json']);
    expect(json.json()).toMatchObject({ valid: false, invalid: [{ file: bad }] });
  });

  it('names a syntax error in the request from stdin by line and column', async () => {
    const run = await runCli(['policy', 'explain', policyFile, '--request', '-'], '{\n"actor": }');
    expect([run.code, run.stdout]).toEqual([1, "stdin:2:10: invalid JSON: unexpected '}', expected a value\n"]);
  });

  it('exits 1 on an invalid policy, listing its problems', async () => {
    const broken = write('broken.json', {
      ...policy,
      relations: [{ type: 'permits', subject: 'actor:ghost', action: 'action:view' }],
    });
    const run = await runCli(['policy', 'explain', broken, '--request', write('r.json', nurseAtNight)]);
    expect([run.code, run.stdout]).toEqual([
      1,
      `${broken}: /relations/0/subject: references undefined term "actor:ghost"\n`,
    ]);
  });

  it('refuses a request larger than a decision may be, from a file or stdin', async () => {
    const big = JSON.stringify({ ...nurseAtNight, user_intent: 'x'.repeat(DEFAULT_MAX_DECISION_BYTES) });
    const fromFile = await runCli(['policy', 'explain', policyFile, '--request', write('big.json', big)]);
    expect([fromFile.code, fromFile.stdout]).toEqual([
      1,
      `${files.path('big.json')}: is ${Buffer.byteLength(big)} bytes, more than ${DEFAULT_MAX_DECISION_BYTES}, the default limit of a decision request (LEXECON_MAX_DECISION_BYTES)\n`,
    ]);
    const fromStdin = await runCli(['policy', 'explain', policyFile, '--request', '-'], big);
    expect([fromStdin.code, fromStdin.stdout]).toEqual([
      1,
      `stdin: stdin holds more than ${DEFAULT_MAX_DECISION_BYTES} bytes, the default limit of a decision request\n`,
    ]);
  });

  it('is a usage error without --request', async () => {
    const run = await runCli(['policy', 'explain', policyFile]);
    expect([run.code, run.stderr.split('\n')[0]]).toEqual([2, 'lexecon policy explain: --request is required']);
  });
});
