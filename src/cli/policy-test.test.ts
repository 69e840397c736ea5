import { truncateSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCli } from '../../tests/support/cli-io';
import { scratchDir } from '../../tests/support/lexecon-cli';
import { explainDecision } from '../decisions/explain';
import { DecisionRequestSchema } from '../decisions/schemas';
import { compilePolicy } from '../governance/policy';
import { canonicalJson } from '../ledger/canonical-json';
import { portableSha256Hex } from '../ledger/crypto';
import { MAX_TESTS_FILE_BYTES } from './policy-files';

const examples = fileURLToPath(new URL('../../examples/policies/', import.meta.url));

const policy = {
  name: 'clinic',
  mode: 'strict',
  compliance_frameworks: ['HIPAA'],
  terms: [
    { id: 'actor:nurse', type: 'actor', name: 'nurse' },
    { id: 'actor:bot', type: 'actor', name: 'bot' },
    { id: 'action:view', type: 'action', name: 'view' },
    { id: 'data:chart', type: 'data_class', name: 'chart', sensitivity: 'medium' },
    { id: 'data:phi', type: 'data_class', name: 'phi', sensitivity: 'critical' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:nurse', action: 'action:view', object: 'data:chart' },
    { type: 'forbids', subject: 'actor:bot', action: 'action:view', object: 'data:phi', justification: 'No PHI' },
    { type: 'permits', subject: 'actor:bot', action: 'action:view', object: 'data:chart' },
  ],
  constraints: [{ name: 'night', condition: 'context.hour >= 22', action: 'escalate' }],
};

const request = (actor: string, data: string) => ({
  actor,
  proposed_action: 'view',
  tool: 'ehr',
  user_intent: 'read',
  data_classes: [data],
});

const nurseCase = {
  name: 'a nurse views a chart',
  request: request('nurse', 'chart'),
  expect: { allowed: true, decision: 'permit' },
};
const botCase = {
  name: 'a bot may not view PHI',
  request: request('bot', 'phi'),
  expect: { allowed: false, decision: 'deny', violations: ['HIPAA'] },
};

describe('lexecon policy test', () => {
  const files = scratchDir();
  afterAll(() => files.remove());
  const write = (name: string, value: unknown) => {
    writeFileSync(files.path(name), typeof value === 'string' ? value : JSON.stringify(value));
    return files.path(name);
  };
  const policyFile = write('clinic.json', policy);
  const test = (...args: string[]) => runCli(['policy', 'test', policyFile, ...args]);

  it.each(['enterprise_general', 'financial_services', 'gdpr_compliance', 'hipaa_healthcare'])(
    'passes every case of the %s example',
    async (name) => {
      const run = await runCli([
        'policy',
        'test',
        `${examples}${name}_policy.json`,
        `${examples}${name}_policy.tests.json`,
      ]);
      expect(run.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
      expect(run.code).toBe(0);
    },
  );

  it('names a failing case, what it expected and got, and why the policy decided so; exits 1', async () => {
    const file = write('wrong.tests.json', {
      cases: [nurseCase, { ...botCase, expect: { allowed: true, decision: 'permit', violations: [] } }],
    });
    const run = await test(file);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      [
        `FAIL ${file}: a bot may not view PHI`,
        '  allowed: expected true, got false',
        '  decision: expected "permit", got "deny"',
        '  violations: expected [], got ["HIPAA"]',
        '  reason: Denied: No PHI',
        '  rule: A forbids relation held for this request: a prohibition outranks every permit.',
        '  decided by: forbids:actor:bot:action:view:data:phi',
        '',
        '1 passed, 1 failed',
        '',
      ].join('\n'),
    );
  });

  it('lists the passing cases too with --verbose, each tests file in turn', async () => {
    const first = write('first.tests.json', { cases: [nurseCase] });
    const second = write('second.tests.json', { cases: [botCase] });
    const run = await test(first, second, '--verbose');
    expect([run.code, run.stdout]).toEqual([
      0,
      `PASS ${first}: a nurse views a chart\nPASS ${second}: a bot may not view PHI\n\n2 passed, 0 failed\n`,
    ]);
  });

  it('reads a YAML tests file, and names the line and column of a YAML error', async () => {
    const yaml = write('cases.tests.yaml', stringify({ cases: [nurseCase, botCase] }));
    expect((await test(yaml)).stdout).toBe('2 passed, 0 failed\n');
    const broken = write('broken.tests.yml', 'cases:\n  - name: a\n    request: {actor: x\n');
    const run = await test(broken);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(new RegExp(`^${broken}:\\d+:\\d+: invalid YAML: `));
  });

  it('runs nothing when a tests file is invalid, and lists its problems with pointers', async () => {
    const typo = write('typo.tests.json', {
      cases: [
        { ...nurseCase, expect: { allow: true } },
        { ...botCase, request: { ...botCase.request, risk_level: 7 } },
      ],
    });
    const run = await test(typo, write('ok.tests.json', { cases: [nurseCase] }));
    expect(run.code).toBe(1);
    expect(run.stdout.split('\n')).toEqual([
      `${typo}: /cases/0/expect/allow: unknown field "allow"; allowed: allowed, decision, reason_code, reason, risk_level, violations, obligations, matched_relations`,
      `${typo}: /cases/1/request/risk_level: Too big: expected number to be <=5`,
      '1 invalid file: no case was run',
      '',
    ]);
  });

  it('runs nothing against an invalid policy, and lists its problems', async () => {
    const broken = write('broken-policy.json', { ...policy, mode: 'lenient' });
    const run = await runCli(['policy', 'test', broken, write('t.tests.json', { cases: [nurseCase] })]);
    expect([run.code, run.stdout]).toEqual([
      1,
      `${broken}: /mode: Invalid option: expected one of "permissive"|"strict"|"paranoid"\n1 invalid file: no case was run\n`,
    ]);
  });

  it('refuses a tests file over the stated size without reading it', async () => {
    const huge = write('huge.tests.json', '');
    truncateSync(huge, MAX_TESTS_FILE_BYTES + 1);
    const run = await test(huge);
    expect(run.stdout).toContain(
      `${huge}: is ${MAX_TESTS_FILE_BYTES + 1} bytes, more than ${MAX_TESTS_FILE_BYTES}, the limit for a tests file`,
    );
  });

  it('with --coverage, lists the relations no case exercised and the constraints no case fired', async () => {
    const run = await test(write('c.tests.json', { cases: [nurseCase, botCase] }), '--coverage');
    expect([run.code, run.stdout]).toEqual([
      0,
      [
        '2 passed, 0 failed',
        '',
        'coverage: 2 of 3 relations exercised, 0 of 1 constraints fired',
        '  relation not exercised: /relations/2 permits:actor:bot:action:view:data:chart',
        '  constraint not fired: /constraints/0 night',
        '',
      ].join('\n'),
    ]);
  });

  it('prints every case with its explanation as JSON for tools', async () => {
    const tests = write('j.tests.json', { cases: [nurseCase, { ...botCase, expect: { risk_level: 'low' } }] });
    const run = await test(tests, '--format', 'json', '--coverage');
    expect(run.code).toBe(1);
    const output = run.json();
    const hash = portableSha256Hex(canonicalJson(policy));
    expect(output).toMatchObject({
      passed: false,
      summary: { passed: 1, failed: 1 },
      policy: { file: policyFile, name: 'clinic', version: '1.0', mode: 'strict', hash },
      coverage: { relations: { total: 3, exercised: 2 }, constraints: { total: 1, fired: 0 } },
    });
    expect(output.suites).toHaveLength(1);
    const [nurse, bot] = output.suites[0].cases;
    expect(bot).toMatchObject({
      name: botCase.name,
      passed: false,
      mismatches: [{ field: 'risk_level', expected: 'low', actual: 'critical' }],
    });
    const compiled = compilePolicy(policy);
    if (!compiled.ok) throw new Error('the policy compiles');
    const expected = explainDecision(compiled.policy, DecisionRequestSchema.parse(nurseCase.request), {
      source: 'file',
      version: null,
      hash,
    });
    expect(nurse.explanation).toEqual(JSON.parse(JSON.stringify(expected)));
  });

  it('prints JUnit XML for CI: a testsuite per tests file, a failure naming what differs, everything escaped', async () => {
    const odd = 'a <b> & "c" \'d\'\u0001';
    const first = write('x.tests.json', {
      cases: [
        { ...nurseCase, name: odd },
        { ...botCase, expect: { allowed: true } },
      ],
    });
    const second = write('y.tests.json', { cases: [nurseCase] });
    const run = await test(first, second, '--format', 'junit');
    expect(run.code).toBe(1);
    const root = parseXml(run.stdout);
    expect(root).toMatchObject({ name: 'testsuites', attributes: { tests: '3', failures: '1', errors: '0' } });
    expect(root.children.map((s) => [s.name, s.attributes.name, s.attributes.tests, s.attributes.failures])).toEqual([
      ['testsuite', first, '2', '1'],
      ['testsuite', second, '1', '0'],
    ]);
    const [passing, failing] = root.children[0]!.children;
    expect(passing).toMatchObject({
      name: 'testcase',
      attributes: { name: 'a <b> & "c" \'d\'\ufffd', classname: first },
    });
    expect(passing?.children).toEqual([]);
    expect(failing?.children[0]).toMatchObject({
      name: 'failure',
      attributes: { message: 'allowed: expected true, got false' },
      text: expect.stringContaining('rule: A forbids relation held'),
    });
  });

  it('reports an invalid file in JUnit XML as an error, so CI shows why nothing ran', async () => {
    const bad = write('bad.tests.json', { cases: [] });
    const root = parseXml((await test(bad, '--format', 'junit')).stdout);
    expect(root.children[0]?.children[0]?.children[0]).toMatchObject({
      name: 'error',
      attributes: { message: '1 problem' },
      text: `${bad}: /cases: Too small: expected array to have >=1 items`,
    });
  });

  it('is a usage error without a tests file, or with an unknown format', async () => {
    const bare = await runCli(['policy', 'test', policyFile]);
    expect([bare.code, bare.stderr.split('\n')[0]]).toEqual([2, 'lexecon policy test: expected POLICY TESTS…']);
    const format = await test(write('f.tests.json', { cases: [nurseCase] }), '--format', 'xml');
    expect([format.code, format.stderr.split('\n')[0]]).toEqual([
      2,
      'lexecon policy test: --format is text, json or junit',
    ]);
  });
});

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

/**
 * A strict reader for the XML subset a report uses (declaration, elements, attributes, text, the five
 * predefined entities and numeric references); it throws on anything not well-formed, such as an
 * unescaped `<` or `&`, a mismatched end tag or a character XML 1.0 does not allow.
 */
function parseXml(xml: string): XmlElement {
  const decode = (text: string) => {
    if (/&(?!(?:amp|lt|gt|quot|apos|#\d+|#x[0-9a-fA-F]+);)/.test(text)) throw new Error(`bare & in ${text}`);
    if (/[^\t\n\r\u0020-\ud7ff\ue000-\ufffd\u{10000}-\u{10ffff}]/u.test(text))
      throw new Error('a character XML forbids');
    const named: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
    return text.replace(/&(#x[0-9a-fA-F]+|#\d+|\w+);/g, (_, ref: string) =>
      ref.startsWith('#x')
        ? String.fromCodePoint(Number.parseInt(ref.slice(2), 16))
        : ref.startsWith('#')
          ? String.fromCodePoint(Number(ref.slice(1)))
          : (named[ref] as string),
    );
  };
  const body = xml.replace(/^<\?xml version="1\.0" encoding="UTF-8"\?>\n/, '');
  if (body === xml) throw new Error('no XML declaration');
  const stack: XmlElement[] = [{ name: '#document', attributes: {}, children: [], text: '' }];
  const tag = /<(\/?)([A-Za-z_][\w.-]*)((?:\s+[A-Za-z_][\w.-]*="[^"<]*")*)\s*(\/?)>|([^<]+)|(<)/gy;
  for (let match = tag.exec(body); match; match = tag.exec(body)) {
    const [, close, name, attributeText, selfClosing, text, stray] = match;
    const top = stack.at(-1) as XmlElement;
    if (stray) throw new Error(`not well-formed at ${match.index}`);
    if (text !== undefined) {
      if (stack.length === 1 && text.trim() !== '') throw new Error('text outside the root element');
      top.text += decode(text);
    } else if (close) {
      if (top.name !== name) throw new Error(`</${name}> closes <${top.name}>`);
      stack.pop();
    } else {
      const attributes: Record<string, string> = {};
      for (const [, key, value] of (attributeText ?? '').matchAll(/([A-Za-z_][\w.-]*)="([^"]*)"/g)) {
        if ((key as string) in attributes) throw new Error(`attribute ${key} twice`);
        attributes[key as string] = decode(value as string);
      }
      const element: XmlElement = { name: name as string, attributes, children: [], text: '' };
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  if (stack.length !== 1 || stack[0]?.children.length !== 1) throw new Error('not exactly one root element');
  return stack[0].children[0] as XmlElement;
}
