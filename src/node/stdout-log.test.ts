import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const MODULE = new URL('./stdout-log.ts', import.meta.url).href;

/** Runs `body` in a Node process that has a stdout log named `log`; answers its output and exit code. */
async function runWithLog(body: string): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const script = `const { createStdoutLog } = await import(${JSON.stringify(MODULE)});\nconst log = createStdoutLog();\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk;
  });
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
  });
  const code = await new Promise<number | null>((resolve) => child.on('close', (exitCode) => resolve(exitCode)));
  return { stdout, stderr, code };
}

describe('the Node log output', () => {
  it('writes the lines of a turn at its end, in order', async () => {
    const { stdout, code } = await runWithLog(`
      for (let i = 0; i < 1000; i++) log.line(JSON.stringify({ n: i }));
      setImmediate(() => log.line('{"n":"next turn"}'));
    `);
    expect(code).toBe(0);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines).toEqual([...Array.from({ length: 1000 }, (_, n) => JSON.stringify({ n })), '{"n":"next turn"}']);
  });

  it('writes the lines still waiting when the process exits on purpose', async () => {
    const { stdout, code } = await runWithLog(`
      log.line('{"message":"stopped"}');
      process.exit(3);
    `);
    expect(code).toBe(3);
    expect(stdout).toBe('{"message":"stopped"}\n');
  });

  it('writes the lines still waiting when an uncaught exception ends the process', async () => {
    const { stdout, stderr, code } = await runWithLog(`
      log.line('{"message":"before the crash"}');
      throw new Error('fatal');
    `);
    expect(code).toBe(1);
    expect(stderr).toContain('fatal');
    expect(stdout).toBe('{"message":"before the crash"}\n');
  });

  it('writes the lines still waiting when an unhandled rejection ends the process', async () => {
    const { stdout, code } = await runWithLog(`
      log.line('{"message":"before the rejection"}');
      Promise.reject(new Error('fatal'));
    `);
    expect(code).toBe(1);
    expect(stdout).toBe('{"message":"before the rejection"}\n');
  });
});
