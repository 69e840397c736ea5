import { DEFAULT_MAX_BODY_BYTES } from '../config';
import { type Command, EXIT, FORMAT_OPTION, outputFormat } from './command';
import { checkPolicyFile, type FileProblem, type PolicyFile, writeFileProblems } from './policy-files';

export const policyCheck: Command = {
  words: ['policy', 'check'],
  summary: 'Check policy files offline: parse and compile each as POST /api/policies would, and list every problem',
  usage: 'policy check FILE… [--format text|json]',
  help: [
    'Each FILE is read as JSON and compiled exactly as a load would compile it; a file larger than the',
    `service’s default body limit (${DEFAULT_MAX_BODY_BYTES / 1024 / 1024} MiB) is a problem too: a load of it would be refused. Prints every`,
    'problem as `FILE: /pointer: message` (a JSON syntax error as `FILE:LINE:COLUMN: message`), or',
    '`FILE: ok (N terms, M relations, K constraints)`. Exits 1 when any file has a problem.',
    '',
    '--format   text (default), or json: {valid, files: [{file, valid, problems, policy?}]}',
  ].join('\n'),
  positionals: ['FILE…'],
  options: { ...FORMAT_OPTION },
  async run({ positionals, options }, io) {
    const format = outputFormat(options);
    const files = await Promise.all(positionals.map((file) => checkedFile(file)));
    const valid = files.every((f) => f.valid);
    if (format === 'json') io.stdout.write(`${JSON.stringify({ valid, files })}\n`);
    else {
      for (const f of files) {
        if (f.policy) {
          const { terms, relations, constraints } = f.policy;
          io.stdout.write(`${f.file}: ok (${terms} terms, ${relations} relations, ${constraints} constraints)\n`);
        }
        writeFileProblems(io, f.file, f.problems);
      }
    }
    return valid ? EXIT.ok : EXIT.failed;
  },
};

export interface CheckedFile {
  file: string;
  valid: boolean;
  problems: FileProblem[];
  policy?: {
    name: string;
    version: string;
    mode: string;
    hash: string;
    terms: number;
    relations: number;
    constraints: number;
  };
}

async function checkedFile(file: string): Promise<CheckedFile> {
  const read = await checkPolicyFile(file);
  if (!read.ok) return { file, valid: false, problems: read.problems };
  return { file, valid: true, problems: [], policy: summary(read.value) };
}

function summary({ facts }: PolicyFile): NonNullable<CheckedFile['policy']> {
  return {
    name: facts.name,
    version: facts.policy_version,
    mode: facts.mode,
    hash: facts.hash,
    terms: facts.terms_count,
    relations: facts.relations_count,
    constraints: facts.constraints_count,
  };
}
