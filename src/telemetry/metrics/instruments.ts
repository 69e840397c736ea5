import type { Attributes, Meter } from '@opentelemetry/api';
import type { MetricDefinition } from '../catalogue';

/** Instruments made from catalogue entries, so name, unit, help and buckets are written once. */
export function instrumentsOf(meter: Meter) {
  return {
    counter: (d: MetricDefinition) => meter.createCounter(d.name, { description: d.help, unit: d.unit }),
    histogram: (d: MetricDefinition) =>
      meter.createHistogram(d.name, {
        description: d.help,
        unit: d.unit,
        advice: d.buckets ? { explicitBucketBoundaries: [...d.buckets] } : undefined,
      }),
    gauge: (d: MetricDefinition) => meter.createObservableGauge(d.name, { description: d.help, unit: d.unit }),
  };
}

/** Attribute objects built once per label combination (by a key naming it) and reused. */
export function createAttributeCache() {
  const attributes = new Map<string, Attributes>();
  return (key: string, build: () => Attributes): Attributes => {
    let value = attributes.get(key);
    if (!value) {
      value = build();
      attributes.set(key, value);
    }
    return value;
  };
}

/** Runs reads one after another, whatever order they are asked for in; a failed read does not stop the next. */
export type TakeTurns = <T>(read: () => Promise<T> | T) => Promise<T>;

export function createTurns(): TakeTurns {
  let last: Promise<unknown> = Promise.resolve();
  return (read) => {
    const next = last.then(read, read);
    last = next.catch(() => undefined);
    return next;
  };
}
