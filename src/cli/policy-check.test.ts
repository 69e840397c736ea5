import { readdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../../tests/support/cli-io';
import { scratchDir } from '../../tests/support/lexecon-cli';
import { DEFAULT_MAX_BODY_BYTES } from '../config';
import { canonicalJson } from '../ledger/canonical-json';
import { sha256Hex } from '../ledger/crypto';

const examples = fileURLToPath(new URL('../../examples/policies/', import.meta.url));
const policies = readdirSync(examples)
  .filter((name) => name.endsWith('_policy.json'))
  .map((name) => `${examples}${name}`);

const minimal = {
  name: 'minimal',
  terms: [
    { id: 'actor:user', type: 'actor', name: 'user' },
    { id: 'action:read', type: 'action', name: 'read' },
  ],
  relations: [{ type: 'permits', subject: 'actor:user', action: 'action:read' }],
};

const broken = {
  terms: [
    { id: 'actor:a', type: 'actor', name: 'a' },
    { id: 'action:go', type: 'actor', name: 'go' },
  ],
  relations: [
    { type: 'permits', subject: 'actor:ghost', action: 'action:read' },
    { type: 'forbids', subject: 'actor:a', action: 'action:go', condition: 'context.x ~= 1' },
  ],
  constraints: [{ name: 'c', condition: 'true', action: 'block' }],
};

describe('lexecon policy check', () => {
  const files = scratchDir();
  afterAll(() => files.remove());
  const write = (name: string, text: string) => {
    writeFileSync(files.path(name), text);
    return files.path(name);
  };

  it('accepts each example policy, with its counts', async () => {
    const run = await runCli(['policy', 'check', ...policies]);
    expect(run.code).toBe(0);
    const lines = run.stdout.trim().split('\n');
    expect(lines).toHaveLength(4);
    for (const [i, line] of lines.entries()) {
      expect(line).toMatch(new RegExp(`^${policies[i]}: ok \\(\\d+ terms, \\d+ relations, \\d+ constraints\\)$`));
    }
  });

  it('lists every problem of a broken policy with its pointer, and exits 1', async () => {
    const file = write('broken.json', JSON.stringify(broken));
    const run = await runCli(['policy', 'check', file]);
    expect(run.code).toBe(1);
    expect(run.stdout.trim().split('\n')).toEqual([
      `${file}: /relations/0/subject: references undefined term "actor:ghost"`,
      `${file}: /relations/0/action: references undefined term "action:read"`,
      `${file}: /relations/1/action: term "action:go" is an actor, expected action`,
      `${file}: /relations/1/condition: invalid condition "context.x ~= 1": unexpected character "~" at position 10`,
      `${file}: /constraints/0/action: Invalid option: expected one of "deny"|"escalate"|"annotate"`,
    ]);
  });

  it('checks every file even when one is broken or missing, and exits 1', async () => {
    const good = write('good.json', JSON.stringify(minimal));
    const missing = files.path('missing.json');
    const run = await runCli(['policy', 'check', missing, good]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe(
      `${missing}: cannot read the file: no such file\n${good}: ok (2 terms, 1 relations, 0 constraints)\n`,
    );
  });

  it('points into the wrapper of a wrapped policy, as a load does', async () => {
    const file = write('wrapped.json', JSON.stringify({ policy: { ...minimal, mode: 'lenient' } }));
    const run = await runCli(['policy', 'check', file]);
    expect(run.stdout).toBe(
      `${file}: /policy/mode: Invalid option: expected one of "permissive"|"strict"|"paranoid"\n`,
    );
  });

  it('names the line and column of a JSON syntax error', async () => {
    const file = write('syntax.json', '{\n  "name": "x",\n  "terms": [}\n');
    const run = await runCli(['policy', 'check', file]);
    expect([run.code, run.stdout]).toEqual([1, `${file}:3:13: invalid JSON: unexpected '}', expected a value\n`]);
  });

  it('refuses a file larger than the service’s default body limit, which a load could not send', async () => {
    const padded = JSON.stringify(minimal);
    // Trailing whitespace is valid JSON: exactly the limit passes, one byte more does not.
    const file = write('large.json', padded + ' '.repeat(DEFAULT_MAX_BODY_BYTES - padded.length));
    expect((await runCli(['policy', 'check', file])).code).toBe(0);
    writeFileSync(file, `${padded}${' '.repeat(DEFAULT_MAX_BODY_BYTES - padded.length)} `);
    const run = await runCli(['policy', 'check', file]);
    expect([run.code, run.stdout]).toEqual([
      1,
      `${file}: is ${DEFAULT_MAX_BODY_BYTES + 1} bytes, more than ${DEFAULT_MAX_BODY_BYTES}, the service’s default body limit (LEXECON_MAX_BODY_BYTES)\n`,
    ]);
  });

  it('refuses what the service would refuse to store: a NUL character, bytes that are not UTF-8', async () => {
    const nul = write('nul.json', JSON.stringify({ ...minimal, description: 'a\u0000b' }));
    const latin1 = write('latin1.json', '');
    writeFileSync(latin1, Buffer.concat([Buffer.from('{"name": "caf'), Buffer.from([0xe9]), Buffer.from('"}')]));
    const run = await runCli(['policy', 'check', nul, latin1]);
    expect(run.stdout).toBe(
      `${nul}: contains a string with a NUL character or an unpaired surrogate: a load would be refused (400)\n` +
        `${latin1}: is not UTF-8 text\n`,
    );
  });

  it('prints JSON for tools: each file’s problems, or its summary with the hash a load would record', async () => {
    const good = write('good.json', JSON.stringify({ policy: minimal }));
    const bad = write('bad.json', JSON.stringify(broken));
    const run = await runCli(['policy', 'check', good, bad, '--format', 'json']);
    expect(run.code).toBe(1);
    const output = run.json();
    expect(output.valid).toBe(false);
    expect(output.files[0]).toEqual({
      file: good,
      valid: true,
      problems: [],
      policy: {
        name: 'minimal',
        version: '1.0',
        mode: 'strict',
        hash: await sha256Hex(canonicalJson(minimal)),
        terms: 2,
        relations: 1,
        constraints: 0,
      },
    });
    expect(output.files[1]).toMatchObject({ file: bad, valid: false });
    expect(output.files[1].problems).toHaveLength(5);
    expect(output.files[1].problems[0]).toEqual({
      pointer: '/relations/0/subject',
      message: 'references undefined term "actor:ghost"',
    });
    const syntax = await runCli(['policy', 'check', write('s.json', '{,}'), '--format', 'json']);
    expect(syntax.json().files[0].problems).toEqual([
      {
        pointer: '',
        line: 1,
        column: 2,
        message: "invalid JSON: unexpected ',', expected a double-quoted property name",
      },
    ]);
  });

  it('is a usage error without a file', async () => {
    const run = await runCli(['policy', 'check']);
    expect([run.code, run.stderr]).toEqual([
      2,
      'lexecon policy check: expected FILE…\nusage: lexecon policy check FILE… [--format text|json]\n',
    ]);
  });
});
