import { type Config, type ConfigError, parseConfig } from '../config';
import { describeProblem, readPolicyDocument } from '../governance/policy';

/**
 * Workers configuration: the same variables as Node (src/config.ts parses them, from string
 * bindings: `[vars]` and secrets), plus what a runtime without files needs. Pure; the entry
 * validates once per isolate and answers every request with the errors when there are any.
 */

/** Variables only the Workers build reads (documented in wrangler-compat.md). */
export const WORKER_VARIABLES = ['LEXECON_POLICY', 'OTEL_EXPORTER_OTLP_HEADERS'] as const;

/** The Hyperdrive binding's name in wrangler.toml. */
export const HYPERDRIVE_BINDING = 'HYPERDRIVE';

export type WorkerBindings = Record<string, unknown>;

export interface WorkerConfig {
  config: Config;
  database: { url: string; via: 'hyperdrive' | 'direct' };
  signingKey: string;
  /** LEXECON_POLICY: a policy document applied at isolate start (a no-op when already active). */
  policy: unknown | undefined;
  otlpHeaders: Record<string, string>;
}

export type WorkerConfigResult = { ok: true; worker: WorkerConfig } | { ok: false; errors: ConfigError[] };

export function parseWorkerConfig(bindings: WorkerBindings): WorkerConfigResult {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(bindings)) if (typeof value === 'string') env[name] = value;
  const parsed = parseConfig(env);
  const errors: ConfigError[] = parsed.ok ? [] : [...parsed.errors];
  const erred = (variable: string) => errors.some((e) => e.variable === variable);

  const hyperdrive = connectionStringOf(bindings[HYPERDRIVE_BINDING]);
  const directUrl = parsed.ok ? parsed.config.database.url : undefined;
  if (!hyperdrive && !directUrl && !erred('DATABASE_URL')) {
    errors.push({
      variable: 'DATABASE_URL',
      message: `required on Workers (there is no embedded database): bind Hyperdrive as ${HYPERDRIVE_BINDING}, or set a postgres:// URL as a secret`,
    });
  }
  const signingKey = env.LEXECON_SIGNING_KEY?.trim();
  if (!signingKey) {
    errors.push({
      variable: 'LEXECON_SIGNING_KEY',
      message: 'required on Workers (no file system to keep a generated key): an Ed25519 key as a secret',
    });
  }
  if (env.LEXECON_POLICY_FILE?.trim()) {
    errors.push({
      variable: 'LEXECON_POLICY_FILE',
      message: 'Workers have no file system: put the policy document itself in LEXECON_POLICY',
    });
  }
  const policy = readPolicy(env.LEXECON_POLICY, errors);
  const otlpHeaders = readHeaders(env.OTEL_EXPORTER_OTLP_HEADERS, errors);

  if (!parsed.ok || errors.length > 0 || !signingKey) return { ok: false, errors };
  const database = hyperdrive
    ? { url: hyperdrive, via: 'hyperdrive' as const }
    : { url: directUrl as string, via: 'direct' as const };
  return { ok: true, worker: { config: parsed.config, database, signingKey, policy, otlpHeaders } };
}

function connectionStringOf(binding: unknown): string | undefined {
  const value = (binding as { connectionString?: unknown } | undefined)?.connectionString;
  return typeof value === 'string' && value !== '' ? value : undefined;
}

function readPolicy(text: string | undefined, errors: ConfigError[]): unknown {
  if (text === undefined || text.trim() === '') return undefined;
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch {
    errors.push({ variable: 'LEXECON_POLICY', message: 'must be a policy document in JSON' });
    return undefined;
  }
  const { compiled } = readPolicyDocument(document);
  if (!compiled.ok) {
    const problems = compiled.problems.map(describeProblem).join('; ');
    errors.push({ variable: 'LEXECON_POLICY', message: `is not a valid policy: ${problems}` });
    return undefined;
  }
  return document;
}

/** `key=value,…` with percent-encoded values (the OpenTelemetry SDK's OTEL_EXPORTER_OTLP_HEADERS). */
function readHeaders(text: string | undefined, errors: ConfigError[]): Record<string, string> {
  const headers: Record<string, string> = {};
  if (text === undefined || text.trim() === '') return headers;
  for (const pair of text.split(',')) {
    const at = pair.indexOf('=');
    const name = pair.slice(0, at).trim();
    try {
      if (at <= 0 || !/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) throw new Error('malformed');
      headers[name] = decodeURIComponent(pair.slice(at + 1).trim());
    } catch {
      // The value is a credential: never echoed.
      errors.push({ variable: 'OTEL_EXPORTER_OTLP_HEADERS', message: 'must be name=value pairs separated by commas' });
      return {};
    }
  }
  return headers;
}
