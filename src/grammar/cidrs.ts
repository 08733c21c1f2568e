/**
 * IPv4 and IPv6 addresses and CIDRs, in canonical network form (`10.1.2.3/8` is
 * `10.0.0.0/8`, a bare address is a /32 or /128). The item's length and alphabet are
 * checked by hand before ipaddr.js reads it, so no pattern ever sees more than 49
 * characters.
 */
import ipaddr from 'ipaddr.js';
import { displayValue, fail, isDigits, ok, type Parsed } from './text.js';
import { isAll, parseList } from './list.js';
import type { Syntax } from './syntax.js';

export type Family = 'ipv4' | 'ipv6';

/** A CIDR with its host bits cleared. */
export interface Cidr {
  readonly family: Family;
  readonly address: string;
  readonly prefix: number;
}

/** `*` (every destination), or an explicit list; an empty list means none. */
export type CidrSelection = { readonly kind: 'all' } | { readonly kind: 'list'; readonly cidrs: readonly Cidr[] };

/** 45 characters is the longest IPv6 text form, plus "/128". */
const MAX_ITEM_CHARS = 49;

function isAddressChar(c: string): boolean {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c === ':' || c === '.' || c === '/';
}

/**
 * `::a.b.c.d` written with hex groups (`::102:304`). ipaddr.js reads `::a.b.c.d` as the
 * IPv4-mapped `::ffff:a.b.c.d`, which is another address.
 */
function ipv4CompatibleAsHex(addr: string): string {
  const [a = 0, b = 0, c = 0, d = 0] = ipaddr.IPv4.parse(addr.slice(2)).octets;
  return `::${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
}

/** IPv4 `a.b.c.d[/n]` (four decimal parts) or IPv6 `x:y::z[/n]`, without zone IDs. */
export function parseCidr(item: string, syntax: Syntax): Parsed<Cidr> {
  const bad = fail<Cidr>(`'${displayValue(item)}' is not an IPv4 or IPv6 address or CIDR`);
  if (item.length === 0 || item.length > MAX_ITEM_CHARS) return bad;
  let slash = -1;
  for (let i = 0; i < item.length; i++) {
    const c = item.charAt(i);
    if (!isAddressChar(c)) return bad;
    if (c === '/') {
      if (slash !== -1) return bad;
      slash = i;
    }
  }
  const addr = slash === -1 ? item : item.slice(0, slash);
  const prefixText = slash === -1 ? undefined : item.slice(slash + 1);
  if (prefixText !== undefined) {
    if (!isDigits(prefixText) || prefixText.length > 3) return bad;
    if (prefixText.length > 1 && prefixText.startsWith('0')) return fail(`prefix length '${prefixText}' has a leading zero`);
  }
  if (addr.includes(':')) {
    if (!ipaddr.IPv6.isValid(addr)) return bad;
    let v6 = addr;
    // ::a.b.c.d is the IPv4-compatible form RFC 4291 deprecated: Go (and so istio-iptables)
    // reads it as the IPv6 address it names; the strict syntax refuses it, saying what it is.
    if (addr.startsWith('::') && addr.includes('.') && !addr.slice(2).includes(':')) {
      if (!syntax.ipv4CompatibleAddresses) {
        return fail(`'${displayValue(item)}' is an IPv4-compatible IPv6 address (deprecated, RFC 4291); write the IPv4 form`);
      }
      v6 = ipv4CompatibleAsHex(addr);
    }
    // ::ffff:a.b.c.d is IPv4-mapped: ip6tables never sees such traffic (it is IPv4), so a
    // rule for it would do nothing.
    if (ipaddr.IPv6.parse(v6).isIPv4MappedAddress()) return fail(`'${displayValue(item)}' is an IPv4-mapped IPv6 address; write the IPv4 form`);
    const prefix = prefixText === undefined ? 128 : Number(prefixText);
    if (prefix > 128) return fail(`IPv6 prefix length ${prefix} is over 128`);
    return ok({ family: 'ipv6', address: ipaddr.IPv6.networkAddressFromCIDR(`${v6}/${prefix}`).toRFC5952String(), prefix });
  }
  if (!ipaddr.IPv4.isValidFourPartDecimal(addr)) return bad;
  const prefix = prefixText === undefined ? 32 : Number(prefixText);
  if (prefix > 32) return fail(`IPv4 prefix length ${prefix} is over 32`);
  return ok({ family: 'ipv4', address: ipaddr.IPv4.networkAddressFromCIDR(`${addr}/${prefix}`).toString(), prefix });
}

/** A comma-separated list of CIDRs; duplicates (after canonicalisation) dropped, order kept. */
export function parseCidrList(value: string, syntax: Syntax): Parsed<Cidr[]> {
  return parseList(value, syntax, (item) => parseCidr(item, syntax), formatCidr);
}

/** `*` for every destination, empty for none, or a CIDR list. */
export function parseCidrSelection(value: string, syntax: Syntax): Parsed<CidrSelection> {
  if (isAll(value, syntax)) return ok({ kind: 'all' });
  const list = parseCidrList(value, syntax);
  return list.ok ? ok({ kind: 'list', cidrs: list.value }) : list;
}

export function formatCidr(c: Cidr): string {
  return `${c.address}/${c.prefix}`;
}

export function formatCidrList(list: readonly Cidr[]): string {
  return list.map(formatCidr).join(',');
}

export function formatCidrSelection(selection: CidrSelection): string {
  return selection.kind === 'all' ? '*' : formatCidrList(selection.cidrs);
}
