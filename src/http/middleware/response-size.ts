import type { Context } from 'hono';

/**
 * Response size without buffering. On Node the bytes are counted as the adapter writes them, so the
 * body is never touched (reading `c.res.body` would cost the adapter its fast path for string
 * bodies); elsewhere it is the declared Content-Length, or a pass-through stream's byte count
 * recorded when the last byte has gone.
 */
export function measureResponse(c: Context, record: (bytes: number) => void): void {
  const outgoing = (c.env as { outgoing?: WritableResponse } | undefined)?.outgoing;
  if (outgoing && typeof outgoing.once === 'function') {
    countWritten(outgoing, record);
    return;
  }
  const header = c.res.headers.get('content-length');
  if (header !== null || !c.res.body) {
    record(Number(header ?? 0));
    return;
  }
  let bytes = 0;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    transform(chunk, controller) {
      bytes += chunk.byteLength;
      controller.enqueue(chunk);
    },
    flush() {
      record(bytes);
    },
  });
  c.res = new Response(c.res.body.pipeThrough(counter), c.res);
}

/** The parts of Node's ServerResponse this needs, without importing Node types into the app. */
interface WritableResponse {
  write(chunk: unknown, ...rest: unknown[]): boolean;
  end(chunk?: unknown, ...rest: unknown[]): unknown;
  once(event: 'finish', listener: () => void): unknown;
}

function countWritten(outgoing: WritableResponse, record: (bytes: number) => void): void {
  let bytes = 0;
  const { write, end } = outgoing;
  outgoing.write = function (this: WritableResponse, chunk, ...rest) {
    bytes += chunkLength(chunk);
    return write.call(this, chunk, ...rest);
  };
  outgoing.end = function (this: WritableResponse, chunk, ...rest) {
    bytes += chunkLength(chunk);
    return end.call(this, chunk, ...rest);
  };
  outgoing.once('finish', () => record(bytes));
}

function chunkLength(chunk: unknown): number {
  if (typeof chunk === 'string') return utf8Length(chunk);
  return chunk instanceof Uint8Array ? chunk.byteLength : 0;
}

/** UTF-8 byte length of a string without encoding it. */
function utf8Length(text: string): number {
  let length = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    if (code < 0x800) length += 1;
    else if (code >= 0xd800 && code <= 0xdbff) {
      // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
      i++;
      length += 2;
    } else length += 2;
  }
  return length;
}
