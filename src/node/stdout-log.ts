import { createLineBuffer, type LineBuffer } from '../telemetry/line-buffer';

/** The part of process.stdout this needs. */
interface TextSink {
  write(text: string): unknown;
}

/**
 * The Node entry's log output: lines gathered per turn of the event loop (src/telemetry/line-buffer.ts)
 * and written to stdout, which Node writes synchronously on Linux whether it is a file, a pipe or a
 * terminal. Whatever waits is written when the process exits — `process.exit` at the end of a
 * shutdown or a failed start, an empty event loop, an uncaught exception — so only a kill that runs
 * no code (SIGKILL, the OOM killer) loses the lines of the turn in progress.
 */
export function createStdoutLog(stdout: TextSink = process.stdout, maxChars?: number): LineBuffer {
  const buffer = createLineBuffer({
    write: (text) => stdout.write(text),
    schedule: (flush) => setImmediate(flush),
    maxChars,
  });
  process.on('exit', buffer.flush);
  return buffer;
}
