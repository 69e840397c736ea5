import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { HYPERDRIVE_BINDING, WORKER_VARIABLES } from '../src/edge/config';
import { ALL_METRICS } from '../src/telemetry/catalogue';

const compat = readFileSync(join(import.meta.dirname, '..', 'wrangler-compat.md'), 'utf8');
const wrangler = readFileSync(join(import.meta.dirname, '..', 'wrangler.toml'), 'utf8');

describe('wrangler-compat.md', () => {
  it('says what becomes of every metric family on Workers', () => {
    const missing = ALL_METRICS.map((d) => d.name).filter((name) => {
      // Families documented by a shared prefix, e.g. nodejs_eventloop_lag_*.
      const prefix = name.replace(/_(p50|p99|max)_seconds$/, '_*');
      return !compat.includes(`\`${name}\``) && !compat.includes(`\`${prefix}\``);
    });
    expect(missing).toEqual([]);
  });

  it('documents every variable only the Workers build reads, and the Hyperdrive binding wrangler.toml declares', () => {
    for (const variable of WORKER_VARIABLES) expect(compat, variable).toContain(`\`${variable}\``);
    expect(wrangler).toContain(`binding = "${HYPERDRIVE_BINDING}"`);
    expect(compat).toContain(`\`${HYPERDRIVE_BINDING}\``);
  });
});
