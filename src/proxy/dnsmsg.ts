/**
 * The little of DNS the forwarder needs, pure: the nameservers of a resolv.conf, a query's
 * ID, and a SERVFAIL answer for a query no nameserver answered. Queries are otherwise
 * forwarded byte for byte.
 */
import net from 'node:net';

/** glibc reads at most three nameserver lines (MAXNS); later ones are ignored, as there. */
export const MAX_NAMESERVERS = 3;
/** A resolv.conf is a few hundred bytes; one over 64 KiB is not one. */
export const MAX_RESOLV_CONF_BYTES = 65536;
/** A DNS message header is 12 bytes. */
export const HEADER_BYTES = 12;

export interface Nameserver {
  readonly family: 4 | 6;
  readonly address: string;
}

export interface ResolvConf {
  readonly nameservers: readonly Nameserver[];
  /** Lines that were not understood or were ignored, with why (for the log). */
  readonly ignored: readonly string[];
}

/**
 * The `nameserver` lines of a resolv.conf, in order, at most MAX_NAMESERVERS. Comments (# or
 * ;) and other keywords are skipped; an address that is not an IP (or carries a zone, which
 * a pod's resolver never has) is reported in `ignored`.
 */
export function parseResolvConf(text: string): ResolvConf {
  const nameservers: Nameserver[] = [];
  const ignored: string[] = [];
  for (const raw of text.slice(0, MAX_RESOLV_CONF_BYTES).split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const [keyword, value, ...rest] = line.split(/[ \t]+/);
    if (keyword !== 'nameserver') continue;
    if (value === undefined || (rest.length > 0 && !rest[0]?.startsWith('#'))) {
      ignored.push(`${line.slice(0, 80)}: expected one address`);
      continue;
    }
    const family = net.isIP(value);
    if (family === 0) {
      ignored.push(`${line.slice(0, 80)}: not an IP address`);
      continue;
    }
    if (nameservers.length >= MAX_NAMESERVERS) {
      ignored.push(`${line.slice(0, 80)}: more than ${MAX_NAMESERVERS} nameservers`);
      continue;
    }
    nameservers.push({ family: family === 4 ? 4 : 6, address: value });
  }
  return { nameservers, ignored };
}

/** The ID of a DNS message, or undefined when it is shorter than a header. */
export function messageId(msg: Uint8Array): number | undefined {
  if (msg.length < HEADER_BYTES) return undefined;
  return ((msg[0] ?? 0) << 8) | (msg[1] ?? 0);
}

/** Whether a message is a query (QR bit clear) with at least a header. */
export function isQuery(msg: Uint8Array): boolean {
  return msg.length >= HEADER_BYTES && ((msg[2] ?? 0) & 0x80) === 0;
}

// A name is at most 255 bytes on the wire (RFC 1035 2.3.4); each label at most 63.
const MAX_NAME_BYTES = 255;

/** Where the question section's first entry ends (name, type, class), or undefined when malformed. */
function questionEnd(msg: Uint8Array): number | undefined {
  let i = HEADER_BYTES;
  for (;;) {
    const len = msg[i];
    if (len === undefined) return undefined;
    if (len === 0) {
      i += 1;
      break;
    }
    // A query's name is never compressed; anything but a plain label is malformed here.
    if (len > 63) return undefined;
    i += 1 + len;
    if (i - HEADER_BYTES > MAX_NAME_BYTES) return undefined;
  }
  return i + 4 <= msg.length ? i + 4 : undefined;
}

/**
 * SERVFAIL for a query: its header with QR and RA set, RCODE 2, and its first question
 * (resolvers match an answer to their question), no records. undefined for a message that is
 * not a query with exactly one well-formed question.
 */
export function servfail(query: Uint8Array): Uint8Array | undefined {
  if (!isQuery(query)) return undefined;
  const qdcount = ((query[4] ?? 0) << 8) | (query[5] ?? 0);
  if (qdcount !== 1) return undefined;
  const end = questionEnd(query);
  if (end === undefined) return undefined;
  const out = Uint8Array.from(query.subarray(0, end));
  // Flags: QR=1, opcode and RD kept, AA=0, TC=0; RA=1, Z=0, RCODE=2.
  out[2] = 0x80 | ((query[2] ?? 0) & 0x79);
  out[3] = 0x80 | 0x02;
  out[6] = 0;
  out[7] = 0;
  out[8] = 0;
  out[9] = 0;
  out[10] = 0;
  out[11] = 0;
  return out;
}
