import type { CompiledPolicy } from '../governance/policy';
import type { CaseResult } from './run';

/** Which relations the cases exercised and which constraints they fired; what they missed, with pointers. */
export interface PolicyCoverage {
  relations: { total: number; exercised: number; missed: { id: string; pointer: string }[] };
  constraints: { total: number; fired: number; missed: { name: string; pointer: string }[] };
}

/**
 * A relation is exercised by a case when evaluation reached it and it applied (its effect is not
 * `not_applicable`) and, when it names an object, the request's data classes matched that object:
 * a permit for `phi` tried with no data at all has not been tested on phi. A constraint is covered
 * when some case fired it. `at` is the pointer of the policy in its file (`/policy` when wrapped).
 */
export function policyCoverage(compiled: CompiledPolicy, results: readonly CaseResult[], at = ''): PolicyCoverage {
  const exercised = new Set<string>();
  const fired = new Set<number>();
  for (const { explanation } of results) {
    const { trace } = explanation;
    const dataTerms = new Set(trace.terms.data_classes.flatMap((d) => d.terms));
    for (const step of trace.relations) {
      if (step.effect === 'not_applicable') continue;
      if (step.object === null || dataTerms.has(step.object)) exercised.add(step.id);
    }
    trace.constraints.forEach((step, i) => {
      if (step.fired) fired.add(i);
    });
  }
  const missedRelations = compiled.relations.flatMap((relation, i) =>
    exercised.has(relation.id) ? [] : [{ id: relation.id, pointer: `${at}/relations/${i}` }],
  );
  const missedConstraints = compiled.constraints.flatMap((constraint, i) =>
    fired.has(i) ? [] : [{ name: constraint.name, pointer: `${at}/constraints/${i}` }],
  );
  return {
    relations: {
      total: compiled.relations.length,
      exercised: compiled.relations.length - missedRelations.length,
      missed: missedRelations,
    },
    constraints: {
      total: compiled.constraints.length,
      fired: compiled.constraints.length - missedConstraints.length,
      missed: missedConstraints,
    },
  };
}
