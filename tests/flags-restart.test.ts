import { afterAll, describe, expect, it, vi } from 'vitest';
import { cleanUpProcesses, metricValue, seededDataDir, spawnLexecon } from './support/lexecon-process';
import { PROCESS_SUITE } from './support/wait';

vi.setConfig(PROCESS_SUITE);
afterAll(cleanUpProcesses);

/**
 * metrics_detailed shapes the SDK's Views, which exist from start: a change through the API is
 * stored and audited at once and takes effect when the process starts again.
 */
describe('the metrics_detailed flag across a restart of the Node process', () => {
  it('keeps lean metrics until restart after PUT, then starts with the detailed series', async () => {
    const dataDir = await seededDataDir();
    const env = { LEXECON_DATA_DIR: dataDir, LEXECON_SHUTDOWN_DELAY_MS: '0' };
    const scrape = async (service: Awaited<ReturnType<typeof spawnLexecon>>) => {
      await service.call('GET', '/api/flags'); // a request detailed metrics summarise per endpoint
      return (await fetch(`${service.url}/metrics`)).text();
    };
    // The latency summary per endpoint and method is detailed-only; response sizes are always on.
    const perEndpointSummary = /^lexecon_api_latency_summary\{[^}]*endpoint="\/api\/flags"/m;

    const first = await spawnLexecon(env);
    await first.listening;
    const lean = await scrape(first);
    expect(
      metricValue(lean, 'lexecon_feature_flag_evaluations_total', { flag: 'metrics_detailed', result: 'false' }),
    ).toBe(1);
    expect(lean).not.toMatch(perEndpointSummary);
    expect(metricValue(lean, 'lexecon_api_response_size_bytes_count', { endpoint: '/api/flags' })).toBeGreaterThan(0);

    const updated = await first.call('PUT', '/api/flags/metrics_detailed', { enabled: true });
    expect(updated.status).toBe(200);
    expect(updated.body.flag).toMatchObject({ enabled: true, source: 'database', applies: 'restart' });
    expect(await scrape(first)).not.toMatch(perEndpointSummary);
    first.child.kill('SIGTERM');
    expect((await first.exited).code).toBe(0);

    const second = await spawnLexecon(env);
    await second.listening;
    const detailed = await scrape(second);
    expect(
      metricValue(detailed, 'lexecon_feature_flag_evaluations_total', { flag: 'metrics_detailed', result: 'true' }),
    ).toBe(1);
    expect(detailed).toMatch(perEndpointSummary);
    const entries = await second.call('GET', '/api/ledger/entries?event_type=feature_flag_updated');
    expect(entries.body.entries.map((e: { data: { enabled: boolean } }) => e.data.enabled)).toEqual([true]);
    expect((await second.call('GET', '/api/ledger/verify')).body.valid).toBe(true);
    second.child.kill('SIGTERM');
    expect((await second.exited).code).toBe(0);
  });
});
