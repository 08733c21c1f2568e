/**
 * The two system files `siding init` reads, parsed as istio-iptables reads them: the
 * nameservers of /etc/resolv.conf (DNS capture is limited to them) and a user's UID from
 * /etc/passwd (ENVOY_USER, the default -u). Pure: text in, values out.
 */
import { ISTIO_IPTABLES, parseCidr } from '../grammar/index.js';
import type { DnsServer } from './config.js';

// resolv.conf is a few lines; a hostile or corrupt one is cut here so it cannot cost much.
const MAX_FILE_CHARS = 1 << 20;
// More nameservers than any resolver uses; bounds the rules they become.
const MAX_NAMESERVERS = 64;

/**
 * The `nameserver` addresses of a resolv.conf, in order, without duplicates. Entries that are
 * not plain IPv4 or IPv6 addresses (host names, zone-scoped link-local addresses, IPv4-mapped
 * IPv6 addresses, whose traffic is IPv4) are skipped.
 */
export function nameservers(conf: string): DnsServer[] {
  const out: DnsServer[] = [];
  const seen = new Set<string>();
  for (const line of conf.slice(0, MAX_FILE_CHARS).split('\n')) {
    const fields = line.trim().split(/[ \t]+/);
    if (fields[0] !== 'nameserver' || fields[1] === undefined) continue;
    // An address as Go's netip reads it (::a.b.c.d included); a CIDR, a zone or a name is skipped.
    const parsed = fields[1].includes('/') ? undefined : parseCidr(fields[1], ISTIO_IPTABLES);
    const server: DnsServer | undefined = parsed?.ok === true ? { family: parsed.value.family, address: parsed.value.address } : undefined;
    if (server === undefined || seen.has(server.address)) continue;
    seen.add(server.address);
    out.push(server);
    if (out.length === MAX_NAMESERVERS) break;
  }
  return out;
}

/** The UID of a user named in /etc/passwd (`name:password:uid:...`), or undefined. */
export function uidOfUser(passwd: string | undefined, name: string): string | undefined {
  if (passwd === undefined || name === '') return undefined;
  for (const line of passwd.slice(0, MAX_FILE_CHARS).split('\n')) {
    const cols = line.split(':');
    if (cols[0] === name && cols[2] !== undefined && /^[0-9]{1,10}$/.test(cols[2])) return String(Number(cols[2]));
  }
  return undefined;
}
