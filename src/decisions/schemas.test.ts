import { describe, expectTypeOf, it } from 'vitest';
import type { Violation } from '../governance/compliance';
import type { DecisionInput, Evaluation } from '../governance/evaluate';
import type { DecisionRequest, DecisionResponse } from './schemas';

describe('decision schemas', () => {
  it('validate a request into the shape governance evaluates, so it is passed on as it is', () => {
    expectTypeOf<DecisionRequest>().toExtend<DecisionInput>();
  });

  it('document every outcome evaluation can give', () => {
    expectTypeOf<Evaluation['decision']>().toExtend<DecisionResponse['decision']>();
    expectTypeOf<Evaluation['riskLevel']>().toExtend<DecisionResponse['risk_level']>();
    expectTypeOf<Evaluation['mode']>().toExtend<DecisionResponse['policy_mode']>();
    expectTypeOf<Violation>().toExtend<DecisionResponse['violations'][number]>();
  });
});
