import { DEFAULT_MAX_DECISION_BYTES } from '../config';
import { type Explanation, explainDecision } from '../decisions/explain';
import type { ConditionStep, TermMatch } from '../governance/trace';
import { readDecisionRequest } from '../policy-testing/tests-file';
import { type Command, EXIT, FORMAT_OPTION, outputFormat, requiredOption } from './command';
import { checkPolicyFile, type FileProblem, readRequest, writeFileProblems } from './policy-files';

export const policyExplain: Command = {
  words: ['policy', 'explain'],
  summary: 'Explain a decision offline: the outcome a policy gives a request, and the trace that produced it',
  usage: 'policy explain POLICY --request FILE|- [--format text|json]',
  help: [
    'Evaluates the request (a POST /api/decide body; `-` reads it from stdin) against POLICY exactly as the',
    'service does, and prints the decision and its reason, then the terms the request matched, every relation',
    'considered with each condition’s values, the constraints, the mode’s effect, the risk factors, the',
    'violations and the rule that decided. Exits 0 whatever the decision; 1 when a file is invalid.',
    '',
    `--request  the decision request: a JSON file, or - for stdin; up to ${DEFAULT_MAX_DECISION_BYTES / 1024} KiB, decide’s default limit`,
    '--format   text (default), or json: the explanation as POST /api/decide/explain answers it',
  ].join('\n'),
  positionals: ['POLICY'],
  options: { request: { type: 'string' }, ...FORMAT_OPTION },
  async run({ positionals, options }, io) {
    const format = outputFormat(options);
    const requestSource = requiredOption(options, 'request');
    const policyFile = positionals[0] as string;
    const policy = await checkPolicyFile(policyFile);
    const requestName = requestSource === '-' ? 'stdin' : requestSource;
    const request = await readRequest(requestSource, io);
    const parsed = request.ok ? readDecisionRequest(request.value) : request;
    const problems: { file: string; problems: FileProblem[] }[] = [];
    if (!policy.ok) problems.push({ file: policyFile, problems: policy.problems });
    if (!parsed.ok) problems.push({ file: requestName, problems: parsed.problems });
    if (!policy.ok || !parsed.ok) {
      if (format === 'json') io.stdout.write(`${JSON.stringify({ valid: false, invalid: problems })}\n`);
      else {
        for (const { file, problems: list } of problems) writeFileProblems(io, file, list);
      }
      return EXIT.failed;
    }
    const explanation = explainDecision(policy.value.compiled, parsed.request, policy.value.ref);
    io.stdout.write(format === 'json' ? `${JSON.stringify(explanation)}\n` : renderExplanation(explanation));
    return EXIT.ok;
  },
};

/**
 * The explanation for a person: the decision and its reason first, then the evidence: terms, relations
 * with each condition's values, constraints, the mode's effect, risk, violations, and the rule that won.
 */
export function renderExplanation(e: Explanation): string {
  const { trace } = e;
  const lines = [
    `decision: ${e.decision} (${e.allowed ? 'allowed' : 'not allowed'}, ${e.reason_code}, ${e.risk_level} risk)`,
    `reason: ${e.reason}`,
  ];
  if (e.obligations.length > 0) lines.push(`obligations: ${e.obligations.join(', ')}`);
  if (trace.policy) {
    const { name, version } = trace.policy;
    lines.push(`policy: ${name} ${version}${e.policy.hash ? ` (sha256 ${e.policy.hash})` : ''}`);
  }
  lines.push('', 'terms matched');
  lines.push(`  actor   ${termMatch(trace.terms.actor)}`, `  action  ${termMatch(trace.terms.action)}`);
  trace.terms.data_classes.forEach((d, i) => {
    lines.push(`  ${i === 0 ? 'data   ' : '       '} ${termMatch(d)}`);
  });
  if (trace.terms.data_classes.length === 0) lines.push('  data    (none named)');

  lines.push('', 'relations considered');
  if (trace.relations.length === 0) lines.push('  (none: no relation names this actor and action)');
  for (const r of trace.relations) {
    const object = r.object === null ? '' : ` on ${r.object}`;
    lines.push(`  ${r.effect}  ${r.id}  (${r.type} ${r.actor ?? 'any actor'} → ${r.action}${object})${decided(r)}`);
    for (const c of r.conditions) lines.push(`    ${conditionLine(c)}`);
    if (r.justification) lines.push(`    justification: ${r.justification}`);
  }

  lines.push('', 'constraints');
  if (trace.constraints.length === 0) lines.push('  (none)');
  for (const c of trace.constraints) {
    const obligation = c.obligation === undefined ? '' : `, obligation ${c.obligation}`;
    lines.push(`  ${c.fired ? 'fired' : 'not fired'}  ${c.name}  (${c.effect}${obligation})${decided(c)}`);
    lines.push(`    ${conditionLine(c.condition)}`);
  }

  lines.push('', `mode: ${trace.mode.effect}`);
  const { risk } = trace;
  const data = risk.data.map((d) => `${d.term} ${d.sensitivity ?? 'no sensitivity'}`);
  lines.push(
    `risk: ${risk.level} (declared ${risk.declared}${data.length > 0 ? `; data: ${data.join(', ')}` : ''}` +
      `${risk.forbidden ? '; a forbids relation held' : ''}${risk.violations > 0 ? `; ${risk.violations} violation(s)` : ''})`,
  );
  lines.push(trace.violations.length === 0 ? 'violations: none' : 'violations');
  for (const v of trace.violations) {
    lines.push(`  ${v.type} (${v.severity}) by ${v.relation_id}${v.justification ? `: ${v.justification}` : ''}`);
  }
  lines.push('', `rule: ${trace.outcome.rule}`);
  if (trace.outcome.decided_by.length > 0) lines.push(`decided by: ${trace.outcome.decided_by.join(', ')}`);
  return `${lines.join('\n')}\n`;
}

function termMatch({ value, terms }: TermMatch): string {
  return `${JSON.stringify(value)} → ${terms.length > 0 ? terms.join(', ') : '(no term of the policy)'}`;
}

function decided(step: { decided: boolean }): string {
  return step.decided ? '  [decided]' : '';
}

function conditionLine(c: ConditionStep): string {
  const reads = c.reads.map((r) => `${r.path} = ${r.value === undefined ? '(absent)' : JSON.stringify(r.value)}`);
  return `${c.holds ? 'holds' : 'fails'}  ${c.condition}${reads.length > 0 ? `   (${reads.join(', ')})` : ''}`;
}
