import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Meter } from '@opentelemetry/api';
import { PROCESS_METRICS } from './catalogue';

/**
 * Standard process metrics (the names Prometheus client libraries use) as observable instruments:
 * read at scrape time, nothing on the request path. Node-only, so the Node entry registers them.
 */
export function registerProcessMetrics(meter: Meter): { stop(): void } {
  const startTime = (Date.now() - performance.now()) / 1000;
  const lag = monitorEventLoopDelay({ resolution: 10 });
  lag.enable();
  const observable = (d: (typeof PROCESS_METRICS)[keyof typeof PROCESS_METRICS]) =>
    d.kind === 'counter'
      ? meter.createObservableCounter(d.name, { description: d.help, unit: d.unit })
      : meter.createObservableGauge(d.name, { description: d.help, unit: d.unit });

  observable(PROCESS_METRICS.cpu).addCallback((result) => {
    const { user, system } = process.cpuUsage();
    result.observe((user + system) / 1e6);
  });
  observable(PROCESS_METRICS.memory).addCallback((result) => result.observe(process.memoryUsage.rss()));
  observable(PROCESS_METRICS.startTime).addCallback((result) => result.observe(startTime));
  const quantiles = [
    { attributes: { quantile: '0.5' }, read: () => lag.percentile(50) },
    { attributes: { quantile: '0.99' }, read: () => lag.percentile(99) },
    { attributes: { quantile: '1' }, read: () => lag.max },
  ];
  // Each scrape reports the delay seen since the previous one (nanoseconds in, seconds out).
  observable(PROCESS_METRICS.eventLoopLag).addCallback((result) => {
    if (lag.count > 0) for (const q of quantiles) result.observe(q.read() / 1e9, q.attributes);
    lag.reset();
  });
  return { stop: () => lag.disable() };
}
