import { z } from 'zod';
import { type Condition, parseCondition } from './condition';

/**
 * The policy model: terms (nodes) and relations (edges) in the upstream JSON format, either form,
 * compiled once into lookup tables so evaluation is a few map reads. docs/policy-language.md
 * documents the format and what every field means.
 */

export const MODES = ['permissive', 'strict', 'paranoid'] as const;
export type Mode = (typeof MODES)[number];
export const SENSITIVITIES = ['low', 'medium', 'high', 'critical'] as const;
export type Sensitivity = (typeof SENSITIVITIES)[number];
export const TERM_TYPES = ['actor', 'action', 'data_class', 'resource', 'context'] as const;
export type TermType = (typeof TERM_TYPES)[number];
export const RELATION_TYPES = ['permits', 'forbids', 'requires'] as const;
export type RelationType = (typeof RELATION_TYPES)[number];
export const CONSTRAINT_EFFECTS = ['deny', 'escalate', 'annotate'] as const;
export type ConstraintEffect = (typeof CONSTRAINT_EFFECTS)[number];

export interface Term {
  id: string;
  type: TermType;
  label: string;
  sensitivity?: Sensitivity;
}

export interface Relation {
  id: string;
  type: RelationType;
  /** Actor term id; absent only on `requires`, where it means "any actor". */
  source?: string;
  /** Action term id. */
  target: string;
  /** Data-class or resource term id the relation is limited to. */
  object?: string;
  conditions: Condition[];
  conditionText: string[];
  justification?: string;
  severity?: Sensitivity;
  /** The compliance framework a forbids relation enforces; default: all of the policy's. */
  framework?: string;
}

export interface Constraint {
  name: string;
  condition: Condition;
  conditionText: string;
  effect: ConstraintEffect;
  obligation?: string;
  justification?: string;
}

export interface CompiledPolicy {
  name: string;
  version: string;
  mode: Mode;
  frameworks: string[];
  terms: ReadonlyMap<string, Term>;
  relations: readonly Relation[];
  constraints: readonly Constraint[];
  /** Request value (term id or exact label) → term ids, per kind of term. */
  lookup: {
    actor: ReadonlyMap<string, readonly string[]>;
    action: ReadonlyMap<string, readonly string[]>;
    data: ReadonlyMap<string, readonly string[]>;
  };
  /** Relations by `source\0target`; `requires` without a source are under `*\0target`. */
  relationsByPair: ReadonlyMap<string, readonly Relation[]>;
}

export interface PolicyProblem {
  path: string;
  message: string;
}

export type CompileResult = { ok: true; policy: CompiledPolicy } | { ok: false; problems: PolicyProblem[] };

export const POLICY_LIMITS = { terms: 10_000, relations: 10_000, constraints: 1_000, conditionsPerRelation: 20 };

const id = z.string().min(1).max(256);
const text = z.string().max(4096);
const conditionList = z.array(z.string().min(1)).max(POLICY_LIMITS.conditionsPerRelation);

const fullTerm = z.looseObject({
  term_id: id,
  term_type: z.enum(TERM_TYPES),
  label: id,
  description: text.optional(),
  sensitivity: z.enum(SENSITIVITIES).optional(),
});
const shortTerm = z.looseObject({
  id,
  type: z.enum(TERM_TYPES),
  name: id,
  description: text.optional(),
  sensitivity: z.enum(SENSITIVITIES).optional(),
});

const relationExtras = {
  justification: text.optional(),
  severity: z.enum(SENSITIVITIES).optional(),
  framework: z.string().min(1).max(100).optional(),
  conditions: conditionList.optional(),
  condition: z.string().min(1).optional(),
  object: id.optional(),
};
const fullRelation = z.looseObject({
  relation_id: id.optional(),
  relation_type: z.enum(RELATION_TYPES),
  source: id.optional(),
  target: id,
  metadata: z.looseObject({ object: id.optional(), justification: text.optional() }).optional(),
  ...relationExtras,
});
const shortRelation = z.looseObject({
  type: z.enum(RELATION_TYPES),
  subject: id.optional(),
  action: id,
  ...relationExtras,
});

const constraintSchema = z.looseObject({
  name: z.string().min(1).max(200),
  condition: z.string().min(1),
  action: z.enum(CONSTRAINT_EFFECTS),
  obligation: z.string().min(1).max(200).optional(),
  justification: text.optional(),
});

const documentSchema = z.looseObject({
  name: z.string().min(1).max(200).default('unnamed policy'),
  version: z.string().min(1).max(64).default('1.0'),
  description: text.optional(),
  mode: z.enum(MODES).default('strict'),
  compliance_frameworks: z.array(z.string().min(1).max(100)).max(50).default([]),
  terms: z.array(z.unknown()).max(POLICY_LIMITS.terms).default([]),
  relations: z.array(z.unknown()).max(POLICY_LIMITS.relations).default([]),
  constraints: z.array(z.unknown()).max(POLICY_LIMITS.constraints).default([]),
});

/** Accepts `{...policy}` or the upstream wrapper `{"policy": {...}}`; returns the document itself. */
export function unwrapPolicyDocument(input: unknown): unknown {
  if (input && typeof input === 'object' && !Array.isArray(input)) {
    const record = input as Record<string, unknown>;
    if (Object.keys(record).length === 1 && record.policy && typeof record.policy === 'object') return record.policy;
  }
  return input;
}

/** Validates a policy document and compiles it, reporting every problem found, not just the first. */
export function compilePolicy(input: unknown): CompileResult {
  const problems: PolicyProblem[] = [];
  const parsed = documentSchema.safeParse(input);
  if (!parsed.success) return { ok: false, problems: zodProblems(parsed.error, '') };
  const doc = parsed.data;
  if (doc.terms.length === 0 && doc.relations.length === 0) {
    problems.push({ path: 'terms', message: 'a policy needs at least one term or relation' });
  }

  const terms = new Map<string, Term>();
  const labels = new Map<string, string>();
  doc.terms.forEach((raw, i) => {
    const term = parseTerm(raw, `terms[${i}]`, problems);
    if (!term) return;
    if (terms.has(term.id)) {
      problems.push({ path: `terms[${i}]`, message: `duplicate term id "${term.id}"` });
      return;
    }
    const labelKey = `${term.type}\0${term.label}`;
    const clash = labels.get(labelKey);
    if (clash && clash !== term.id) {
      problems.push({
        path: `terms[${i}]`,
        message: `label "${term.label}" is already used by ${term.type} term "${clash}"`,
      });
    }
    labels.set(labelKey, term.id);
    terms.set(term.id, term);
  });

  const relations: Relation[] = [];
  const relationIds = new Set<string>();
  doc.relations.forEach((raw, i) => {
    const relation = parseRelation(raw, `relations[${i}]`, terms, problems);
    if (!relation) return;
    let relationId = relation.id;
    for (let n = 2; relationIds.has(relationId); n++) relationId = `${relation.id}#${n}`;
    relationIds.add(relationId);
    relations.push({ ...relation, id: relationId });
  });

  const constraints: Constraint[] = [];
  doc.constraints.forEach((raw, i) => {
    const constraint = parseConstraint(raw, `constraints[${i}]`, problems);
    if (constraint) constraints.push(constraint);
  });

  if (problems.length > 0) return { ok: false, problems };
  return {
    ok: true,
    policy: {
      name: doc.name,
      version: doc.version,
      mode: doc.mode,
      frameworks: doc.compliance_frameworks,
      terms,
      relations,
      constraints,
      lookup: buildLookup(terms),
      relationsByPair: indexRelations(relations),
    },
  };
}

function parseTerm(raw: unknown, path: string, problems: PolicyProblem[]): Term | undefined {
  let term: Term;
  let sensitivity: Sensitivity | undefined;
  if (hasKey(raw, 'term_id')) {
    const result = fullTerm.safeParse(raw);
    if (!result.success) return void problems.push(...zodProblems(result.error, path));
    term = { id: result.data.term_id, type: result.data.term_type, label: result.data.label };
    sensitivity = result.data.sensitivity;
  } else {
    const result = shortTerm.safeParse(raw);
    if (!result.success) return void problems.push(...zodProblems(result.error, path));
    term = { id: result.data.id, type: result.data.type, label: result.data.name };
    sensitivity = result.data.sensitivity;
  }
  if (sensitivity) term.sensitivity = sensitivity;
  return term;
}

/** The fields of a relation once the two upstream spellings are reconciled. */
interface RelationFields {
  type: RelationType;
  relationId?: string;
  source?: string;
  target: string;
  sourceKey: string;
  targetKey: string;
  object?: string;
  justification?: string;
  severity?: Sensitivity;
  framework?: string;
  conditions?: string[];
  condition?: string;
}

function readRelation(raw: unknown, path: string, problems: PolicyProblem[]): RelationFields | undefined {
  if (hasKey(raw, 'relation_type')) {
    const result = fullRelation.safeParse(raw);
    if (!result.success) return void problems.push(...zodProblems(result.error, path));
    const r = result.data;
    return {
      ...r,
      type: r.relation_type,
      relationId: r.relation_id,
      sourceKey: 'source',
      targetKey: 'target',
      object: r.object ?? r.metadata?.object,
      justification: r.justification ?? r.metadata?.justification,
    };
  }
  const result = shortRelation.safeParse(raw);
  if (!result.success) return void problems.push(...zodProblems(result.error, path));
  const r = result.data;
  return { ...r, source: r.subject, target: r.action, sourceKey: 'subject', targetKey: 'action' };
}

function parseRelation(
  raw: unknown,
  path: string,
  terms: ReadonlyMap<string, Term>,
  problems: PolicyProblem[],
): Relation | undefined {
  const r = readRelation(raw, path, problems);
  if (!r) return undefined;
  const before = problems.length;

  if (r.source === undefined) {
    if (r.type !== 'requires')
      problems.push({ path: `${path}.${r.sourceKey}`, message: `a ${r.type} relation needs an actor` });
  } else {
    checkReference(terms, r.source, ['actor'], `${path}.${r.sourceKey}`, problems);
  }
  checkReference(terms, r.target, ['action'], `${path}.${r.targetKey}`, problems);
  if (r.object !== undefined) checkReference(terms, r.object, ['data_class', 'resource'], `${path}.object`, problems);

  const conditionText = [...(r.conditions ?? []), ...(r.condition ? [r.condition] : [])];
  if (r.type === 'requires' && conditionText.length === 0) {
    problems.push({ path: `${path}.condition`, message: 'a requires relation needs a condition to require' });
  }
  const conditions: Condition[] = [];
  conditionText.forEach((expression, i) => {
    const parsed = parseCondition(expression);
    const at = r.condition && i === conditionText.length - 1 ? `${path}.condition` : `${path}.conditions[${i}]`;
    if (parsed.ok) conditions.push(parsed.condition);
    else problems.push({ path: at, message: `invalid condition "${expression}": ${parsed.error}` });
  });
  if (problems.length > before) return undefined;

  const relation: Relation = {
    id: r.relationId ?? `${r.type}:${r.source ?? '*'}:${r.target}${r.object ? `:${r.object}` : ''}`,
    type: r.type,
    target: r.target,
    conditions,
    conditionText,
  };
  if (r.source !== undefined) relation.source = r.source;
  if (r.object !== undefined) relation.object = r.object;
  if (r.justification !== undefined) relation.justification = r.justification;
  if (r.severity) relation.severity = r.severity;
  if (r.framework) relation.framework = r.framework;
  return relation;
}

function hasKey(raw: unknown, key: string): boolean {
  return raw !== null && typeof raw === 'object' && key in raw;
}

function parseConstraint(raw: unknown, path: string, problems: PolicyProblem[]): Constraint | undefined {
  const result = constraintSchema.safeParse(raw);
  if (!result.success) {
    problems.push(...zodProblems(result.error, path));
    return undefined;
  }
  const c = result.data;
  const parsed = parseCondition(c.condition);
  if (!parsed.ok) {
    problems.push({ path: `${path}.condition`, message: `invalid condition "${c.condition}": ${parsed.error}` });
    return undefined;
  }
  const constraint: Constraint = {
    name: c.name,
    condition: parsed.condition,
    conditionText: c.condition,
    effect: c.action,
  };
  if (c.obligation) constraint.obligation = c.obligation;
  if (c.justification) constraint.justification = c.justification;
  return constraint;
}

function checkReference(
  terms: ReadonlyMap<string, Term>,
  ref: string,
  allowed: TermType[],
  path: string,
  problems: PolicyProblem[],
): void {
  const term = terms.get(ref);
  if (!term) problems.push({ path, message: `references undefined term "${ref}"` });
  else if (!allowed.includes(term.type)) {
    problems.push({ path, message: `term "${ref}" is a ${term.type}, expected ${allowed.join(' or ')}` });
  }
}

function buildLookup(terms: ReadonlyMap<string, Term>): CompiledPolicy['lookup'] {
  const actor = new Map<string, string[]>();
  const action = new Map<string, string[]>();
  const data = new Map<string, string[]>();
  const add = (map: Map<string, string[]>, key: string, termId: string) => {
    const ids = map.get(key);
    if (!ids) map.set(key, [termId]);
    else if (!ids.includes(termId)) ids.push(termId);
  };
  for (const term of terms.values()) {
    const map =
      term.type === 'actor' ? actor : term.type === 'action' ? action : term.type === 'context' ? undefined : data;
    if (!map) continue;
    // Exact id or exact label only. Substring matching (upstream) let `use` act as `user`.
    add(map, term.id, term.id);
    add(map, term.label, term.id);
  }
  return { actor, action, data };
}

export function relationKey(source: string | undefined, target: string): string {
  return `${source ?? '*'}\0${target}`;
}

function indexRelations(relations: readonly Relation[]): Map<string, Relation[]> {
  const byPair = new Map<string, Relation[]>();
  for (const relation of relations) {
    const key = relationKey(relation.source, relation.target);
    const list = byPair.get(key);
    if (list) list.push(relation);
    else byPair.set(key, [relation]);
  }
  return byPair;
}

function zodProblems(error: z.ZodError, prefix: string): PolicyProblem[] {
  return error.issues.map((issue) => ({ path: joinPath(prefix, issue.path), message: issue.message }));
}

export function joinPath(prefix: string, segments: readonly PropertyKey[]): string {
  let path = prefix;
  for (const segment of segments) {
    path += typeof segment === 'number' ? `[${segment}]` : path ? `.${String(segment)}` : String(segment);
  }
  return path;
}
