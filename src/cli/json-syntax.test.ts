import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseJson } from './json-syntax';

const errorOf = (text: string) => {
  const parsed = parseJson(text);
  if (parsed.ok) throw new Error('parsed, but should not have');
  return parsed.error;
};

describe('parseJson', () => {
  it('answers the value of valid JSON', () => {
    expect(parseJson('{"a": [1, "x", null]}')).toEqual({ ok: true, value: { a: [1, 'x', null] } });
  });

  it.each([
    ['{"a": }', 1, 7, "unexpected '}', expected a value"],
    ['{\n  "a": 1\n  "b": 2\n}', 3, 3, "unexpected '\"', expected ',' or '}'"],
    ['{"a": 1,}', 1, 9, "unexpected '}', expected a double-quoted property name"],
    ['[1,,2]', 1, 4, "unexpected ',', expected a value"],
    ['{"a": tru}', 1, 7, "unexpected 't', expected a value"],
    ['{"a": "x', 1, 7, 'unterminated string'],
    ['{"a" 1}', 1, 6, "unexpected '1', expected ':' after the property name"],
    ['{"a": "\\x"}', 1, 8, 'invalid escape in a string'],
    ['{"a": "\t"}', 1, 8, 'control character in a string (escape it, e.g. \\n)'],
    ['{"a": -}', 1, 7, 'invalid number'],
    ['{"a": 01}', 1, 8, "unexpected '1', expected ',' or '}'"],
    ['{"a": 1} x', 1, 10, "unexpected 'x', expected the end of the document"],
    ['{"a": [1, 2]', 1, 13, "unexpected end of input, expected ',' or '}'"],
    ['', 1, 1, 'unexpected end of input, expected a value'],
    ['\ufeff{}', 1, 1, 'unexpected character U+FEFF, expected a value'],
  ])('locates the first error in %j at line %i, column %i', (text, line, column, message) => {
    expect(errorOf(text)).toEqual({ line, column, message });
  });

  it('locates an error in any cut-off JSON document, and never one in a whole document', () => {
    fc.assert(
      fc.property(fc.jsonValue(), fc.nat(), (value, cut) => {
        const text = JSON.stringify(value, null, 2);
        expect(parseJson(text).ok).toBe(true);
        const prefix = text.slice(0, cut % (text.length + 1));
        let valid = true;
        try {
          JSON.parse(prefix);
        } catch {
          valid = false;
        }
        const parsed = parseJson(prefix);
        expect(parsed.ok).toBe(valid);
        if (!parsed.ok) expect(parsed.error.message).toMatch(/^(unexpected|unterminated|invalid)/);
      }),
    );
  });

  it('does not overflow the stack on deeply nested input', () => {
    expect(errorOf(`${'['.repeat(200_000)}}`)).toMatchObject({ line: 1, column: 200_001 });
  });
});
