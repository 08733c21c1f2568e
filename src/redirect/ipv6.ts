/**
 * IPv6: whether to program it, and the inbound passthrough address ::6 on lo.
 *
 * With `--ipv6 auto`, the decision is istio-iptables': from the addresses of the namespace's
 * interfaces (loopback and link-local ones do not count), IPv6 is programmed when the pod has
 * an IPv6 address and no IPv4 one, or, with --dual-stack, whenever it has an IPv6 address. A
 * namespace with neither is an error, as it is for istio-iptables. `--ipv6 on|off` overrides.
 *
 * When IPv6 is programmed, ::6/128 is added to lo (the proxy binds it to hand inbound
 * connections to the app, and the passthrough rule exempts that source). siding records that
 * it added the address with an empty marker chain in the IPv6 nat table, so `--cleanup`
 * removes the address only when siding added it.
 */
import ipaddr from 'ipaddr.js';
import type { Ipv6Mode } from './config.js';
import type { InterfaceAddress, NamespaceHost } from './host.js';
import type { Logger } from '../logger.js';
import { firstLine } from './backend.js';
import { ApplyError } from '../errors/index.js';

export type Ipv6Decision = { readonly program: boolean; readonly reason: string } | { readonly error: string };

/** Whether an address identifies the pod: not loopback, not link-local. */
export function usableAddress(a: InterfaceAddress): boolean {
  if (!ipaddr.isValid(a.address)) return false;
  const range = ipaddr.parse(a.address).range();
  return range !== 'loopback' && range !== 'linkLocal' && range !== 'unspecified' && range !== 'multicast';
}

/** Pure: the IPv6 decision from the flags and the namespace's addresses. */
export function decideIpv6(mode: Ipv6Mode, dualStack: boolean, addresses: readonly InterfaceAddress[] | undefined): Ipv6Decision {
  if (mode === 'off') return { program: false, reason: '--ipv6 off' };
  if (mode === 'on') return { program: true, reason: '--ipv6 on' };
  if (addresses === undefined) return { error: "the namespace's addresses could not be read to decide whether to program IPv6; pass --ipv6 on or off" };
  const usable = addresses.filter(usableAddress);
  const v4 = usable.some((a) => a.family === 'ipv4');
  const v6 = usable.some((a) => a.family === 'ipv6');
  if (!v4 && !v6) return { error: 'no IPv4 or IPv6 address that is not loopback or link-local in the namespace (is this a pod network namespace?)' };
  if (dualStack) return v6 ? { program: true, reason: '--dual-stack and an IPv6 address' } : { program: false, reason: '--dual-stack but no IPv6 address' };
  if (v4) return { program: false, reason: 'the namespace has an IPv4 address (IPv6 is programmed for IPv6-only pods, or with --dual-stack)' };
  return { program: true, reason: 'the namespace has only IPv6 addresses' };
}

const ADDRESS = '::6/128';

function ipProgram(host: NamespaceHost): string {
  const ip = host.lookPath('ip');
  if (ip === undefined) throw new ApplyError(`IPv6 needs the ip program (iproute2) to add ${ADDRESS} to lo; it is not on PATH`, { command: ['ip'] });
  return ip;
}

/**
 * Adds ::6/128 to lo. Returns whether this call added it (false: it was there already).
 * Throws ApplyError when it can be neither added nor found.
 */
export async function addPassthroughAddress(host: NamespaceHost): Promise<boolean> {
  const ip = ipProgram(host);
  const args = ['-6', 'addr', 'add', ADDRESS, 'dev', 'lo'];
  const r = await host.run(ip, args);
  if (r.exitCode === 0) return true;
  // iproute2 says "File exists", or with extended acks "address already assigned".
  if (/File exists|already assigned/i.test(r.stderr)) return false;
  throw new ApplyError(`could not add ${ADDRESS} to lo (exit ${r.exitCode}): ${firstLine(r.stderr)}`, { command: [ip, ...args], exitCode: r.exitCode, stderr: r.stderr });
}

/** Removes ::6/128 from lo; an address already gone is not an error. */
export async function removePassthroughAddress(host: NamespaceHost, log: Logger): Promise<void> {
  const ip = ipProgram(host);
  const args = ['-6', 'addr', 'del', ADDRESS, 'dev', 'lo'];
  const r = await host.run(ip, args);
  if (r.exitCode === 0) {
    log.info({}, `removed ${ADDRESS} from lo (siding had added it)`);
  } else if (!/Cannot assign requested address|not found/i.test(r.stderr)) {
    throw new ApplyError(`could not remove ${ADDRESS} from lo (exit ${r.exitCode}): ${firstLine(r.stderr)}`, { command: [ip, ...args], exitCode: r.exitCode, stderr: r.stderr });
  }
}
