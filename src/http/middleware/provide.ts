import type { MiddlewareHandler } from 'hono';
import type { Services } from '../../services';
import type { AppEnv, AppSettings } from '../context';

export interface ProvideOptions {
  services: Services;
  settings: AppSettings;
  /** Route templates the app serves, for bounded `endpoint` labels. */
  routes: ReadonlySet<string>;
}

/** Puts the app's dependencies in the context; mounted first, so nothing after it runs without them. */
export function provide(options: ProvideOptions): MiddlewareHandler<AppEnv> {
  const { services, settings, routes } = options;
  // No async frame of its own: the chain awaits what next() returns.
  return function provide(c, next) {
    c.set('services', services);
    c.set('settings', settings);
    c.set('routes', routes);
    return next();
  };
}
