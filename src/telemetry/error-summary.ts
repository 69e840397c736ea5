import { classifyDbError, type DbErrorType, errorCode, mayCarryParameters, statementOf } from '../db/errors';

/**
 * What of an error may leave the process, in a log line or a span: its class, its code (driver or
 * SQLSTATE) and, for database errors, their kind and parameterised statement text — never their
 * parameters nor the server's message, which may quote a value (`invalid input syntax for type
 * uuid: "…"`). Other messages are cut short, so no log line grows with a request's payload.
 */
export interface ErrorSummary {
  /** The error's class: TypeError, PostgresError, DrizzleQueryError, … */
  class: string;
  code?: string;
  /** Database errors only. */
  db_error_type?: DbErrorType;
  /** Database errors only: the statement as sent, with $1… placeholders for its values. */
  statement?: string;
  /** Other errors: their message, at most MAX_ERROR_MESSAGE_CHARS. */
  message?: string;
  /** The stack frames under a first line made of the fields above (never the original message). */
  stack?: string;
}

export const MAX_ERROR_MESSAGE_CHARS = 300;
const MAX_STATEMENT_CHARS = 1_000;
const MAX_FRAMES = 20;
const MAX_FRAME_CHARS = 300;

export function summarizeError(err: unknown): ErrorSummary {
  const summary: ErrorSummary = { class: classOf(err) };
  const code = errorCode(err);
  if (code) summary.code = code;
  if (mayCarryParameters(err)) {
    summary.db_error_type = classifyDbError(err);
    const statement = statementOf(err);
    if (statement) summary.statement = cut(statement, MAX_STATEMENT_CHARS);
  } else {
    summary.message = cut(err instanceof Error ? err.message : String(err), MAX_ERROR_MESSAGE_CHARS);
  }
  const frames = framesOf(err);
  if (frames) summary.stack = `${summary.class}: ${headline(summary)}\n${frames}`;
  return summary;
}

/** One line for places that take a single message (a span's exception event). */
export function headline(summary: ErrorSummary): string {
  if (summary.message !== undefined) return summary.message;
  return `database ${summary.db_error_type ?? 'query'} error${summary.code ? ` ${summary.code}` : ''}`;
}

function classOf(err: unknown): string {
  if (!(err instanceof Error)) return err === null ? 'null' : typeof err;
  // drizzle's DrizzleQueryError keeps the generic name; its constructor says what it is.
  const name = err.name === 'Error' ? (err.constructor?.name ?? err.name) : err.name;
  return /^[\w$.]{1,64}$/.test(name) ? name : 'Error';
}

/**
 * The frames of a V8 stack without its first line(s), which repeat the message: the stack is cut
 * after `name: message` when it starts with it, and no line that occurs in the message is kept.
 */
function framesOf(err: unknown): string | undefined {
  if (!(err instanceof Error) || typeof err.stack !== 'string') return undefined;
  const header = Error.prototype.toString.call(err);
  const below = err.stack.startsWith(header) ? err.stack.slice(header.length) : err.stack;
  const frames = below
    .split('\n')
    .filter((line) => /^ {4}at \S/.test(line) && !err.message.includes(line.trim()))
    .slice(0, MAX_FRAMES)
    .map((line) => cut(line, MAX_FRAME_CHARS));
  return frames.length > 0 ? frames.join('\n') : undefined;
}

function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
