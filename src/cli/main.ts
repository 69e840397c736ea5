import { parseArgs } from 'node:util';
import { checkpointConsistency } from './checkpoint-consistency';
import { type CliIo, type Command, CommandFailed, EXIT, type ExitCode, UsageError } from './command';
import { ledgerExport } from './ledger-export';
import { ledgerVerify } from './ledger-verify';
import { policyCheck } from './policy-check';
import { policyExplain } from './policy-explain';
import { policyTest } from './policy-test';
import { receiptVerify } from './receipt-verify';

/** Every command, by the words that name it; a new one is a file in src/cli and a line here. */
export const COMMANDS: readonly Command[] = [
  ledgerExport,
  ledgerVerify,
  receiptVerify,
  checkpointConsistency,
  policyCheck,
  policyTest,
  policyExplain,
];

/** Runs `lexecon <args>` and answers its exit code: 0 ok, 1 verification (or the command) failed, 2 usage error. */
export async function main(args: readonly string[], io: CliIo = processIo()): Promise<ExitCode> {
  const command = COMMANDS.find((c) => c.words.every((word, i) => args[i] === word));
  if (!command) return listCommands(args, io);
  try {
    const parsed = parseArgs({
      args: args.slice(command.words.length) as string[],
      options: { ...command.options, help: { type: 'boolean', short: 'h' } },
      allowPositionals: true,
      strict: true,
    });
    if (parsed.values.help) {
      io.stdout.write(commandHelp(command));
      return EXIT.ok;
    }
    const variadic = command.positionals.at(-1)?.endsWith('…') ?? false;
    const given = parsed.positionals.length;
    if (variadic ? given < command.positionals.length : given !== command.positionals.length) {
      throw new UsageError(`expected ${command.positionals.join(' ') || 'no arguments'}`);
    }
    return await command.run({ positionals: parsed.positionals, options: parsed.values }, io);
  } catch (error) {
    if (error instanceof CommandFailed) {
      io.stderr.write(`lexecon ${command.words.join(' ')}: ${error.message}\n`);
      return EXIT.failed;
    }
    if (error instanceof UsageError || isParseArgsError(error)) {
      io.stderr.write(
        `lexecon ${command.words.join(' ')}: ${(error as Error).message}\nusage: lexecon ${command.usage}\n`,
      );
      return EXIT.usage;
    }
    throw error;
  }
}

function processIo(): CliIo {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env };
}

function isParseArgsError(error: unknown): boolean {
  return error instanceof TypeError && String((error as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS');
}

/**
 * `lexecon --help` (or `lexecon ledger --help`) lists the commands (of that group) and exits 0; anything
 * else that names no command lists them as a usage error.
 */
function listCommands(args: readonly string[], io: CliIo): ExitCode {
  const group = COMMANDS.filter((c) => c.words[0] === args[0]);
  const asked = args.includes('--help') || args.includes('-h') || args[0] === 'help';
  const known = asked && (group.length > 0 || args.length === 1);
  const text = overview(group.length > 0 ? group : COMMANDS, known || args.length === 0 ? undefined : args.join(' '));
  (known ? io.stdout : io.stderr).write(text);
  return known ? EXIT.ok : EXIT.usage;
}

function overview(commands: readonly Command[], unknown: string | undefined): string {
  const width = Math.max(...commands.map((c) => c.words.join(' ').length));
  const lines = commands.map((c) => `  ${c.words.join(' ').padEnd(width)}  ${c.summary}`);
  return [
    ...(unknown === undefined ? [] : [`unknown command: ${unknown}`, '']),
    'usage: lexecon <command> [options]   (lexecon <command> --help for its options)',
    '',
    ...lines,
    '',
    'Exit codes: 0 ok, 1 verification failed, a policy problem or a failing case (or the service could not be',
    'read), 2 usage error.',
    '',
  ].join('\n');
}

function commandHelp(command: Command): string {
  return `usage: lexecon ${command.usage}\n\n${command.summary}.\n\n${command.help}\n`;
}
