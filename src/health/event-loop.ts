import { monitorEventLoopDelay } from 'node:perf_hooks';

/**
 * Event-loop delay for the liveness probe (Node only): the longest delay seen in the current and
 * the previous 5-second window, so a stall shows up for a while after it ends. Its own monitor,
 * independent of the metrics' one (which each scrape resets).
 */
export function startEventLoopMonitor(windowMs = 5_000): { lagMs(): number; stop(): void } {
  const histogram = monitorEventLoopDelay({ resolution: 10 });
  histogram.enable();
  let previousMaxMs = 0;
  const timer = setInterval(() => {
    previousMaxMs = histogram.max / 1e6;
    histogram.reset();
  }, windowMs);
  timer.unref();
  return {
    lagMs: () => Math.max(previousMaxMs, histogram.count > 0 ? histogram.max / 1e6 : 0),
    stop() {
      clearInterval(timer);
      histogram.disable();
    },
  };
}
