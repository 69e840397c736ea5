export * from './api-keys';
export * from './ledger-entries';
export * from './policies';
