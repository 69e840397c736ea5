/**
 * JSON Canonicalization Scheme (RFC 8785). ECMAScript's own number and string serialisation is what
 * the RFC specifies, so JSON.stringify does the leaves; this adds key ordering (UTF-16 code units,
 * which is what Array.prototype.sort compares) and rejects values JSON cannot represent exactly.
 * Built by concatenation, no array per object: every ledger entry is hashed through here.
 */
export function canonicalJson(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new TypeError('canonical JSON cannot represent a non-finite number');
      return JSON.stringify(value);
    case 'object':
      if (value === null) return 'null';
      if (Array.isArray(value)) return canonicalArray(value);
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') {
        return canonicalJson((value as { toJSON(): unknown }).toJSON());
      }
      return canonicalObject(value as Record<string, unknown>);
    default:
      throw new TypeError(`canonical JSON cannot represent a ${typeof value}`);
  }
}

function canonicalArray(items: unknown[]): string {
  let out = '[';
  for (let i = 0; i < items.length; i++) {
    if (i > 0) out += ',';
    const item = items[i];
    out += item === undefined ? 'null' : canonicalJson(item);
  }
  return `${out}]`;
}

// Keys of word characters need no escaping, which spares a JSON.stringify call per member.
const PLAIN_KEY = /^[\w$-]*$/;

function canonicalObject(record: Record<string, unknown>): string {
  let out = '{';
  for (const key of Object.keys(record).sort()) {
    const member = record[key];
    if (member === undefined) continue;
    if (out.length > 1) out += ',';
    out += `${PLAIN_KEY.test(key) ? `"${key}"` : JSON.stringify(key)}:${canonicalJson(member)}`;
  }
  return `${out}}`;
}
