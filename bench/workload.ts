/**
 * What the benchmark asks the service: a small clinical-operations policy with permits, forbids, a
 * condition, a constraint and two compliance frameworks, and a rotation of requests that lands on
 * each outcome (permit, permit with an obligation, deny by prohibition with violations, deny by default).
 */
import type { DecisionRequestInput } from '../src/decisions/schemas';

export const BENCH_POLICY = {
  name: 'benchmark clinical operations',
  version: '1.0',
  mode: 'strict',
  compliance_frameworks: ['HIPAA', 'SOC2'],
  terms: [
    { id: 'actor:clinical_assistant', type: 'actor', name: 'ai_clinical_assistant' },
    { id: 'actor:billing_agent', type: 'actor', name: 'billing_agent' },
    { id: 'actor:research_agent', type: 'actor', name: 'research_agent' },
    { id: 'action:analyze_image', type: 'action', name: 'analyze_medical_image' },
    { id: 'action:read_invoice', type: 'action', name: 'read_invoice' },
    { id: 'action:export_records', type: 'action', name: 'export_records' },
    { id: 'data:deidentified', type: 'data_class', name: 'deidentified', sensitivity: 'low' },
    { id: 'data:phi', type: 'data_class', name: 'phi', sensitivity: 'critical' },
    { id: 'data:financial', type: 'data_class', name: 'financial', sensitivity: 'medium' },
  ],
  relations: [
    {
      type: 'permits',
      subject: 'actor:clinical_assistant',
      action: 'action:analyze_image',
      object: 'data:deidentified',
      justification: 'Radiology triage on de-identified images',
    },
    {
      type: 'permits',
      subject: 'actor:billing_agent',
      action: 'action:read_invoice',
      object: 'data:financial',
      conditions: ['request.risk_level <= 3'],
    },
    {
      type: 'forbids',
      subject: 'actor:research_agent',
      action: 'action:export_records',
      object: 'data:phi',
      framework: 'HIPAA',
      severity: 'critical',
      justification: 'PHI may not leave the covered entity',
    },
    {
      type: 'forbids',
      subject: 'actor:billing_agent',
      action: 'action:export_records',
      object: 'data:financial',
      justification: 'Bulk export of financial data needs a change ticket',
    },
  ],
  constraints: [
    {
      name: 'log_financial_access',
      condition: "'financial' in request.data_classes",
      action: 'annotate',
      obligation: 'log_access',
    },
  ],
};

/** Each autocannon connection cycles through these in order. */
export const DECISION_REQUESTS = [
  {
    actor: 'ai_clinical_assistant',
    proposed_action: 'analyze_medical_image',
    tool: 'radiology_viewer',
    user_intent: 'Flag anomalies in a de-identified chest X-ray',
    data_classes: ['deidentified'],
    risk_level: 2,
    context: { department: 'radiology' },
  },
  {
    actor: 'research_agent',
    proposed_action: 'export_records',
    tool: 'bulk_exporter',
    user_intent: 'Export patient records for a cohort study',
    data_classes: ['phi'],
    risk_level: 4,
    context: { destination: 'external_sftp' },
  },
  {
    actor: 'billing_agent',
    proposed_action: 'read_invoice',
    tool: 'erp_client',
    user_intent: 'Reconcile last month’s invoices',
    data_classes: ['financial'],
    risk_level: 2,
    context: { month: '2026-10' },
  },
  {
    actor: 'billing_agent',
    proposed_action: 'export_records',
    tool: 'bulk_exporter',
    user_intent: 'Export the ledger to a spreadsheet',
    data_classes: ['financial'],
    risk_level: 3,
    context: {},
  },
  {
    actor: 'research_agent',
    proposed_action: 'analyze_medical_image',
    tool: 'radiology_viewer',
    user_intent: 'Train on chest X-rays',
    data_classes: ['deidentified'],
    risk_level: 2,
    context: {},
  },
] satisfies DecisionRequestInput[];
