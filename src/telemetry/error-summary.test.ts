import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backends, type TestDatabase } from '../../tests/support/databases';
import { failure } from '../../tests/support/failure';
import { summarizeError } from './error-summary';
import { createJsonLogger } from './logger';

describe.each(backends())('error summaries of real failures on $name', (backend) => {
  let tdb: TestDatabase;

  beforeAll(async () => {
    tdb = await backend.open();
  });
  afterAll(() => tdb.close());

  it('keeps the class, SQLSTATE, kind and statement of a failed query, never its parameters nor the server message quoting one', async () => {
    const err = await failure(() => tdb.database.db.execute(sql`select ${'canary-parameter-7f3a'}::int as n`));
    // The server's own message quotes the value, and drizzle's lists the parameters.
    expect(String((err as Error).message)).toContain('canary-parameter-7f3a');
    const summary = summarizeError(err);
    expect(summary).toMatchObject({
      class: 'DrizzleQueryError',
      code: '22P02',
      db_error_type: 'query',
      statement: 'select $1::int as n',
    });
    expect(summary.message).toBeUndefined();
    expect(summary.stack).toMatch(/^DrizzleQueryError: database query error 22P02\n {4}at /);
    expect(JSON.stringify(summary)).not.toContain('canary-parameter-7f3a');
  });

  it('classifies a unique violation as a constraint error without the duplicate value', async () => {
    const err = await failure(() =>
      tdb.database.db.execute(
        sql`insert into feature_flags (name, enabled, rollout_percent, updated_by, updated_at) values (${'canary-flag-91b2'}, true, 100, 'test', now()), (${'canary-flag-91b2'}, true, 100, 'test', now())`,
      ),
    );
    const summary = summarizeError(err);
    expect(summary).toMatchObject({ code: '23505', db_error_type: 'constraint' });
    expect(JSON.stringify(summary)).not.toContain('canary-flag-91b2');
  });
});

describe('error summaries of other failures', () => {
  const payload = `{"user_intent":"${'p'.repeat(1_000_000)}"}`;

  it('cuts a message to a bounded length and replaces the stack’s message line', () => {
    const summary = summarizeError(new TypeError(`cannot read ${payload}`));
    expect(summary.class).toBe('TypeError');
    expect(summary.message?.length).toBeLessThanOrEqual(301);
    expect(summary.stack?.split('\n')[0]).toBe(`TypeError: ${summary.message}`);
    expect(JSON.stringify(summary).length).toBeLessThan(10_000);
  });

  it('keeps no stack line that repeats the message, even one shaped like a frame', () => {
    const err = new Error('first line\n    at canary-frame-looking-line (secret:1:1)');
    const summary = summarizeError(err);
    const frames = summary.stack?.slice(`Error: ${summary.message}`.length);
    expect(frames).toMatch(/^\n {4}at /);
    expect(frames).not.toContain('canary-frame-looking-line');
  });

  it('summarises thrown values that are not errors', () => {
    expect(summarizeError('a thrown string')).toEqual({ class: 'string', message: 'a thrown string' });
    expect(summarizeError(undefined)).toEqual({ class: 'undefined', message: 'undefined' });
  });

  it('writes a log line of bounded length whatever the error carries', () => {
    const lines: string[] = [];
    const logger = createJsonLogger('info', (line) => lines.push(line));
    logger.error('unhandled error', { requestId: 'r-1', error: new Error(payload) });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.length).toBeLessThan(10_000);
    expect(JSON.parse(lines[0] as string)).toMatchObject({
      requestId: 'r-1',
      error: { class: 'Error', message: expect.stringMatching(/^\{"user_intent":"p+…$/) },
    });
  });
});
