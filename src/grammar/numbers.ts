/**
 * Booleans, whole numbers (counts, day counts, seconds), numeric user and group IDs, and
 * durations.
 * Decimal digits only, no sign, no leading zero; the length is checked before the digits
 * are read, so no number is ever parsed from a long text.
 */
import { displayValue, fail, isDigits, ok, type Parsed } from './text.js';
import { parseList } from './list.js';
import { scalar, type Syntax } from './syntax.js';

export interface NumberBounds {
  readonly min: number;
  readonly max: number;
  /** What is counted, for the message: "days", "seconds". */
  readonly unit: string;
}

/** A whole number within bounds, e.g. `365` days. */
export function parseWholeNumber(value: string, bounds: NumberBounds, syntax: Syntax): Parsed<number> {
  const v = scalar(value, syntax);
  if ('tooLong' in v) return fail(v.tooLong);
  const text = v.text;
  const wrong = fail<number>(`must be a whole number of ${bounds.unit} from ${bounds.min} to ${bounds.max}`);
  if (!isDigits(text) || text.length > String(bounds.max).length) return wrong;
  if (text.length > 1 && text.startsWith('0')) return fail(`'${text}' has a leading zero`);
  const n = Number(text);
  return n < bounds.min || n > bounds.max ? wrong : ok(n);
}

/** `true` or `false`, in the syntax's spellings: exactly those words in STRICT, Go's in ISTIO_IPTABLES. */
export function parseBoolean(value: string, syntax: Syntax): Parsed<boolean> {
  if (syntax.booleans.true.includes(value)) return ok(true);
  if (syntax.booleans.false.includes(value)) return ok(false);
  const words = [...syntax.booleans.true, ...syntax.booleans.false].map((w) => `"${w}"`);
  return fail(words.length === 2 ? `must be exactly ${words[0]} or ${words[1]}` : `must be one of ${words.join(', ')}`);
}

/** 2^32 - 1 is (uid_t)-1, "no user", in the kernel; the largest real ID is one less. */
export const MAX_ID = 4294967294;

/** A comma-separated list of numeric UIDs or GIDs; at least one. */
export function parseIdList(value: string, syntax: Syntax): Parsed<number[]> {
  const ids = parseList(
    value,
    syntax,
    (item) => {
      const n = parseWholeNumber(item, { min: 0, max: MAX_ID, unit: 'IDs' }, syntax);
      return n.ok ? n : fail<number>(`'${displayValue(item)}' is not a numeric ID from 0 to ${MAX_ID}`);
    },
    String,
  );
  if (ids.ok && ids.value.length === 0) return fail('needs at least one numeric ID');
  return ids;
}

export interface DurationBounds {
  readonly minMs: number;
  readonly maxMs: number;
}

/** No duration worth writing is longer ("1h59m59s999ms" is 13). */
const MAX_DURATION_CHARS = 32;

/**
 * A duration in milliseconds: one or more `<number><unit>` (`1h30m`), with the syntax's
 * units, fractions (`1.5s`) where it allows them, and a bare number where it gives one a unit.
 */
export function parseDuration(value: string, bounds: DurationBounds, syntax: Syntax): Parsed<number> {
  const v = scalar(value, syntax);
  if ('tooLong' in v) return fail(v.tooLong);
  const text = v.text;
  const wrong = fail<number>(`'${displayValue(text)}' is not a duration (examples: ${syntax.durationExamples})`);
  if (text.length === 0 || text.length > MAX_DURATION_CHARS) return wrong;
  let ms: number;
  if (isDigits(text) && syntax.bareDurationUnit !== undefined) {
    ms = Number(text) * (syntax.durationUnits[syntax.bareDurationUnit] ?? Number.NaN);
  } else {
    const total = sumDuration(text, syntax);
    if (total === undefined) return wrong;
    ms = total;
  }
  if (!(ms >= bounds.minMs && ms <= bounds.maxMs)) {
    return fail(`'${displayValue(text)}' is not between ${formatMs(bounds.minMs)} and ${formatMs(bounds.maxMs)}`);
  }
  return ok(ms);
}

/** The sum of `<number><unit>` parts, or undefined when the text is not made of them. */
function sumDuration(text: string, syntax: Syntax): number | undefined {
  // Longest units first, so "ms" is not read as "m" followed by "s".
  const units = Object.keys(syntax.durationUnits).sort((a, b) => b.length - a.length);
  let total = 0;
  let i = 0;
  while (i < text.length) {
    const start = i;
    while (i < text.length && isDigits(text.charAt(i))) i++;
    let digits = i - start;
    if (syntax.durationFractions && text.charAt(i) === '.') {
      i++;
      const fraction = i;
      while (i < text.length && isDigits(text.charAt(i))) i++;
      digits += i - fraction;
    }
    if (digits === 0) return undefined;
    const unit = units.find((u) => text.startsWith(u, i));
    if (unit === undefined) return undefined;
    total += Number(text.slice(start, i)) * (syntax.durationUnits[unit] ?? Number.NaN);
    i += unit.length;
  }
  return total;
}

/** `500ms`, `5s`, `1h`: the largest unit that divides the value. */
function formatMs(ms: number): string {
  const units: [string, number][] = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  for (const [unit, size] of units) if (ms >= size && ms % size === 0) return `${ms / size}${unit}`;
  return `${ms}ms`;
}
