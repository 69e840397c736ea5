import type { LedgerEntry } from '../ledger/entry';

/**
 * The export file (docs/ledger.md): NDJSON whose first line is the checkpoint fetched before the
 * entries, then one line per entry in index order.
 */
export type ExportLine = { type: 'checkpoint'; note: string } | { type: 'entry'; entry: LedgerEntry };

export const checkpointLine = (note: string) => `${JSON.stringify({ type: 'checkpoint', note })}\n`;
/** How every export begins (what checkpointLine writes first). */
export const EXPORT_START = '{"type":"checkpoint",';
export const entryLine = (entry: LedgerEntry) => `${JSON.stringify({ type: 'entry', entry })}\n`;

/** The line's content, or undefined when it is not a line of an export (not JSON, or another shape). */
export function parseExportLine(line: string): ExportLine | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  const record = value as Record<string, unknown>;
  if (record.type === 'checkpoint' && typeof record.note === 'string') return { type: 'checkpoint', note: record.note };
  if (record.type === 'entry' && typeof record.entry === 'object' && record.entry !== null) {
    return { type: 'entry', entry: record.entry as LedgerEntry };
  }
  return undefined;
}
