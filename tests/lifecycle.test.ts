import { connect } from 'node:net';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { decisionRequest } from './support/app';
import {
  accepts,
  cleanUpProcesses,
  freshRequest,
  type LexeconProcess,
  metricValue,
  openRequest,
  policyFile,
  seededDataDir,
  shutdownMs,
  spawnLexecon,
  tempDir,
  waitFor,
} from './support/lexecon-process';
import { PROCESS_SUITE } from './support/wait';

/**
 * The Node process's life as Kubernetes sees it, on embedded PGlite: listening from the first
 * second while it starts, draining on SIGTERM, exiting within its grace period, and cutting off
 * clients too slow to send a request.
 */
vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

// biome-ignore lint/suspicious/noExplicitAny: tests read arbitrary JSON fields
const check = (body: any, name: string) => body.checks.find((c: { name: string }) => c.name === name);

/** Until the service counts a request in flight: it has the request, so a signal finds it there. */
async function untilInFlight(service: LexeconProcess): Promise<void> {
  await waitFor('a request in flight', async () => {
    const exposition = await (await fetch(`${service.url}/metrics`)).text();
    return metricValue(exposition, 'lexecon_concurrent_requests') >= 1 ? true : undefined;
  });
}

describe('the Node process while it starts', () => {
  it('answers startup 503 with its phase and liveness 200 while starting, other routes 503 with Retry-After, and all 200 once listening', async () => {
    // A fresh data dir: PGlite's initdb and the migrations take seconds, during which it already listens.
    const service = await spawnLexecon({ LEXECON_DATA_DIR: tempDir(), LEXECON_POLICY_FILE: policyFile() });
    const firstAnswer = await waitFor(
      'the first answer of /health/startup',
      async () => freshRequest(service.port, 'GET', '/health/startup', { key: null }),
      60_000,
      50,
    );
    expect(firstAnswer.status).toBe(503);
    expect(firstAnswer.body.status).toBe('unhealthy');
    expect(check(firstAnswer.body, 'startup')).toMatchObject({
      status: 'unhealthy',
      details: { phase: 'starting' },
    });

    const [live, ready, api] = await Promise.all([
      freshRequest(service.port, 'GET', '/health/live', { key: null }),
      freshRequest(service.port, 'GET', '/health/ready', { key: null }),
      freshRequest(service.port, 'GET', '/api/policies'),
    ]);
    expect(live.status).toBe(200);
    expect(check(live.body, 'startup').details.phase).toBe('starting');
    expect(ready.status).toBe(503);
    expect(check(ready.body, 'startup').details.phase).toBe('starting');
    expect(api.status).toBe(503);
    expect(api.headers['retry-after']).toBe('2');
    expect(api.body.error.code).toBe('SERVICE_UNAVAILABLE');

    await service.listening;
    for (const path of ['/health/startup', '/health/ready', '/health/live']) {
      const res = await freshRequest(service.port, 'GET', path, { key: null });
      expect(res.status, path).toBe(200);
    }
    const startup = await freshRequest(service.port, 'GET', '/health/startup', { key: null });
    expect(check(startup.body, 'startup').details).toEqual({
      phase: 'serving',
      migrations: true,
      signing_key: true,
      policy: true,
    });
    expect((await freshRequest(service.port, 'GET', '/api/policies')).status).toBe(200);

    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  });
});

describe('the Node process on SIGTERM', () => {
  it('turns readiness 503 at once, serves during the delay, finishes the request in flight, then refuses connections and exits 0 within the grace period', async () => {
    const delayMs = 1_500;
    const graceMs = 6_000;
    const service = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_POLICY_FILE: policyFile(),
      LEXECON_SHUTDOWN_DELAY_MS: String(delayMs),
      LEXECON_SHUTDOWN_GRACE_MS: String(graceMs),
    });
    await service.listening;
    expect((await freshRequest(service.port, 'GET', '/health/ready', { key: null })).status).toBe(200);

    // A decision whose body is still arriving when SIGTERM comes.
    const body = JSON.stringify(decisionRequest());
    const inFlight = openRequest(service.port, 'POST', '/api/decide');
    inFlight.write(body.slice(0, 20));
    await untilInFlight(service);

    const signalled = Date.now();
    service.child.kill('SIGTERM');
    await waitFor('the draining log line', async () =>
      service.lines.some((l) => l.includes('"message":"draining"')) ? true : undefined,
    );

    const ready = await freshRequest(service.port, 'GET', '/health/ready', { key: null });
    expect(ready.status).toBe(503);
    expect(check(ready.body, 'shutdown')).toMatchObject({ status: 'unhealthy', details: { phase: 'draining' } });
    const [live, policies] = await Promise.all([
      freshRequest(service.port, 'GET', '/health/live', { key: null }),
      freshRequest(service.port, 'GET', '/api/policies'),
    ]);
    expect(live.status).toBe(200);
    // Answered on new connections: the server still accepts them during the delay.
    expect(policies.status).toBe(200);

    const refusedAt = await waitFor(
      'new connections to be refused',
      async () => ((await accepts(service.port)) ? undefined : Date.now()),
      graceMs,
      50,
    );
    expect(refusedAt - signalled).toBeGreaterThanOrEqual(delayMs - 100);

    inFlight.write(body.slice(20));
    const decided = await inFlight.finish();
    expect(decided.status).toBe(200);
    expect(decided.body).toMatchObject({ allowed: true, decision: 'permit' });

    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(shutdownMs(service)).toBeLessThanOrEqual(graceMs);
    expect(service.logs().find((l) => l.message === 'stopped')).toMatchObject({ signal: 'SIGTERM', drained: true });
  });

  it('does not let a request stuck in flight hold the process past the grace period: it closes the connection and exits 0', async () => {
    const graceMs = 3_000;
    const service = await spawnLexecon({
      LEXECON_DATA_DIR: await seededDataDir(),
      LEXECON_SHUTDOWN_DELAY_MS: '0',
      LEXECON_SHUTDOWN_GRACE_MS: String(graceMs),
    });
    await service.listening;
    const stuck = openRequest(service.port, 'POST', '/api/decide');
    stuck.write('{"actor": "user", ');
    await untilInFlight(service);

    service.child.kill('SIGTERM');
    const exit = await service.exited;
    expect(exit.code).toBe(0);
    expect(shutdownMs(service)).toBeLessThanOrEqual(graceMs);
    await expect(stuck.response).rejects.toThrow();
    const messages = service.logs().map((l) => l.message);
    expect(messages).toContain('grace period over: closing the connections still open');
    expect(service.logs().find((l) => l.message === 'stopped')).toMatchObject({ drained: false });
  });
});

describe('the Node process with slow clients', () => {
  it('closes a connection that takes longer than the 10 s headers timeout to send its request headers', async () => {
    const headersTimeoutMs = 10_000;
    const service = await spawnLexecon({ LEXECON_DATA_DIR: await seededDataDir() });
    await service.listening;

    const socket = connect(service.port, '127.0.0.1');
    let received = '';
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      received += chunk;
    });
    socket.on('error', () => {});
    await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
    const opened = Date.now();
    socket.write('GET /health/live HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const closedAt = await new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    socket.destroy();

    // Node's defaults (60 s headers timeout, checked every 30 s) would take far longer; the service
    // checks every second, so twice the timeout leaves ample room for a loaded machine.
    expect(closedAt - opened).toBeLessThan(2 * headersTimeoutMs);
    expect(received).toMatch(/^HTTP\/1\.1 408 /);

    service.child.kill('SIGTERM');
    expect((await service.exited).code).toBe(0);
  });
});
