import { AppError } from '../errors';

/**
 * The ledger no longer holds entries it had signed into its tree or committed: its rows were
 * deleted behind the service's back. Appending now would sign a tree that forks the one already
 * signed and handed out in receipts, so appends stop until the missing rows are restored.
 */
export class LedgerTruncatedError extends AppError {
  constructor(
    readonly entries: number,
    readonly expected: number,
  ) {
    super(
      'LEDGER_TRUNCATED',
      'The ledger lost entries it had already signed; decisions are suspended until they are restored',
      { entries, expected },
    );
  }
}
