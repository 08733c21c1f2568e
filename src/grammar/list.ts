/**
 * Comma-separated lists, and `*` for "everything". One pass over the value: the length is
 * checked before anything else reads it, items are cut at commas and trimmed by index, and
 * the item count is checked as items are found, so the cost is linear in the value
 * whatever runs of spaces, commas or anything else it holds.
 */
import { fail, ok, type Parsed } from './text.js';
import { trimBlanks, type Syntax } from './syntax.js';

/** Whether the value, trimmed, is `*`. */
export function isAll(value: string, syntax: Syntax): boolean {
  return value.length <= syntax.maxValueChars && trimBlanks(value, syntax) === '*';
}

/** The items of a comma-separated list; a blank value is an empty list. */
export function splitList(value: string, syntax: Syntax): Parsed<string[]> {
  if (value.length > syntax.maxValueChars) return fail(`longer than ${syntax.maxValueChars} characters`);
  const items: string[] = [];
  let start = 0;
  for (let i = 0; i <= value.length; i++) {
    if (i < value.length && value.charCodeAt(i) !== 0x2c) continue;
    const item = trimBlanks(value, syntax, start, i);
    start = i + 1;
    if (item === '') {
      if (syntax.skipEmptyItems) continue;
      // A value that is blank as a whole is the empty list, not an empty item.
      if (i === value.length && items.length === 0 && !value.includes(',')) return ok([]);
      return fail('the list has an empty item (two commas in a row, or a comma at either end)');
    }
    items.push(item);
    if (items.length > syntax.maxItems) return fail(`the list has more than ${syntax.maxItems} items`);
  }
  return ok(items);
}

/**
 * Parses every item with `parseItem`; duplicates (by `key`) are dropped, the first order
 * kept. Stops at the first bad item.
 */
export function parseList<T>(
  value: string,
  syntax: Syntax,
  parseItem: (item: string) => Parsed<T>,
  key: (t: T) => string,
): Parsed<T[]> {
  const items = splitList(value, syntax);
  if (!items.ok) return items;
  const out: T[] = [];
  const seen = new Set<string>();
  for (const item of items.value) {
    if (item === '*') return fail("'*' is not allowed here (only alone, meaning everything)");
    const r = parseItem(item);
    if (!r.ok) return r;
    const k = key(r.value);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(r.value);
    }
  }
  return ok(out);
}
