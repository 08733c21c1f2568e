/**
 * The loop guard: a connection whose original destination is one of the proxy's own
 * listeners would be connected to the proxy itself, again and again. Pure; the caller
 * supplies the host's addresses.
 */
import type { Endpoint } from './origdst.js';
import { unmapped } from './origdst.js';

export interface GuardInput {
  /** What SO_ORIGINAL_DST said. */
  readonly original: Endpoint;
  /** The accepted socket's own address and port (where the connection really landed). */
  readonly localAddress: string;
  readonly localPort: number;
  /** Ports the proxy's traffic listeners use (outbound and inbound capture). */
  readonly ownPorts: ReadonlySet<number>;
  /** Whether an address is this host's (loopback, or on one of its interfaces). */
  readonly isLocal: (address: string) => boolean;
}

export type GuardVerdict = { readonly loop: false } | { readonly loop: true; readonly reason: string };

/**
 * A loop when nothing redirected the connection (the original destination is where it
 * landed: someone dialled the listener directly), or when the original destination is one
 * of the capture ports on this host (a redirected connection to 15001 or 15006 of the pod,
 * which the proxy would otherwise dial and capture again).
 */
export function loopVerdict(g: GuardInput): GuardVerdict {
  const address = unmapped(g.original.address);
  if (address === unmapped(g.localAddress) && g.original.port === g.localPort) {
    return { loop: true, reason: 'not redirected: the original destination is the listener itself' };
  }
  if (g.ownPorts.has(g.original.port) && g.isLocal(address)) {
    return { loop: true, reason: `the original destination is the proxy's own port ${g.original.port}` };
  }
  return { loop: false };
}

/** Loopback, in either family (all of 127.0.0.0/8 is on lo). */
export function isLoopback(address: string): boolean {
  const a = unmapped(address);
  return a === '::1' || a.startsWith('127.');
}
