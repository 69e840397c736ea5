import { writeSync } from 'node:fs';
import { createLineBuffer, type LineBuffer } from '../telemetry/line-buffer';

const STDOUT = 1;
// Waited on, never notified: Atomics.wait is the one way to sleep a millisecond without spinning.
const sleeper = new Int32Array(new SharedArrayBuffer(4));

/**
 * The Node entry's log output: lines gathered per turn of the event loop (src/telemetry/line-buffer.ts)
 * and written to stdout (fd 1) with a synchronous write that returns only once every byte is out.
 *
 * Not through `process.stdout`: on a pipe (a container runtime's log collector) that stream is
 * asynchronous, so a slow reader grows an unbounded queue in memory, and `process.exit` drops
 * whatever is queued. Here a reader slower than the service blocks the write instead: the service
 * slows to the reader's pace, memory stays bounded, and no line is lost. Whatever waits is written
 * when the process exits (the end of a shutdown, a failed start, an uncaught exception), so only a
 * kill that runs no code (SIGKILL, the OOM killer) loses the lines of the turn in progress.
 */
export function createStdoutLog(fd = STDOUT, maxChars?: number): LineBuffer {
  const buffer = createLineBuffer({
    write: (text) => writeFully(fd, text),
    schedule: (flush) => setImmediate(flush),
    maxChars,
  });
  process.on('exit', buffer.flush);
  return buffer;
}

/**
 * Writes all of `text`. A full pipe whose descriptor is non-blocking (libuv makes it so once
 * anything uses `process.stdout`) answers EAGAIN or takes part of the bytes: wait a millisecond
 * and write the rest. Any other failure (EPIPE: the reader is gone) drops the text, since a log
 * line that cannot be written must not fail the request that wrote it.
 */
function writeFully(fd: number, text: string): void {
  let bytes = Buffer.from(text);
  while (bytes.length > 0) {
    try {
      bytes = bytes.subarray(writeSync(fd, bytes));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
      Atomics.wait(sleeper, 0, 0, 1);
    }
  }
}
