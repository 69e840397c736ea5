import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type DecisionInput, type Evaluation, evaluate } from './evaluate';
import { type CompiledPolicy, compilePolicy } from './policy';

const directory = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
const files = readdirSync(directory).filter((name) => name.endsWith('.json') && !name.endsWith('.tests.json'));

function read(file: string): Record<string, unknown> {
  return JSON.parse(readFileSync(`${directory}${file}`, 'utf8')) as Record<string, unknown>;
}

function load(file: string): CompiledPolicy {
  const result = compilePolicy(read(file));
  if (!result.ok) throw new Error(`${file}: ${JSON.stringify(result.problems)}`);
  return result.policy;
}

interface Example {
  name: string;
  request: Partial<DecisionInput> & Pick<DecisionInput, 'actor' | 'proposed_action'>;
  expected: Partial<Evaluation>;
}

/** One test per example, named by its sentence. */
function examples(cases: Example[], policy: CompiledPolicy): void {
  for (const { name, request, expected } of cases) {
    it(name, () => {
      expect(decide(policy, request)).toMatchObject(expected);
    });
  }
}

function decide(policy: CompiledPolicy, request: Example['request']): Evaluation {
  return evaluate(policy, { tool: 'agent', user_intent: '', data_classes: [], risk_level: 1, context: {}, ...request });
}

describe('examples/policies', () => {
  it('holds the four example policies', () => {
    expect(files.sort()).toEqual([
      'enterprise_general_policy.json',
      'financial_services_policy.json',
      'gdpr_compliance_policy.json',
      'hipaa_healthcare_policy.json',
    ]);
  });

  it.each(files)('%s compiles with no problems', (file) => {
    expect(compilePolicy(read(file))).toMatchObject({ ok: true });
  });

  it.each(files)('%s names every term with the word a caller sends and rates every data class', (file) => {
    const terms = read(file).terms as { id: string; type: string; name: string; sensitivity?: string }[];
    for (const term of terms) {
      expect(term.name).toBe(term.id.slice(term.id.indexOf(':') + 1));
      if (term.type === 'data_class') expect(term.sensitivity).toMatch(/^(low|medium|high|critical)$/);
    }
  });

  it.each(files)('%s keeps its description, metadata and audit requirements', (file) => {
    const document = read(file);
    expect(document).toHaveProperty('description');
    expect(document).toHaveProperty('metadata');
    expect(document).toHaveProperty('audit_requirements');
    expect(document.version).toBe('1.0.0');
  });
});

describe('hipaa_healthcare_policy.json', () => {
  const hipaa = load('hipaa_healthcare_policy.json');
  const assistant = { actor: 'ai_clinical_assistant', proposed_action: 'analyze_medical_image' };
  const providerAccess = { treatment_purpose: true, minimum_necessary: true, access_logged_with_audit_trail: true };

  it('is paranoid and reports HIPAA and HITECH violations', () => {
    expect(hipaa).toMatchObject({ mode: 'paranoid', frameworks: ['HIPAA', 'HITECH'] });
  });

  // Worked example in docs/policy-language.md.
  it('permits the AI clinical assistant to analyse a de-identified image at low risk and escalates it at high risk', () => {
    const request = { ...assistant, data_classes: ['deidentified'] };
    expect(decide(hipaa, { ...request, risk_level: 2 })).toMatchObject({
      decision: 'permit',
      reasonCode: 'permitted',
      reason: 'Permitted: HIPAA allows processing of de-identified data',
      riskLevel: 'low',
      matched: ['permits:actor:ai_clinical_assistant:action:analyze_medical_image:data:deidentified'],
    });
    expect(decide(hipaa, { ...request, risk_level: 4 })).toMatchObject({
      decision: 'escalate',
      reasonCode: 'constraint_escalation',
      reason: 'Escalated for human review: Healthcare risk management best practices - dual authorization',
      riskLevel: 'high',
    });
  });

  // Worked example in docs/policy-language.md.
  it('forbids the AI clinical assistant to view PHI, a critical HIPAA and HITECH violation', () => {
    const result = decide(hipaa, {
      actor: 'ai_clinical_assistant',
      proposed_action: 'view_phi',
      data_classes: ['phi'],
    });
    expect(result).toMatchObject({
      decision: 'deny',
      reasonCode: 'forbidden',
      reason: 'Denied: HIPAA Privacy Rule - minimum necessary standard requires human oversight',
      riskLevel: 'critical',
    });
    expect(result.violations.map((v) => `${v.type}:${v.severity}`)).toEqual(['HIPAA:critical', 'HITECH:critical']);
  });

  examples(
    [
      {
        name: 'the assistant is permitted at medium declared risk',
        request: { ...assistant, data_classes: ['deidentified'], risk_level: 3 },
        expected: { decision: 'permit', riskLevel: 'medium' },
      },
      {
        name: 'the assistant may be named by id',
        request: {
          actor: 'actor:ai_clinical_assistant',
          proposed_action: 'action:analyze_medical_image',
          data_classes: ['data:deidentified'],
        },
        expected: { decision: 'permit' },
      },
      {
        name: 'an image analysis that affects treatment goes to a clinician',
        request: {
          ...assistant,
          data_classes: ['deidentified'],
          context: { ai_recommendation_affects_treatment: true },
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'an image analysis naming no data class is not permitted',
        request: assistant,
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'an image analysis that also touches a limited data set is not permitted',
        request: { ...assistant, data_classes: ['deidentified', 'limited_dataset'] },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'an analysis reaching beyond the minimum necessary is denied',
        request: {
          ...assistant,
          data_classes: ['deidentified'],
          context: { data_scope: 10, minimum_necessary_scope: 2 },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'the assistant may not transmit PHI even over TLS',
        request: {
          actor: 'ai_clinical_assistant',
          proposed_action: 'transmit_phi',
          data_classes: ['phi'],
          context: { tls_1_2_or_higher: true },
        },
        expected: { decision: 'deny', reasonCode: 'forbidden' },
      },
      {
        name: 'the old label protected_health_information is no longer a data class, so nothing permits it',
        request: {
          actor: 'ai_clinical_assistant',
          proposed_action: 'view_phi',
          data_classes: ['protected_health_information'],
          context: { access_logged_with_audit_trail: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted', violations: [] },
      },
      {
        name: 'a provider viewing PHI for treatment is escalated, because PHI is critical and the policy is paranoid',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: providerAccess,
        },
        expected: { decision: 'escalate', reasonCode: 'risk_escalation', riskLevel: 'critical' },
      },
      {
        name: 'a provider viewing PHI without an audit trail is denied',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { treatment_purpose: true, minimum_necessary: true },
        },
        expected: {
          decision: 'deny',
          reasonCode: 'requirement_unmet',
          reason: 'Requirement not met: HIPAA 164.312(b) - audit controls',
        },
      },
      {
        name: 'a provider viewing PHI without a treatment purpose is not permitted',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { minimum_necessary: true, access_logged_with_audit_trail: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'an emergency override keeps the escalation and adds enhanced logging',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { ...providerAccess, emergency_override: true },
        },
        expected: { decision: 'escalate', obligations: ['enhanced_logging'] },
      },
      {
        name: 'a patient viewing their own records is escalated like any PHI access',
        request: {
          actor: 'patient',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { own_records_only: true, access_logged_with_audit_trail: true },
        },
        expected: { decision: 'escalate', reasonCode: 'risk_escalation' },
      },
      {
        name: 'a patient viewing records that are not only their own is not permitted',
        request: {
          actor: 'patient',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { access_logged_with_audit_trail: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'psychotherapy notes without explicit authorization are denied',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['psychotherapy_notes'],
          context: { access_logged_with_audit_trail: true },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'psychotherapy notes with explicit authorization are still not permitted, since no permit names them',
        request: {
          actor: 'healthcare_provider',
          proposed_action: 'view_phi',
          data_classes: ['data:psychotherapy_notes'],
          context: { access_logged_with_audit_trail: true, explicit_authorization: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'a clinical note the assistant writes without provider review is denied',
        request: { actor: 'ai_clinical_assistant', proposed_action: 'generate_clinical_note' },
        expected: { decision: 'deny', reasonCode: 'requirement_unmet' },
      },
      {
        name: 'a detected unauthorized access adds the breach notification workflow to a denial',
        request: {
          actor: 'ai_clinical_assistant',
          proposed_action: 'view_phi',
          data_classes: ['phi'],
          context: { unauthorized_access_detected: true },
        },
        expected: { decision: 'deny', reasonCode: 'forbidden', obligations: ['breach_notification_workflow'] },
      },
    ],
    hipaa,
  );
});

describe('enterprise_general_policy.json', () => {
  const enterprise = load('enterprise_general_policy.json');

  // Worked example in docs/policy-language.md.
  it('forbids the AI assistant to read confidential files, a SOC 2 and ISO 27001 violation', () => {
    const result = decide(enterprise, {
      actor: 'ai_assistant',
      proposed_action: 'read_file',
      data_classes: ['company_confidential'],
    });
    expect(result).toMatchObject({
      decision: 'deny',
      reasonCode: 'forbidden',
      reason: 'Denied: Confidential data requires human authorization',
      riskLevel: 'high',
    });
    expect(result.violations.map((v) => `${v.type}:${v.severity}`)).toEqual(['SOC 2:high', 'ISO 27001:high']);
  });

  examples(
    [
      {
        name: 'the assistant may search the public web',
        request: { actor: 'ai_assistant', proposed_action: 'web_search', data_classes: ['public_web'] },
        expected: { decision: 'permit', riskLevel: 'low' },
      },
      {
        name: 'the assistant may read public documentation',
        request: { actor: 'ai_assistant', proposed_action: 'read_file', data_classes: ['public_documentation'] },
        expected: { decision: 'permit' },
      },
      {
        name: 'the assistant may not read customer data, which nothing permits',
        request: { actor: 'ai_assistant', proposed_action: 'read_file', data_classes: ['customer_data'] },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'the assistant may not execute code',
        request: { actor: 'ai_assistant', proposed_action: 'execute_code' },
        expected: { decision: 'deny', reasonCode: 'forbidden', riskLevel: 'high' },
      },
      {
        name: 'the assistant may not change system configuration',
        request: { actor: 'ai_assistant', proposed_action: 'write_file', data_classes: ['system_config'] },
        expected: { decision: 'deny', reasonCode: 'forbidden', riskLevel: 'critical' },
      },
      {
        name: 'the assistant may not email an external recipient',
        request: { actor: 'ai_assistant', proposed_action: 'send_email', context: { external_recipient: true } },
        expected: { decision: 'deny', reasonCode: 'forbidden' },
      },
      {
        name: 'an internal email is not forbidden but nothing permits it either',
        request: { actor: 'ai_assistant', proposed_action: 'send_email', context: { external_recipient: false } },
        expected: { decision: 'deny', reasonCode: 'not_permitted', violations: [] },
      },
      {
        name: 'an employee with a need to know may read confidential files',
        request: {
          actor: 'employee',
          proposed_action: 'read_file',
          data_classes: ['company_confidential'],
          context: { need_to_know: true },
        },
        expected: { decision: 'permit', riskLevel: 'high' },
      },
      {
        name: 'an employee without a need to know may not',
        request: { actor: 'employee', proposed_action: 'read_file', data_classes: ['company_confidential'] },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'an administrator may change system configuration, with no escalation in strict mode',
        request: { actor: 'administrator', proposed_action: 'write_file', data_classes: ['system_config'] },
        expected: { decision: 'permit', riskLevel: 'critical' },
      },
      {
        name: 'a high declared risk goes to a human',
        request: {
          actor: 'administrator',
          proposed_action: 'write_file',
          data_classes: ['system_config'],
          risk_level: 4,
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'a privileged action outside business hours goes to a human',
        request: {
          actor: 'administrator',
          proposed_action: 'write_file',
          data_classes: ['system_config'],
          context: { time_outside_business_hours: true, high_privilege_action: true },
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'a large data transfer goes to security review',
        request: {
          actor: 'ai_assistant',
          proposed_action: 'web_search',
          data_classes: ['public_web'],
          context: { large_data_transfer_detected: true },
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'detected secrets block the request',
        request: {
          actor: 'ai_assistant',
          proposed_action: 'web_search',
          data_classes: ['public_web'],
          context: { pii_or_secrets_detected: true },
        },
        expected: {
          decision: 'deny',
          reasonCode: 'constraint_denied',
          reason: 'Denied by constraint: Prevent exposure of sensitive data',
        },
      },
      {
        name: 'more than 1000 requests an hour are refused',
        request: {
          actor: 'ai_assistant',
          proposed_action: 'web_search',
          data_classes: ['public_web'],
          context: { requests_per_hour: 1001 },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'an API call to an endpoint not on the list is denied',
        request: { actor: 'ai_assistant', proposed_action: 'api_call' },
        expected: { decision: 'deny', reasonCode: 'requirement_unmet' },
      },
      {
        name: 'an API call to a listed endpoint is still not permitted, since no permit names api_call',
        request: { actor: 'ai_assistant', proposed_action: 'api_call', context: { api_endpoint_whitelisted: true } },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
    ],
    enterprise,
  );
});

describe('financial_services_policy.json', () => {
  const financial = load('financial_services_policy.json');
  const fraudAnalysis = {
    actor: 'ai_fraud_detector',
    proposed_action: 'analyze_transaction_patterns',
    data_classes: ['tokenized_transaction_data'],
  };

  // Worked example in docs/policy-language.md.
  it('forbids the AI fraud detector to read cardholder data, a critical PCI-DSS violation only', () => {
    const result = decide(financial, {
      actor: 'ai_fraud_detector',
      proposed_action: 'access_pci_cardholder_data',
      data_classes: ['pci_cardholder_data'],
      context: { business_need_documented: true },
    });
    expect(result).toMatchObject({
      decision: 'deny',
      reasonCode: 'forbidden',
      reason: 'Denied: PCI-DSS 3.2.1 - cardholder data access must be restricted',
      riskLevel: 'critical',
    });
    expect(result.violations.map((v) => `${v.type}:${v.severity}`)).toEqual(['PCI-DSS:critical']);
  });

  examples(
    [
      {
        name: 'the trading system may analyse public market data',
        request: { actor: 'ai_trading_system', proposed_action: 'analyze_market_data', data_classes: ['market_data'] },
        expected: { decision: 'permit', riskLevel: 'low' },
      },
      {
        name: 'an unusual pattern in market analysis goes to a compliance officer',
        request: {
          actor: 'ai_trading_system',
          proposed_action: 'analyze_market_data',
          data_classes: ['market_data'],
          context: { unusual_pattern_detected: true },
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'the fraud detector may analyse tokenized transactions',
        request: fraudAnalysis,
        expected: { decision: 'permit', riskLevel: 'medium', obligations: [] },
      },
      {
        name: 'suspected money laundering adds the SAR workflow without blocking the analysis',
        request: { ...fraudAnalysis, context: { potential_money_laundering_detected: true } },
        expected: { decision: 'permit', obligations: ['sar_workflow'] },
      },
      {
        name: 'cardholder data older than 90 days must be deleted',
        request: { ...fraudAnalysis, context: { cardholder_data_age_days: 120 } },
        expected: { decision: 'permit', obligations: ['delete_cardholder_data'] },
      },
      {
        name: 'the fraud detector may not analyse raw cardholder data',
        request: { ...fraudAnalysis, data_classes: ['tokenized_transaction_data', 'pci_cardholder_data'] },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'a decision that weighs a protected basis is denied',
        request: { ...fraudAnalysis, context: { decision_factors: ['income', 'national_origin'] } },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'a decision on permitted factors only is not affected',
        request: { ...fraudAnalysis, context: { decision_factors: ['income', 'payment_history'] } },
        expected: { decision: 'permit' },
      },
      {
        name: 'the credit scorer may not make the final credit decision',
        request: { actor: 'ai_credit_scorer', proposed_action: 'credit_decision', context: { adverse_action: true } },
        expected: { decision: 'deny', reasonCode: 'forbidden', obligations: ['provide_reason_codes'] },
      },
      {
        name: 'a large trade in a volatile market is forbidden to the trading system',
        request: {
          actor: 'ai_trading_system',
          proposed_action: 'execute_trade',
          context: { trade_value: 5_000_000, high_volatility: true, dual_authorization: true },
        },
        expected: { decision: 'deny', reasonCode: 'forbidden' },
      },
      {
        name: 'a trade without dual authorization is denied',
        request: { actor: 'ai_trading_system', proposed_action: 'execute_trade', context: { trade_value: 500 } },
        expected: { decision: 'deny', reasonCode: 'requirement_unmet', violations: [] },
      },
      {
        name: 'a dual-authorized small trade is still not permitted, since no permit names execute_trade',
        request: {
          actor: 'ai_trading_system',
          proposed_action: 'execute_trade',
          context: { trade_value: 500, dual_authorization: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'the trading system may not read non-public information',
        request: { actor: 'ai_trading_system', proposed_action: 'access_npi', data_classes: ['customer_npi'] },
        expected: { decision: 'deny', reasonCode: 'forbidden' },
      },
      {
        name: 'the trading system may not alter financial records',
        request: {
          actor: 'ai_trading_system',
          proposed_action: 'modify_financial_record',
          data_classes: ['financial_records'],
          context: { audit_trail_generated: true },
        },
        expected: { decision: 'deny', reasonCode: 'forbidden', riskLevel: 'high' },
      },
    ],
    financial,
  );

  it('reports each prohibition against the one framework its justification cites', () => {
    const framework = (request: Example['request']) => decide(financial, request).violations.map((v) => v.type);
    expect(framework({ actor: 'ai_credit_scorer', proposed_action: 'credit_decision' })).toEqual(['FCRA']);
    expect(framework({ actor: 'ai_trading_system', proposed_action: 'access_npi' })).toEqual(['GLBA']);
    expect(
      framework({
        actor: 'ai_trading_system',
        proposed_action: 'modify_financial_record',
        data_classes: ['financial_records'],
      }),
    ).toEqual(['SOX']);
    expect(
      framework({
        actor: 'ai_trading_system',
        proposed_action: 'execute_trade',
        context: { trade_value: 2_000_000, high_volatility: true },
      }),
    ).toEqual(['SEC']);
  });
});

describe('gdpr_compliance_policy.json', () => {
  const gdpr = load('gdpr_compliance_policy.json');

  // Worked example in docs/policy-language.md.
  it('forbids the AI model to read personal data even alongside public data, a GDPR violation only', () => {
    const result = decide(gdpr, {
      actor: 'ai_model',
      proposed_action: 'read',
      data_classes: ['public', 'personal_data'],
    });
    expect(result).toMatchObject({
      decision: 'deny',
      reasonCode: 'forbidden',
      reason: 'Denied: GDPR Article 6 - requires legal basis and human oversight',
      riskLevel: 'high',
    });
    expect(result.violations.map((v) => `${v.type}:${v.severity}`)).toEqual(['GDPR:high']);
  });

  examples(
    [
      {
        name: 'the model may read public data',
        request: { actor: 'ai_model', proposed_action: 'read', data_classes: ['public'] },
        expected: { decision: 'permit', riskLevel: 'low' },
      },
      {
        name: 'the model may process anonymous data',
        request: { actor: 'ai_model', proposed_action: 'process', data_classes: ['anonymous'] },
        expected: { decision: 'permit' },
      },
      {
        name: 'an automated decision with legal effects goes to a human',
        request: {
          actor: 'ai_model',
          proposed_action: 'process',
          data_classes: ['anonymous'],
          risk_level: 3,
          context: { produces_legal_effects: true },
        },
        expected: { decision: 'escalate', reasonCode: 'constraint_escalation' },
      },
      {
        name: 'a low-risk decision with legal effects does not',
        request: {
          actor: 'ai_model',
          proposed_action: 'process',
          data_classes: ['anonymous'],
          risk_level: 2,
          context: { produces_legal_effects: true },
        },
        expected: { decision: 'permit' },
      },
      {
        name: 'the model may not process special category data',
        request: { actor: 'ai_model', proposed_action: 'process', data_classes: ['special_category'] },
        expected: { decision: 'deny', reasonCode: 'forbidden', riskLevel: 'critical' },
      },
      {
        name: 'processing personal data without a legal basis is denied',
        request: { actor: 'ai_model', proposed_action: 'process', data_classes: ['personal_data'] },
        expected: { decision: 'deny', reasonCode: 'requirement_unmet', violations: [] },
      },
      {
        name: 'processing personal data with a legal basis is still not permitted to the model',
        request: {
          actor: 'ai_model',
          proposed_action: 'process',
          data_classes: ['personal_data'],
          context: { valid_legal_basis: true },
        },
        expected: { decision: 'deny', reasonCode: 'not_permitted' },
      },
      {
        name: 'the model may not transfer personal data',
        request: {
          actor: 'ai_model',
          proposed_action: 'transfer',
          data_classes: ['personal_data'],
          context: { adequacy_decision: true },
        },
        expected: { decision: 'deny', reasonCode: 'forbidden' },
      },
      {
        name: 'a transfer with neither an adequacy decision nor safeguards is denied',
        request: { actor: 'data_controller', proposed_action: 'transfer', data_classes: ['anonymous'] },
        expected: { decision: 'deny', reasonCode: 'requirement_unmet' },
      },
      {
        name: 'the data controller may erase personal data',
        request: { actor: 'data_controller', proposed_action: 'delete', data_classes: ['personal_data'] },
        expected: { decision: 'permit', riskLevel: 'high' },
      },
      {
        name: 'a purpose other than the consented one is denied',
        request: {
          actor: 'ai_model',
          proposed_action: 'read',
          data_classes: ['anonymous'],
          context: { purpose: 'marketing', original_consent: { purpose: 'billing' } },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'the consented purpose is not affected',
        request: {
          actor: 'ai_model',
          proposed_action: 'read',
          data_classes: ['anonymous'],
          context: { purpose: 'billing', original_consent: { purpose: 'billing' } },
        },
        expected: { decision: 'permit' },
      },
      {
        name: 'requesting more data than necessary is denied',
        request: {
          actor: 'ai_model',
          proposed_action: 'read',
          data_classes: ['public'],
          context: { data_requested: 12, data_necessary: 3 },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'data past its retention period must be deleted',
        request: {
          actor: 'data_controller',
          proposed_action: 'delete',
          data_classes: ['personal_data'],
          context: { data_age_days: 800, retention_period_days: 730 },
        },
        expected: { decision: 'permit', obligations: ['delete_expired_data'] },
      },
      {
        name: 'a high-risk AI system without a conformity assessment is denied',
        request: {
          actor: 'ai_model',
          proposed_action: 'read',
          data_classes: ['public'],
          context: { eu_ai_act_high_risk: true },
        },
        expected: { decision: 'deny', reasonCode: 'constraint_denied' },
      },
      {
        name: 'a high-risk AI system with a completed conformity assessment is not affected',
        request: {
          actor: 'ai_model',
          proposed_action: 'read',
          data_classes: ['public'],
          context: { eu_ai_act_high_risk: true, conformity_assessment_completed: true },
        },
        expected: { decision: 'permit' },
      },
    ],
    gdpr,
  );
});
