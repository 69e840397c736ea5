import type { ConfigError } from '../config';

/**
 * Answers the Workers entry gives before or instead of the app, in the app's one error shape
 * (`{ error: { code, message, requestId } }`).
 */
const VALID_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

function errorAnswer(request: Request, status: number, code: string, message: string, details?: unknown): Response {
  const incoming = request.headers.get('x-request-id');
  const requestId = incoming && VALID_REQUEST_ID.test(incoming) ? incoming : crypto.randomUUID();
  const error = details === undefined ? { code, message, requestId } : { code, message, requestId, details };
  return new Response(JSON.stringify({ error }), {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', 'x-request-id': requestId },
  });
}

/**
 * A binding failed validation: every request gets this until the worker is redeployed. Names the
 * variables only; what was wrong with each is in the worker's log (values can be secrets).
 */
export function misconfigured(request: Request, errors: readonly ConfigError[]): Response {
  const variables = [...new Set(errors.map((e) => e.variable))];
  return errorAnswer(
    request,
    500,
    'CONFIGURATION_INVALID',
    `The service is misconfigured: check ${variables.join(', ')} (the worker log says what is wrong)`,
    { variables },
  );
}

/** There is no process to scrape at the edge: metrics are pushed to the collector. */
export function metricsNotServed(request: Request): Response {
  return errorAnswer(
    request,
    501,
    'NOT_IMPLEMENTED',
    'Workers push metrics over OTLP to the OpenTelemetry collector: scrape the collector’s Prometheus endpoint, not the worker',
  );
}
