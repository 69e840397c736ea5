import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ALL_METRICS } from '../src/telemetry/catalogue';

const read = (file: string) => readFileSync(join(import.meta.dirname, '..', file), 'utf8');
const reference = read('docs/metrics.md');
const byName = new Map(ALL_METRICS.map((d) => [d.name, d]));

/** A catalogue name, or the _bucket/_sum/_count series PromQL reads of a histogram or summary. */
function catalogued(name: string): boolean {
  if (byName.has(name)) return true;
  const [, base, suffix] = /^(.+)_(bucket|sum|count)$/.exec(name) ?? [];
  const kind = base === undefined ? undefined : byName.get(base)?.kind;
  return kind === 'histogram' || (kind === 'summary' && suffix !== 'bucket');
}

describe('docs/metrics.md', () => {
  it.each(ALL_METRICS.map((d) => d.name))('documents %s', (name) => {
    expect(reference).toContain(`\`${name}\``);
  });
});

describe.each(['docs/metrics.md', 'README.md'])('%s', (file) => {
  const mentioned = [...new Set(read(file).match(/\blexecon_[a-z0-9_]*[a-z0-9]/g) ?? [])];

  it('names only lexecon_ metrics that are in the catalogue', () => {
    expect(mentioned.filter((name) => !catalogued(name))).toEqual([]);
  });
});
