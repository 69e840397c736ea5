import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { parse } from 'yaml';
import { decisionRequest, samplePolicy } from './support/app';
import { withDatabase } from './support/global-setup';
import { freePort, metricValue, waitFor } from './support/lexecon-process';

/**
 * The container image, as an operator gets it: the real Dockerfile built with buildah, then started
 * with the image's own command as the image's own user, with the Deployment's writable mounts.
 * Base images cannot be pulled here, so the build's base is a stand-in made locally
 * (scripts/build-standin-base.sh: Debian minbase, the npm registry's Node 24 and npm), kept in
 * buildah's storage for later runs, as are the build's layers. The build's `npm ci`s reach the npm
 * registry.
 */
const root = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  version: string;
  description: string;
  license?: string;
};
const IMAGE = `localhost/lexecon:${pkg.version}`;
const ADMIN_KEY = 'image-test-bootstrap-admin-key-0123456789abcdef';
/** A fresh machine makes the stand-in base and runs both stages' `npm ci`, niced: minutes. */
const BUILD_TIMEOUT_MS = 40 * 60_000;
/** One container started, asked and stopped, PGlite's first initdb included, on a loaded machine. */
const RUN_TIMEOUT_MS = 5 * 60_000;
/** A short command in a container (a version, a listing, the healthcheck). */
const COMMAND_TIMEOUT_MS = 60_000;

const BUILDAH_MISSING =
  'buildah or mmdebstrap is not installed and scripts/provision-test-tools.sh could not install them ' +
  '(Debian packages buildah, mmdebstrap): the image was not built';
const canBuild = ['buildah', 'mmdebstrap'].every(
  (tool) => spawnSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' }).status === 0,
);

/** What the Dockerfile's final stage declares, read from its text (so it is checked without a build too). */
const dockerfile = readFileSync(join(root, 'Dockerfile'), 'utf8');
const finalStage = dockerfile.slice(dockerfile.lastIndexOf('\nFROM '));
const [uid, gid] = /^USER (\d+):(\d+)$/m.exec(finalStage)?.slice(1).map(Number) ?? [];
const dataDir = /LEXECON_DATA_DIR=(\S+)/.exec(finalStage)?.[1] ?? '';

describe('the Dockerfile and the Deployment', () => {
  it("run the image this package version builds, as the image's user, writing only the data volume and /tmp", () => {
    const read = (file: string) => parse(readFileSync(join(root, 'k8s/lexecon', file), 'utf8'));
    const pod = read('deployment.yaml').spec.template.spec;
    const app = pod.containers.find((c: { name: string }) => c.name === 'lexecon');

    expect(app.image).toBe(`lexecon:${pkg.version}`);
    for (const image of read('kustomization.yaml').images ?? []) {
      if (image.name === 'lexecon' && image.newTag !== undefined) expect(image.newTag).toBe(pkg.version);
    }
    expect(uid).toBeGreaterThan(0);
    expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: uid, runAsGroup: gid, fsGroup: gid });
    expect(app.securityContext.readOnlyRootFilesystem).toBe(true);
    expect(read('configmap.yaml').data.LEXECON_DATA_DIR).toBe(dataDir);
    const mounts = new Map<string, string>(
      app.volumeMounts.map((m: { name: string; mountPath: string }) => [m.mountPath, m.name]),
    );
    expect([...mounts.keys()].sort()).toEqual([dataDir, '/tmp'].sort());
    const tmpVolume = pod.volumes.find((v: { name: string }) => v.name === mounts.get('/tmp'));
    expect(tmpVolume.emptyDir).toBeDefined();
  });
});

/** The parts of `buildah inspect --type image` read here (Docker format, which keeps HEALTHCHECK). */
interface ImageConfig {
  User: string;
  Env: string[];
  Entrypoint: string[] | null;
  Cmd: string[];
  WorkingDir: string;
  ExposedPorts: Record<string, unknown>;
  Volumes: Record<string, unknown>;
  StopSignal: string;
  Labels: Record<string, string>;
  Healthcheck: { Test: string[] };
}

interface RunOptions {
  env?: Record<string, string>;
  volumes?: string[];
}

describe.runIf(canBuild)('the container image, built with buildah', () => {
  let config: ImageConfig;
  const cleanups: (() => void)[] = [];
  afterAll(() => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup();
  });

  beforeAll(async () => {
    const base = (await run('bash', ['scripts/build-standin-base.sh'], BUILD_TIMEOUT_MS)).trim();
    // Niced: the build's `npm ci`s and the compile share the machine with the other test files.
    const started = Date.now();
    await run(
      'nice',
      [
        ...['-n19', 'buildah', 'bud', '--isolation', 'chroot', '--layers', '--format', 'docker'],
        ...['--build-arg', `BASE_IMAGE=${base}`, '--tag', IMAGE, '--file', 'Dockerfile', '.'],
      ],
      BUILD_TIMEOUT_MS,
    );
    const size = async (image: string) =>
      (await run('buildah', ['images', '--format', '{{.Size}}', image], COMMAND_TIMEOUT_MS)).trim();
    const seconds = Math.round((Date.now() - started) / 1000);
    console.info(`built ${IMAGE} (${await size(IMAGE)}) in ${seconds} s on ${base} (${await size(base)})`);
    config = JSON.parse(await run('buildah', ['inspect', '--type', 'image', IMAGE], COMMAND_TIMEOUT_MS)).Docker.config;
  }, BUILD_TIMEOUT_MS);

  /** A working container of the image, removed after the suite. */
  async function container(): Promise<string> {
    const name = (await run('buildah', ['from', '--pull-never', IMAGE], COMMAND_TIMEOUT_MS)).trim();
    cleanups.push(() => spawnSync('buildah', ['rm', name], { stdio: 'ignore' }));
    return name;
  }

  /** `command` in the container (host network, the image's user and working dir); its stdout. */
  function inContainer(ctr: string, command: string[], options: RunOptions = {}): Promise<string> {
    return run('buildah', runArguments(ctr, command, options), COMMAND_TIMEOUT_MS);
  }

  it('holds Node 24, the compiled dist/ and the production dependencies, nothing else', async () => {
    const ctr = await container();
    expect(await inContainer(ctr, ['node', '--version'])).toMatch(/^v24\./);
    const app = (await inContainer(ctr, ['ls', '-A', config.WorkingDir])).split('\n').filter(Boolean);
    expect(app.sort()).toEqual(['dist', 'node_modules', 'package-lock.json', 'package.json']);
    // Nothing the build left in /tmp (npm's compile cache).
    expect(await inContainer(ctr, ['ls', '-A', '/tmp'])).toBe('');
    // npm's record of what `npm ci --omit=dev` installed holds nothing the lock file marks dev-only.
    const installed = Object.keys(
      JSON.parse(await inContainer(ctr, ['cat', 'node_modules/.package-lock.json'])).packages,
    );
    const locked = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')).packages;
    const devOnly = Object.keys(locked).filter((path) => locked[path].dev);
    expect(devOnly).toContain('node_modules/vitest');
    expect(installed).toContain('node_modules/hono');
    expect(installed.filter((path) => devOnly.includes(path))).toEqual([]);
  });

  it('says how it runs: non-root numeric user, data volume, port, SIGTERM, a healthcheck without curl, labels from package.json', () => {
    expect(config.User).toBe(`${uid}:${gid}`);
    expect(config.Env).toContain(`LEXECON_DATA_DIR=${dataDir}`);
    expect(Object.keys(config.Volumes)).toEqual([dataDir]);
    expect(Object.keys(config.ExposedPorts)).toEqual(['8000/tcp']);
    expect(config.StopSignal).toBe('SIGTERM');
    // node is PID 1 and gets the stop signal itself: no entrypoint script in between.
    expect(config.Entrypoint ?? []).toEqual([]);
    expect(config.Cmd).toEqual(['node', 'dist/node.js']);
    expect(config.Healthcheck.Test.slice(0, 2)).toEqual(['CMD', 'node']);
    expect(config.Labels).toMatchObject({
      'org.opencontainers.image.title': 'lexecon',
      'org.opencontainers.image.description': pkg.description,
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.licenses': pkg.license ?? 'NOASSERTION',
      'org.opencontainers.image.source': expect.stringMatching(/^https:\/\//),
    });
  });

  const backends = [
    { name: 'pglite', databaseUrl: async () => undefined },
    ...(inject('postgresTemplate') ? [{ name: 'postgres', databaseUrl: postgresDatabase }] : []),
  ];

  it.each(backends)(
    'starts with its own command as its own user, writes only its volume and /tmp, answers readiness, a decision and /metrics, and stops on SIGTERM ($name)',
    async ({ databaseUrl }) => {
      const ctr = await container();
      const rootfs = (await run('buildah', ['mount', ctr], COMMAND_TIMEOUT_MS)).trim();
      cleanups.push(() => spawnSync('buildah', ['umount', ctr], { stdio: 'ignore' }));
      const data = temporary('lexecon-image-data-', 0o700, true);
      const tmp = temporary('lexecon-image-tmp-', 0o700, true);
      const policyDir = temporary('lexecon-image-policy-', 0o755);
      writeFileSync(join(policyDir, 'policy.json'), JSON.stringify(samplePolicy));
      // As the Deployment mounts them: the data volume and /tmp writable, the policy read-only.
      const volumes = [`${data}:${dataDir}`, `${tmp}:/tmp`, `${policyDir}:/etc/lexecon:ro`];
      // buildah 1.28 mounts an anonymous volume at the image's VOLUME too, and which of the two
      // mounts wins varies: the working container forgets the VOLUME (checked above) instead.
      await run('buildah', ['config', '--volume', `${dataDir}-`, ctr], COMMAND_TIMEOUT_MS);
      // A first run lays buildah's own mount points (/etc/hosts, /etc/lexecon) into the file system.
      await inContainer(ctr, ['true'], { volumes });
      const before = fileSystemState(rootfs);

      const port = await freePort();
      const url = await databaseUrl();
      const env: Record<string, string> = {
        PORT: String(port),
        HOST: '127.0.0.1',
        LEXECON_BOOTSTRAP_ADMIN_KEY: ADMIN_KEY,
        LEXECON_POLICY_FILE: '/etc/lexecon/policy.json',
        LEXECON_SHUTDOWN_DELAY_MS: '0',
      };
      if (url) env.DATABASE_URL = url;
      const service = startContainer(ctr, [...(config.Entrypoint ?? []), ...config.Cmd], { env, volumes });
      cleanups.push(service.kill);
      const base = `http://127.0.0.1:${port}`;
      await waitFor(
        'the container to be ready',
        async () => {
          if (service.exited()) throw new Error('exited');
          return (await fetch(`${base}/health/ready`, { signal: bounded() })).status === 200 ? true : undefined;
        },
        RUN_TIMEOUT_MS,
      ).catch((err: Error) => {
        throw new Error(`${err.message}:\n${service.lines.join('\n')}`);
      });

      const decided = await fetch(`${base}/api/decide`, {
        method: 'POST',
        headers: { authorization: `Bearer ${ADMIN_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(decisionRequest()),
        signal: bounded(),
      });
      expect(decided.status).toBe(200);
      expect(await decided.json()).toMatchObject({
        allowed: true,
        decision: 'permit',
        decision_id: expect.any(String),
      });
      const metrics = await fetch(`${base}/metrics`, { signal: bounded() });
      expect(metrics.status).toBe(200);
      expect(metricValue(await metrics.text(), 'lexecon_decisions_total', { allowed: 'true' })).toBe(1);

      // The image's HEALTHCHECK, as Docker runs it: beside the service, on its network.
      await inContainer(await container(), config.Healthcheck.Test.slice(1), { env: { PORT: String(port) } });

      // What a runtime does on `docker stop` or a pod's deletion: the image's STOPSIGNAL to its PID 1.
      expect(await service.stop(config.StopSignal as NodeJS.Signals)).toBe(0);
      expect(service.lines.some((line) => line.includes('"message":"stopped"'))).toBe(true);
      if (!url) {
        // The generated signing key and PGlite's database are in the volume, the image user's.
        expect(statSync(join(data, 'signing-key.pem')).uid).toBe(uid);
        expect(statSync(join(data, 'pglite')).isDirectory()).toBe(true);
      }
      // Nothing else was written: the image's own file system is as it was, so a read-only root
      // loses nothing. (buildah 1.28 cannot run on a read-only root itself: after the command it
      // removes its mount points from it.)
      expect(changes(before, fileSystemState(rootfs))).toEqual([]);
    },
    RUN_TIMEOUT_MS,
  );

  /** A directory removed after the suite; the image's user's when `owned`. */
  function temporary(prefix: string, mode: number, owned = false): string {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    chmodSync(dir, mode);
    if (owned) chownSync(dir, uid as number, gid as number);
    return dir;
  }

  /** A database of its own on the suite's PostgreSQL, dropped after the suite. */
  async function postgresDatabase(): Promise<string> {
    const { adminUrl } = inject('postgresTemplate') as { adminUrl: string };
    const name = `lexecon_image_${process.pid}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    await admin.end();
    cleanups.push(() => {
      spawnSync('psql', [adminUrl, '-qc', `drop database if exists ${name} with (force)`], { stdio: 'ignore' });
    });
    return withDatabase(adminUrl, name);
  }
});

// Declared only where the image cannot be built, so a run that builds it reports no skipped test.
if (!canBuild) {
  describe('the container image, not built', () => {
    it(`is skipped: ${BUILDAH_MISSING}`, (ctx) => {
      console.warn(`tests/image.test.ts: ${BUILDAH_MISSING}`);
      ctx.skip(BUILDAH_MISSING);
    });
  });
}

const bounded = () => AbortSignal.timeout(COMMAND_TIMEOUT_MS);

function runArguments(ctr: string, command: string[], { env = {}, volumes = [] }: RunOptions): string[] {
  return [
    ...['run', '--isolation', 'chroot', '--network', 'host'],
    ...Object.entries(env).flatMap(([key, value]) => ['--env', `${key}=${value}`]),
    ...volumes.flatMap((volume) => ['--volume', volume]),
    ...[ctr, '--', ...command],
  ];
}

interface Running {
  /** Its stdout and stderr lines so far. */
  lines: string[];
  exited(): boolean;
  /** Sends `signal` to the container's PID 1 (buildah passes none on); resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  /** SIGKILL to what is still running; for cleanup. */
  kill(): void;
}

/** `command` in the container, left running. */
function startContainer(ctr: string, command: string[], options: RunOptions): Running {
  const child = spawn('buildah', runArguments(ctr, command, options), { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  for (const stream of [child.stdout, child.stderr]) {
    stream.on('data', (chunk: Buffer) => lines.push(...chunk.toString().split('\n').filter(Boolean)));
  }
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const init = () => containerInit(child.pid as number, command[0] as string);
  return {
    lines,
    exited: () => done,
    async stop(signal) {
      process.kill(init(), signal);
      return exited;
    },
    kill() {
      if (done) return;
      try {
        process.kill(init(), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    },
  };
}

/** The container's first process: the first descendant of buildah running `program`. */
function containerInit(buildahPid: number, program: string): number {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const parent = Number(/^PPid:\s+(\d+)$/m.exec(readFileSync(`/proc/${entry}/status`, 'utf8'))?.[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(entry)]);
    } catch {} // exited while listed
  }
  const queue = [...(children.get(buildahPid) ?? [])];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0] ?? '';
    if (argv0 === program || argv0.endsWith(`/${program}`)) return pid;
    queue.push(...(children.get(pid) ?? []));
  }
  throw new Error(`no ${program} process under buildah (pid ${buildahPid})`);
}

/**
 * Every path of an image's file system with its mode, size and modification time, except what is
 * mounted over it while running (/proc, /sys, /dev, /run, /tmp, the data volume).
 */
function fileSystemState(rootfs: string): Map<string, string> {
  const mounted = new Set(['/proc', '/sys', '/dev', '/run', '/tmp', dataDir]);
  const state = new Map<string, string>();
  const walk = (dir: string) => {
    for (const name of readdirSync(join(rootfs, dir))) {
      const path = `${dir === '/' ? '' : dir}/${name}`;
      if (mounted.has(path)) continue;
      const stat = lstatSync(join(rootfs, path));
      state.set(path, `${stat.mode}:${stat.size}:${stat.mtimeMs}`);
      if (stat.isDirectory()) walk(path);
    }
  };
  walk('/');
  return state;
}

/** Paths added, removed or changed between two states. */
function changes(before: Map<string, string>, after: Map<string, string>): string[] {
  const paths = new Set([...before.keys(), ...after.keys()]);
  return [...paths].filter((path) => before.get(path) !== after.get(path)).sort();
}

/** Runs a command in the repository, resolving with its stdout; rejects with the end of its output. */
function run(command: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    const output: string[] = [];
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      output.push(chunk.toString());
    });
    child.stderr.on('data', (chunk: Buffer) => output.push(chunk.toString()));
    // A bound on a command that never ends, so a hang names the command instead of timing the test out.
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) return resolve(stdout);
      const tail = output.join('').split('\n').slice(-60).join('\n');
      reject(new Error(`${command} ${args.join(' ')} ended with ${signal ?? code}:\n${tail}`));
    });
  });
}
