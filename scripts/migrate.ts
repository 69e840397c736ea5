import { describeConfigErrors, parseConfig } from '../src/config';
import { openPostgres } from '../src/db/client';

/**
 * Applies the committed migrations to DATABASE_URL and exits. The Node entry migrates at start;
 * the Workers build cannot (no migration files, many isolates), so deployments run this first.
 */
const parsed = parseConfig(process.env);
if (!parsed.ok) {
  console.error(describeConfigErrors(parsed.errors));
  process.exit(1);
}
const url = parsed.config.database.url;
if (!url) {
  console.error('DATABASE_URL: required (the PostgreSQL database the worker uses)');
  process.exit(1);
}
const database = openPostgres(url, { poolMax: 1 });
try {
  await database.migrate();
  console.log('migrations applied');
} finally {
  await database.close();
}
