import { readdirSync, readFileSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * Who may import what: the OpenTelemetry SDK is the runtime entry's choice, domain code reports
 * through the Telemetry interface, and the core of the domain knows nothing of HTTP.
 */
const root = join(import.meta.dirname, '..');

/** Every non-test module under src, by its path from the repository root, with what it imports. */
const modules = readdirSync(join(root, 'src'), { recursive: true, encoding: 'utf8' })
  .filter((file) => /\.(?:ts|tsx|mts|cts|js|mjs)$/.test(file) && !/\.test\.[cm]?[tj]sx?$/.test(file))
  .map((file) => {
    const path = relative(root, join(root, 'src', file))
      .split(sep)
      .join('/');
    return { path, imports: importsOf(readFileSync(join(root, path), 'utf8')) };
  });

/** Module specifiers of static imports and re-exports (type-only too), dynamic imports and requires. */
function importsOf(source: string): string[] {
  // Comment lines (// …, /* …, and the * lines of a doc comment) may quote imports; code may not hide any.
  const code = source.replace(/^\s*(?:\/\/|\/\*|\*).*$/gm, '');
  const patterns = [
    /\b(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/g,
    /\bimport\s*['"]([^'"]+)['"]/g,
    /\bimport\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\s*\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  return patterns.flatMap((pattern) => [...code.matchAll(pattern)].map((match) => match[1] as string));
}

function offenders(paths: (path: string) => boolean, specifier: RegExp): string[] {
  return modules
    .filter((m) => paths(m.path))
    .flatMap((m) => m.imports.filter((s) => specifier.test(s)).map((s) => `${m.path} imports ${s}`));
}

const SDK = /^@opentelemetry\/(?:sdk-|exporter-|resources$|core$|context-)/;
// The runtime entry and the SDK wiring it calls; everything else uses @opentelemetry/api.
const SDK_OWNERS = new Set([
  'src/node.ts',
  'src/telemetry/node-telemetry.ts',
  'src/telemetry/sdk.ts',
  'src/telemetry/prometheus.ts',
  'src/telemetry/process.ts',
  // The Workers entry's SDK wiring: OTLP push with fetch, and the views both runtimes share.
  'src/telemetry/edge-telemetry.ts',
  'src/telemetry/otlp-push.ts',
  'src/telemetry/views.ts',
]);
const DOMAIN = ['governance', 'ledger', 'policies', 'decisions', 'audit', 'auth'].map((dir) => `src/${dir}/`);

describe('telemetry boundaries', () => {
  it('reads the imports of every module, including the SDK wiring it allows', () => {
    expect(modules.length).toBeGreaterThan(30);
    const prometheus = modules.find((m) => m.path === 'src/telemetry/prometheus.ts');
    expect(prometheus?.imports).toEqual(
      expect.arrayContaining(['@opentelemetry/sdk-metrics', '@opentelemetry/exporter-prometheus']),
    );
    for (const dir of DOMAIN)
      expect(
        modules.some((m) => m.path.startsWith(dir)),
        dir,
      ).toBe(true);
  });

  it('imports the OpenTelemetry SDK, exporters and resources only from the Node entry and the telemetry SDK wiring', () => {
    expect(offenders((path) => !SDK_OWNERS.has(path), SDK)).toEqual([]);
  });

  it('keeps OpenTelemetry out of the domain modules, which report through the Telemetry interface', () => {
    expect(offenders((path) => DOMAIN.some((dir) => path.startsWith(dir)), /^@opentelemetry\//)).toEqual([]);
  });

  it('keeps hono out of governance and the ledger', () => {
    expect(
      offenders((path) => path.startsWith('src/governance/') || path.startsWith('src/ledger/'), /^(?:hono|@hono\/)/),
    ).toEqual([]);
  });
});
