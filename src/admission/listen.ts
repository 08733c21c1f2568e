import ipaddr from 'ipaddr.js';
import { InputError } from '../errors/index.js';

export interface ListenAddress {
  /** An IP literal (IPv6 without brackets) or a hostname. */
  host: string;
  /** 0 picks a free port (tests). */
  port: number;
}

export const DEFAULT_LISTEN = '127.0.0.1:9443';

// A hostname as resolvers accept it: labels of letters, digits and '-', dot-separated.
const HOSTNAME = /^(?=.{1,253}$)[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?(\.[a-zA-Z0-9]([-a-zA-Z0-9]{0,61}[a-zA-Z0-9])?)*$/;

/**
 * Parses `--listen`: `HOST:PORT`, `[IPV6]:PORT`. HOST is an IPv4/IPv6 literal or a hostname
 * (`0.0.0.0` or `[::]` for every interface, as inside a pod). Throws InputError.
 */
export function parseListenAddress(value: string): ListenAddress {
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(value) ?? /^([^:[\]]+):(\d{1,5})$/.exec(value);
  const problem = (reason: string): InputError => new InputError(`invalid value '${value}' for --listen: ${reason}`);
  if (m === null) throw problem('expected HOST:PORT or [IPv6]:PORT');
  const host = m[1] ?? '';
  const port = Number(m[2]);
  if (port > 65535) throw problem('port must be from 0 to 65535');
  const bracketed = value.startsWith('[');
  if (bracketed) {
    if (!ipaddr.IPv6.isValid(host) || host.includes('%')) throw problem('not an IPv6 address');
  } else if (!ipaddr.IPv4.isValidFourPartDecimal(host) && !(HOSTNAME.test(host) && !/^[\d.]+$/.test(host))) {
    throw problem('host must be an IPv4 address, a bracketed IPv6 address or a hostname');
  }
  return { host, port };
}

/** host:port as a URL authority (IPv6 in brackets). */
export function formatAuthority(a: ListenAddress): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`;
}
