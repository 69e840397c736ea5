import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const MODULE = new URL('./stdout-log.ts', import.meta.url).href;

/**
 * Runs `body` in a Node process that has a stdout log named `log` (over a pipe, as a container
 * runtime collects it); answers its output and exit code. With `readAfter`, stdout is not read
 * until the process has written that text to stderr: a reader slower than the writer.
 */
async function runWithLog(
  body: string,
  options: { logArgs?: string; readAfter?: string } = {},
): Promise<{ stdout: string; stderr: string; code: number | null }> {
  const script = `const { createStdoutLog } = await import(${JSON.stringify(MODULE)});\nconst log = createStdoutLog(${options.logArgs ?? ''});\n${body}`;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  const read = () =>
    child.stdout
      .on('data', (chunk: Buffer) => {
        stdout += chunk;
      })
      .resume();
  if (options.readAfter === undefined) read();
  else child.stdout.pause();
  child.stderr.on('data', (chunk: Buffer) => {
    stderr += chunk;
    if (options.readAfter !== undefined && stderr.includes(options.readAfter)) read();
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

  it('loses no line to a reader slower than the process, even when the process exits at once', async () => {
    // Two megabytes waiting at exit, over a pipe nobody reads yet, whose descriptor process.stdout made
    // non-blocking: it takes many partial writes, each waiting for the reader.
    const { stdout, code } = await runWithLog(
      `
      process.stdout.write('');
      for (let i = 0; i < 2000; i++) log.line(JSON.stringify({ n: i, pad: 'x'.repeat(1000) }));
      process.stderr.write('exiting');
      process.exit(0);
    `,
      { logArgs: '1, 4 * 1024 * 1024', readAfter: 'exiting' },
    );
    expect(code).toBe(0);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines.map((line) => (JSON.parse(line) as { n: number }).n)).toEqual(
      Array.from({ length: 2000 }, (_, n) => n),
    );
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
