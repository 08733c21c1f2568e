/**
 * Strict parsers for the string values that reach siding from annotations and config
 * files. Each returns a typed value or a reason; none throws, none trims silently beyond
 * the spaces around list items, and none accepts anything it cannot render back exactly.
 * The `siding init` command line is built from these typed values only.
 */
import ipaddr from 'ipaddr.js';
import type { CidrSpec, PortRange, PortSpec } from './types.js';

export type Parsed<T> = { ok: true; value: T } | { ok: false; reason: string };

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = <T>(reason: string): Parsed<T> => ({ ok: false, reason });

// ---------------------------------------------------------------------------
// Showing user-supplied text in messages
// ---------------------------------------------------------------------------

/** Longest value shown in a message; the rest is summarised so one bad value cannot flood a log. */
export const MAX_DISPLAY_CHARS = 100;

/**
 * Renders untrusted text for a message inside single quotes: printable ASCII as is,
 * `\` and `'` escaped, everything else (control characters, newlines, NUL, bidi controls,
 * look-alike letters) as an escape sequence, so a value can neither forge a message line
 * nor pretend to be another value. Overlong values are cut and say so.
 */
export function displayValue(value: string): string {
  let out = '';
  let shown = 0;
  let total = 0;
  for (const ch of value) {
    total += 1;
    if (shown < MAX_DISPLAY_CHARS) {
      out += escapeChar(ch);
      shown += 1;
    }
  }
  if (total > shown) out += `... (${total} characters, truncated)`;
  return out;
}

function escapeChar(ch: string): string {
  const cp = ch.codePointAt(0) ?? 0;
  if (ch === '\\') return '\\\\';
  if (ch === "'") return "\\'";
  if (cp >= 0x20 && cp < 0x7f) return ch;
  if (ch === '\n') return '\\n';
  if (ch === '\r') return '\\r';
  if (ch === '\t') return '\\t';
  if (cp < 0x100) return `\\x${cp.toString(16).padStart(2, '0')}`;
  if (cp <= 0xffff) return `\\u${cp.toString(16).padStart(4, '0')}`;
  return `\\u{${cp.toString(16)}}`;
}

/** Levenshtein distance, for "did you mean" on misspelt keys (keys are short). */
export function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2 || a.length > 64 || b.length > 64) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

// ---------------------------------------------------------------------------
// Booleans and enums
// ---------------------------------------------------------------------------

export function parseBoolean(value: string): Parsed<boolean> {
  if (value === 'true') return ok(true);
  if (value === 'false') return ok(false);
  return fail('must be exactly "true" or "false"');
}

export function parseInterceptionMode(value: string): Parsed<'REDIRECT'> {
  if (value === 'REDIRECT') return ok('REDIRECT');
  if (value === 'TPROXY') return fail('TPROXY is not supported yet; the only mode is REDIRECT');
  return fail('must be REDIRECT');
}

// ---------------------------------------------------------------------------
// Ports
// ---------------------------------------------------------------------------

/**
 * Longest list accepted in one annotation or config field. Every entry becomes iptables
 * rules and part of one init-container argument (Linux caps a single argument at 128 KiB);
 * 1,024 IPv6 CIDRs stay well under that.
 */
export const MAX_LIST_ENTRIES = 1024;

/** Decimal 1-65535, no sign, no leading zero, no spaces. */
export function parsePort(value: string): Parsed<number> {
  if (!/^[0-9]{1,5}$/.test(value)) return fail(`'${displayValue(value)}' is not a port number`);
  if (value.length > 1 && value.startsWith('0')) return fail(`port '${value}' has a leading zero`);
  const n = Number(value);
  if (n < 1 || n > 65535) return fail(`port ${n} is out of range 1-65535`);
  return ok(n);
}

function parsePortRange(item: string, allowRanges: boolean): Parsed<PortRange> {
  if (!/^[0-9]+(-[0-9]+)?$/.test(item)) {
    return fail(`'${displayValue(item)}' is not a port${allowRanges ? ' or port range' : ''}`);
  }
  const dash = item.indexOf('-');
  if (dash > 0 && allowRanges) {
    const a = parsePort(item.slice(0, dash));
    if (!a.ok) return a;
    const b = parsePort(item.slice(dash + 1));
    if (!b.ok) return b;
    if (b.value < a.value) return fail(`port range ${a.value}-${b.value} ends below its start`);
    return ok({ from: a.value, to: b.value });
  }
  const p = parsePort(item);
  if (!p.ok) return dash > 0 && !allowRanges ? fail(`port ranges are not allowed here ('${displayValue(item)}')`) : p;
  return ok({ from: p.value, to: p.value });
}

/** Splits a comma-separated list; spaces around items are allowed, empty items are not. */
function splitList(value: string): Parsed<string[]> {
  if (value.trim() === '') return ok([]);
  const items = value.split(',').map((s) => s.replace(/^ +| +$/g, ''));
  if (items.some((s) => s === '')) return fail('the list has an empty item (stray comma?)');
  if (items.length > MAX_LIST_ENTRIES) return fail(`the list has ${items.length} items; at most ${MAX_LIST_ENTRIES} are allowed`);
  return ok(items);
}

/** Comma-separated ports (and `a-b` ranges when allowed); duplicates removed, order kept. */
export function parsePortList(value: string, opts: { allowRanges: boolean }): Parsed<PortRange[]> {
  const items = splitList(value);
  if (!items.ok) return items;
  const out: PortRange[] = [];
  const seen = new Set<string>();
  for (const item of items.value) {
    if (item === '*') return fail("'*' is not allowed here");
    const r = parsePortRange(item, opts.allowRanges);
    if (!r.ok) return r;
    const key = `${r.value.from}-${r.value.to}`;
    if (!seen.has(key)) {
      seen.add(key);
      out.push(r.value);
    }
  }
  return ok(out);
}

/** `*` for every port, empty for none, or a port list. */
export function parsePortSpec(value: string, opts: { allowRanges: boolean }): Parsed<PortSpec> {
  if (value.trim() === '*') return ok({ kind: 'all' });
  const list = parsePortList(value, opts);
  return list.ok ? ok({ kind: 'list', ports: list.value }) : list;
}

export function formatPortRange(r: PortRange): string {
  return r.from === r.to ? String(r.from) : `${r.from}-${r.to}`;
}

export function formatPortList(list: readonly PortRange[]): string {
  return list.map(formatPortRange).join(',');
}

export function formatPortSpec(spec: PortSpec): string {
  return spec.kind === 'all' ? '*' : formatPortList(spec.ports);
}

// ---------------------------------------------------------------------------
// Addresses and interfaces
// ---------------------------------------------------------------------------

/** IPv4 `a.b.c.d[/n]` or IPv6 `x:y::z[/n]`, returned in canonical network form (`10.0.0.0/8`). */
export function parseCidr(value: string): Parsed<string> {
  const bad = fail<string>(`'${displayValue(value)}' is not an IPv4 or IPv6 address or CIDR`);
  // 45 characters is the longest IPv6 text form, plus "/128".
  if (value.length > 49 || !/^[0-9A-Fa-f:.]+(\/[0-9]{1,3})?$/.test(value)) return bad;
  const [addr = '', prefixText] = value.split('/');
  if (prefixText !== undefined && prefixText.length > 1 && prefixText.startsWith('0')) {
    return fail(`prefix length '${prefixText}' has a leading zero`);
  }
  if (addr.includes(':')) {
    if (!ipaddr.IPv6.isValid(addr)) return bad;
    // ip6tables never sees IPv4 traffic as ::ffff:a.b.c.d, so such a rule would do nothing.
    if (ipaddr.IPv6.parse(addr).isIPv4MappedAddress()) return fail(`'${displayValue(value)}' is an IPv4-mapped IPv6 address; write the IPv4 form`);
    const prefix = prefixText === undefined ? 128 : Number(prefixText);
    if (prefix > 128) return fail(`IPv6 prefix length ${prefix} is over 128`);
    const net = ipaddr.IPv6.networkAddressFromCIDR(`${addr}/${prefix}`);
    return ok(`${net.toRFC5952String()}/${prefix}`);
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) return bad;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (prefix > 32) return fail(`IPv4 prefix length ${prefix} is over 32`);
  const net = ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`);
  return ok(`${net.toString()}/${prefix}`);
}

export function parseCidrList(value: string): Parsed<string[]> {
  const items = splitList(value);
  if (!items.ok) return items;
  const out: string[] = [];
  for (const item of items.value) {
    if (item === '*') return fail("'*' is not allowed here");
    const c = parseCidr(item);
    if (!c.ok) return c;
    if (!out.includes(c.value)) out.push(c.value);
  }
  return ok(out);
}

/** `*` for every destination, empty for none, or a CIDR list. */
export function parseCidrSpec(value: string): Parsed<CidrSpec> {
  if (value.trim() === '*') return ok({ kind: 'all' });
  const list = parseCidrList(value);
  return list.ok ? ok({ kind: 'list', cidrs: list.value }) : list;
}

export function formatCidrSpec(spec: CidrSpec): string {
  return spec.kind === 'all' ? '*' : spec.cidrs.join(',');
}

/**
 * Linux interface names are 1-15 bytes (IFNAMSIZ 16 with the NUL) and may not contain
 * '/' or whitespace or be '.' or '..'. siding accepts a safe subset: ASCII letters,
 * digits, '_', '.', '-', not starting with '.' or '-'.
 */
export function parseInterfaceName(value: string): Parsed<string> {
  if (value.length === 0 || value.length > 15) {
    return fail(`interface name '${displayValue(value)}' must be 1 to 15 characters`);
  }
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.-]*$/.test(value)) {
    return fail(`interface name '${displayValue(value)}' may only contain letters, digits, '_', '.' and '-' (not first)`);
  }
  return ok(value);
}

export function parseInterfaceList(value: string): Parsed<string[]> {
  const items = splitList(value);
  if (!items.ok) return items;
  const out: string[] = [];
  for (const item of items.value) {
    const r = parseInterfaceName(item);
    if (!r.ok) return r;
    if (!out.includes(r.value)) out.push(r.value);
  }
  return ok(out);
}

// ---------------------------------------------------------------------------
// Kubernetes values
// ---------------------------------------------------------------------------

/** A Kubernetes resource quantity this long is already absurd; the cap keeps messages short. */
const MAX_QUANTITY_CHARS = 32;
const QUANTITY = /^([0-9]+(?:\.[0-9]+)?|\.[0-9]+)([KMGTPE]i|[mkMGTPE]|[eE][0-9]{1,2})?$/;
const MULTIPLIER: Record<string, number> = {
  '': 1, m: 1e-3, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60,
};

/**
 * A non-negative Kubernetes quantity (`100m`, `0.5`, `128Mi`, `1e3`). Memory in
 * thousandths of a byte (`128m`) is refused: it is always a typo for `128Mi`.
 */
export function parseQuantity(value: string, kind: 'cpu' | 'memory'): Parsed<string> {
  if (value.length > MAX_QUANTITY_CHARS) return fail(`a quantity is at most ${MAX_QUANTITY_CHARS} characters`);
  const m = QUANTITY.exec(value);
  if (!m) return fail(`'${displayValue(value)}' is not a Kubernetes quantity (examples: ${kind === 'cpu' ? '100m, 0.5, 2' : '128Mi, 1Gi, 500M'})`);
  const [, num = '', suffix = ''] = m;
  if (kind === 'memory' && suffix === 'm') return fail(`'m' means thousandths of a byte; did you mean '${num}Mi'?`);
  if (kind === 'cpu' && suffix === 'm' && num.includes('.')) return fail('CPU is measured to 1m at most; use a whole number of millicores');
  return ok(value);
}

/** The numeric value of a quantity already accepted by parseQuantity (for comparisons only). */
export function quantityValue(q: string): number {
  const m = QUANTITY.exec(q);
  if (!m) return Number.NaN;
  const [, num = '', suffix = ''] = m;
  if (suffix.startsWith('e') || suffix.startsWith('E')) return Number(num) * 10 ** Number(suffix.slice(1));
  return Number(num) * (MULTIPLIER[suffix] ?? Number.NaN);
}

/** Container image references: registry name (255) + tag (128) + a sha512 digest, rounded up. */
export const MAX_IMAGE_CHARS = 512;
const DOMAIN_PART = '(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])';
const DOMAIN = `${DOMAIN_PART}(?:\\.${DOMAIN_PART})*(?::[0-9]{1,5})?`;
const PATH_PART = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const TAG = '[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,128}';
const IMAGE = new RegExp(`^(?:${DOMAIN}/)?${PATH_PART}(?:/${PATH_PART})*(?::${TAG})?(?:@${DIGEST})?$`);

/** An OCI image reference in the distribution grammar: `[registry[:port]/]path[:tag][@digest]`. */
export function parseImage(value: string): Parsed<string> {
  if (value.length === 0) return fail('an image reference cannot be empty');
  if (value.length > MAX_IMAGE_CHARS) return fail(`an image reference is at most ${MAX_IMAGE_CHARS} characters`);
  if (!IMAGE.test(value)) return fail('not an image reference ([registry[:port]/]name[:tag][@digest], lower-case name)');
  return ok(value);
}

const ABSOLUTE_PATH = /^\/[A-Za-z0-9._\-/]*$/;
/** Longest absolute path accepted (an HTTP path or a mount path). */
export const MAX_PATH_CHARS = 256;

/**
 * An absolute path of letters, digits, '.', '_', '-' and '/' without '.' or '..' segments:
 * a mount path, or the readiness path (which ends up in an HTTP request line and a script).
 */
export function parseAbsolutePath(value: string): Parsed<string> {
  if (value.length > MAX_PATH_CHARS) return fail(`is longer than ${MAX_PATH_CHARS} characters`);
  if (!ABSOLUTE_PATH.test(value) || value.split('/').some((seg) => seg === '..' || seg === '.')) {
    return fail(`'${displayValue(value)}' must be an absolute path of letters, digits, '.', '_', '-' and '/' without '.' or '..' segments`);
  }
  return ok(value);
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** RFC 1123 label, as Kubernetes requires for namespace, container and volume names. */
export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS_LABEL.test(value);
}

/** A label key: optional DNS-subdomain prefix (253) and '/', then a name of at most 63 characters. */
export function isLabelKey(value: string): boolean {
  const slash = value.indexOf('/');
  const prefix = slash === -1 ? undefined : value.slice(0, slash);
  const name = slash === -1 ? value : value.slice(slash + 1);
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** A label value: empty, or at most 63 characters of letters, digits, '-', '_', '.'. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && LABEL_NAME.test(value));
}

/**
 * Port names must be IANA service names: 1-15 characters, lower-case letters, digits and
 * '-', at least one letter, no leading, trailing or double '-'. The API server rejects
 * anything else with a 422.
 */
export function isPortName(value: string): boolean {
  return (
    value.length >= 1 &&
    value.length <= 15 &&
    /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(value) &&
    /[a-z]/.test(value) &&
    !value.includes('--')
  );
}
