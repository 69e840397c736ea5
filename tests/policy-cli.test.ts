import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The `lexecon policy` commands as an author runs them: the real bin/lexecon.mjs, with the node on the
 * PATH, from the repository, on the example policies and the tests files beside them.
 */
const root = fileURLToPath(new URL('..', import.meta.url));
const examples = join(root, 'examples', 'policies');
const policies = readdirSync(examples).filter((name) => name.endsWith('_policy.json'));
const testsFiles = readdirSync(examples).filter((name) => name.endsWith('.tests.json'));

function lexecon(args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      'node',
      [join(root, 'bin', 'lexecon.mjs'), ...args],
      { cwd: root, env: { PATH: process.env.PATH ?? '' } },
      (error, stdout, stderr) => {
        resolve({ code: error ? Number((error as { code?: unknown }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describe('lexecon policy, run from the command line', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'lexecon-policy-cli-'));
  afterAll(() => rmSync(scratch, { recursive: true, force: true }));

  it('has a tests file beside each of the four example policies', () => {
    expect(policies).toHaveLength(4);
    expect(testsFiles.sort()).toEqual(policies.map((name) => name.replace(/\.json$/, '.tests.json')).sort());
  });

  it.each(testsFiles)('passes every case of examples/policies/%s', async (tests) => {
    const policy = `examples/policies/${tests.replace(/\.tests\.json$/, '.json')}`;
    const run = await lexecon(['policy', 'test', policy, `examples/policies/${tests}`]);
    expect(run.stdout).toMatch(/^\d+ passed, 0 failed\n$/);
    expect([run.code, run.stderr]).toEqual([0, '']);
  });

  it('fails a deliberately wrong expectation with exit 1, naming the case', async () => {
    const source = JSON.parse(readFileSync(join(examples, 'hipaa_healthcare_policy.tests.json'), 'utf8'));
    const wrongCase = { ...source.cases[0], name: 'a deliberately wrong expectation', expect: { allowed: false } };
    const tests = join(scratch, 'wrong.tests.json');
    writeFileSync(tests, JSON.stringify({ cases: [...source.cases, wrongCase] }));
    const run = await lexecon(['policy', 'test', 'examples/policies/hipaa_healthcare_policy.json', tests]);
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(
      `FAIL ${tests}: a deliberately wrong expectation\n  allowed: expected false, got true\n`,
    );
    expect(run.stdout).toMatch(new RegExp(`\\n${source.cases.length} passed, 1 failed\\n$`));
  });

  it('lists every problem of a broken policy with policy check, and exits 1', async () => {
    const broken = join(scratch, 'broken.json');
    writeFileSync(
      broken,
      JSON.stringify({
        mode: 'lenient',
        terms: [{ id: 'actor:a', type: 'actor', name: 'a' }],
        relations: [
          { type: 'permits', subject: 'actor:a', action: 'action:missing' },
          { type: 'requires', action: 'action:missing' },
        ],
      }),
    );
    const run = await lexecon(['policy', 'check', broken]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${broken}: /mode: Invalid option: expected one of "permissive"|"strict"|"paranoid"`,
      `${broken}: /relations/0/action: references undefined term "action:missing"`,
      `${broken}: /relations/1/action: references undefined term "action:missing"`,
      `${broken}: /relations/1/condition: a requires relation needs a condition to require`,
    ]);
  });
});
