/** Where a JSON text stops being JSON: 1-based line and column (UTF-16 code units), and what was wrong there. */
export interface JsonSyntaxError {
  line: number;
  column: number;
  message: string;
}

export type JsonParse = { ok: true; value: unknown } | { ok: false; error: JsonSyntaxError };

/**
 * JSON.parse, and on failure the line and column of the first error. V8 names a position for only
 * some of its errors ("Unexpected token '}', … is not valid JSON" has none), so the text is scanned
 * again (RFC 8259's grammar) to find it.
 */
export function parseJson(text: string): JsonParse {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    const found = firstSyntaxError(text) ?? { offset: text.length, message: (error as Error).message };
    return { ok: false, error: { ...lineAndColumn(text, found.offset), message: found.message } };
  }
}

/** The 1-based line and column of `offset` in `text`. */
export function lineAndColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < offset; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: offset - lineStart + 1 };
}

type State = 'value' | 'first-item' | 'key' | 'first-key' | 'after-value';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const ESCAPE = /\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4})/y;

/** Scans without recursion (no stack to overflow on deep nesting); undefined when the text is JSON. */
function firstSyntaxError(text: string): { offset: number; message: string } | undefined {
  const open: ('{' | '[')[] = [];
  let i = 0;
  let state: State = 'value';
  const unexpected = (expected: string) => ({
    offset: i,
    message:
      i >= text.length
        ? `unexpected end of input, expected ${expected}`
        : `unexpected ${shown(text, i)}, expected ${expected}`,
  });
  const scanString = (): { offset: number; message: string } | undefined => {
    const start = i++;
    for (;;) {
      if (i >= text.length) return { offset: start, message: 'unterminated string' };
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return undefined;
      }
      if (c === 0x5c) {
        ESCAPE.lastIndex = i;
        if (!ESCAPE.test(text)) return { offset: i, message: 'invalid escape in a string' };
        i = ESCAPE.lastIndex;
      } else if (c < 0x20) {
        return { offset: i, message: 'control character in a string (escape it, e.g. \\n)' };
      } else i++;
    }
  };
  for (;;) {
    while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
    const c = text[i];
    if (state === 'after-value') {
      const top = open.at(-1);
      if (top === undefined) return i >= text.length ? undefined : unexpected('the end of the document');
      if (c === ',') {
        i++;
        state = top === '{' ? 'key' : 'value';
      } else if (c === (top === '{' ? '}' : ']')) {
        i++;
        open.pop();
      } else return unexpected(top === '{' ? "',' or '}'" : "',' or ']'");
    } else if (state === 'key' || state === 'first-key') {
      if (state === 'first-key' && c === '}') {
        i++;
        open.pop();
        state = 'after-value';
        continue;
      }
      if (c !== '"') return unexpected('a double-quoted property name');
      const bad = scanString();
      if (bad) return bad;
      while (i < text.length && ' \t\n\r'.includes(text[i] as string)) i++;
      if (text[i] !== ':') return unexpected("':' after the property name");
      i++;
      state = 'value';
    } else {
      if (state === 'first-item' && c === ']') {
        i++;
        open.pop();
        state = 'after-value';
        continue;
      }
      if (c === '{' || c === '[') {
        open.push(c);
        i++;
        state = c === '{' ? 'first-key' : 'first-item';
        continue;
      }
      if (c === '"') {
        const bad = scanString();
        if (bad) return bad;
      } else if (c === '-' || (c !== undefined && c >= '0' && c <= '9')) {
        NUMBER.lastIndex = i;
        if (!NUMBER.test(text)) return { offset: i, message: 'invalid number' };
        i = NUMBER.lastIndex;
      } else {
        const literal = ['true', 'false', 'null'].find((word) => text.startsWith(word, i));
        if (!literal) return unexpected('a value');
        i += literal.length;
      }
      state = 'after-value';
    }
  }
}

function shown(text: string, i: number): string {
  const c = String.fromCodePoint(text.codePointAt(i) as number);
  return /^[\p{L}\p{N}\p{P}\p{S}]$/u.test(c)
    ? `'${c}'`
    : `character U+${(c.codePointAt(0) as number).toString(16).toUpperCase().padStart(4, '0')}`;
}
