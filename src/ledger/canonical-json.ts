/**
 * JSON Canonicalization Scheme (RFC 8785). ECMAScript's own number and string serialisation is what
 * the RFC specifies, so JSON.stringify does the leaves; this adds key ordering (UTF-16 code units,
 * which is what Array.prototype.sort compares) and rejects values JSON cannot represent exactly.
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
    case 'object': {
      if (value === null) return 'null';
      if (Array.isArray(value)) return `[${value.map(canonicalArrayItem).join(',')}]`;
      const record = value as Record<string, unknown>;
      if (typeof (record as { toJSON?: unknown }).toJSON === 'function') {
        return canonicalJson((record as { toJSON(): unknown }).toJSON());
      }
      const members: string[] = [];
      for (const key of Object.keys(record).sort()) {
        const member = record[key];
        if (member === undefined) continue;
        members.push(`${JSON.stringify(key)}:${canonicalJson(member)}`);
      }
      return `{${members.join(',')}}`;
    }
    default:
      throw new TypeError(`canonical JSON cannot represent a ${typeof value}`);
  }
}

function canonicalArrayItem(item: unknown): string {
  return item === undefined ? 'null' : canonicalJson(item);
}
