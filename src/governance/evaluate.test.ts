import { describe, expect, it } from 'vitest';
import { type DecisionInput, evaluate, stricterMode } from './evaluate';
import { type CompiledPolicy, compilePolicy, MODES, type Mode } from './policy';

const terms = [
  { id: 'actor:user', type: 'actor', name: 'user' },
  { id: 'actor:model', type: 'actor', name: 'model' },
  { id: 'action:read', type: 'action', name: 'read' },
  { id: 'action:write', type: 'action', name: 'write' },
  { id: 'data:pii', type: 'data_class', name: 'pii', sensitivity: 'high' },
  { id: 'data:public', type: 'data_class', name: 'public', sensitivity: 'low' },
  { id: 'data:secrets', type: 'data_class', name: 'secrets', sensitivity: 'critical' },
  { id: 'data:unrated', type: 'data_class', name: 'unrated' },
  { id: 'resource:crm', type: 'resource', name: 'crm' },
];

const userReads = { type: 'permits', subject: 'actor:user', action: 'action:read' };

function policy(document: Record<string, unknown>): CompiledPolicy {
  const result = compilePolicy({ terms, ...document });
  if (!result.ok) throw new Error(`policy did not compile: ${JSON.stringify(result.problems)}`);
  return result.policy;
}

function request(more: Partial<DecisionInput> = {}): DecisionInput {
  return {
    actor: 'user',
    proposed_action: 'read',
    tool: 'cli',
    user_intent: 'read a record',
    data_classes: [],
    risk_level: 1,
    context: {},
    ...more,
  };
}

describe('evaluate: defaults', () => {
  it('denies everything when no policy is active', () => {
    expect(evaluate(undefined, request({ risk_level: 4 }))).toEqual({
      decision: 'deny',
      allowed: false,
      reason: 'No active policy: denied by default',
      reasonCode: 'no_policy',
      mode: null,
      riskLevel: 'high',
      violations: [],
      matched: [],
      obligations: [],
    });
  });

  it('denies what no relation mentions', () => {
    const p = policy({ relations: [userReads] });
    expect(evaluate(p, request({ proposed_action: 'write' }))).toMatchObject({
      decision: 'deny',
      allowed: false,
      reasonCode: 'not_permitted',
      reason: 'Action not explicitly permitted',
      matched: [],
    });
    expect(evaluate(p, request({ actor: 'stranger' })).reasonCode).toBe('not_permitted');
    expect(evaluate(p, request({ actor: 'model' })).reasonCode).toBe('not_permitted');
  });

  it('permits an explicitly permitted action and names the permit', () => {
    expect(evaluate(policy({ relations: [userReads] }), request())).toMatchObject({
      decision: 'permit',
      allowed: true,
      reasonCode: 'permitted',
      reason: 'Permitted by 1 rule',
      mode: 'strict',
      matched: ['permits:actor:user:action:read'],
    });
  });

  it('quotes at most three justifications in the reason', () => {
    const p = policy({
      relations: ['one', 'two', 'three', 'four'].map((justification) => ({ ...userReads, justification })),
    });
    const result = evaluate(p, request());
    expect(result.reason).toBe('Permitted: one; two; three');
    expect(result.matched).toHaveLength(4);
  });
});

describe('evaluate: matching terms', () => {
  const p = policy({ relations: [userReads] });

  it('permits the exact term id and the exact label', () => {
    for (const [actor, action] of [
      ['user', 'read'],
      ['actor:user', 'action:read'],
      ['user', 'action:read'],
      ['actor:user', 'read'],
    ]) {
      expect(evaluate(p, request({ actor, proposed_action: action })).decision).toBe('permit');
    }
  });

  // Upstream matched `value in term_id`, so `use`, `ser` and `actor:` acted as actor:user (D-SEC-4).
  it.each([
    'use',
    'ser',
    'actor:',
    'actor:use',
    'user ',
    ' user',
    'user\n',
    'actor:user ',
    'actor:user:x',
    'users',
    '',
  ])('denies actor %j, a fragment or variant of actor:user', (actor) => {
    expect(evaluate(p, request({ actor }))).toMatchObject({ decision: 'deny', reasonCode: 'not_permitted' });
  });

  it.each(['e', 'rea', 'ead', 'action:', 'action:rea', 'read ', 'reads', 'action:read:x'])(
    'denies action %j, a fragment or variant of action:read',
    (action) => {
      expect(evaluate(p, request({ proposed_action: action }))).toMatchObject({
        decision: 'deny',
        reasonCode: 'not_permitted',
      });
    },
  );

  it('matches labels and ids case-sensitively', () => {
    for (const [actor, action] of [
      ['User', 'read'],
      ['USER', 'read'],
      ['user', 'Read'],
      ['Actor:user', 'read'],
    ]) {
      expect(evaluate(p, request({ actor, proposed_action: action })).reasonCode).toBe('not_permitted');
    }
  });

  it('does not match names inherited from Object.prototype', () => {
    for (const name of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      expect(evaluate(p, request({ actor: name })).reasonCode).toBe('not_permitted');
      expect(evaluate(p, request({ proposed_action: name })).reasonCode).toBe('not_permitted');
    }
  });

  it('matches an actor only against actor terms', () => {
    // `read` is the label of an action term, not of an actor.
    expect(evaluate(p, request({ actor: 'read' })).reasonCode).toBe('not_permitted');
  });
});

describe('evaluate: data classes', () => {
  const readsPii = { ...userReads, object: 'data:pii' };
  const readsPublic = { ...userReads, object: 'data:public' };

  it('does not let a permit naming a data class cover a request that names none', () => {
    expect(evaluate(policy({ relations: [readsPii] }), request()).reasonCode).toBe('not_permitted');
  });

  it('needs a covering permit for every requested data class', () => {
    const onlyPii = policy({ relations: [readsPii] });
    expect(evaluate(onlyPii, request({ data_classes: ['pii'] })).decision).toBe('permit');
    expect(evaluate(onlyPii, request({ data_classes: ['pii', 'public'] })).reasonCode).toBe('not_permitted');
    const both = policy({ relations: [readsPii, readsPublic] });
    expect(evaluate(both, request({ data_classes: ['pii', 'public'] }))).toMatchObject({
      decision: 'permit',
      matched: ['permits:actor:user:action:read:data:pii', 'permits:actor:user:action:read:data:public'],
    });
  });

  it('lets a permit without an object cover any data classes, even unknown ones', () => {
    const result = evaluate(
      policy({ relations: [userReads, readsPii] }),
      request({ data_classes: ['mystery', 'pii'] }),
    );
    expect(result).toMatchObject({ decision: 'permit', matched: ['permits:actor:user:action:read'] });
  });

  it('denies a data class the policy does not declare when permits name their objects', () => {
    const p = policy({ relations: [readsPii] });
    expect(evaluate(p, request({ data_classes: ['pii', 'mystery'] })).reasonCode).toBe('not_permitted');
    expect(evaluate(p, request({ data_classes: ['pi'] })).reasonCode).toBe('not_permitted');
  });

  it('matches data classes by id or exact label and treats resources like data classes', () => {
    const p = policy({ relations: [readsPii, { ...userReads, object: 'resource:crm' }] });
    expect(evaluate(p, request({ data_classes: ['data:pii'] })).decision).toBe('permit');
    expect(evaluate(p, request({ data_classes: ['crm', 'pii'] })).decision).toBe('permit');
    expect(evaluate(p, request({ data_classes: ['PII'] })).reasonCode).toBe('not_permitted');
  });
});

describe('evaluate: forbids', () => {
  const forbidsWrite = { type: 'forbids', subject: 'actor:user', action: 'action:write', justification: 'read-only' };
  const permitsWrite = { type: 'permits', subject: 'actor:user', action: 'action:write' };

  it.each(MODES)('lets a forbids relation override a permit in %s mode', (mode) => {
    const result = evaluate(
      policy({ mode, relations: [permitsWrite, forbidsWrite] }),
      request({ proposed_action: 'write' }),
    );
    expect(result).toMatchObject({
      decision: 'deny',
      reasonCode: 'forbidden',
      reason: 'Denied: read-only',
      matched: ['forbids:actor:user:action:write'],
    });
  });

  it('applies a forbids relation with an object only when that data class is requested', () => {
    const p = policy({
      relations: [
        { type: 'permits', subject: 'actor:model', action: 'action:read' },
        { type: 'forbids', subject: 'actor:model', action: 'action:read', object: 'data:pii' },
      ],
    });
    expect(evaluate(p, request({ actor: 'model', data_classes: ['public'] })).decision).toBe('permit');
    expect(evaluate(p, request({ actor: 'model', data_classes: ['public', 'pii'] })).reasonCode).toBe('forbidden');
    expect(evaluate(p, request({ actor: 'model' })).decision).toBe('permit');
  });

  it('says how many prohibitions matched when none has a justification', () => {
    const p = policy({ relations: [{ type: 'forbids', subject: 'actor:user', action: 'action:read' }] });
    expect(evaluate(p, request()).reason).toBe('Denied by 1 prohibition');
  });
});

describe('evaluate: conditions on relations', () => {
  it('permits only when every condition of the permit holds', () => {
    const p = policy({ relations: [{ ...userReads, conditions: ['on_duty == true', 'request.risk_level <= 2'] }] });
    expect(evaluate(p, request({ context: { on_duty: true } })).decision).toBe('permit');
    expect(evaluate(p, request({ context: { on_duty: true }, risk_level: 3 })).reasonCode).toBe('not_permitted');
    expect(evaluate(p, request({ context: { on_duty: 'yes' } })).reasonCode).toBe('not_permitted');
    expect(evaluate(p, request()).reasonCode).toBe('not_permitted');
  });

  it('forbids only when the forbids condition holds', () => {
    const p = policy({
      relations: [userReads, { type: 'forbids', subject: 'actor:user', action: 'action:read', condition: 'external' }],
    });
    expect(evaluate(p, request({ context: { external: true } })).reasonCode).toBe('forbidden');
    expect(evaluate(p, request({ context: { external: false } })).decision).toBe('permit');
    expect(evaluate(p, request()).decision).toBe('permit');
  });

  it('lets conditions read the request’s own fields', () => {
    const p = policy({
      relations: [{ ...userReads, condition: 'request.tool == "viewer" && request.user_intent != ""' }],
    });
    expect(evaluate(p, request({ tool: 'viewer' })).decision).toBe('permit');
    expect(evaluate(p, request({ tool: 'shell' })).reasonCode).toBe('not_permitted');
  });
});

describe('evaluate: requires', () => {
  const requiresApproval = {
    type: 'requires',
    action: 'action:read',
    condition: 'approved == true',
    justification: 'reads need approval',
  };

  it('denies when a requirement of the requested action is unmet', () => {
    const p = policy({ relations: [userReads, requiresApproval] });
    expect(evaluate(p, request())).toMatchObject({
      decision: 'deny',
      reasonCode: 'requirement_unmet',
      reason: 'Requirement not met: reads need approval',
      matched: ['requires:*:action:read'],
    });
    expect(evaluate(p, request({ context: { approved: true } })).decision).toBe('permit');
  });

  it('quotes the condition when the requirement has no justification', () => {
    const p = policy({ relations: [userReads, { type: 'requires', action: 'action:read', condition: 'approved' }] });
    expect(evaluate(p, request()).reason).toBe('Requirement not met: requires approved');
  });

  it('applies a requirement without a subject to every actor, known or not', () => {
    const p = policy({ relations: [userReads, requiresApproval] });
    expect(evaluate(p, request({ actor: 'model' })).reasonCode).toBe('requirement_unmet');
    expect(evaluate(p, request({ actor: 'stranger' })).reasonCode).toBe('requirement_unmet');
  });

  it('applies a requirement with a subject only to that actor', () => {
    const p = policy({
      relations: [
        userReads,
        { type: 'permits', subject: 'actor:model', action: 'action:read' },
        { ...requiresApproval, subject: 'actor:model' },
      ],
    });
    expect(evaluate(p, request()).decision).toBe('permit');
    expect(evaluate(p, request({ actor: 'model' })).reasonCode).toBe('requirement_unmet');
  });

  it('applies a requirement with an object only when that data class is requested', () => {
    const p = policy({ relations: [userReads, { ...requiresApproval, object: 'data:pii' }] });
    expect(evaluate(p, request({ data_classes: ['public'] })).decision).toBe('permit');
    expect(evaluate(p, request({ data_classes: ['public', 'pii'] })).reasonCode).toBe('requirement_unmet');
  });

  it('never grants: a met requirement without a permit is still denied', () => {
    const p = policy({ relations: [requiresApproval] });
    expect(evaluate(p, request({ context: { approved: true } })).reasonCode).toBe('not_permitted');
  });

  it('is checked after forbids', () => {
    const p = policy({
      relations: [requiresApproval, { type: 'forbids', subject: 'actor:user', action: 'action:read' }],
    });
    expect(evaluate(p, request()).reasonCode).toBe('forbidden');
  });
});

describe('evaluate: modes', () => {
  it('permits in permissive mode whatever nothing forbids, even unknown actors and actions', () => {
    const p = policy({ mode: 'permissive', relations: [userReads] });
    expect(evaluate(p, request({ actor: 'stranger', proposed_action: 'launch' }))).toMatchObject({
      decision: 'permit',
      reasonCode: 'permitted',
      reason: 'Permitted: nothing forbids it (permissive mode)',
      mode: 'permissive',
      matched: [],
    });
  });

  it('denies in strict mode what no permit covers', () => {
    const p = policy({ mode: 'strict', relations: [userReads] });
    expect(evaluate(p, request({ proposed_action: 'write' })).reasonCode).toBe('not_permitted');
  });

  it('lets a request make a permissive policy strict or paranoid', () => {
    const p = policy({ mode: 'permissive', relations: [userReads] });
    expect(evaluate(p, request({ proposed_action: 'write', policy_mode: 'strict' }))).toMatchObject({
      reasonCode: 'not_permitted',
      mode: 'strict',
    });
    expect(evaluate(p, request({ risk_level: 4, policy_mode: 'paranoid' }))).toMatchObject({
      decision: 'escalate',
      mode: 'paranoid',
    });
  });

  it('never lets a request make a strict policy permissive', () => {
    const p = policy({ mode: 'strict', relations: [userReads] });
    expect(evaluate(p, request({ proposed_action: 'write', policy_mode: 'permissive' }))).toMatchObject({
      decision: 'deny',
      reasonCode: 'not_permitted',
      mode: 'strict',
    });
  });

  it('never lets a request make a paranoid policy less than paranoid', () => {
    const p = policy({ mode: 'paranoid', relations: [userReads] });
    for (const policyMode of ['permissive', 'strict'] as const) {
      expect(evaluate(p, request({ risk_level: 5, policy_mode: policyMode }))).toMatchObject({
        decision: 'escalate',
        reasonCode: 'risk_escalation',
        mode: 'paranoid',
      });
    }
  });

  it('runs the policy’s own mode when the request names none', () => {
    for (const mode of MODES) expect(stricterMode(mode, undefined)).toBe(mode);
  });

  it.each([
    ['permissive', 'permissive', 'permissive'],
    ['permissive', 'strict', 'strict'],
    ['permissive', 'paranoid', 'paranoid'],
    ['strict', 'permissive', 'strict'],
    ['strict', 'paranoid', 'paranoid'],
    ['paranoid', 'permissive', 'paranoid'],
    ['paranoid', 'strict', 'paranoid'],
  ] as [Mode, Mode, Mode][])('a %s policy asked for %s runs %s', (policyMode, requested, expected) => {
    expect(stricterMode(policyMode, requested)).toBe(expected);
  });
});

describe('evaluate: paranoid escalation', () => {
  const paranoid = policy({ mode: 'paranoid', relations: [userReads] });

  it('permits low and medium risk and escalates high and critical risk', () => {
    expect(evaluate(paranoid, request({ risk_level: 2 }))).toMatchObject({ decision: 'permit', riskLevel: 'low' });
    expect(evaluate(paranoid, request({ risk_level: 3 }))).toMatchObject({ decision: 'permit', riskLevel: 'medium' });
    expect(evaluate(paranoid, request({ risk_level: 4 }))).toMatchObject({
      decision: 'escalate',
      allowed: false,
      reasonCode: 'risk_escalation',
      reason: 'Escalated for human review: high risk in paranoid mode',
      riskLevel: 'high',
      matched: ['permits:actor:user:action:read'],
    });
    expect(evaluate(paranoid, request({ risk_level: 5 }))).toMatchObject({
      decision: 'escalate',
      riskLevel: 'critical',
    });
  });

  it('escalates a low declared risk that touches sensitive data', () => {
    expect(evaluate(paranoid, request({ data_classes: ['secrets'] }))).toMatchObject({
      decision: 'escalate',
      reasonCode: 'risk_escalation',
      riskLevel: 'critical',
    });
    expect(evaluate(paranoid, request({ data_classes: ['unrated'] }))).toMatchObject({
      decision: 'permit',
      riskLevel: 'low',
    });
  });

  it('does not escalate on risk in strict mode', () => {
    const strict = policy({ mode: 'strict', relations: [userReads] });
    expect(evaluate(strict, request({ risk_level: 5, data_classes: ['secrets'] }))).toMatchObject({
      decision: 'permit',
      riskLevel: 'critical',
    });
  });

  it('denies rather than escalates what paranoid mode does not permit', () => {
    expect(evaluate(paranoid, request({ proposed_action: 'write', risk_level: 5 })).reasonCode).toBe('not_permitted');
  });
});

describe('evaluate: constraints', () => {
  const deny = { name: 'frozen', condition: 'frozen == true', action: 'deny', justification: 'account frozen' };
  const escalate = { name: 'large', condition: 'amount > 1000', action: 'escalate' };
  const annotate = { name: 'log', condition: 'sensitive == true', action: 'annotate', obligation: 'enhanced_logging' };

  it('denies when a deny constraint holds', () => {
    const p = policy({ relations: [userReads], constraints: [deny] });
    expect(evaluate(p, request({ context: { frozen: true } }))).toMatchObject({
      decision: 'deny',
      reasonCode: 'constraint_denied',
      reason: 'Denied by constraint: account frozen',
      matched: ['constraint:frozen'],
    });
    expect(evaluate(p, request({ context: { frozen: false } })).decision).toBe('permit');
  });

  it('escalates an otherwise permitted request when an escalate constraint holds', () => {
    const p = policy({ relations: [userReads], constraints: [escalate] });
    expect(evaluate(p, request({ context: { amount: 5000 } }))).toMatchObject({
      decision: 'escalate',
      allowed: false,
      reasonCode: 'constraint_escalation',
      reason: 'Escalated for human review: large',
      matched: ['permits:actor:user:action:read', 'constraint:large'],
    });
    expect(evaluate(p, request({ context: { amount: 10 } })).decision).toBe('permit');
  });

  it('does not turn a denial into an escalation', () => {
    const p = policy({ relations: [userReads], constraints: [escalate] });
    expect(evaluate(p, request({ proposed_action: 'write', context: { amount: 5000 } })).reasonCode).toBe(
      'not_permitted',
    );
  });

  it('adds an obligation, or the constraint’s name, without changing the decision', () => {
    const p = policy({
      relations: [userReads],
      constraints: [annotate, { name: 'notify_owner', condition: 'sensitive == true', action: 'annotate' }],
    });
    expect(evaluate(p, request({ context: { sensitive: true } }))).toMatchObject({
      decision: 'permit',
      obligations: ['enhanced_logging', 'notify_owner'],
    });
    expect(evaluate(p, request()).obligations).toEqual([]);
  });

  it('reports obligations on denials too', () => {
    const p = policy({ relations: [userReads], constraints: [annotate] });
    expect(evaluate(p, request({ proposed_action: 'write', context: { sensitive: true } }))).toMatchObject({
      decision: 'deny',
      obligations: ['enhanced_logging'],
    });
  });

  it('applies to every request, whatever its actor and action', () => {
    const p = policy({ mode: 'permissive', relations: [userReads], constraints: [deny] });
    expect(
      evaluate(p, request({ actor: 'stranger', proposed_action: 'launch', context: { frozen: true } })).reasonCode,
    ).toBe('constraint_denied');
  });

  it('ranks forbids, then requires, then deny constraints, then missing permits, then escalations', () => {
    const forbids = { type: 'forbids', subject: 'actor:user', action: 'action:read', condition: 'banned == true' };
    const requires = { type: 'requires', action: 'action:read', condition: 'badge == true' };
    const p = policy({
      mode: 'paranoid',
      relations: [{ ...userReads, condition: 'permitted == true' }, forbids, requires],
      constraints: [deny, escalate],
    });
    const all = { banned: true, badge: false, frozen: true, permitted: false, amount: 5000 };
    const code = (context: Record<string, unknown>, riskLevel = 1) =>
      evaluate(p, request({ context: { ...all, ...context }, risk_level: riskLevel })).reasonCode;
    expect(code({})).toBe('forbidden');
    expect(code({ banned: false })).toBe('requirement_unmet');
    expect(code({ banned: false, badge: true })).toBe('constraint_denied');
    expect(code({ banned: false, badge: true, frozen: false })).toBe('not_permitted');
    expect(code({ banned: false, badge: true, frozen: false, permitted: true }, 5)).toBe('constraint_escalation');
    expect(code({ banned: false, badge: true, frozen: false, permitted: true, amount: 1 }, 5)).toBe('risk_escalation');
    expect(code({ banned: false, badge: true, frozen: false, permitted: true, amount: 1 })).toBe('permitted');
  });

  it('escalates in permissive mode when an escalate constraint holds', () => {
    const p = policy({ mode: 'permissive', relations: [userReads], constraints: [escalate] });
    expect(evaluate(p, request({ proposed_action: 'launch', context: { amount: 5000 } })).reasonCode).toBe(
      'constraint_escalation',
    );
  });
});

describe('evaluate: compliance violations and risk', () => {
  const forbidsPii = {
    type: 'forbids',
    subject: 'actor:model',
    action: 'action:read',
    object: 'data:pii',
    justification: 'no PII for models',
  };

  it('reports a violation of every framework of the policy, with the protected data’s sensitivity', () => {
    const p = policy({ compliance_frameworks: ['HIPAA', 'HITECH'], relations: [forbidsPii] });
    const result = evaluate(p, request({ actor: 'model', data_classes: ['pii'] }));
    expect(result.violations).toEqual([
      {
        type: 'HIPAA',
        severity: 'high',
        relation_id: 'forbids:actor:model:action:read:data:pii',
        justification: 'no PII for models',
      },
      {
        type: 'HITECH',
        severity: 'high',
        relation_id: 'forbids:actor:model:action:read:data:pii',
        justification: 'no PII for models',
      },
    ]);
    expect(result.riskLevel).toBe('high');
  });

  it('limits the violation to the framework a relation names', () => {
    const p = policy({
      compliance_frameworks: ['GDPR', 'EU AI Act'],
      relations: [{ ...forbidsPii, framework: 'GDPR' }],
    });
    const result = evaluate(p, request({ actor: 'model', data_classes: ['pii'] }));
    expect(result.violations.map((v) => v.type)).toEqual(['GDPR']);
  });

  it('takes a relation’s own severity over the data’s, and defaults to high', () => {
    const p = policy({
      compliance_frameworks: ['SOC 2'],
      relations: [
        { ...forbidsPii, object: 'data:public', severity: 'critical' },
        { type: 'forbids', subject: 'actor:model', action: 'action:read', object: 'data:public' },
        { type: 'forbids', subject: 'actor:model', action: 'action:read' },
      ],
    });
    const result = evaluate(p, request({ actor: 'model', data_classes: ['public'] }));
    expect(result.violations.map((v) => v.severity)).toEqual(['critical', 'low', 'high']);
  });

  it('reports no violations when the policy names no frameworks, and risk is then medium', () => {
    const p = policy({ relations: [{ ...forbidsPii, object: undefined }] });
    const result = evaluate(p, request({ actor: 'model' }));
    expect(result).toMatchObject({ reasonCode: 'forbidden', violations: [], riskLevel: 'medium' });
  });

  it('reports no violations for denials that are not prohibitions', () => {
    const p = policy({ compliance_frameworks: ['HIPAA'], relations: [userReads] });
    expect(evaluate(p, request({ proposed_action: 'write' })).violations).toEqual([]);
  });

  it('rates risk as the highest of declared risk and requested data sensitivity', () => {
    const p = policy({ relations: [userReads] });
    expect(evaluate(p, request({ risk_level: 1, data_classes: ['public', 'pii'] })).riskLevel).toBe('high');
    expect(evaluate(p, request({ risk_level: 5, data_classes: ['public'] })).riskLevel).toBe('critical');
    expect(evaluate(p, request({ risk_level: 3, data_classes: ['mystery'] })).riskLevel).toBe('medium');
  });
});

describe('evaluate: reporting', () => {
  // Reported as a bug: in permissive mode every permit of the actor and action is cited, even one
  // limited to a data class the request does not touch, so the ledger records the wrong reason.
  it('does not cite a permit for another data class as the reason in permissive mode', () => {
    const p = policy({
      mode: 'permissive',
      relations: [{ ...userReads, object: 'data:pii', justification: 'support staff read PII' }],
    });
    const result = evaluate(p, request({ data_classes: ['public'] }));
    expect(result.decision).toBe('permit');
    expect(result.matched).toEqual([]);
    expect(result.reason).toBe('Permitted: nothing forbids it (permissive mode)');
  });
});
