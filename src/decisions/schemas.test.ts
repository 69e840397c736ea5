import { describe, expectTypeOf, it } from 'vitest';
import type { z } from 'zod';
import type { Violation } from '../governance/compliance';
import type { DecisionInput, Evaluation } from '../governance/evaluate';
import type { Explanation } from './explain';
import type { DecisionRequest, DecisionResponse, ExplanationSchema } from './schemas';

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

  it('document an explanation as it is answered, field for field', () => {
    type Documented = z.output<typeof ExplanationSchema>;
    expectTypeOf<Explanation>().toExtend<Documented>();
    // And nothing answered goes undocumented: the schema's type fits the explanation too.
    expectTypeOf<Documented>().toExtend<Explanation>();
  });
});
