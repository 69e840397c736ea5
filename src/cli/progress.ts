/** How often a progress line is redrawn at most. */
const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export interface Progress {
  /** `done` items so far (of `total`, when known). */
  update(done: number): void;
  /** Clears the line. */
  finish(): void;
}

export interface ProgressOptions {
  label: string;
  total?: number;
  now?: () => number;
}

/**
 * A progress line on a terminal, rewritten in place (`\r`, erase line): a bar when the total is known,
 * the count and the rate per second. Nothing when the stream is not a terminal, so logs and pipes stay quiet.
 */
export function createProgress(
  stream: NodeJS.WritableStream & { isTTY?: boolean },
  options: ProgressOptions,
): Progress {
  if (!stream.isTTY) return { update() {}, finish() {} };
  const now = options.now ?? (() => performance.now());
  const started = now();
  let drawn = Number.NEGATIVE_INFINITY;
  return {
    update(done) {
      const at = now();
      if (at - drawn < REDRAW_MS) return;
      drawn = at;
      const seconds = (at - started) / 1000;
      const rate = seconds > 0 ? Math.round(done / seconds) : 0;
      stream.write(`\r\x1b[2K${progressLine(options.label, done, options.total)}  ${rate} entries/s`);
    },
    finish() {
      if (drawn !== Number.NEGATIVE_INFINITY) stream.write('\r\x1b[2K');
    },
  };
}

export function progressLine(label: string, done: number, total: number | undefined): string {
  if (total === undefined || total <= 0) return `${label} ${done}`;
  const filled = Math.min(BAR_WIDTH, Math.floor((done / total) * BAR_WIDTH));
  return `${label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ${done}/${total}`;
}
