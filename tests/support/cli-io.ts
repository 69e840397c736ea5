import { Readable, Writable } from 'node:stream';
import type { CliIo } from '../../src/cli/command';
import { main } from '../../src/cli/main';

export interface CapturedRun {
  code: number;
  stdout: string;
  stderr: string;
  // biome-ignore lint/suspicious/noExplicitAny: tests read the JSON output's fields
  json(): any;
}

/** Runs `lexecon <args>` in this process, with `stdin` as its standard input, and captures what it prints. */
export async function runCli(args: readonly string[], stdin = ''): Promise<CapturedRun> {
  let stdout = '';
  let stderr = '';
  const sink = (append: (text: string) => void) =>
    new Writable({
      write(chunk, _encoding, done) {
        append(String(chunk));
        done();
      },
    });
  const io: CliIo = {
    stdin: Readable.from([Buffer.from(stdin)]),
    stdout: sink((text) => {
      stdout += text;
    }),
    stderr: sink((text) => {
      stderr += text;
    }),
    env: {},
  };
  const code = await main(args, io);
  return { code, stdout, stderr, json: () => JSON.parse(stdout) };
}
