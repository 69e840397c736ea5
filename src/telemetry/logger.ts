import type { LogLevel } from '../config';
import { summarizeError } from './error-summary';

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

/**
 * One JSON object per line, so log pipelines need no parsing rules. `context` adds fields known
 * only at the time of the call, such as the active trace and span ids, which lead from a log line
 * to its trace. A field holding an error is written as its summary (src/telemetry/error-summary.ts):
 * callers pass errors as they caught them, and no query parameter or payload reaches the line.
 */
export function createJsonLogger(
  level: LogLevel,
  write: (line: string) => void = writeLine,
  context: () => LogFields | undefined = () => undefined,
): Logger {
  const threshold = RANK[level];
  const timestamp = createIsoClock();
  const log = (lvl: LogLevel) => (message: string, fields?: LogFields) => {
    if (RANK[lvl] < threshold) return;
    write(JSON.stringify({ time: timestamp(Date.now()), level: lvl, message, ...context(), ...withSummaries(fields) }));
  };
  return { debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') };
}

/**
 * `new Date(now).toISOString()` for the log's `time`, formatting a date only when the second
 * changes: every request's line needs one, and building it each time was a measurable share of
 * the request log's cost.
 */
export function createIsoClock(): (now: number) => string {
  let second = Number.NaN;
  let prefix = '';
  return (now) => {
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      prefix = new Date(s * 1000).toISOString().slice(0, 20);
    }
    const ms = now - s * 1000;
    return `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z`;
  };
}

function withSummaries(fields: LogFields | undefined): LogFields | undefined {
  if (!fields) return fields;
  let copy: LogFields | undefined;
  // for…in, not Object.entries: every request's log line passes here, and almost none holds an error.
  for (const key in fields) {
    const value = fields[key];
    if (value instanceof Error) {
      copy ??= { ...fields };
      copy[key] = summarizeError(value);
    }
  }
  return copy ?? fields;
}

function writeLine(line: string): void {
  process.stdout.write(`${line}\n`);
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
