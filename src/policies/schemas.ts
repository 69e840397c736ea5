/**
 * The policy API's shapes that the core answers with or reads: a document as sent, and what a
 * validation of it finds. Written with zod alone; `.meta` carries the OpenAPI names and descriptions.
 */
import { z } from 'zod';
import { MODES } from '../governance/policy';

export const PolicyDocumentSchema = z.record(z.string(), z.unknown()).meta({
  id: 'PolicyDocument',
  description:
    'A policy in the upstream JSON format, full form (terms[{term_id,term_type,label}], relations[{relation_id,relation_type,source,target,conditions}]) or short form (terms[{id,type,name}], relations[{type,subject,action,object?,condition?,justification?}]), optionally wrapped as {"policy": {...}}. See docs/policy-language.md.',
  example: {
    name: 'Example',
    version: '1.0',
    mode: 'strict',
    terms: [
      { id: 'actor:model', type: 'actor', name: 'model' },
      { id: 'action:search', type: 'action', name: 'search' },
    ],
    relations: [{ type: 'permits', subject: 'actor:model', action: 'action:search', justification: 'Search is safe' }],
  },
});

export const PolicyProblemSchema = z
  .object({
    pointer: z.string().meta({
      description:
        'RFC 6901 JSON pointer to the value the problem is about, into the body as sent ("" is the whole body)',
    }),
    message: z.string(),
  })
  .meta({ id: 'PolicyProblem', example: { pointer: '/relations/3/conditions/0', message: 'unknown operator "~="' } });

/** What a load would record of a valid policy (the policy_loaded ledger entry's fields, its hash as `hash`). */
export const PolicyFactsSchema = z
  .object({
    name: z.string(),
    policy_version: z.string().meta({ description: 'The document’s own `version` field' }),
    mode: z.enum(MODES),
    hash: z
      .string()
      .meta({ description: 'SHA-256 of the RFC 8785 canonical JSON of the document, as a load records it' }),
    terms_count: z.number().int(),
    relations_count: z.number().int(),
    constraints_count: z.number().int(),
    compliance_frameworks: z.array(z.string()),
  })
  .meta({ id: 'PolicyFacts' });

export const PolicyValidationSchema = z
  .discriminatedUnion('valid', [
    z.object({
      valid: z.literal(false),
      problems: z.array(PolicyProblemSchema).min(1).meta({ description: 'Every problem a load would report' }),
    }),
    z.object({
      valid: z.literal(true),
      problems: z.array(PolicyProblemSchema).max(0),
      policy: PolicyFactsSchema,
      identical_to_active: z.boolean().meta({
        description: 'The document hashes as the newest loaded one: a load of it would answer 200 unchanged',
      }),
    }),
  ])
  .meta({
    id: 'PolicyValidation',
    description:
      'What a load of the document would find, found without loading it: nothing is stored, activated or written to the ledger.',
  });

export type PolicyFacts = z.infer<typeof PolicyFactsSchema>;
export type PolicyValidation = z.infer<typeof PolicyValidationSchema>;
