import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * Compiles the Node entry into `dist/node.js`, what production runs with no TypeScript loader. Every
 * package stays an import, resolved from node_modules at run time, so the service needs beside dist/
 * only package.json (read for the version, at `../package.json` from dist/ as from src/) and the
 * production dependencies. The SQL migrations go to dist/migrations, where src/db/client.ts looks for
 * them relative to itself once bundled. dist/worker.js (build:worker) is left alone.
 */
export async function buildNode(outdir = join(root, 'dist')): Promise<{ outfile: string; metafile: Metafile }> {
  const outfile = join(outdir, 'node.js');
  const migrations = join(outdir, 'migrations');
  rmSync(migrations, { recursive: true, force: true });
  const { metafile } = await build({
    entryPoints: [join(root, 'src', 'node.ts')],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node24',
    sourcemap: true,
    // Under `node --enable-source-maps` stack traces name src/ files and lines; the map need not carry them.
    sourcesContent: false,
    metafile: true,
    logLevel: 'warning',
  });
  cpSync(join(root, 'src', 'db', 'migrations'), migrations, { recursive: true });
  return { outfile, metafile };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = performance.now();
  const { outfile, metafile } = await buildNode();
  const bytes = metafile.outputs[Object.keys(metafile.outputs).find((file) => file.endsWith('node.js')) ?? '']?.bytes;
  console.log(`${outfile}: ${((bytes ?? 0) / 1024).toFixed(1)} KiB in ${Math.round(performance.now() - started)} ms`);
}
