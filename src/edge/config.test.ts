import { describe, expect, it } from 'vitest';
import { samplePolicy } from '../../tests/support/app';
import { parseWorkerConfig } from './config';

const KEY = 'MC4CAQAwBQYDK2VwBCIEIFQ6ZpZ9tQ0b0dEbgXvS0m4FZ3m3h0y2R8Y8bS9o6o2k';
const base = { DATABASE_URL: 'postgres://lexecon@db.internal:5432/lexecon', LEXECON_SIGNING_KEY: KEY };

function problems(bindings: Record<string, unknown>) {
  const result = parseWorkerConfig(bindings);
  return result.ok ? [] : result.errors;
}

describe('Workers configuration from bindings', () => {
  it('connects through Hyperdrive when it is bound, whatever DATABASE_URL says', () => {
    const result = parseWorkerConfig({
      ...base,
      HYPERDRIVE: { connectionString: 'postgres://u:p@hyperdrive.local/db' },
    });
    expect(result.ok && result.worker.database).toEqual({
      url: 'postgres://u:p@hyperdrive.local/db',
      via: 'hyperdrive',
    });
  });

  it('requires a database and a signing key, since a worker has neither PGlite nor files', () => {
    expect(problems({}).map((e) => e.variable)).toEqual(['DATABASE_URL', 'LEXECON_SIGNING_KEY']);
  });

  it('rejects LEXECON_POLICY_FILE and points to LEXECON_POLICY', () => {
    const [error] = problems({ ...base, LEXECON_POLICY_FILE: 'policy.json' });
    expect(error).toMatchObject({
      variable: 'LEXECON_POLICY_FILE',
      message: expect.stringContaining('LEXECON_POLICY'),
    });
  });

  it('takes the policy document from LEXECON_POLICY, and lists every problem of an invalid one', () => {
    const result = parseWorkerConfig({ ...base, LEXECON_POLICY: JSON.stringify(samplePolicy) });
    expect(result.ok && result.worker.policy).toEqual(samplePolicy);
    const [invalid] = problems({ ...base, LEXECON_POLICY: JSON.stringify({ ...samplePolicy, mode: 'lenient' }) });
    expect(invalid).toMatchObject({ variable: 'LEXECON_POLICY', message: expect.stringContaining('mode') });
    expect(problems({ ...base, LEXECON_POLICY: '{not json' })[0]?.variable).toBe('LEXECON_POLICY');
  });

  it('reads collector headers and never echoes a malformed value, which may be a credential', () => {
    const result = parseWorkerConfig({
      ...base,
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret,x-tenant=edge',
    });
    expect(result.ok && result.worker.otlpHeaders).toEqual({ authorization: 'Bearer s3cret', 'x-tenant': 'edge' });
    const [error] = problems({ ...base, OTEL_EXPORTER_OTLP_HEADERS: 's3cret-token-without-a-name' });
    expect(error?.variable).toBe('OTEL_EXPORTER_OTLP_HEADERS');
    expect(error?.message).not.toContain('s3cret');
  });

  it('ignores bindings that are not strings, such as KV namespaces or services', () => {
    expect(problems({ ...base, CACHE: { get() {} }, PORT: 8000 })).toEqual([]);
  });
});
