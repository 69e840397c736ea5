import { type PolicyCoverage, policyCoverage } from '../policy-testing/coverage';
import { type CaseResult, type FieldMismatch, runSuite } from '../policy-testing/run';
import { type CliIo, type Command, EXIT, FORMAT_OPTION, outputFormat } from './command';
import { type JunitSuite, junitXml } from './junit';
import {
  checkPolicyFile,
  describeFileProblem,
  type FileProblem,
  MAX_TESTS_FILE_BYTES,
  readTestsSuite,
  writeFileProblems,
} from './policy-files';

const TEST_FORMATS = ['text', 'json', 'junit'] as const;
type TestFormat = (typeof TEST_FORMATS)[number];

export const policyTest: Command = {
  words: ['policy', 'test'],
  summary: 'Run decision cases against a policy offline: every case’s outcome against what it expects',
  usage: 'policy test POLICY TESTS… [--verbose] [--coverage] [--format text|json|junit]',
  help: [
    'POLICY is a policy file (as `policy check` reads it); each TESTS file (JSON, or YAML as .yaml/.yml) holds',
    '{"cases": [{"name", "request", "expect"}]}: a request as POST /api/decide takes it, and the fields of the',
    'outcome it must get (allowed, decision, reason_code, reason, risk_level, violations, obligations,',
    'matched_relations; the last three compared as sets). docs/policy-language.md describes the format.',
    `A tests file may be up to ${MAX_TESTS_FILE_BYTES / 1024 / 1024} MiB; a larger one is refused unread.`,
    'Prints each failing case, what it expected and got, and why the policy decided as it did; then',
    '`N passed, M failed`. Exits 0 only when every case passes; 1 when one fails or a file is invalid.',
    '',
    '--verbose    list the passing cases too',
    '--coverage   list the relations no case exercised and the constraints no case fired',
    '--format     text (default); json: {passed, summary, policy, suites: [{file, cases}], coverage?};',
    '             junit: JUnit XML, one <testsuite> per TESTS file',
  ].join('\n'),
  positionals: ['POLICY', 'TESTS…'],
  options: { ...FORMAT_OPTION, verbose: { type: 'boolean', short: 'v' }, coverage: { type: 'boolean' } },
  async run({ positionals, options }, io) {
    const format = outputFormat(options, TEST_FORMATS);
    const [policyFile, ...testsFiles] = positionals as [string, ...string[]];
    const policy = await checkPolicyFile(policyFile);
    const tests = testsFiles.map((file) => ({ file, read: readTestsSuite(file) }));
    const invalid = [{ file: policyFile, read: policy }, ...tests].flatMap(({ file, read }) =>
      read.ok ? [] : [{ file, problems: read.problems }],
    );
    if (!policy.ok || invalid.length > 0) {
      printInvalid(io, format, invalid);
      return EXIT.failed;
    }
    const { compiled, ref, at } = policy.value;
    const suites = tests.map(({ file, read }) => ({
      file,
      cases: read.ok ? runSuite(compiled, ref, read.value) : [],
    }));
    const cases = suites.flatMap((s) => s.cases);
    const failed = cases.filter((c) => !c.passed).length;
    const coverage = options.coverage ? policyCoverage(compiled, cases, at) : undefined;
    const report = { suites, passed: cases.length - failed, failed, coverage };

    if (format === 'json') {
      const { name, version, mode } = compiled;
      const json = {
        passed: failed === 0,
        summary: { passed: report.passed, failed },
        policy: { file: policyFile, name, version, mode, hash: ref.hash },
        suites,
        ...(coverage ? { coverage } : {}),
      };
      io.stdout.write(`${JSON.stringify(json)}\n`);
    } else if (format === 'junit') {
      io.stdout.write(junitXml('lexecon policy test', suites.map(junitSuite)));
    } else {
      io.stdout.write(textReport(report, options.verbose === true));
    }
    return failed === 0 ? EXIT.ok : EXIT.failed;
  },
};

interface Report {
  suites: { file: string; cases: CaseResult[] }[];
  passed: number;
  failed: number;
  coverage: PolicyCoverage | undefined;
}

function textReport({ suites, passed, failed, coverage }: Report, verbose: boolean): string {
  const lines: string[] = [];
  for (const { file, cases } of suites) {
    for (const c of cases) {
      if (c.passed) {
        if (verbose) lines.push(`PASS ${file}: ${c.name}`);
      } else lines.push(`FAIL ${file}: ${c.name}`, ...failureLines(c).map((line) => `  ${line}`), '');
    }
  }
  if (lines.length > 0 && lines.at(-1) !== '') lines.push('');
  lines.push(`${passed} passed, ${failed} failed`);
  if (coverage) lines.push(...coverageLines(coverage));
  return `${lines.join('\n')}\n`;
}

/** What a failing case expected and got, then the explanation: the reason, the rule and what decided. */
function failureLines(c: CaseResult): string[] {
  const { explanation } = c;
  const decidedBy = explanation.trace.outcome.decided_by;
  return [
    ...c.mismatches.map(describeMismatch),
    `reason: ${explanation.reason}`,
    `rule: ${explanation.trace.outcome.rule}`,
    ...(decidedBy.length > 0 ? [`decided by: ${decidedBy.join(', ')}`] : []),
  ];
}

function describeMismatch(m: FieldMismatch): string {
  return `${m.field}: expected ${JSON.stringify(m.expected)}, got ${JSON.stringify(m.actual)}`;
}

function coverageLines({ relations, constraints }: PolicyCoverage): string[] {
  return [
    '',
    `coverage: ${relations.exercised} of ${relations.total} relations exercised, ${constraints.fired} of ${constraints.total} constraints fired`,
    ...relations.missed.map((r) => `  relation not exercised: ${r.pointer} ${r.id}`),
    ...constraints.missed.map((c) => `  constraint not fired: ${c.pointer} ${c.name}`),
  ];
}

function junitSuite({ file, cases }: { file: string; cases: CaseResult[] }): JunitSuite {
  return {
    name: file,
    cases: cases.map((c) => ({
      name: c.name,
      classname: file,
      ...(c.passed
        ? {}
        : { failure: { message: c.mismatches.map(describeMismatch).join('; '), text: failureLines(c).join('\n') } }),
    })),
  };
}

function printInvalid(io: CliIo, format: TestFormat, invalid: { file: string; problems: FileProblem[] }[]): void {
  if (format === 'json') {
    io.stdout.write(`${JSON.stringify({ passed: false, invalid })}\n`);
  } else if (format === 'junit') {
    const suites = invalid.map(({ file, problems }) => ({
      name: file,
      cases: [
        {
          name: `${file} is invalid`,
          classname: file,
          error: {
            message: `${problems.length} problem${problems.length === 1 ? '' : 's'}`,
            text: problems.map((p) => describeFileProblem(file, p)).join('\n'),
          },
        },
      ],
    }));
    io.stdout.write(junitXml('lexecon policy test', suites));
  } else {
    for (const { file, problems } of invalid) writeFileProblems(io, file, problems);
    io.stdout.write(`${invalid.length} invalid file${invalid.length === 1 ? '' : 's'}: no case was run\n`);
  }
}
