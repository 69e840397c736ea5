import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CONFIG_VARIABLES } from '../src/config';
import { createApp } from '../src/http/app';
import { noopTelemetry } from '../src/telemetry/telemetry';

const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

describe('README', () => {
  it.each(CONFIG_VARIABLES)('documents the %s variable in the configuration table', (variable) => {
    expect(readme).toMatch(new RegExp(`^\\| \`${variable}\` \\|`, 'm'));
  });

  it('lists every route the app serves', () => {
    const app = createApp({
      services: { telemetry: noopTelemetry } as never,
      metrics: { render: async () => '' },
      settings: { serviceName: 'lexecon', version: 'x', maxBodyBytes: 1024 },
    });
    const routes = new Set(
      app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path.replace(/:(\w+)/g, '{$1}')}`),
    );
    for (const route of routes) {
      const [method, path] = route.split(' ') as [string, string];
      expect(readme, route).toMatch(new RegExp(`\`(?:[A-Z, /{}a-z-]*)?${method} ${path.replace(/[{}]/g, '\\$&')}\``));
    }
  });
});
