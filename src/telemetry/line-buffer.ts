export interface LineBufferOptions {
  /** Writes whole lines at once; synchronous, so a flush at exit or at the bound is done when it returns. */
  write(text: string): void;
  /** Runs `flush` once the current turn of the event loop is over (setImmediate on Node). */
  schedule(flush: () => void): void;
  /** Characters that may wait; a line that would pass the bound flushes what waits first. Default 64 Ki. */
  maxChars?: number;
}

export interface LineBuffer {
  /** Queues one line (without its newline); it is written by the end of the turn. */
  line(text: string): void;
  /** Writes every queued line now. */
  flush(): void;
}

export const DEFAULT_MAX_BUFFERED_CHARS = 64 * 1024;

/**
 * Log lines gathered into one write per turn of the event loop instead of a write per line: under
 * load, one system call carries the lines of every request the turn served. Lines keep their order
 * and are never split or dropped. At most `maxChars` wait: past that the buffer is written at once,
 * synchronously, so memory stays bounded and a sink slower than the service slows the service
 * down rather than losing lines.
 */
export function createLineBuffer(options: LineBufferOptions): LineBuffer {
  const { write, schedule } = options;
  const maxChars = options.maxChars ?? DEFAULT_MAX_BUFFERED_CHARS;
  let pending = '';
  let scheduled = false;

  function flush(): void {
    if (pending === '') return;
    const text = pending;
    pending = '';
    write(text);
  }

  const flushScheduled = () => {
    scheduled = false;
    flush();
  };

  return {
    line(text) {
      if (pending.length + text.length + 1 > maxChars) flush();
      pending += `${text}\n`;
      if (pending.length >= maxChars) flush();
      else if (!scheduled) {
        scheduled = true;
        schedule(flushScheduled);
      }
    },
    flush,
  };
}
