/**
 * The two spellings the grammar reads. Every parser takes one; the difference between them
 * is only what is listed here.
 *
 * - `STRICT`: annotations, the config file and siding's own flags. Anything a pod author
 *   writes is read this way: one spelling per value, every surprise an error.
 * - `ISTIO_IPTABLES`: the flags of `siding init` that istio-iptables also has, read as leniently
 *   as istio-iptables reads them, so its command lines work unchanged: empty list items are
 *   skipped (istio splits on commas and drops empty strings, so `-d 15020,15021,` works),
 *   `8000:8100` is a range (iptables' own spelling, which istio passes through), `veth+` is an
 *   interface wildcard, `::a.b.c.d` is an IPv6 address, and durations and booleans are Go's
 *   (`1.5s`, `500ms`; `1`, `t`, `False`).
 *
 * Both refuse what would silently mean something else: a port with a leading zero (iptables
 * reads `010` as octal 8), an unparsable CIDR (istio-iptables drops it with a warning), an
 * iptables service name or an open range (`8000:`).
 */

export interface Syntax {
  readonly name: 'strict' | 'istio-iptables';
  /** Characters ignored around each list item, and around single values when `trimValues`. */
  readonly blanks: string;
  /** Whether a single value (a port, a duration, a number) may carry `blanks` around it. */
  readonly trimValues: boolean;
  /** Empty list items (`80,,443`, a comma at either end) are skipped instead of refused. */
  readonly skipEmptyItems: boolean;
  /** `8000:8100` is a port range as well as `8000-8100`. */
  readonly colonRanges: boolean;
  /** An interface name may end in `+`, iptables' wildcard. */
  readonly interfaceWildcards: boolean;
  /**
   * `::a.b.c.d` (the IPv4-compatible form RFC 4291 deprecated) is read as the IPv6 address
   * it names, as Go's netip does; otherwise it is refused, saying what it is.
   */
  readonly ipv4CompatibleAddresses: boolean;
  /** The spellings of true and false. */
  readonly booleans: { readonly true: readonly string[]; readonly false: readonly string[] };
  /** Most items in one list. */
  readonly maxItems: number;
  /** Longest value, checked before anything else reads it. */
  readonly maxValueChars: number;
  /** Duration units and their length in milliseconds. */
  readonly durationUnits: Readonly<Record<string, number>>;
  /** Whether a duration may have a fraction (`1.5s`). */
  readonly durationFractions: boolean;
  /** What a bare number means as a duration; undefined: a unit is required. */
  readonly bareDurationUnit: string | undefined;
  /** Shown in messages about durations. */
  readonly durationExamples: string;
}

/**
 * Longest value of one annotation, config field or flag: Kubernetes caps all of a pod's
 * annotations at 256 KiB together, so one value over 64 KiB is not a setting.
 */
export const MAX_VALUE_CHARS = 64 * 1024;

/**
 * Longest list in strict syntax. Every entry becomes iptables rules and part of one
 * init-container argument (Linux caps a single argument at 128 KiB); 1,024 IPv6 CIDRs stay
 * well under that.
 */
export const MAX_LIST_ITEMS = 1024;

const DAY_MS = 86_400_000;

export const STRICT: Syntax = {
  name: 'strict',
  blanks: ' ',
  trimValues: false,
  skipEmptyItems: false,
  colonRanges: false,
  interfaceWildcards: false,
  ipv4CompatibleAddresses: false,
  booleans: { true: ['true'], false: ['false'] },
  maxItems: MAX_LIST_ITEMS,
  maxValueChars: MAX_VALUE_CHARS,
  durationUnits: { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS },
  durationFractions: false,
  bareDurationUnit: undefined,
  durationExamples: '90s, 5m, 1h30m or 2d',
};

export const ISTIO_IPTABLES: Syntax = {
  name: 'istio-iptables',
  // What Go's strings.TrimSpace and iptables' strtoul skip in ASCII.
  blanks: ' \t\n\v\f\r',
  trimValues: true,
  skipEmptyItems: true,
  colonRanges: true,
  interfaceWildcards: true,
  ipv4CompatibleAddresses: true,
  // Go's strconv.ParseBool, which istio-iptables' flag library uses for `--flag=value`.
  booleans: { true: ['1', 't', 'T', 'TRUE', 'true', 'True'], false: ['0', 'f', 'F', 'FALSE', 'false', 'False'] },
  // No cap of its own: a 64 KiB value holds at most 32,768 items ("1,1,...").
  maxItems: MAX_VALUE_CHARS / 2,
  maxValueChars: MAX_VALUE_CHARS,
  // Go's time.ParseDuration units.
  durationUnits: { ns: 1e-6, us: 1e-3, 'µs': 1e-3, 'μs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 },
  durationFractions: true,
  // A bare number has always meant seconds in siding init (Go would refuse it).
  bareDurationUnit: 's',
  durationExamples: "5s, 500ms or 1.5s (a bare number is seconds)",
};

/** `text` without `syntax.blanks` at either end; linear, whatever runs of blanks it holds. */
export function trimBlanks(text: string, syntax: Syntax, start = 0, end = text.length): string {
  let a = start;
  let b = end;
  while (a < b && syntax.blanks.includes(text.charAt(a))) a++;
  while (b > a && syntax.blanks.includes(text.charAt(b - 1))) b--;
  return a === start && b === end && start === 0 && end === text.length ? text : text.slice(a, b);
}

/**
 * A single value as the syntax reads it: trimmed when `trimValues`, or the reason it is too
 * long to read at all.
 */
export function scalar(text: string, syntax: Syntax): { text: string } | { tooLong: string } {
  if (text.length > syntax.maxValueChars) return { tooLong: `longer than ${syntax.maxValueChars} characters` };
  return { text: syntax.trimValues ? trimBlanks(text, syntax) : text };
}
