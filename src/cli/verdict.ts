import { type CliIo, EXIT, type ExitCode, type OutputFormat } from './command';

/** Where and why verification stopped. */
export interface Failure {
  /** The first bad entry's index; null when no single entry is to blame (a checkpoint, a root, a proof). */
  index: number | null;
  reason: string;
  /** One sentence for a person. */
  message: string;
  entry_id?: string | null;
  key_id?: string;
}

/** A verify command's answer: `--format json` prints it as is. */
export type Verdict = { valid: true; summary: string } | { valid: false; first_invalid: Failure };

/** Prints the verdict (one line, or its JSON) on stdout and returns the exit code it stands for. */
export function printVerdict(io: CliIo, format: OutputFormat, verdict: Verdict & Record<string, unknown>): ExitCode {
  if (format === 'json') io.stdout.write(`${JSON.stringify(verdict)}\n`);
  else io.stdout.write(`${verdict.valid ? `valid: ${verdict.summary}` : describeFailure(verdict.first_invalid)}\n`);
  return verdict.valid ? EXIT.ok : EXIT.failed;
}

function describeFailure(failure: Failure): string {
  const where =
    failure.index === null ? '' : ` at index ${failure.index}${failure.entry_id ? ` (${failure.entry_id})` : ''}`;
  return `invalid${where}: ${failure.reason}: ${failure.message}`;
}

export function failure(reason: string, message: string, at: Partial<Failure> = {}): Failure {
  return { index: null, ...at, reason, message };
}

export function failed(reason: string, message: string, at: Partial<Failure> = {}): Verdict {
  return { valid: false, first_invalid: failure(reason, message, at) };
}
