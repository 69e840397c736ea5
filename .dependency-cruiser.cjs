/**
 * The layers of src/ and what may import what (docs/architecture.md). Type-only imports count:
 * a reader follows them all the same. `npx depcruise src` prints the violations;
 * tests/architecture.test.ts keeps the count at zero.
 */
const CORE = '^src/(audit|auth|cache|config|db|decisions|errors|flags|governance|health|ids|ledger|policies|policy-testing|rate-limit|services)([./]|$)';
// What the core may import from telemetry: its recording interfaces, the logger, the error summary. None of these
// imports OpenTelemetry (rule telemetry-ports-without-sdk).
const TELEMETRY_PORTS = '^src/telemetry/(telemetry|logger|error-summary)\\.ts$';
const SHELL = '^src/http/';
const ENTRIES = '^src/(node|worker|startup)\\.ts$|^src/(edge|node|cli)/';
// The OpenTelemetry SDK is the runtime's choice: only its wiring imports it; everything else uses @opentelemetry/api.
const SDK_WIRING = '^src/telemetry/(node-telemetry|edge-telemetry|sdk|prometheus|process|otlp-push|views)\\.ts$';

module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'An import circle, type-only imports included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'errors-is-a-leaf',
      comment: 'src/errors.ts is the error vocabulary and imports nothing.',
      severity: 'error',
      from: { path: '^src/errors\\.ts$' },
      to: {},
    },
    {
      name: 'governance-is-pure',
      comment: 'Policy evaluation imports nothing but itself and zod (the CLI and the service share it).',
      severity: 'error',
      from: { path: '^src/governance/' },
      to: { pathNot: ['^src/governance/', '(^|/)node_modules/zod/'] },
    },
    {
      name: 'policy-testing-is-pure',
      comment: 'Policy tests run on the evaluation and the decision schemas alone: no I/O (the CLI reads the files).',
      severity: 'error',
      from: { path: '^src/policy-testing/' },
      to: {
        pathNot: [
          '^src/(policy-testing|governance)/',
          '^src/decisions/(explain|outcome|schemas)\\.ts$',
          '(^|/)node_modules/zod/',
        ],
      },
    },
    {
      name: 'core-without-frameworks',
      comment: 'The core imports neither hono nor OpenTelemetry.',
      severity: 'error',
      from: { path: CORE },
      to: { path: '(^|/)node_modules/(hono|@hono|@opentelemetry)/' },
    },
    {
      name: 'core-below-shell-and-entries',
      comment: 'The core never imports the HTTP shell or a runtime entry.',
      severity: 'error',
      from: { path: CORE },
      to: { path: [SHELL, ENTRIES] },
    },
    {
      name: 'core-reports-through-ports',
      comment: 'The core reaches telemetry only through its interfaces, never its implementation.',
      severity: 'error',
      from: { path: CORE },
      to: { path: '^src/telemetry/', pathNot: TELEMETRY_PORTS },
    },
    {
      name: 'telemetry-ports-without-sdk',
      comment: 'The interfaces the core imports carry no OpenTelemetry dependency with them.',
      severity: 'error',
      from: { path: TELEMETRY_PORTS },
      to: { path: ['(^|/)node_modules/@opentelemetry/', '^src/telemetry/'], pathNot: TELEMETRY_PORTS },
    },
    {
      name: 'sdk-only-in-wiring',
      comment: 'The OpenTelemetry SDK, exporters and resources are imported only by the SDK wiring of each runtime.',
      severity: 'error',
      from: { pathNot: SDK_WIRING },
      to: { path: '(^|/)node_modules/@opentelemetry/(sdk-|exporter-|resources/|core/|context-|otlp-)' },
    },
    {
      name: 'telemetry-below-shell-and-entries',
      comment: 'Telemetry serves the shell and the entries; it never imports them.',
      severity: 'error',
      from: { path: '^src/telemetry/' },
      to: { path: [SHELL, ENTRIES] },
    },
    {
      name: 'shell-below-entries',
      comment: 'The HTTP shell is built by the runtime entries and never imports them.',
      severity: 'error',
      from: { path: SHELL },
      to: { path: ENTRIES },
    },
  ],
  options: {
    // swc parses TypeScript and keeps `import type`; the project's compiler (tsgo) has no JS API to parse with.
    parser: 'swc',
    tsPreCompilationDeps: true,
    doNotFollow: { path: '(^|/)node_modules/' },
    exclude: { path: '\\.test\\.ts$' },
    moduleSystems: ['es6'],
  },
};
