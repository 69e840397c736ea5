/**
 * Bare Hono hello-world on the service's Node adapter, started like the service (`node --import tsx`,
 * PORT and HOST from the environment): the floor that the overhead report measures the service against.
 * No middleware, no telemetry, no database.
 */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';

const app = new Hono();
app.get('/', (c) => c.text('Hello Hono!'));

const server = serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000), hostname: process.env.HOST });
process.on('SIGTERM', () => server.close(() => process.exit(0)));
