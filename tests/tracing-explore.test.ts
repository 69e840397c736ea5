import { context, propagation } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { it } from 'vitest';
import { createResource, createTracerProvider } from '../src/telemetry/sdk';
import { createTestApp, createTestMetrics, decisionRequest, samplePolicy } from './support/app';
import { backends } from './support/databases';
import { startOtlpReceiver } from './support/otlp-receiver';

it('explore', async () => {
  const receiver = await startOtlpReceiver();
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  const provider = createTracerProvider({
    resource: createResource({ serviceName: 'lexecon', serviceVersion: 'test', instanceId: 't' }),
    sampleRate: 1,
    tracesEndpoint: `${receiver.url}/v1/traces`,
    scheduledDelayMillis: 50,
  });
  const metrics = createTestMetrics({ tracer: provider.getTracer('lexecon', 'test') });
  const db = await backends()[0]!.open({ observer: { ...metrics.observer, trace: metrics.telemetry.inSpan } });
  const t = await createTestApp(db.database, { metrics });
  await t.request('POST', '/api/policies', { body: samplePolicy });
  const agent = (await t.services.apiKeys.create({ name: 'a', role: 'agent', createdBy: 't' })).secret;
  await provider.forceFlush();
  receiver.spans.length = 0;
  const res = await t.request('POST', '/api/decide?token=abc', { key: agent, body: decisionRequest({ context: { x: 'CANARY' } }), headers: { 'user-agent': 'ua/1', host: 'lexecon.test:8443' } });
  console.log(res.status, [...res.headers.entries()]);
  await provider.forceFlush();
  await new Promise((r) => setTimeout(r, 200));
  for (const s of receiver.spans) console.log(JSON.stringify({ ...s, resource: undefined }));
  console.log(receiver.bodies[receiver.bodies.length - 1]?.slice(0, 1500));
  await t.request('GET', '/api/ledger/verify');
  await provider.forceFlush();
  await new Promise((r) => setTimeout(r, 200));
  for (const s of receiver.spans.slice(-6)) console.log(JSON.stringify({ ...s, resource: undefined }));
  await db.close();
  await provider.shutdown();
  await receiver.close();
});
