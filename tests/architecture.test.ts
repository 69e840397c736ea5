import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * The layers of src/ (docs/architecture.md), checked by dependency-cruiser with the rules in
 * .dependency-cruiser.cjs: no import cycles (type-only imports included), the core imports neither
 * hono, OpenTelemetry, the HTTP shell nor a runtime entry, and so on.
 */
const root = join(import.meta.dirname, '..');
const config = join(root, '.dependency-cruiser.cjs');
const depcruise = join(root, 'node_modules', 'dependency-cruiser', 'bin', 'dependency-cruise.mjs');
const run = promisify(execFile);

interface Violation {
  from: string;
  to: string;
  rule: { name: string };
  cycle?: { name: string }[];
}
interface Cruise {
  modules: { source: string; dependencies: { resolved: string }[] }[];
  summary: { violations: Violation[]; totalCruised: number };
}

async function cruise(cwd: string): Promise<Cruise> {
  const { stdout } = await run(process.execPath, [depcruise, '--config', config, '--output-type', 'json', 'src'], {
    cwd,
    maxBuffer: 64 * 1024 * 1024,
  });
  return JSON.parse(stdout) as Cruise;
}

function describeViolation(v: Violation): string {
  const path = v.cycle?.length ? [v.from, ...v.cycle.map((step) => step.name)].join(' → ') : `${v.from} → ${v.to}`;
  return `${v.rule.name}: ${path}`;
}

describe('the import graph of src/', () => {
  it('has no import cycle and no import across a layer the rules forbid', async () => {
    const { modules, summary } = await cruise(root);
    expect(summary.totalCruised).toBeGreaterThan(100);
    // Type-only imports are in the graph: src/http/context.ts imports nothing else.
    const context = modules.find((m) => m.source === 'src/http/context.ts');
    expect(context?.dependencies.map((d) => d.resolved)).toContain('src/services.ts');
    expect(summary.violations.map(describeViolation)).toEqual([]);
  });

  describe('on a tree that breaks every rule', () => {
    const scratch = mkdtempSync(join(tmpdir(), 'lexecon-architecture-'));
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));
    const files: Record<string, string> = {
      'src/errors.ts': "import type { AppEnv } from './http/context';\nexport type Code = AppEnv;\n",
      'src/http/context.ts': "import type { Code } from '../errors';\nexport type AppEnv = { code: Code };\n",
      'src/governance/policy.ts':
        "import { Hono } from 'hono';\nimport { run } from '../ledger/store';\nexport const app = new Hono();\nrun();\n",
      'src/ledger/store.ts':
        "import { trace } from '@opentelemetry/api';\nimport { metrics } from '../telemetry/metrics';\nexport const run = () => trace && metrics;\n",
      'src/telemetry/metrics.ts': 'export const metrics = 1;\n',
      'src/http/app.ts':
        "import { MeterProvider } from '@opentelemetry/sdk-metrics';\nexport const provider = MeterProvider;\n",
      'src/telemetry/telemetry.ts': "import { metrics } from './metrics';\nexport const t = metrics;\n",
      'src/policy-testing/run.ts': "import { readFileSync } from 'node:fs';\nexport const read = readFileSync;\n",
    };
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(join(scratch, dirname(path)), { recursive: true });
      writeFileSync(join(scratch, path), text);
    }
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));

    it('reports each broken rule by name, a type-only cycle included', async () => {
      const { summary } = await cruise(scratch);
      const found = summary.violations.map(describeViolation);
      expect(found).toEqual(
        expect.arrayContaining([
          'no-circular: src/errors.ts → src/http/context.ts → src/errors.ts',
          'errors-is-a-leaf: src/errors.ts → src/http/context.ts',
          expect.stringMatching(/^governance-is-pure: src\/governance\/policy\.ts → \S*node_modules\/hono\//),
          'governance-is-pure: src/governance/policy.ts → src/ledger/store.ts',
          'policy-testing-is-pure: src/policy-testing/run.ts → fs',
          expect.stringMatching(/^core-without-frameworks: src\/ledger\/store\.ts → \S*node_modules\/@opentelemetry\//),
          'core-reports-through-ports: src/ledger/store.ts → src/telemetry/metrics.ts',
          'telemetry-ports-without-sdk: src/telemetry/telemetry.ts → src/telemetry/metrics.ts',
          expect.stringMatching(
            /^sdk-only-in-wiring: src\/http\/app\.ts → \S*node_modules\/@opentelemetry\/sdk-metrics\//,
          ),
        ]),
      );
    });
  });
});
