/**
 * The original destination of a redirected connection, as the kernel reports it through
 * getsockopt(SO_ORIGINAL_DST) (IPv4) or getsockopt(IP6T_SO_ORIGINAL_DST) (IPv6): which
 * option to ask for, and decoding the sockaddr it fills in. Pure; sockopt.ts makes the call.
 */

/** <linux/in.h> SOL_IP and <linux/netfilter_ipv4.h> SO_ORIGINAL_DST. */
export const SOL_IP = 0;
export const SO_ORIGINAL_DST = 80;
/** <linux/in6.h> SOL_IPV6 and <linux/netfilter_ipv6/ip6_tables.h> IP6T_SO_ORIGINAL_DST. */
export const SOL_IPV6 = 41;
export const IP6T_SO_ORIGINAL_DST = 80;
/** Address families in sockaddr.sa_family (host byte order). */
export const AF_INET = 2;
export const AF_INET6 = 10;
/** sizeof(struct sockaddr_in6), the larger of the two answers. */
export const SOCKADDR_BYTES = 28;

export interface Endpoint {
  readonly family: 4 | 6;
  /** Dotted quad, or RFC 5952 text for IPv6 (lower case, longest zero run as '::'). */
  readonly address: string;
  readonly port: number;
}

export interface SockoptQuery {
  readonly level: number;
  readonly name: number;
}

const V4_MAPPED = '::ffff:';

/**
 * The option to ask for on an accepted socket. A dual-stack listener sees IPv4 clients as
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d); their connection is IPv4 to netfilter, so
 * the IPv4 option answers for them.
 */
export function originalDstQuery(localAddress: string): SockoptQuery {
  const v6 = localAddress.includes(':') && !localAddress.startsWith(V4_MAPPED);
  return v6 ? { level: SOL_IPV6, name: IP6T_SO_ORIGINAL_DST } : { level: SOL_IP, name: SO_ORIGINAL_DST };
}

/** An IPv4-mapped IPv6 address as its IPv4 text; any other address unchanged. */
export function unmapped(address: string): string {
  return address.startsWith(V4_MAPPED) && address.includes('.') ? address.slice(V4_MAPPED.length) : address;
}

/**
 * Decodes the sockaddr_in / sockaddr_in6 the kernel wrote. The family is in host byte order
 * (little-endian on every platform siding ships for), the port in network byte order.
 * Returns a reason instead of an endpoint when the bytes are not an address and port.
 */
export function decodeSockaddr(buf: Uint8Array, length: number): Endpoint | string {
  if (length < 2 || length > buf.length) return `short sockaddr (${length} bytes)`;
  const family = (buf[0] ?? 0) | ((buf[1] ?? 0) << 8);
  const port = ((buf[2] ?? 0) << 8) | (buf[3] ?? 0);
  if (family === AF_INET) {
    if (length < 8) return `short sockaddr_in (${length} bytes)`;
    if (port === 0) return 'port 0';
    return { family: 4, address: `${buf[4]}.${buf[5]}.${buf[6]}.${buf[7]}`, port };
  }
  if (family === AF_INET6) {
    if (length < 24) return `short sockaddr_in6 (${length} bytes)`;
    if (port === 0) return 'port 0';
    const groups: number[] = [];
    for (let i = 8; i < 24; i += 2) groups.push(((buf[i] ?? 0) << 8) | (buf[i + 1] ?? 0));
    return { family: 6, address: formatIpv6(groups), port };
  }
  return `unknown address family ${family}`;
}

/**
 * IPv6 text as Node.js writes a socket's address (libuv's inet_ntop, RFC 5952): lower-case
 * hex without leading zeros, the longest run of two or more zero groups (the first one on a
 * tie) written '::', and the last 32 bits dotted for ::ffff:a.b.c.d and ::a.b.c.d.
 */
export function formatIpv6(groups: readonly number[]): string {
  if (groups.length !== 8) throw new RangeError('an IPv6 address has 8 groups');
  const hi = groups[6] ?? 0;
  const lo = groups[7] ?? 0;
  const dotted = `${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  if (groups.slice(0, 5).every((g) => g === 0) && groups[5] === 0xffff) return `::ffff:${dotted}`;
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number): string => groups.slice(from, to).map((g) => g.toString(16)).join(':');
  if (bestLen < 2) return hex(0, 8);
  if (bestStart === 0 && bestLen === 6) return `::${dotted}`;
  return `${hex(0, bestStart)}::${hex(bestStart + bestLen, 8)}`;
}
