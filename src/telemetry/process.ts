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
  // Each scrape reports the delay seen since the previous one (nanoseconds in, seconds out); the
  // three gauges are read in one callback so they describe the same interval.
  const p50 = observable(PROCESS_METRICS.eventLoopLagP50);
  const p99 = observable(PROCESS_METRICS.eventLoopLagP99);
  const max = observable(PROCESS_METRICS.eventLoopLagMax);
  meter.addBatchObservableCallback(
    (result) => {
      if (lag.count > 0) {
        result.observe(p50, lag.percentile(50) / 1e9);
        result.observe(p99, lag.percentile(99) / 1e9);
        result.observe(max, lag.max / 1e9);
      }
      lag.reset();
    },
    [p50, p99, max],
  );
  return { stop: () => lag.disable() };
}
