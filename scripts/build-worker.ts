import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

/**
 * Bundles src/worker.ts into one ES module for workerd. Runtime modules (`cloudflare:sockets`, and
 * the `node:` modules nodejs_compat provides) stay imports; the `workerd` condition picks
 * postgres.js's Workers build.
 */
export async function buildWorker(outfile = 'dist/worker.js'): Promise<{ outfile: string; raw: number; gzip: number }> {
  await build({
    entryPoints: [fileURLToPath(new URL('../src/worker.ts', import.meta.url))],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    conditions: ['workerd', 'worker', 'browser'],
    target: 'es2022',
    external: ['cloudflare:*', 'node:*'],
    minify: true,
    sourcemap: 'external',
    legalComments: 'none',
    logLevel: 'warning',
  });
  const bytes = readFileSync(outfile);
  return { outfile, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
}

const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { outfile, raw, gzip } = await buildWorker();
  console.log(`${outfile}: ${kib(raw)} raw, ${kib(gzip)} gzip (limit 1024 KiB gzip)`);
  if (gzip > 1024 * 1024) {
    console.error('the bundle is over 1 MiB gzipped');
    process.exit(1);
  }
}
