import { describe, expect, it } from 'vitest';
import { createProgress, progressLine } from './progress';

function stream(isTTY: boolean) {
  const written: string[] = [];
  return { isTTY, written, write: (text: string) => written.push(text) > 0 } as unknown as NodeJS.WritableStream & {
    isTTY: boolean;
    written: string[];
  };
}

describe('the progress line', () => {
  it('draws a bar, the count and the rate on a terminal, rewriting one line, and clears it at the end', () => {
    const tty = stream(true);
    let clock = 0;
    const progress = createProgress(tty, { label: 'exporting', total: 1000, now: () => clock });
    clock = 2000;
    progress.update(500);
    clock = 2050;
    progress.update(510);
    progress.finish();
    expect(tty.written).toEqual(['\r\x1b[2Kexporting [############............] 500/1000  250 entries/s', '\r\x1b[2K']);
  });

  it('writes nothing when the stream is not a terminal', () => {
    const pipe = stream(false);
    const progress = createProgress(pipe, { label: 'verifying' });
    progress.update(10);
    progress.finish();
    expect(pipe.written).toEqual([]);
  });

  it('counts without a bar when the total is unknown', () => {
    expect(progressLine('verifying', 42, undefined)).toBe('verifying 42');
  });
});
