import { z } from 'zod';
import { type Condition, parseCondition } from './condition';
import { jsonPointer } from './field-path';

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

/** A problem in a policy document; `pointer` (RFC 6901) names the value it is about, `""` the whole document. */
export interface PolicyProblem {
  pointer: string;
  message: string;
}

/** One line per problem, as the CLI and startup errors print it: `/relations/3/conditions/0: invalid …`. */
export function describeProblem(problem: PolicyProblem): string {
  return `${problem.pointer === '' ? '(document)' : problem.pointer}: ${problem.message}`;
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

const headerSchema = z.looseObject({
  name: z.string().min(1).max(200).default('unnamed policy'),
  version: z.string().min(1).max(64).default('1.0'),
  description: text.optional(),
  mode: z.enum(MODES).default('strict'),
  compliance_frameworks: z.array(z.string().min(1).max(100)).max(50).default([]),
});

/** Accepts `{...policy}` or the upstream wrapper `{"policy": {...}}`; returns the document itself. */
export function unwrapPolicyDocument(input: unknown): unknown {
  if (isRecord(input)) {
    if (Object.keys(input).length === 1 && isRecord(input.policy)) return input.policy;
  }
  return input;
}

/**
 * What a load does with a document as sent: unwraps it and compiles what is inside. Problems point
 * into the document as sent, so a wrapped one's start with `/policy`.
 */
export function readPolicyDocument(input: unknown): { document: unknown; compiled: CompileResult } {
  const document = unwrapPolicyDocument(input);
  const compiled = compilePolicy(document);
  if (compiled.ok || document === input) return { document, compiled };
  const problems = compiled.problems.map((p) => ({ ...p, pointer: `/policy${p.pointer}` }));
  return { document, compiled: { ok: false, problems } };
}

/**
 * Validates a policy document and compiles it, reporting every problem found, not just the first:
 * a malformed field is reported and checking goes on with what can still be read.
 */
export function compilePolicy(input: unknown): CompileResult {
  if (!isRecord(input)) return { ok: false, problems: [{ pointer: '', message: 'a policy must be a JSON object' }] };
  const problems: PolicyProblem[] = [];
  const header = headerSchema.safeParse(input);
  if (!header.success) problems.push(...zodProblems(header.error, ''));
  const frameworks = header.success ? header.data.compliance_frameworks : stringsIn(input.compliance_frameworks);
  let listsReadable = true;
  const list = (key: 'terms' | 'relations' | 'constraints'): unknown[] => {
    const value = input[key];
    if (value === undefined) return [];
    if (!Array.isArray(value) || value.length > POLICY_LIMITS[key]) {
      const message = Array.isArray(value) ? `at most ${POLICY_LIMITS[key]} ${key} are allowed` : 'must be an array';
      problems.push({ pointer: `/${key}`, message });
      listsReadable = false;
      return [];
    }
    return value;
  };
  const rawTerms = list('terms');
  const rawRelations = list('relations');
  const rawConstraints = list('constraints');
  if (listsReadable && rawTerms.length === 0 && rawRelations.length === 0) {
    problems.push({ pointer: '/terms', message: 'a policy needs at least one term or relation' });
  }

  const terms = new Map<string, Term>();
  // Every id and name a request could send, per kind of term: one value must mean one term.
  const names = new Map<string, string>();
  rawTerms.forEach((raw, i) => {
    const term = parseTerm(raw, `/terms/${i}`, problems);
    if (!term) return;
    if (terms.has(term.id)) {
      problems.push({ pointer: `/terms/${i}`, message: `duplicate term id "${term.id}"` });
      return;
    }
    for (const value of new Set([term.id, term.label])) {
      const key = `${lookupGroup(term.type)}\0${value}`;
      const owner = names.get(key);
      if (owner && owner !== term.id) {
        problems.push({
          pointer: `/terms/${i}`,
          message: `"${value}" already names ${term.type} term "${owner}"; a request sending it would match both`,
        });
      }
      names.set(key, term.id);
    }
    terms.set(term.id, term);
  });

  const relations: Relation[] = [];
  const relationIds = new Set<string>();
  rawRelations.forEach((raw, i) => {
    const path = `/relations/${i}`;
    const relation = parseRelation(raw, path, terms, problems);
    if (!relation) return;
    if (relation.framework !== undefined && !frameworks.includes(relation.framework)) {
      problems.push({
        pointer: `${path}/framework`,
        message: `"${relation.framework}" is not one of the policy's compliance_frameworks`,
      });
    }
    let relationId = relation.id;
    if (relationIds.has(relationId) && hasKey(raw, 'relation_id')) {
      problems.push({ pointer: `${path}/relation_id`, message: `duplicate relation id "${relationId}"` });
    }
    // Generated ids of repeated relations get a suffix so every id stays unique.
    for (let n = 2; relationIds.has(relationId); n++) relationId = `${relation.id}#${n}`;
    relationIds.add(relationId);
    relations.push({ ...relation, id: relationId });
  });

  const constraints: Constraint[] = [];
  rawConstraints.forEach((raw, i) => {
    const constraint = parseConstraint(raw, `/constraints/${i}`, problems);
    if (constraint) constraints.push(constraint);
  });

  if (problems.length > 0 || !header.success) return { ok: false, problems };
  const doc = header.data;
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

/** Reports schema problems, then reads what it can so that later checks still run. */
function parseTerm(raw: unknown, path: string, problems: PolicyProblem[]): Term | undefined {
  const full = hasKey(raw, 'term_id');
  const result = (full ? fullTerm : shortTerm).safeParse(raw);
  if (!result.success) problems.push(...zodProblems(result.error, path));
  if (!isRecord(raw)) return undefined;
  const id = raw[full ? 'term_id' : 'id'];
  const type = raw[full ? 'term_type' : 'type'];
  const label = raw[full ? 'label' : 'name'];
  if (typeof id !== 'string' || typeof label !== 'string' || !isOneOf(TERM_TYPES, type)) return undefined;
  const term: Term = { id, type, label };
  if (isOneOf(SENSITIVITIES, raw.sensitivity)) term.sensitivity = raw.sensitivity;
  return term;
}

/** The fields of a relation once the two upstream spellings are reconciled. */
interface RelationFields {
  type: RelationType;
  relationId?: string;
  source?: string;
  target?: string;
  sourceKey: string;
  targetKey: string;
  object?: string;
  /** Where the object was written: `object`, or the full form's `metadata/object`. */
  objectKey: string;
  justification?: string;
  severity?: Sensitivity;
  framework?: string;
  conditionText: string[];
  conditionPaths: string[];
}

function readRelation(raw: unknown, path: string, problems: PolicyProblem[]): RelationFields | undefined {
  const full = hasKey(raw, 'relation_type');
  const result = (full ? fullRelation : shortRelation).safeParse(raw);
  if (!result.success) problems.push(...zodProblems(result.error, path));
  if (!isRecord(raw)) return undefined;
  const type = raw[full ? 'relation_type' : 'type'];
  if (!isOneOf(RELATION_TYPES, type)) return undefined;
  const metadata = isRecord(raw.metadata) ? raw.metadata : {};
  const conditions = Array.isArray(raw.conditions) ? raw.conditions : [];
  const conditionText: string[] = [];
  const conditionPaths: string[] = [];
  conditions.forEach((c, i) => {
    if (typeof c !== 'string') return;
    conditionText.push(c);
    conditionPaths.push(`${path}/conditions/${i}`);
  });
  if (typeof raw.condition === 'string') {
    conditionText.push(raw.condition);
    conditionPaths.push(`${path}/condition`);
  }
  return {
    type,
    relationId: stringOrUndefined(raw.relation_id),
    source: stringOrUndefined(raw[full ? 'source' : 'subject']),
    target: stringOrUndefined(raw[full ? 'target' : 'action']),
    sourceKey: full ? 'source' : 'subject',
    targetKey: full ? 'target' : 'action',
    object: stringOrUndefined(raw.object) ?? stringOrUndefined(metadata.object),
    objectKey: typeof raw.object === 'string' ? 'object' : 'metadata/object',
    justification: stringOrUndefined(raw.justification) ?? stringOrUndefined(metadata.justification),
    severity: isOneOf(SENSITIVITIES, raw.severity) ? raw.severity : undefined,
    framework: stringOrUndefined(raw.framework),
    conditionText,
    conditionPaths,
  };
}

function parseRelation(
  raw: unknown,
  path: string,
  terms: ReadonlyMap<string, Term>,
  problems: PolicyProblem[],
): Relation | undefined {
  const before = problems.length;
  const r = readRelation(raw, path, problems);
  if (!r) return undefined;

  if (r.source === undefined) {
    if (r.type !== 'requires')
      problems.push({ pointer: `${path}/${r.sourceKey}`, message: `a ${r.type} relation needs an actor` });
  } else {
    checkReference(terms, r.source, ['actor'], `${path}/${r.sourceKey}`, problems);
  }
  if (r.target !== undefined) checkReference(terms, r.target, ['action'], `${path}/${r.targetKey}`, problems);
  if (r.object !== undefined)
    checkReference(terms, r.object, ['data_class', 'resource'], `${path}/${r.objectKey}`, problems);
  if (r.type === 'requires' && r.conditionText.length === 0) {
    problems.push({ pointer: `${path}/condition`, message: 'a requires relation needs a condition to require' });
  }
  const conditions: Condition[] = [];
  r.conditionText.forEach((expression, i) => {
    const parsed = parseCondition(expression);
    if (parsed.ok) conditions.push(parsed.condition);
    else
      problems.push({
        pointer: r.conditionPaths[i] as string,
        message: `invalid condition "${expression}": ${parsed.error}`,
      });
  });
  if (problems.length > before || r.target === undefined) return undefined;

  const relation: Relation = {
    id: r.relationId ?? `${r.type}:${r.source ?? '*'}:${r.target}${r.object ? `:${r.object}` : ''}`,
    type: r.type,
    target: r.target,
    conditions,
    conditionText: r.conditionText,
  };
  if (r.source !== undefined) relation.source = r.source;
  if (r.object !== undefined) relation.object = r.object;
  if (r.justification !== undefined) relation.justification = r.justification;
  if (r.severity) relation.severity = r.severity;
  if (r.framework) relation.framework = r.framework;
  return relation;
}

function parseConstraint(raw: unknown, path: string, problems: PolicyProblem[]): Constraint | undefined {
  const before = problems.length;
  const result = constraintSchema.safeParse(raw);
  if (!result.success) problems.push(...zodProblems(result.error, path));
  if (!isRecord(raw)) return undefined;
  let condition: Condition | undefined;
  if (typeof raw.condition === 'string') {
    const parsed = parseCondition(raw.condition);
    if (parsed.ok) condition = parsed.condition;
    else
      problems.push({ pointer: `${path}/condition`, message: `invalid condition "${raw.condition}": ${parsed.error}` });
  }
  if (raw.obligation !== undefined && raw.action !== 'annotate') {
    problems.push({ pointer: `${path}/obligation`, message: 'only an annotate constraint carries an obligation' });
  }
  if (problems.length > before || !result.success || !condition) return undefined;
  const c = result.data;
  const constraint: Constraint = { name: c.name, condition, conditionText: c.condition, effect: c.action };
  if (c.obligation) constraint.obligation = c.obligation;
  if (c.justification) constraint.justification = c.justification;
  return constraint;
}

function hasKey(raw: unknown, key: string): boolean {
  return isRecord(raw) && key in raw;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function isOneOf<T extends string>(allowed: readonly T[], value: unknown): value is T {
  return typeof value === 'string' && (allowed as readonly string[]).includes(value);
}

function stringOrUndefined(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function stringsIn(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/** Terms a request value is looked up among: data classes and resources share one namespace. */
function lookupGroup(type: TermType): string {
  return type === 'data_class' || type === 'resource' ? 'data' : type;
}

function checkReference(
  terms: ReadonlyMap<string, Term>,
  ref: string,
  allowed: TermType[],
  pointer: string,
  problems: PolicyProblem[],
): void {
  const term = terms.get(ref);
  if (!term) problems.push({ pointer, message: `references undefined term "${ref}"` });
  else if (!allowed.includes(term.type)) {
    const article = /^[aeiou]/.test(term.type) ? 'an' : 'a';
    problems.push({ pointer, message: `term "${ref}" is ${article} ${term.type}, expected ${allowed.join(' or ')}` });
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
  return error.issues.map((issue) => ({ pointer: jsonPointer(prefix, issue.path), message: issue.message }));
}
