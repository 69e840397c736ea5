import { afterAll, describe, expect, it, vi } from 'vitest';
import { cleanUpProcesses, seededDataDir, spawnLexecon } from './support/lexecon-process';
import { PROCESS_SUITE } from './support/wait';

vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

/**
 * The Node process writes its log lines in one write per turn of the event loop
 * (src/node/stdout-log.ts); what operators read must not change for it: one whole JSON line per
 * request, in order, none lost at a shutdown.
 */
describe('the request log of the Node process', () => {
  it('has one whole line per request, in order under load, and every line written before a shutdown', async () => {
    const service = await spawnLexecon({ LEXECON_DATA_DIR: await seededDataDir(), LEXECON_SHUTDOWN_DELAY_MS: '0' });
    await service.listening;
    const call = (path: string, id: string) =>
      fetch(`${service.url}${path}`, { headers: { 'x-request-id': id } }).then((res) => res.text());

    // One after another: their lines come in the same order.
    const sequential = Array.from({ length: 20 }, (_, i) => `seq-${i}`);
    for (const id of sequential) await call('/', id);
    // Many at once, on routes that answer 200 and 404, with a query the log must never hold.
    const concurrent = Array.from({ length: 400 }, (_, i) => `load-${i}`);
    for (let i = 0; i < concurrent.length; i += 40) {
      await Promise.all(
        concurrent.slice(i, i + 40).map((id, j) => call(j % 2 ? `/api/nothing-here?token=secret-${id}` : '/', id)),
      );
    }
    // The last request right before SIGTERM: its line is written by the shutdown at the latest.
    await call('/', 'last');
    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);

    const jsonLines = service.lines.filter((line) => line.startsWith('{'));
    for (const line of jsonLines) expect(() => JSON.parse(line), line).not.toThrow();
    const logs = service.logs();
    const ids = logs.filter((line) => line.message === 'request').map((line) => line.request_id as string);
    const expected = [...sequential, ...concurrent, 'last'];
    expect([...ids].sort()).toEqual([...expected].sort());
    expect(ids.filter((id) => id.startsWith('seq-'))).toEqual(sequential);
    const times = logs.map((line) => Date.parse(line.time as string));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(logs.at(-1)?.message).toBe('stopped');
    expect(service.lines.join('\n')).not.toContain('secret-');
  });
});
