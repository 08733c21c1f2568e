/**
 * Ports, port ranges and port lists. Decimal 1-65535, no sign, no leading zero (iptables
 * reads `010` as octal 8, so siding refuses it rather than guess). Read by hand, one
 * character at a time, after a length check: no pattern ever sees a long item.
 */
import { displayValue, fail, isDigits, ok, type Parsed } from './text.js';
import { isAll, parseList } from './list.js';
import { scalar, type Syntax } from './syntax.js';

/** An inclusive port range; a single port has `from === to`. */
export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** `*` (every port), or an explicit list; an empty list means none. */
export type PortSelection = { readonly kind: 'all' } | { readonly kind: 'list'; readonly ports: readonly PortRange[] };

export interface PortListOptions {
  readonly syntax: Syntax;
  /** Whether `a-b` (and with `syntax.colonRanges`, `a:b`) is accepted. */
  readonly ranges: boolean;
}

/** "65535-65535": no port item is longer. */
const MAX_ITEM_CHARS = 11;

/** One port number: digits only, no leading zero, 1-65535. */
function portNumber(text: string): Parsed<number> {
  if (!isDigits(text) || text.length > 5) return fail(`'${displayValue(text)}' is not a port number`);
  if (text.length > 1 && text.startsWith('0')) return fail(`port '${text}' has a leading zero (iptables would read it as an octal number)`);
  const n = Number(text);
  if (n < 1 || n > 65535) return fail(`port ${n} is out of range 1-65535`);
  return ok(n);
}

/** A single port value (a flag such as `-p 15001`). */
export function parsePort(value: string, syntax: Syntax): Parsed<number> {
  const v = scalar(value, syntax);
  return 'tooLong' in v ? fail(v.tooLong) : portNumber(v.text);
}

/** One list item: `8080`, or a range `8000-8100` (also `8000:8100` where the syntax allows). */
function parsePortItem(item: string, opts: PortListOptions): Parsed<PortRange> {
  const notPort = (): Parsed<PortRange> => fail(`'${displayValue(item)}' is not a port${opts.ranges ? ' or port range' : ''}`);
  if (item.length === 0 || item.length > MAX_ITEM_CHARS) return notPort();
  let sep = -1;
  for (let i = 0; i < item.length; i++) {
    const c = item.charAt(i);
    if (c >= '0' && c <= '9') continue;
    if (sep === -1 && i > 0 && (c === '-' || (c === ':' && opts.syntax.colonRanges))) sep = i;
    else return notPort();
  }
  if (sep === -1) {
    const p = portNumber(item);
    return p.ok ? ok({ from: p.value, to: p.value }) : p;
  }
  if (!opts.ranges) return fail(`port ranges are not allowed here ('${item}')`);
  const a = portNumber(item.slice(0, sep));
  if (!a.ok) return a;
  const b = portNumber(item.slice(sep + 1));
  if (!b.ok) return b;
  if (b.value < a.value) return fail(`port range ${a.value}-${b.value} ends below its start`);
  return ok({ from: a.value, to: b.value });
}

/** A comma-separated list of ports (and ranges when allowed); duplicates dropped, order kept. */
export function parsePortList(value: string, opts: PortListOptions): Parsed<PortRange[]> {
  return parseList(value, opts.syntax, (item) => parsePortItem(item, opts), (r) => `${r.from}-${r.to}`);
}

/** `*` for every port, empty for none, or a port list. */
export function parsePortSelection(value: string, opts: PortListOptions): Parsed<PortSelection> {
  if (isAll(value, opts.syntax)) return ok({ kind: 'all' });
  const list = parsePortList(value, opts);
  return list.ok ? ok({ kind: 'list', ports: list.value }) : list;
}

/** `8080` or `8000-8100`: the text siding writes, which the strict syntax reads back. */
function formatPortRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

export function formatPortList(list: readonly PortRange[]): string {
  return list.map(formatPortRange).join(',');
}

export function formatPortSelection(selection: PortSelection): string {
  return selection.kind === 'all' ? '*' : formatPortList(selection.ports);
}
