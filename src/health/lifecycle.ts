/**
 * Where the process is in its life, as the probes report it: starting until migrations ran and
 * the signing key and active policy are loaded; serving; draining from the shutdown signal on.
 */
export type Phase = 'starting' | 'serving' | 'draining';
export type StartupStep = 'migrations' | 'signing_key' | 'policy';

export interface Lifecycle {
  readonly phase: Phase;
  readonly steps: Readonly<Record<StartupStep, boolean>>;
  completed(step: StartupStep): void;
  serving(): void;
  draining(): void;
}

export function createLifecycle(): Lifecycle {
  let phase: Phase = 'starting';
  const steps: Record<StartupStep, boolean> = { migrations: false, signing_key: false, policy: false };
  return {
    get phase() {
      return phase;
    },
    steps,
    completed(step) {
      steps[step] = true;
    },
    serving() {
      if (phase === 'starting') phase = 'serving';
    },
    draining() {
      phase = 'draining';
    },
  };
}

/** A lifecycle already serving, for apps built outside a runtime entry (tests, tools). */
export function servingLifecycle(): Lifecycle {
  const lifecycle = createLifecycle();
  for (const step of ['migrations', 'signing_key', 'policy'] as const) lifecycle.completed(step);
  lifecycle.serving();
  return lifecycle;
}
