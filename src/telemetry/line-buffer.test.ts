import { describe, expect, it } from 'vitest';
import { createLineBuffer } from './line-buffer';

/** A buffer over a recording sink, whose "end of turn" the test decides. */
function setup(maxChars?: number) {
  const writes: string[] = [];
  const turnEnds: (() => void)[] = [];
  const buffer = createLineBuffer({
    write: (text) => writes.push(text),
    schedule: (flush) => turnEnds.push(flush),
    maxChars,
  });
  const endTurn = () => {
    for (const flush of turnEnds.splice(0)) flush();
  };
  return { buffer, writes, turnEnds, endTurn };
}

const linesOf = (writes: string[]) => writes.join('').split('\n').slice(0, -1);

describe('the log line buffer', () => {
  it('writes the lines of one turn together, in order and whole, when the turn ends', () => {
    const { buffer, writes, turnEnds, endTurn } = setup();
    for (let i = 0; i < 5; i++) buffer.line(`{"n":${i}}`);
    expect(writes).toEqual([]);
    expect(turnEnds).toHaveLength(1);
    endTurn();
    expect(writes).toEqual(['{"n":0}\n{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n']);
  });

  it('asks for one flush per turn and none for a turn without lines', () => {
    const { buffer, writes, turnEnds, endTurn } = setup();
    buffer.line('a');
    endTurn();
    endTurn();
    expect(turnEnds).toHaveLength(0);
    buffer.line('b');
    buffer.line('c');
    expect(turnEnds).toHaveLength(1);
    endTurn();
    expect(writes).toEqual(['a\n', 'b\nc\n']);
  });

  it('never lets more than its bound wait: a burst goes out in bounded writes of whole lines', () => {
    const { buffer, writes, endTurn } = setup(100);
    const sent: string[] = [];
    for (let i = 0; i < 200; i++) {
      const line = `{"request":${i},"pad":"${'x'.repeat(i % 37)}"}`;
      sent.push(line);
      buffer.line(line);
      const waiting = sent.join('\n').length + 1 - writes.join('').length;
      expect(waiting).toBeLessThanOrEqual(100);
    }
    expect(writes.length).toBeGreaterThan(10);
    for (const text of writes) {
      expect(text.length).toBeLessThanOrEqual(100);
      expect(text.endsWith('\n')).toBe(true);
    }
    endTurn();
    expect(linesOf(writes)).toEqual(sent);
  });

  it('writes a line longer than the bound on its own, after the lines that waited', () => {
    const { buffer, writes, endTurn } = setup(50);
    const long = `{"message":"${'y'.repeat(80)}"}`;
    buffer.line('first');
    buffer.line(long);
    buffer.line('last');
    endTurn();
    expect(writes).toEqual(['first\n', `${long}\n`, 'last\n']);
  });

  it('writes what waits at once when flushed, and nothing when nothing waits', () => {
    const { buffer, writes, endTurn } = setup();
    buffer.line('before shutdown');
    buffer.flush();
    expect(writes).toEqual(['before shutdown\n']);
    buffer.flush();
    endTurn();
    expect(writes).toEqual(['before shutdown\n']);
  });
});
