import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DecisionInput, evaluate } from './evaluate';
import { type CompiledPolicy, compilePolicy } from './policy';
import { explainEvaluation } from './trace';

const terms = [
  { id: 'actor:nurse', type: 'actor', name: 'nurse' },
  { id: 'actor:bot', type: 'actor', name: 'bot' },
  { id: 'action:view', type: 'action', name: 'view' },
  { id: 'action:export', type: 'action', name: 'export' },
  { id: 'data:chart', type: 'data_class', name: 'chart', sensitivity: 'high' },
  { id: 'data:phi', type: 'data_class', name: 'phi', sensitivity: 'critical' },
  { id: 'data:notes', type: 'data_class', name: 'notes', sensitivity: 'low' },
];

function policy(document: Record<string, unknown>): CompiledPolicy {
  const result = compilePolicy({ terms, ...document });
  if (!result.ok) throw new Error(`policy did not compile: ${JSON.stringify(result.problems)}`);
  return result.policy;
}

function request(more: Partial<DecisionInput> = {}): DecisionInput {
  return {
    actor: 'nurse',
    proposed_action: 'view',
    tool: 'ehr',
    user_intent: 'check a chart',
    data_classes: [],
    risk_level: 1,
    context: {},
    ...more,
  };
}

const clinic = policy({
  mode: 'strict',
  compliance_frameworks: ['HIPAA'],
  relations: [
    { type: 'permits', subject: 'actor:nurse', action: 'action:view', object: 'data:chart', condition: 'on_shift' },
    { type: 'permits', subject: 'actor:nurse', action: 'action:view', object: 'data:notes' },
    { type: 'forbids', subject: 'actor:bot', action: 'action:view', object: 'data:phi', justification: 'No PHI' },
    { type: 'requires', action: 'action:export', condition: 'context.approved == true', object: 'data:chart' },
    { type: 'permits', subject: 'actor:nurse', action: 'action:export' },
  ],
  constraints: [
    { name: 'night', condition: 'context.hour >= 22', action: 'escalate', justification: 'Night access' },
    { name: 'log', condition: 'request.action == "view"', action: 'annotate', obligation: 'log_access' },
  ],
});

describe('explainEvaluation', () => {
  it('names the terms each request value matched, and none for a value the policy does not know', () => {
    const { trace } = explainEvaluation(clinic, request({ actor: 'Nurse', data_classes: ['chart', 'x-rays'] }));
    expect(trace.terms).toEqual({
      actor: { value: 'Nurse', terms: [] },
      action: { value: 'view', terms: ['action:view'] },
      data_classes: [
        { value: 'chart', terms: ['data:chart'] },
        { value: 'x-rays', terms: [] },
      ],
    });
    expect(trace.outcome).toMatchObject({ reason_code: 'not_permitted', rule: expect.stringContaining('"Nurse"') });
  });

  it('shows every relation considered with each condition, its value and the values it read', () => {
    const { evaluation, trace } = explainEvaluation(
      clinic,
      request({ data_classes: ['chart', 'notes'], context: { on_shift: true } }),
    );
    expect(evaluation.decision).toBe('permit');
    expect(trace.relations).toEqual([
      {
        id: 'permits:actor:nurse:action:view:data:chart',
        type: 'permits',
        actor: 'actor:nurse',
        action: 'action:view',
        object: 'data:chart',
        conditions: [{ condition: 'on_shift', holds: true, reads: [{ path: 'context.on_shift', value: true }] }],
        effect: 'permitted',
        decided: true,
      },
      {
        id: 'permits:actor:nurse:action:view:data:notes',
        type: 'permits',
        actor: 'actor:nurse',
        action: 'action:view',
        object: 'data:notes',
        conditions: [],
        effect: 'permitted',
        decided: true,
      },
    ]);
    expect(trace.outcome).toEqual({
      reason_code: 'permitted',
      decided_by: evaluation.matched,
      rule: expect.stringContaining('Permits cover the request'),
    });
  });

  it('says which data class no permit covers when a condition fails', () => {
    const { trace } = explainEvaluation(clinic, request({ data_classes: ['chart', 'notes'] }));
    expect(trace.relations.map((r) => [r.object, r.effect])).toEqual([
      ['data:chart', 'conditions_failed'],
      ['data:notes', 'permitted'],
    ]);
    expect(trace.relations[0]?.conditions[0]).toEqual({
      condition: 'on_shift',
      holds: false,
      reads: [{ path: 'context.on_shift', value: null }],
    });
    expect(trace.outcome.rule).toBe('Deny by default: no permit that held covers the data class "chart".');
  });

  it('shows the forbids that won, the compliance rule it broke and the risk it raised', () => {
    const { evaluation, trace } = explainEvaluation(
      clinic,
      request({ actor: 'bot', data_classes: ['phi'], risk_level: 2 }),
    );
    expect(evaluation.reasonCode).toBe('forbidden');
    expect(trace.relations).toMatchObject([{ type: 'forbids', effect: 'forbade', decided: true }]);
    expect(trace.violations).toEqual([
      {
        type: 'HIPAA',
        severity: 'critical',
        relation_id: 'forbids:actor:bot:action:view:data:phi',
        justification: 'No PHI',
      },
    ]);
    expect(trace.risk).toEqual({
      declared: 2,
      data: [{ term: 'data:phi', sensitivity: 'critical' }],
      forbidden: true,
      violations: 1,
      level: 'critical',
    });
    expect(trace.outcome.rule).toContain('a prohibition outranks every permit');
  });

  it('marks a forbids or requires whose object the request does not touch as not applicable', () => {
    const bot = explainEvaluation(clinic, request({ actor: 'bot', data_classes: ['notes'] })).trace;
    expect(bot.relations).toMatchObject([{ type: 'forbids', effect: 'not_applicable', decided: false }]);
    const exportNotes = explainEvaluation(clinic, request({ proposed_action: 'export', data_classes: ['notes'] }));
    expect(exportNotes.trace.relations.map((r) => [r.type, r.effect])).toEqual([
      ['permits', 'permitted'],
      ['requires', 'not_applicable'],
    ]);
    expect(exportNotes.evaluation.decision).toBe('permit');
  });

  it('shows a requirement unmet, then met', () => {
    const unmet = explainEvaluation(clinic, request({ proposed_action: 'export', data_classes: ['chart'] }));
    expect(unmet.evaluation.reasonCode).toBe('requirement_unmet');
    expect(unmet.trace.relations.find((r) => r.type === 'requires')).toMatchObject({
      effect: 'unmet',
      decided: true,
      conditions: [{ condition: 'context.approved == true', holds: false, reads: [{ path: 'context.approved' }] }],
    });
    const met = explainEvaluation(
      clinic,
      request({ proposed_action: 'export', data_classes: ['chart'], context: { approved: true } }),
    );
    expect(met.trace.relations.find((r) => r.type === 'requires')?.effect).toBe('met');
    expect(met.evaluation.decision).toBe('permit');
  });

  it('lists every constraint, whether it fired, and the obligation or escalation it brought', () => {
    const { evaluation, trace } = explainEvaluation(
      clinic,
      request({ data_classes: ['notes'], context: { hour: 23 } }),
    );
    expect(evaluation.reasonCode).toBe('constraint_escalation');
    expect(trace.constraints).toEqual([
      {
        name: 'night',
        effect: 'escalate',
        condition: { condition: 'context.hour >= 22', holds: true, reads: [{ path: 'context.hour', value: 23 }] },
        fired: true,
        decided: true,
      },
      {
        name: 'log',
        effect: 'annotate',
        condition: {
          condition: 'request.action == "view"',
          holds: true,
          reads: [{ path: 'request.action', value: 'view' }],
        },
        fired: true,
        decided: false,
        obligation: 'log_access',
      },
    ]);
    expect(trace.outcome.rule).toContain('escalate constraint');
  });

  it('states the mode in effect, and when the request made it stricter', () => {
    const stricter = explainEvaluation(clinic, request({ policy_mode: 'paranoid' })).trace.mode;
    expect(stricter).toEqual({
      policy: 'strict',
      requested: 'paranoid',
      effective: 'paranoid',
      effect: expect.stringMatching(/^the request asked for paranoid, stricter than the policy's strict: paranoid /),
    });
    const looser = explainEvaluation(clinic, request({ policy_mode: 'permissive' })).trace.mode;
    expect(looser).toMatchObject({ requested: 'permissive', effective: 'strict' });
    expect(looser.effect).toMatch(/^the request asked for permissive; the policy's stricter strict applies: /);
  });

  it('explains a denial by default when no policy is active', () => {
    const { evaluation, trace } = explainEvaluation(undefined, request({ risk_level: 4, data_classes: ['chart'] }));
    expect(evaluation).toEqual(evaluate(undefined, request({ risk_level: 4, data_classes: ['chart'] })));
    expect(trace).toMatchObject({
      policy: null,
      mode: { policy: null, effective: null },
      terms: { actor: { terms: [] }, data_classes: [{ value: 'chart', terms: [] }] },
      relations: [],
      constraints: [],
      outcome: { reason_code: 'no_policy', decided_by: [], rule: 'No policy is active: deny by default.' },
    });
  });
});

describe('explainEvaluation agrees with evaluate', () => {
  const directory = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
  const examples = readdirSync(directory).filter((name) => name.endsWith('_policy.json'));

  it.each(examples)('on every actor, action and data class of %s', (file) => {
    const compiled = compilePolicy(JSON.parse(readFileSync(`${directory}${file}`, 'utf8')));
    if (!compiled.ok) throw new Error(`${file} did not compile`);
    const p = compiled.policy;
    const named = (type: string) => [...p.terms.values()].filter((t) => t.type === type).map((t) => t.label);
    const dataSets = [[], ...[...named('data_class'), ...named('resource')].map((d) => [d])];
    let compared = 0;
    for (const actor of [...named('actor'), 'stranger'])
      for (const proposed_action of named('action'))
        for (const data_classes of dataSets)
          for (const risk_level of [1, 5]) {
            const input = request({ actor, proposed_action, data_classes, risk_level, context: { approved: true } });
            expect(explainEvaluation(p, input).evaluation).toEqual(evaluate(p, input));
            compared++;
          }
    expect(compared).toBeGreaterThan(100);
  });
});
