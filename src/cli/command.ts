import type { ParseArgsConfig } from 'node:util';

/** What a command may read from and print to: the process's streams and environment, or a test's. */
export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: Record<string, string | undefined>;
}

/**
 * 0 the command succeeded; 1 verification failed, a file has a problem or a policy test failed (or the
 * service could not be read); 2 a usage error.
 */
export const EXIT = { ok: 0, failed: 1, usage: 2 } as const;
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

export type OptionValues = Record<string, string | boolean | string[] | undefined>;

export interface CommandInput {
  positionals: string[];
  options: OptionValues;
}

/** One `lexecon <words…>` command: main.ts parses its options and positionals, then runs it. */
export interface Command {
  /** The words that name it, e.g. ['ledger', 'verify']. */
  words: readonly string[];
  summary: string;
  /** The synopsis after `lexecon`, e.g. `ledger verify FILE --key KEY`. */
  usage: string;
  /** A few lines on what it checks or does, and its options. */
  help: string;
  /** Names of the positional arguments, in order; each is required. A last name ending in `…` takes one or more. */
  positionals: readonly string[];
  options: NonNullable<ParseArgsConfig['options']>;
  run(input: CommandInput, io: CliIo): Promise<ExitCode>;
}

/** Bad arguments: main.ts prints the message and the command's usage and exits 2. */
export class UsageError extends Error {}

/** The command could not do its work (a file or the service could not be read): exits 1 with the message. */
export class CommandFailed extends Error {}

export function stringOption(options: OptionValues, name: string): string | undefined {
  const value = options[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredOption(options: OptionValues, name: string): string {
  const value = stringOption(options, name);
  if (value === undefined) throw new UsageError(`--${name} is required`);
  return value;
}

export const FORMAT_OPTION = { format: { type: 'string', default: 'text' } } as const;
export const FORMAT_HELP = '--format   text (default), or json for tools: {valid, summary} or {valid, first_invalid}';

export type OutputFormat = 'text' | 'json';

/** The --format a command was given, one of `formats` (by default text, the default, or json). */
export function outputFormat(options: OptionValues): OutputFormat;
export function outputFormat<F extends string>(options: OptionValues, formats: readonly F[]): F;
export function outputFormat(options: OptionValues, formats: readonly string[] = ['text', 'json']): string {
  const format = stringOption(options, 'format') ?? 'text';
  if (formats.includes(format)) return format;
  throw new UsageError(`--format is ${formats.slice(0, -1).join(', ')} or ${formats.at(-1)}`);
}
