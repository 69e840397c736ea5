/**
 * The decision API's shapes, and the types inferred from them. Written with zod alone: its `.meta`
 * carries the OpenAPI descriptions, examples and component names (`id`), which @hono/zod-openapi
 * reads as it reads its own `.openapi(...)`, so the HTTP shell documents these schemas as they are.
 */
import { z } from 'zod';
import { REASON_CODES } from '../governance/evaluate';
import { CONSTRAINT_EFFECTS, MODES, RELATION_TYPES, SENSITIVITIES } from '../governance/policy';
import { RISK_LEVELS } from '../governance/risk';
import { RELATION_EFFECTS } from '../governance/trace';
import { PolicyDocumentSchema } from '../policies/schemas';

/** Upstream's limits on `context`: enough for real callers, small enough for every ledger entry. */
export const CONTEXT_LIMITS = { keys: 100, bytes: 64 * 1024, depth: 5, stringLength: 10_000, arrayLength: 1000 };

const ContextSchema = z
  .record(z.string().min(1).max(256), z.unknown())
  .superRefine((context, ctx) => {
    if (Object.keys(context).length > CONTEXT_LIMITS.keys) {
      ctx.addIssue({ code: 'custom', message: `at most ${CONTEXT_LIMITS.keys} keys` });
    }
    if (jsonBytes(context) > CONTEXT_LIMITS.bytes) {
      ctx.addIssue({ code: 'custom', message: `at most ${CONTEXT_LIMITS.bytes} bytes of JSON` });
    }
    const problem = contextValueProblem(context, 1);
    if (problem) ctx.addIssue({ code: 'custom', path: problem.path, message: problem.message });
  })
  .meta({
    description:
      'Facts about the request that policy conditions may test. Values: string, number, boolean, array, object (no null); depth ≤ 5, strings ≤ 10,000 characters, arrays ≤ 1,000 items, ≤ 100 keys, ≤ 64 KiB.',
  });

const encoder = new TextEncoder();

/** UTF-8 size of the JSON text; encodes only when the character count cannot decide it. */
function jsonBytes(value: unknown): number {
  const json = JSON.stringify(value);
  // A UTF-16 code unit takes 1 to 3 UTF-8 bytes.
  if (json.length * 3 <= CONTEXT_LIMITS.bytes || json.length > CONTEXT_LIMITS.bytes) return json.length;
  return encoder.encode(json).length;
}

function contextValueProblem(
  value: unknown,
  depth: number,
  path: (string | number)[] = [],
): { path: (string | number)[]; message: string } | undefined {
  if (value === null) return { path, message: 'null is not allowed in context' };
  if (typeof value === 'string') {
    return value.length > CONTEXT_LIMITS.stringLength
      ? { path, message: `strings are limited to ${CONTEXT_LIMITS.stringLength} characters` }
      : undefined;
  }
  if (typeof value !== 'object') return undefined;
  if (depth > CONTEXT_LIMITS.depth)
    return { path, message: `context is limited to ${CONTEXT_LIMITS.depth} levels of nesting` };
  if (Array.isArray(value)) {
    if (value.length > CONTEXT_LIMITS.arrayLength)
      return { path, message: `arrays are limited to ${CONTEXT_LIMITS.arrayLength} items` };
    for (const [i, item] of value.entries()) {
      const problem = contextValueProblem(item, depth + 1, [...path, i]);
      if (problem) return problem;
    }
    return undefined;
  }
  for (const [key, child] of Object.entries(value)) {
    const problem = contextValueProblem(child, depth + 1, [...path, key]);
    if (problem) return problem;
  }
  return undefined;
}

export const OUTPUT_TYPES = ['tool_action', 'permit', 'deny', 'escalate'] as const;

const decisionRequestExample = {
  request_id: 'req-2026-11-27-0001',
  actor: 'ai_clinical_assistant',
  proposed_action: 'analyze_medical_image',
  tool: 'radiology_viewer',
  user_intent: 'Flag anomalies in a de-identified chest X-ray',
  data_classes: ['deidentified'],
  risk_level: 2,
  context: { department: 'radiology' },
};

export const DecisionRequestSchema = z
  .strictObject({
    request_id: z
      .string()
      .regex(/^[A-Za-z0-9._:-]{1,128}$/, 'must be 1–128 of A-Z a-z 0-9 . _ : -')
      .optional()
      .meta({ description: 'Caller’s id for this request; defaults to the X-Request-ID' }),
    actor: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9_\-.@:]+$/, 'must be letters, digits and _ - . @ :')
      .meta({ description: 'Who acts: a term id (actor:x) or its exact name' }),
    proposed_action: z
      .string()
      .trim()
      .min(1)
      .max(512)
      .regex(/^[A-Za-z0-9_\-.\s/:()]+$/, 'must be letters, digits, spaces and _ - . / : ( )')
      .meta({ description: 'What it wants to do: an action term id or its exact name' }),
    tool: z
      .string()
      .trim()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9_\-.:]+$/, 'must be letters, digits and _ - . :'),
    user_intent: z.string().max(2048),
    data_classes: z.array(z.string().min(1).max(512)).max(1000).default([]),
    risk_level: z.number().int().min(1).max(5).default(1).meta({ description: 'Declared risk, 1 (lowest) to 5' }),
    requested_output_type: z
      .string()
      .transform((s) => s.toLowerCase())
      .pipe(z.enum(OUTPUT_TYPES))
      .default('tool_action')
      .meta({ description: 'Recorded for the audit trail; it does not change the outcome' }),
    policy_mode: z
      .enum(MODES)
      .optional()
      .meta({ description: 'May make evaluation stricter than the policy’s mode, never looser' }),
    context: ContextSchema.default({}),
  })
  .meta({ id: 'DecisionRequest', example: decisionRequestExample });

export const ViolationSchema = z
  .object({
    type: z.string().meta({ description: 'Compliance framework, e.g. HIPAA' }),
    severity: z.enum(SENSITIVITIES),
    relation_id: z.string(),
    justification: z.string().optional(),
  })
  .meta({ id: 'Violation' });

export const CapabilityTokenSchema = z
  .object({
    token_id: z.string(),
    decision_id: z.string(),
    scope: z.object({ actor: z.string(), action: z.string(), tool: z.string(), data_classes: z.array(z.string()) }),
    granted_at: z.string(),
    expiry: z.string(),
    policy_version_hash: z.string().nullable(),
  })
  .meta({
    id: 'CapabilityToken',
    description: 'Covered by the decision’s ledger signature; verify with /api/decide/verify',
  });

const Sha256Hex = z.string().regex(/^[0-9a-f]{64}$/);

export const ReceiptSchema = z
  .object({
    index: z.number().int().meta({ description: 'The entry’s index: its leaf in the ledger’s Merkle tree' }),
    tree_size: z.number().int().meta({ description: 'Leaves in the tree the checkpoint signs' }),
    leaf_hash: Sha256Hex.meta({
      description: 'RFC 9162 leaf hash, hex: SHA-256(0x00 ‖ the 32 bytes of ledger_entry_hash)',
    }),
    inclusion_proof: z.array(Sha256Hex).meta({
      description: 'RFC 9162 §2.1.3 inclusion proof of leaf_hash at index in the tree of tree_size leaves, hex',
    }),
    checkpoint: z.string().meta({
      description:
        'The C2SP signed note (a tlog-checkpoint: origin, tree size, base64 root hash) signed for the group commit ' +
        'that wrote the entry. Verify it with note_verifier_key from /api/ledger/public-key, then the proof against ' +
        'its root; later checkpoints must be consistent with it (/api/ledger/proof/consistency).',
    }),
  })
  .meta({
    id: 'Receipt',
    description: 'Proof that the decision is in the ledger, checkable offline with the ledger’s public key',
    // A real tree of 13 leaves and its checkpoint, signed by an example key (as in the ledger routes' examples).
    example: {
      index: 12,
      tree_size: 13,
      leaf_hash: 'b7f1a06bef2f1e6d04317aba6852c50e7a62c4741d492809e255967114b2832f',
      inclusion_proof: [
        '4b9be1f6135f6da17e6d7b49e308308cc6c39b994c8bca76ea8564c1bbfb1f81',
        '903c143004d09f0fb9a1ec895fa8979cdeefdb501a937f92fb4bbe746954972b',
      ],
      checkpoint:
        'lexecon/bf30ef574df4b6f5\n13\nsPG/IqPSl/KOQmMkVQeHA9SMz8wkMgnAkLSnJfnPuRY=\n\n' +
        '— lexecon/bf30ef574df4b6f5 bhjUzddFfwj67pcTgl5qHap1uXe16aZA6vwtUZuV3+zjYHcelLiN3JVZ0ARyvjcfumoOJnkJnciKbVD1Ph3ewk4OTgU=\n',
    },
  });

export const DecisionResponseSchema = z
  .object({
    decision_id: z.string(),
    request_id: z.string(),
    allowed: z.boolean(),
    decision: z.enum(['permit', 'deny', 'escalate']),
    reason: z.string(),
    reason_code: z.string(),
    risk_level: z.enum(RISK_LEVELS),
    violations: z.array(ViolationSchema),
    obligations: z.array(z.string()),
    matched_relations: z.array(z.string()),
    policy_mode: z.enum(MODES).nullable(),
    policy_version: z.number().int().nullable(),
    policy_version_hash: z.string().nullable(),
    ledger_entry_index: z.number().int(),
    ledger_entry_hash: z.string(),
    timestamp: z.string(),
    capability_token: CapabilityTokenSchema.optional(),
    receipt: ReceiptSchema,
  })
  .meta({ id: 'DecisionResponse' });

export const VerifyRequestSchema = z
  .looseObject({
    decision_id: z.string().max(64).optional(),
    ledger_entry_hash: z
      .string()
      .regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex characters')
      .optional(),
    request_id: z.string().max(128).optional(),
    allowed: z.boolean().optional(),
    decision: z.string().max(16).optional(),
    reason: z.string().max(20_000).optional(),
    risk_level: z.string().max(16).optional(),
    policy_version_hash: z.string().max(64).nullable().optional(),
    /** A response from before the Merkle tree carried its entry's signature. */
    signature: z.string().max(200).nullable().optional(),
    timestamp: z.string().max(64).optional(),
    capability_token: z.unknown().optional(),
    violations: z.unknown().optional(),
  })
  .refine((claim) => claim.decision_id !== undefined || claim.ledger_entry_hash !== undefined, {
    message: 'give decision_id or ledger_entry_hash (or a whole decision response)',
  })
  .meta({
    id: 'DecisionClaim',
    description:
      'A decision response as received, or just its decision_id; every field present is checked against the ledger.',
    example: { decision_id: 'dec_01JDQ7Z8X9ABCDEFGHJKMNPQRS' },
  });

export const VerificationSchema = z
  .object({
    verified: z.boolean(),
    decision_id: z.string().nullable(),
    ledger_entry_index: z.number().int().nullable(),
    checks: z.object({
      entry_found: z.boolean(),
      hash_valid: z.boolean(),
      signature_valid: z.boolean(),
      chain_link_valid: z.boolean(),
      fields_match: z.boolean(),
    }),
    mismatched_fields: z.array(z.string()),
  })
  .meta({ id: 'DecisionVerification' });

export const ExplainRequestSchema = z
  .strictObject({
    request: DecisionRequestSchema,
    policy: PolicyDocumentSchema.optional(),
  })
  .meta({
    id: 'ExplainRequest',
    description:
      'A decision request to explain, and optionally the policy to evaluate it against (any document POST /api/policies accepts, wrapped or not); without one, the active policy.',
    example: { request: decisionRequestExample },
  });

const TermMatchSchema = z
  .object({
    value: z.string().meta({ description: 'The value the request gave' }),
    terms: z
      .array(z.string())
      .meta({ description: 'The policy terms it names, by id; none: the policy does not know it' }),
  })
  .meta({ id: 'TermMatch' });

const ConditionStepSchema = z
  .object({
    condition: z.string().meta({ description: 'The condition as written in the policy' }),
    holds: z.boolean(),
    reads: z
      .array(z.object({ path: z.string(), value: z.unknown() }))
      .meta({ description: 'Every value the condition read (request.* and context.*), once each: null when absent' }),
  })
  .meta({ id: 'ConditionStep' });

const RelationStepSchema = z
  .object({
    id: z.string(),
    type: z.enum(RELATION_TYPES),
    actor: z.string().nullable().meta({ description: 'Actor term id; null: a requires relation for any actor' }),
    action: z.string(),
    object: z.string().nullable(),
    conditions: z.array(ConditionStepSchema),
    effect: z.enum(RELATION_EFFECTS).meta({
      description:
        'forbade, permitted, unmet (a requirement whose condition failed), met, conditions_failed (a permit or forbids whose conditions did not all hold) or not_applicable (a forbids or requires whose object the request does not touch)',
    }),
    decided: z.boolean().meta({ description: 'It is among the relations the outcome names (matched_relations)' }),
    justification: z.string().optional(),
  })
  .meta({ id: 'RelationStep' });

const ConstraintStepSchema = z
  .object({
    name: z.string(),
    effect: z.enum(CONSTRAINT_EFFECTS),
    condition: ConditionStepSchema,
    fired: z.boolean(),
    decided: z.boolean(),
    obligation: z.string().optional(),
  })
  .meta({ id: 'ConstraintStep' });

export const EvaluationTraceSchema = z
  .object({
    policy: z
      .object({
        name: z.string(),
        version: z.string(),
        mode: z.enum(MODES),
        compliance_frameworks: z.array(z.string()),
      })
      .nullable()
      .meta({ description: 'The policy evaluated; null when there was none' }),
    mode: z.object({
      policy: z.enum(MODES).nullable(),
      requested: z.enum(MODES).nullable(),
      effective: z.enum(MODES).nullable(),
      effect: z.string().meta({ description: 'What the effective mode does, in words' }),
    }),
    terms: z.object({ actor: TermMatchSchema, action: TermMatchSchema, data_classes: z.array(TermMatchSchema) }),
    relations: z
      .array(RelationStepSchema)
      .meta({ description: 'Every relation considered for the actor and action, in the policy’s order' }),
    constraints: z.array(ConstraintStepSchema).meta({ description: 'Every constraint of the policy' }),
    risk: z.object({
      declared: z.number().int(),
      data: z.array(z.object({ term: z.string(), sensitivity: z.enum(SENSITIVITIES).nullable() })),
      forbidden: z.boolean(),
      violations: z.number().int(),
      level: z.enum(RISK_LEVELS),
    }),
    violations: z.array(ViolationSchema),
    outcome: z.object({
      reason_code: z.enum(REASON_CODES),
      decided_by: z.array(z.string()),
      rule: z.string().meta({ description: 'Why the winning rule won' }),
    }),
  })
  .meta({
    id: 'EvaluationTrace',
    description:
      'How the outcome was reached, from the same evaluation a decision runs: the terms the request matched, each relation and constraint with its conditions’ values, the mode’s effect, the risk factors, the compliance rules that fired and the rule that won. docs/policy-language.md describes every field.',
  });

export const ExplanationSchema = z
  .object({
    recorded: z.literal(false),
    allowed: z.boolean(),
    decision: z.enum(['permit', 'deny', 'escalate']),
    reason: z.string(),
    reason_code: z.enum(REASON_CODES),
    risk_level: z.enum(RISK_LEVELS),
    violations: z.array(ViolationSchema),
    obligations: z.array(z.string()),
    matched_relations: z.array(z.string()),
    policy_mode: z.enum(MODES).nullable(),
    policy: z.object({
      source: z.enum(['active', 'request', 'none', 'file']).meta({
        description:
          'The policy evaluated: the active one, the one in the request, none (no policy is active: deny by default); file only from the command line',
      }),
      version: z.number().int().nullable().meta({ description: 'The loaded version, for the active policy' }),
      hash: z.string().nullable().meta({
        description: 'SHA-256 of the RFC 8785 canonical JSON of the document, as a load would record it',
      }),
    }),
    trace: EvaluationTraceSchema,
  })
  .meta({
    id: 'Explanation',
    description:
      'Not a decision: what POST /api/decide would answer for the request (the same outcome fields, from the same evaluation) with the trace that produced it. It has no decision_id, no capability token and no receipt; nothing of it is recorded in the ledger or counted as a decision, and it authorizes nothing.',
  });

/** A decision request as validated: defaults filled in, requested_output_type lower-cased. */
export type DecisionRequest = z.output<typeof DecisionRequestSchema>;
/** A decision request as a caller writes it: fields with defaults may be left out. */
export type DecisionRequestInput = z.input<typeof DecisionRequestSchema>;
export type CapabilityToken = z.infer<typeof CapabilityTokenSchema>;
export type DecisionResponse = z.infer<typeof DecisionResponseSchema>;
/** A decision response as received, whole or in part, to verify against the ledger. */
export type DecisionClaim = z.infer<typeof VerifyRequestSchema>;
export type DecisionVerification = z.infer<typeof VerificationSchema>;
export type ExplainRequest = z.output<typeof ExplainRequestSchema>;
