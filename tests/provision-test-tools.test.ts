import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * scripts/provision-test-tools.sh, which `npm test` and .ci/run run first. Its paths are taken
 * without touching the machine's packages: a PATH that hides promtool and amtool, a PYTHONPATH whose
 * prometheus_client fails to import, and apt-get and sudo stand-ins that record what they were asked.
 */
const SCRIPT = join(import.meta.dirname, '..', 'scripts', 'provision-test-tools.sh');
const root = mkdtempSync(join(tmpdir(), 'lexecon-provision-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let made = 0;

interface Machine {
  /** A PATH directory holding only the stand-ins given. */
  bin: string;
  /** The commands the stand-ins ran, one line each. */
  calls(): string[];
  run(options?: { path?: string; hidePythonClient?: boolean }): Promise<{ code: number | null; output: string }>;
}

/**
 * Stand-ins: `apt-get` records its arguments and, when `installs` is set, "installs" promtool and
 * amtool into the same directory; `sudo` runs its command.
 */
function machine(options: { aptGet?: boolean; sudo?: boolean; installs?: boolean } = {}): Machine {
  const dir = join(root, `machine-${++made}`);
  const bin = join(dir, 'bin');
  const log = join(dir, 'calls.log');
  mkdirSync(bin, { recursive: true });
  const executable = (name: string, body: string) => {
    writeFileSync(join(bin, name), `#!/bin/bash\n${body}\n`);
    chmodSync(join(bin, name), 0o755);
  };
  if (options.aptGet) {
    const installs = options.installs
      ? `[[ $* == *install* ]] && for tool in promtool amtool; do printf '#!/bin/bash\\n' > '${bin}'/$tool; ` +
        `/bin/chmod +x '${bin}'/$tool; done`
      : '';
    executable('apt-get', `echo "apt-get $*" >> '${log}'\n${installs}\nexit 0`);
  }
  if (options.sudo) executable('sudo', `echo "sudo $*" >> '${log}'\nexec /usr/bin/env "$@"`);
  const hidden = join(dir, 'python', 'prometheus_client');
  mkdirSync(hidden, { recursive: true });
  writeFileSync(join(hidden, '__init__.py'), 'raise ImportError("hidden by the test")\n');
  return {
    bin,
    calls: () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []),
    run({ path = bin, hidePythonClient = false } = {}) {
      const env: Record<string, string> = { PATH: path };
      if (hidePythonClient) env.PYTHONPATH = join(dir, 'python');
      return new Promise((resolve) => {
        const child = spawn('/bin/bash', [SCRIPT], { env, stdio: ['ignore', 'pipe', 'pipe'] });
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => {
          output += chunk.toString();
        });
        child.stderr.on('data', (chunk: Buffer) => {
          output += chunk.toString();
        });
        child.on('close', (code) => resolve({ code, output }));
      });
    },
  };
}

describe('the test tools provisioning script', () => {
  it('does nothing and says nothing when promtool, amtool and the Python client are installed', async () => {
    const m = machine({ aptGet: true, sudo: true });
    // This machine has them (the suite needs them); the stand-ins come first, so any call would show.
    const result = await m.run({ path: `${m.bin}:${process.env.PATH}` });
    expect(result).toEqual({ code: 0, output: '' });
    expect(m.calls()).toEqual([]);
  });

  it('stops with exit code 1 naming every missing package and how to install it when there is no apt-get', async () => {
    const m = machine();
    const result = await m.run({ hidePythonClient: true });
    expect(result.code).toBe(1);
    expect(result.output).toContain('prometheus prometheus-alertmanager python3-prometheus-client not installed');
    expect(result.output).toContain(
      'apt-get install --no-install-recommends prometheus prometheus-alertmanager python3-prometheus-client',
    );
  });

  it('installs only what is missing with apt-get --no-install-recommends, then succeeds', async () => {
    const m = machine({ aptGet: true, sudo: true, installs: true });
    const result = await m.run();
    expect(result.code, result.output).toBe(0);
    expect(result.output).toContain(
      'installing the Debian packages the tests need: prometheus prometheus-alertmanager',
    );
    const asRoot = process.getuid?.() === 0 ? '' : 'sudo DEBIAN_FRONTEND=noninteractive ';
    expect(m.calls()).toEqual(
      expect.arrayContaining([
        `${asRoot}apt-get -o DPkg::Lock::Timeout=600 update -q`,
        `${asRoot}apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends prometheus prometheus-alertmanager`,
      ]),
    );
    expect(existsSync(join(m.bin, 'promtool'))).toBe(true);
  });

  it('stops with exit code 1 naming what apt-get left missing', async () => {
    const m = machine({ aptGet: true, sudo: true });
    const result = await m.run();
    expect(result.code).toBe(1);
    expect(result.output).toContain('prometheus prometheus-alertmanager still missing after apt-get install');
  });
});
