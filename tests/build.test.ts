import { execFile } from 'node:child_process';
import { cpSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { buildNode } from '../scripts/build';
import { decisionRequest } from './support/app';
import { cleanUpProcesses, metricValue, policyFile, spawnLexecon, tempDir, waitFor } from './support/lexecon-process';
import { PROCESS_SUITE } from './support/wait';

/**
 * The compiled build as production runs it: `npm run build` in a copy of the sources, then
 * `node dist/node.js` from a directory holding only what the build promises to need beside dist/:
 * package.json and node_modules. No TypeScript file is there, so nothing can be loaded through tsx.
 */
vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

const repo = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as {
  version: string;
  dependencies: Record<string, string>;
};

/** The package an import names: `@scope/name` or `name`, without a subpath. */
const packageOf = (specifier: string) =>
  specifier
    .split('/')
    .slice(0, specifier.startsWith('@') ? 2 : 1)
    .join('/');

describe('the compiled build', () => {
  let release: string;

  beforeAll(async () => {
    const checkout = tempDir('lexecon-checkout-');
    for (const entry of ['package.json', 'tsconfig.json', 'src', 'scripts'])
      cpSync(join(repo, entry), join(checkout, entry), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(checkout, 'node_modules'));
    await promisify(execFile)('npm', ['run', 'build'], { cwd: checkout });

    release = tempDir('lexecon-release-');
    cpSync(join(checkout, 'package.json'), join(release, 'package.json'));
    cpSync(join(checkout, 'dist'), join(release, 'dist'), { recursive: true });
    symlinkSync(join(repo, 'node_modules'), join(release, 'node_modules'));
  });

  it('is JavaScript with its source map and every SQL migration, and no TypeScript', () => {
    const files = readdirSync(join(release, 'dist'), { recursive: true }).map(String).sort();
    const migrations = readdirSync(join(repo, 'src', 'db', 'migrations'), { recursive: true }).map(String);
    expect(files).toEqual(
      expect.arrayContaining(['node.js', 'node.js.map', ...migrations.map((f) => `migrations/${f}`)]),
    );
    expect(files.filter((file) => file.endsWith('.ts'))).toEqual([]);
    expect(readFileSync(join(release, 'dist', 'node.js'), 'utf8')).not.toMatch(/from "tsx/);
  });

  it('imports at run time only Node built-ins and production dependencies', async () => {
    const { metafile } = await buildNode(tempDir('lexecon-dist-'));
    const imports = Object.values(metafile.outputs).flatMap((output) => output.imports);
    expect(imports.length).toBeGreaterThan(0);
    expect(imports.every((i) => i.external)).toBe(true);
    const packages = [...new Set(imports.map((i) => i.path).filter((path) => !isBuiltin(path)))].map(packageOf);
    expect(packages.filter((name) => !(name in pkg.dependencies))).toEqual([]);
  });

  it('runs as `node dist/node.js` on a fresh PGlite data dir: migrates, decides, exports metrics, stops on SIGTERM', async () => {
    const service = await spawnLexecon(
      { LEXECON_DATA_DIR: tempDir(), LEXECON_POLICY_FILE: policyFile(), LEXECON_SHUTDOWN_DELAY_MS: '0' },
      { args: ['dist/node.js'], cwd: release },
    );
    await service.listening; // rejects with the process's output if it exits first
    await waitFor('/health/ready', async () => ((await fetch(`${service.url}/health/ready`)).ok ? true : undefined));

    // The version comes from package.json, read at run time beside dist/.
    expect((await service.call('GET', '/')).body.version).toBe(pkg.version);
    const decision = await service.call('POST', '/api/decide', decisionRequest());
    expect(decision.status).toBe(200);
    expect(decision.body).toMatchObject({ allowed: true, decision: 'permit' });
    expect((await service.call('GET', '/api/ledger/verify')).body).toMatchObject({ valid: true });
    const metrics = await (await fetch(`${service.url}/metrics`)).text();
    expect(metricValue(metrics, 'lexecon_decisions_total', { allowed: 'true' })).toBe(1);

    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
    expect(service.logs().map((line) => line.message)).toContain('stopped');
  });
});
