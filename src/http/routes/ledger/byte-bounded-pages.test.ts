import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestApp, type TestApp } from '../../../../tests/support/app';
import { backends, type TestDatabase } from '../../../../tests/support/databases';
import { ENTRY_PAGE_BYTES } from '../../../ledger/entry-page';

interface Entry {
  index: number;
  event_type: string;
  data: Record<string, unknown>;
}

interface Page<T> {
  items: T[];
  bytes: number;
}

const KIB = 1024;
// Padding of each appended entry, in KiB: small ones that share a page, runs that fill one, and
// three larger than a whole page (1100, 1300, 2048).
const PADDING_KIB = [
  1, 300, 5, 700, 60, 1300, 2, 250, 250, 250, 250, 1, 600, 600, 1100, 5, 60, 60, 900, 1, 1, 1, 120, 2048,
];
// Entries appended before the fixture: genesis and the three test keys.
const FIRST = 4;
// Slack for the page's own estimate: it counts each entry's fixed fields generously and `data` as
// the database prints it (a space after each colon and comma), so a page may stop a little short.
const ESTIMATE_SLACK = 8 * KIB;

const jsonBytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value));
const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe.each(backends())('pages of large entries on $name', (backend) => {
  let tdb: TestDatabase;
  let t: TestApp;
  /** Every entry's JSON size as the API returns it, by index. */
  const sizes = new Map<number, number>();
  const decisionIndexes: number[] = [];
  // The three test keys' entries come first.
  const keyIndexes = [1, 2, 3];
  let last: number;

  beforeAll(async () => {
    tdb = await backend.open();
    t = await createTestApp(tdb.database);
    // Appended through the ledger itself: entries this large are what the API must page, however
    // a decision request's size is capped today.
    for (const [i, kib] of PADDING_KIB.entries()) {
      const decision = i % 3 !== 2;
      const { entry } = await t.services.ledger.append({
        eventType: decision ? 'decision' : 'api_key_created',
        data: {
          decision_id: `dec_large_${i}`,
          actor: 'agent',
          decision: 'deny',
          allowed: false,
          risk_level: 'low',
          padding: 'p'.repeat(kib * KIB),
        },
      });
      (decision ? decisionIndexes : keyIndexes).push(entry.index);
    }
    const head = await t.services.ledger.head();
    last = head?.index as number;
    expect(last).toBe(FIRST + PADDING_KIB.length - 1);
    for (let index = 0; index <= last; index++) {
      sizes.set(index, jsonBytes((await t.request('GET', `/api/ledger/entries/${index}`)).body));
    }
  });
  afterAll(() => tdb.close());

  /** Follows next_cursor from the first page to the last. */
  async function walk<T>(path: string, list: 'entries' | 'decisions'): Promise<Page<T>[]> {
    const pages: Page<T>[] = [];
    let cursor: string | null = null;
    do {
      const res = await t.request('GET', `${path}${cursor ? `&cursor=${cursor}` : ''}`, { key: t.keys.auditor });
      expect(res.status).toBe(200);
      pages.push({ items: res.body[list], bytes: jsonBytes(res.body[list]) });
      cursor = res.body.next_cursor;
    } while (cursor !== null && pages.length < 100);
    return pages;
  }

  const entryPages = (query: string) => walk<Entry>(`/api/ledger/entries?${query}`, 'entries');
  const indexesOf = (pages: Page<Entry>[]) => pages.flatMap((p) => p.items.map((e) => e.index));
  const sizeOf = (index: number) => sizes.get(index) as number;

  /** A page is over the budget only when it holds one entry, and a page that stopped early had no room for the next. */
  function expectFilledWithinBudget(pages: Page<Entry>[], limit: number) {
    for (const [i, page] of pages.entries()) {
      if (page.items.length > 1) expect(page.bytes).toBeLessThanOrEqual(ENTRY_PAGE_BYTES);
      const next = pages[i + 1]?.items[0];
      if (next && page.items.length < limit) {
        expect(page.bytes + sizeOf(next.index)).toBeGreaterThan(ENTRY_PAGE_BYTES - ESTIMATE_SLACK);
      }
    }
  }

  it('ends a page of entries before 1 MiB of JSON, and next_cursor visits every entry once, ascending', async () => {
    const pages = await entryPages('limit=500');
    expect(indexesOf(pages)).toEqual(range(0, last));
    expect(pages.length).toBeGreaterThan(5);
    expectFilledWithinBudget(pages, 500);
  });

  it('does the same in descending order', async () => {
    const pages = await entryPages('limit=500&order=desc');
    expect(indexesOf(pages)).toEqual(range(0, last).reverse());
    expectFilledWithinBudget(pages, 500);
  });

  it('puts an entry larger than the whole budget alone on its page, and carries on after it', async () => {
    const oversized = [...sizes].filter(([, bytes]) => bytes > ENTRY_PAGE_BYTES).map(([index]) => index);
    expect(oversized).toHaveLength(3);
    for (const query of ['limit=500', 'limit=500&order=desc']) {
      const pages = await entryPages(query);
      for (const index of oversized) {
        const page = pages.find((p) => p.items.some((e) => e.index === index));
        expect(page?.items.map((e) => e.index)).toEqual([index]);
      }
    }
  });

  it('bounds pages by rows and bytes together, with filters, in both orders', async () => {
    for (const limit of [2, 3, 500]) {
      const ascending = await entryPages(`event_type=decision&limit=${limit}`);
      expect(indexesOf(ascending)).toEqual(decisionIndexes);
      expect(ascending.every((p) => p.items.length <= limit)).toBe(true);
      expectFilledWithinBudget(ascending, limit);

      const descending = await entryPages(`event_type=decision&order=desc&limit=${limit}`);
      expect(indexesOf(descending)).toEqual([...decisionIndexes].reverse());
      expectFilledWithinBudget(descending, limit);
    }
    expect(indexesOf(await entryPages('event_type=api_key_created&limit=500'))).toEqual(keyIndexes);
    expect(indexesOf(await entryPages('event_type=api_key_created&order=desc&limit=1'))).toEqual(
      [...keyIndexes].reverse(),
    );
  });

  it('ends a page of audit decisions before 1 MiB of the entries they are read from, newest first, each once', async () => {
    const pages = await walk<{ ledger_entry_index: number }>('/api/audit/decisions?limit=500', 'decisions');
    const indexes = pages.flatMap((p) => p.items.map((d) => d.ledger_entry_index));
    expect(indexes).toEqual([...decisionIndexes].reverse());
    for (const page of pages) {
      const read = page.items.reduce((sum, d) => sum + sizeOf(d.ledger_entry_index), 0);
      if (page.items.length > 1) expect(read).toBeLessThanOrEqual(ENTRY_PAGE_BYTES);
    }
    expect(pages.length).toBeGreaterThan(5);
  });
});
