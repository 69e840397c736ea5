export * from './api-keys';
export * from './background-tasks';
export * from './feature-flags';
export * from './ledger-entries';
export * from './ledger-tree';
export * from './policies';
export * from './users';
