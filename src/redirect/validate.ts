/**
 * `--run-validation`: proves that outbound TCP really is redirected, by making a connection
 * that the rules must capture and checking that it lands on a listener siding opened on the
 * proxy port. No proxy needs to run: the listener answers with a random token, so an answer
 * can only come from it.
 *
 * The destination is an address the rules capture: 192.0.2.1 (TEST-NET-1, RFC 5737, never
 * routed) or 2001:db8::1 (RFC 3849) when `-i` captures them, else the first address of an
 * included CIDR. When the rules are missing, the connection goes nowhere useful and times
 * out (or fails at once without a route); either way siding reports what did not happen.
 */
import ipaddr from 'ipaddr.js';
import type { Cidr, Family, PortRange, ProbeTarget, RedirectConfig } from './config.js';
import type { NamespaceHost } from './host.js';
import type { Logger } from '../logger.js';
import { ValidationError } from '../errors/index.js';

export type ProbeOutcome =
  | { readonly ok: true }
  | { readonly ok: false; readonly what: 'listen' | 'timeout' | 'refused' | 'unreachable' | 'wrong-answer' | 'error'; readonly detail: string };

function inRanges(port: number, ranges: readonly PortRange[]): boolean {
  return ranges.some((r) => port >= r.from && port <= r.to);
}

function inCidrs(family: Family, address: string, cidrs: readonly Cidr[]): boolean {
  const addr = ipaddr.parse(address);
  return cidrs.some((c) => c.family === family && addr.match(ipaddr.parse(c.address), c.prefix));
}

/**
 * Whether the outbound rules redirect a TCP connection to address:port, made by root (UID
 * and GID 0, as siding init runs) over a normal (not lo, not excluded) interface, to the
 * proxy port. Mirrors the order of SIDING_OUTPUT in rules.ts.
 */
export function capturesOutbound(cfg: RedirectConfig, family: Family, address: string, port: number): boolean {
  if (inRanges(port, cfg.outboundExcludePorts)) return false;
  const groups = cfg.ownerGroups;
  if (groups.kind === 'all-except' ? groups.groups.includes('0') : !groups.groups.includes('0')) return false;
  if (cfg.dns.kind !== 'off' && port === 53) return false;
  if (family === 'ipv4' ? inCidrs(family, address, [cfg.ipv4Loopback]) : address === '::1') return false;
  if (inCidrs(family, address, cfg.outboundExclude)) return false;
  if (inRanges(port, cfg.outboundIncludePorts)) return true;
  if (cfg.outboundInclude.kind === 'all') return true;
  return inCidrs(family, address, cfg.outboundInclude.cidrs);
}

/** The first address of a CIDR that is not its network address (for a /32 or /128, itself). */
function firstHost(c: Cidr): string {
  const bytes = ipaddr.parse(c.address).toByteArray();
  const max = c.family === 'ipv4' ? 32 : 128;
  if (c.prefix < max) {
    for (let i = bytes.length - 1; i >= 0; i--) {
      const b = bytes[i] ?? 0;
      if (b < 255) {
        bytes[i] = b + 1;
        break;
      }
      bytes[i] = 0;
    }
  }
  const a = ipaddr.fromByteArray(bytes);
  return a.kind() === 'ipv6' ? (a as ipaddr.IPv6).toRFC5952String() : a.toString();
}

/**
 * Picks the test connection's destination, or explains why none exists (nothing is
 * captured outbound, or the probe port is excluded).
 */
export function chooseProbeTarget(cfg: RedirectConfig, probePort: number, families: readonly Family[]): ProbeTarget | string {
  const candidates: { family: Family; address: string }[] = [];
  for (const family of families) {
    candidates.push({ family, address: family === 'ipv4' ? '192.0.2.1' : '2001:db8::1' });
    if (cfg.outboundInclude.kind === 'list') {
      for (const c of cfg.outboundInclude.cidrs) if (c.family === family) candidates.push({ family, address: firstHost(c) });
    }
  }
  const found = candidates.find((c) => capturesOutbound(cfg, c.family, c.address, probePort));
  if (found !== undefined) return { ...found, port: probePort };
  return `no destination on port ${probePort} would be captured outbound by these flags (-i, -x, -o, -q), so there is nothing to validate`;
}

/** Checks a probe outcome object that came back from another process. */
export function isProbeOutcome(v: unknown): v is ProbeOutcome {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return o.ok === true || (o.ok === false && typeof o.what === 'string' && typeof o.detail === 'string');
}

export type Prober = (target: ProbeTarget, listenPort: number, timeoutMs: number) => Promise<ProbeOutcome>;

/**
 * A prober for another namespace: runs probe.js there (`nsenter --net=...`) with the same
 * Node.js and loader flags as this process.
 */
export function remoteProber(host: NamespaceHost, probeScript: string): Prober {
  return async (target, listenPort, timeoutMs) => {
    const arg = JSON.stringify({ ...target, listenPort, timeoutMs });
    const r = await host.run(process.execPath, [...process.execArgv, probeScript, arg]);
    try {
      const parsed: unknown = JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
      if (isProbeOutcome(parsed)) return parsed;
    } catch {
      // fall through
    }
    return { ok: false, what: 'error', detail: `the probe in the target namespace failed (exit ${r.exitCode}): ${r.stderr.trim().slice(0, 200)}` };
  };
}

const EXPLAIN: Record<Exclude<ProbeOutcome, { ok: true }>['what'], string> = {
  listen: 'the validation listener could not start',
  timeout: 'the connection was not redirected (it timed out)',
  refused: 'the connection was not redirected (the destination refused it)',
  unreachable: 'the connection was not redirected (no route to the destination)',
  'wrong-answer': 'the connection was not redirected to siding (another listener answered)',
  error: 'the connection failed',
};

/** Runs the check; throws ValidationError (exit 126) saying what did not happen. */
export async function validateRedirect(
  cfg: RedirectConfig,
  target: ProbeTarget,
  timeoutMs: number,
  prober: Prober,
  log: Logger,
): Promise<void> {
  const dest = target.family === 'ipv6' ? `[${target.address}]:${target.port}` : `${target.address}:${target.port}`;
  const outcome = await prober(target, cfg.proxyPort, timeoutMs);
  if (outcome.ok) {
    log.info({ destination: dest, port: cfg.proxyPort }, 'validation passed: outbound TCP is redirected to the proxy port');
    return;
  }
  throw new ValidationError(
    `validation failed: a TCP connection to ${dest} should have been redirected to port ${cfg.proxyPort}, but ${EXPLAIN[outcome.what]}: ${outcome.detail}. ` +
      'The traffic redirect is not in effect in this network namespace (did siding init or the siding CNI plugin run for this pod?)',
  );
}
