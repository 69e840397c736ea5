import type { Context } from 'hono';

/** The part of Node's ServerResponse that takes headers, without importing Node types into the app. */
interface OutgoingHeaders {
  setHeader(name: string, value: string): unknown;
  readonly headersSent: boolean;
}

/**
 * Sets a header that every response to this request carries, whoever builds it (the handler, the
 * error handler, the 404). Called before the handler runs.
 *
 * On Node the header goes straight onto the outgoing response; the adapter's `writeHead` merges the
 * app's own headers over it, so a header the app sets later wins (a route's own Cache-Control).
 * Through the context it would cost each request a WHATWG Headers object, validated header by
 * header, and then its conversion back into the record Node writes: the adapter writes a plain
 * header record as it is. Elsewhere (Workers, `app.request` in tests) it goes through the context.
 */
export function setResponseHeader(c: Context, name: string, value: string): void {
  setResponseHeaders(c, [[name, value]]);
}

/** The same for several headers at once. */
export function setResponseHeaders(c: Context, headers: readonly (readonly [string, string])[]): void {
  const outgoing = outgoingOf(c);
  if (outgoing) for (const [name, value] of headers) outgoing.setHeader(name, value);
  else for (const [name, value] of headers) c.header(name, value);
}

function outgoingOf(c: Context): OutgoingHeaders | undefined {
  const outgoing = (c.env as { outgoing?: OutgoingHeaders } | undefined)?.outgoing;
  return outgoing && typeof outgoing.setHeader === 'function' && !outgoing.headersSent ? outgoing : undefined;
}
