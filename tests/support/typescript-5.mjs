// Loaded with `node --import` before openapi-typescript: its generator builds types with the
// TypeScript compiler API, which TypeScript 7 (the project's compiler, a native binary) does not
// ship, so its `typescript` imports are answered with TypeScript 5 (the `typescript-5` alias).
import { register } from 'node:module';

register(
  `data:text/javascript,${encodeURIComponent(
    "export function resolve(specifier, context, next) { return next(specifier === 'typescript' ? 'typescript-5' : specifier, context); }",
  )}`,
);
