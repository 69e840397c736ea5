import { z } from 'zod';
import { type DecisionRequest, DecisionRequestSchema } from '../decisions/schemas';
import { REASON_CODES } from '../governance/evaluate';
import { jsonPointer } from '../governance/field-path';
import type { PolicyProblem } from '../governance/policy';
import { RISK_LEVELS } from '../governance/risk';

/**
 * A policy tests file: decision cases, each a request as POST /api/decide takes it and the outcome it
 * must get. docs/policy-language.md ("Testing policies") documents the format and these limits.
 */
export const TESTS_FILE_LIMITS = { cases: 10_000, nameLength: 500, listItems: 1_000 };

/** The fields an expectation may pin, in the order a failing case reports them. */
export const EXPECTED_FIELDS = [
  'allowed',
  'decision',
  'reason_code',
  'reason',
  'risk_level',
  'violations',
  'obligations',
  'matched_relations',
] as const;
export type ExpectedField = (typeof EXPECTED_FIELDS)[number];

/** Fields compared as sets: order and repetition do not matter. */
export const SET_FIELDS: ReadonlySet<ExpectedField> = new Set(['violations', 'obligations', 'matched_relations']);

const names = z.array(z.string().min(1).max(512)).max(TESTS_FILE_LIMITS.listItems);

// Strict, so that a misspelt field ("allow") is a problem rather than an expectation never checked.
const ExpectationSchema = z
  .strictObject({
    allowed: z.boolean().optional(),
    decision: z.enum(['permit', 'deny', 'escalate']).optional(),
    reason_code: z.enum(REASON_CODES).optional(),
    reason: z.string().optional(),
    risk_level: z.enum(RISK_LEVELS).optional(),
    /** Compliance frameworks violated, e.g. HIPAA. */
    violations: names.optional(),
    obligations: names.optional(),
    matched_relations: names.optional(),
  })
  .refine((expect) => Object.keys(expect).length > 0, {
    message: `expect needs at least one of ${EXPECTED_FIELDS.join(', ')}`,
    // A misspelt field is reported as such, not also as an empty expectation.
    when: (payload) => payload.issues.length === 0,
  });

const CaseSchema = z.strictObject({
  name: z.string().trim().min(1).max(TESTS_FILE_LIMITS.nameLength),
  request: DecisionRequestSchema,
  expect: ExpectationSchema,
});

const TestsFileSchema = z.strictObject({
  cases: z.array(CaseSchema).min(1).max(TESTS_FILE_LIMITS.cases),
});

export type Expectation = z.output<typeof ExpectationSchema>;
export type PolicyTestCase = z.output<typeof CaseSchema>;
export type PolicyTestSuite = z.output<typeof TestsFileSchema>;

export type TestsFileResult = { ok: true; suite: PolicyTestSuite } | { ok: false; problems: PolicyProblem[] };

/**
 * Validates a tests file's parsed JSON or YAML, reporting every problem with its RFC 6901 pointer,
 * as a policy's problems are reported. Each case's request is read exactly as POST /api/decide reads
 * its body, defaults included.
 */
export function readTestsFile(value: unknown): TestsFileResult {
  const parsed = TestsFileSchema.safeParse(value);
  const problems = parsed.success ? [] : parsed.error.issues.flatMap((issue) => issueProblems(issue, allowedKeys));
  problems.push(...duplicateNames(value));
  if (!parsed.success || problems.length > 0) return { ok: false, problems };
  return { ok: true, suite: parsed.data };
}

/** A decision request as POST /api/decide reads its body, or every problem with its pointer. */
export function readDecisionRequest(
  value: unknown,
): { ok: true; request: DecisionRequest } | { ok: false; problems: PolicyProblem[] } {
  const parsed = DecisionRequestSchema.safeParse(value);
  if (parsed.success) return { ok: true, request: parsed.data };
  const requestKeys = (path: readonly PropertyKey[]) => (path.length === 0 ? REQUEST_KEYS : undefined);
  return { ok: false, problems: parsed.error.issues.flatMap((issue) => issueProblems(issue, requestKeys)) };
}

const REQUEST_KEYS = Object.keys(DecisionRequestSchema.shape);

/** An unknown key is reported at the key itself, naming what is allowed there. */
function issueProblems(
  issue: z.core.$ZodIssue,
  allowedAt: (path: readonly PropertyKey[]) => readonly string[] | undefined,
): PolicyProblem[] {
  if (issue.code === 'unrecognized_keys') {
    const allowed = allowedAt(issue.path);
    return issue.keys.map((key) => ({
      pointer: jsonPointer('', [...issue.path, key]),
      message: `unknown field "${key}"${allowed ? `; allowed: ${allowed.join(', ')}` : ''}`,
    }));
  }
  return [{ pointer: jsonPointer('', issue.path), message: issue.message }];
}

function allowedKeys(path: readonly PropertyKey[]): readonly string[] | undefined {
  if (path.length === 0) return ['cases'];
  if (path.length === 2) return Object.keys(CaseSchema.shape);
  if (path[2] === 'expect') return EXPECTED_FIELDS;
  if (path[2] === 'request') return REQUEST_KEYS;
  return undefined;
}

/** A case is known by its name in every report, so two cases may not share one. */
function duplicateNames(value: unknown): PolicyProblem[] {
  const cases = (value as { cases?: unknown } | null)?.cases;
  if (!Array.isArray(cases)) return [];
  const first = new Map<string, number>();
  const problems: PolicyProblem[] = [];
  cases.forEach((c: unknown, i) => {
    const name = (c as { name?: unknown } | null)?.name;
    if (typeof name !== 'string') return;
    const key = name.trim();
    const earlier = first.get(key);
    if (earlier === undefined) first.set(key, i);
    else
      problems.push({ pointer: `/cases/${i}/name`, message: `duplicate case name "${key}" (also /cases/${earlier})` });
  });
  return problems;
}
