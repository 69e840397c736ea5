import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { extname } from 'node:path';
import { parseDocument } from 'yaml';
import { DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_DECISION_BYTES } from '../config';
import type { ExplainedPolicy } from '../decisions/explain';
import type { CompiledPolicy, PolicyProblem } from '../governance/policy';
import { unstorable } from '../http/middleware/json-body';
import { readPolicy } from '../policies/read';
import type { PolicyFacts } from '../policies/schemas';
import { type PolicyTestSuite, readTestsFile } from '../policy-testing/tests-file';
import type { CliIo } from './command';
import { lineAndColumn, parseJson } from './json-syntax';

/**
 * Reading the files the policy commands take, bounded: a policy as POST /api/policies would take it
 * (no larger than the service's default body limit), a tests file (JSON or YAML), a decision request.
 */

/** A problem in a file: a pointer into its document, or (for a syntax error) a line and column. */
export interface FileProblem extends PolicyProblem {
  line?: number;
  column?: number;
}

/** Tests files hold many requests; this bounds what one run reads. */
export const MAX_TESTS_FILE_BYTES = 64 * 1024 * 1024;

/** A policy that compiled, with what a load would record of it (its hash among the facts). */
export interface PolicyFile {
  compiled: CompiledPolicy;
  facts: PolicyFacts;
  /** How an explanation names it: a file, by its hash. */
  ref: ExplainedPolicy;
  /** Where the policy is in its file: `/policy` for the `{"policy": {...}}` wrapper, else the whole file. */
  at: string;
}

export type Read<T> = { ok: true; value: T } | { ok: false; problems: FileProblem[] };

/** Reads, parses and compiles a policy file exactly as a load of its bytes would: every problem, or the policy. */
export async function checkPolicyFile(file: string): Promise<Read<PolicyFile>> {
  const text = readText(file, DEFAULT_MAX_BODY_BYTES, 'the service’s default body limit (LEXECON_MAX_BODY_BYTES)');
  if (!text.ok) return text;
  const json = parseJsonText(text.value);
  if (!json.ok) return json;
  const unfit = unstorable(json.value);
  if (unfit) return problem(`contains ${unfit}: a load would be refused (400)`);
  const read = await readPolicy(json.value);
  if (!read.ok) return read;
  const { document, policy, facts } = read;
  return {
    ok: true,
    value: {
      compiled: policy,
      facts,
      ref: { source: 'file', version: null, hash: facts.hash },
      at: document === json.value ? '' : '/policy',
    },
  };
}

/** A tests file: `.yaml` and `.yml` are read as YAML, anything else as JSON. */
export function readTestsSuite(file: string): Read<PolicyTestSuite> {
  const text = readText(file, MAX_TESTS_FILE_BYTES, 'the limit for a tests file');
  if (!text.ok) return text;
  const yaml = ['.yaml', '.yml'].includes(extname(file).toLowerCase());
  const parsed = yaml ? parseYamlText(text.value) : parseJsonText(text.value);
  if (!parsed.ok) return parsed;
  const suite = readTestsFile(parsed.value);
  return suite.ok ? { ok: true, value: suite.suite } : { ok: false, problems: suite.problems };
}

/** A decision request from a file, or from stdin for `-`, bounded by the decide endpoint's default limit. */
export async function readRequest(source: string, io: CliIo): Promise<Read<unknown>> {
  const limit = DEFAULT_MAX_DECISION_BYTES;
  if (source !== '-') {
    const text = readText(source, limit, 'the default limit of a decision request (LEXECON_MAX_DECISION_BYTES)');
    return text.ok ? parseJsonText(text.value) : text;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of io.stdin) {
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    size += bytes.byteLength;
    if (size > limit) {
      return problem(`stdin holds more than ${limit} bytes, the default limit of a decision request`);
    }
    chunks.push(bytes);
  }
  const text = decodeUtf8(Buffer.concat(chunks));
  return text.ok ? parseJsonText(text.value) : text;
}

/** One line per problem: `FILE: /pointer: message`, or `FILE:LINE:COLUMN: message` for a syntax error. */
export function describeFileProblem(file: string, p: FileProblem): string {
  if (p.line !== undefined) return `${file}:${p.line}:${p.column}: ${p.message}`;
  return `${file}: ${p.pointer === '' ? '' : `${p.pointer}: `}${p.message}`;
}

/** Prints a file's problems, one line each (describeFileProblem). */
export function writeFileProblems(io: CliIo, file: string, problems: readonly FileProblem[]): void {
  for (const p of problems) io.stdout.write(`${describeFileProblem(file, p)}\n`);
}

function readText(file: string, limit: number, limitName: string): Read<string> {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    return problem(`cannot read the file: ${reason(error)}`);
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) return problem('is not a file');
    if (stat.size > limit) return problem(`is ${stat.size} bytes, more than ${limit}, ${limitName}`);
    // Read at most one byte past the limit, so a file growing as it is read stays bounded too.
    const buffer = Buffer.alloc(Math.min(stat.size, limit) + 1);
    let length = 0;
    for (let n = 1; n > 0 && length < buffer.length; length += n) {
      n = readSync(fd, buffer, length, buffer.length - length, null);
    }
    if (length > limit) return problem(`is more than ${limit} bytes, ${limitName}`);
    return decodeUtf8(buffer.subarray(0, length));
  } catch (error) {
    return problem(`cannot read the file: ${reason(error)}`);
  } finally {
    closeSync(fd);
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decodeUtf8(bytes: Uint8Array): Read<string> {
  try {
    return { ok: true, value: utf8.decode(bytes) };
  } catch {
    return problem('is not UTF-8 text');
  }
}

function parseJsonText(text: string): Read<unknown> {
  const parsed = parseJson(text);
  if (parsed.ok) return parsed;
  const { line, column, message } = parsed.error;
  return { ok: false, problems: [{ pointer: '', line, column, message: `invalid JSON: ${message}` }] };
}

function parseYamlText(text: string): Read<unknown> {
  const document = parseDocument(text, { prettyErrors: false });
  if (document.errors.length > 0) {
    return {
      ok: false,
      problems: document.errors.map((error) => ({
        pointer: '',
        ...lineAndColumn(text, error.pos[0]),
        message: `invalid YAML: ${error.message}`,
      })),
    };
  }
  try {
    // Aliases are expanded with yaml's default bound (maxAliasCount), so a small file cannot explode.
    return { ok: true, value: document.toJS() };
  } catch (error) {
    return problem(`invalid YAML: ${reason(error)}`);
  }
}

function problem(message: string): { ok: false; problems: FileProblem[] } {
  return { ok: false, problems: [{ pointer: '', message }] };
}

function reason(error: unknown): string {
  const { code, message } = error as { code?: string; message?: string };
  return code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : String(message ?? error);
}
