import { AsyncLocalStorage } from 'node:async_hooks';
import type { Services } from '../services';

/**
 * The app is built once per isolate, but on Workers the services under it are per request (their
 * database connections may not cross requests). The app gets one Services object whose telemetry
 * and logger are the isolate's and whose every other member is the current request's.
 */
export interface RequestScope {
  readonly services: Services;
  run<T>(services: Services, handle: () => T): T;
}

export function createRequestScope(shared: Pick<Services, 'telemetry' | 'logger'>): RequestScope {
  const storage = new AsyncLocalStorage<Services>();
  const services = new Proxy(shared as Services, {
    get(target, member: keyof Services) {
      if (member in target) return target[member];
      const current = storage.getStore();
      if (!current) throw new Error(`services.${String(member)} was used outside a request`);
      return current[member];
    },
  });
  return { services, run: (current, handle) => storage.run(current, handle) };
}
