/**
 * How a problem names the field of a request it is about: `query.limit`, `context.tags[2]`.
 * Segments are zod issue paths. Problems in documents (policies, tests files) use jsonPointer.
 */
export function joinPath(prefix: string, segments: readonly PropertyKey[]): string {
  let path = prefix;
  for (const segment of segments) {
    path += typeof segment === 'number' ? `[${segment}]` : path ? `.${String(segment)}` : String(segment);
  }
  return path;
}

/** The RFC 6901 JSON Pointer to `segments` below `prefix` (itself a pointer): `/relations/3/conditions/0`. */
export function jsonPointer(prefix: string, segments: readonly PropertyKey[]): string {
  let pointer = prefix;
  for (const segment of segments) pointer += `/${String(segment).replaceAll('~', '~0').replaceAll('/', '~1')}`;
  return pointer;
}
