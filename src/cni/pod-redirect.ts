/**
 * What the agent does for one pod, decided from its annotations alone (pure): nothing (siding
 * did not inject it, or injected it with siding-init), program these `siding init` options,
 * or refuse with a reason (an injected pod whose record siding cannot use).
 *
 * The flags come from the `cniRedirect` list of the pod's `siding.io/status` record, which
 * the webhook computed from the config and the pod's annotations exactly as it computes
 * siding-init's arguments, and they are parsed by `siding init`'s own table and parser. Only
 * the flags that shape the rules are accepted: where and how to program them (namespace,
 * backend, lock, validation) is the agent's business, never a pod's.
 */
import type { InitOptions } from '../redirect/config.js';
import { readInitArgv } from '../redirect/argv.js';
import type { RawInitFlags } from '../redirect/flags.js';
import { parseInitFlags } from '../redirect/options.js';
import { parseRecord } from '../inject/status.js';
import { STATUS_ANNOTATION } from '../inject/annotations.js';
import { errorMessage } from '../errors/index.js';

export type PodRedirect =
  | { readonly kind: 'none'; readonly reason: string }
  | { readonly kind: 'program'; readonly options: InitOptions; readonly args: readonly string[] }
  | { readonly kind: 'invalid'; readonly reason: string };

/** The flags (commander's names) a pod's record may set. */
const RULE_FLAGS: ReadonlySet<keyof RawInitFlags> = new Set<keyof RawInitFlags>([
  'envoyPort',
  'inboundCapturePort',
  'inboundTunnelPort',
  'proxyUid',
  'proxyGid',
  'istioInboundInterceptionMode',
  'istioServiceCidr',
  'istioServiceExcludeCidr',
  'istioInboundPorts',
  'istioLocalExcludePorts',
  'istioLocalOutboundPortsExclude',
  'istioOutboundPorts',
  'istioExcludeInterfaces',
  'kubeVirtInterfaces',
  'redirectDns',
  'captureAllDns',
  'dnsPort',
  'dualStack',
  'dropInvalid',
]);

/** Decides from a pod's annotations what to program. */
export function podRedirect(annotations: Readonly<Record<string, string>>): PodRedirect {
  const status = annotations[STATUS_ANNOTATION];
  if (status === undefined) return { kind: 'none', reason: 'siding did not inject the pod' };
  let raw: unknown;
  try {
    raw = JSON.parse(status);
  } catch {
    return { kind: 'none', reason: `its ${STATUS_ANNOTATION} annotation is not a record siding wrote` };
  }
  if (typeof raw !== 'object' || raw === null || !Object.hasOwn(raw, 'cniRedirect')) {
    return { kind: 'none', reason: 'siding-init programs its redirect (injected without CNI mode)' };
  }
  const record = parseRecord(status);
  if (!record.ok) return { kind: 'invalid', reason: `its ${STATUS_ANNOTATION} annotation: ${record.reason}` };
  const args = record.value.cniRedirect ?? [];
  try {
    const flags = readInitArgv(args);
    const foreign = Object.keys(flags).filter((k) => !RULE_FLAGS.has(k as keyof RawInitFlags));
    if (foreign.length > 0) return { kind: 'invalid', reason: `its redirect flags set ${foreign.join(', ')}, which only the node decides` };
    // Nothing of the agent's own leaks in: no environment variables, no files (the pod's
    // resolv.conf is not readable from the node; CNI mode captures all DNS, see engine.ts).
    const options = parseInitFlags(flags, { exists: () => false, readFile: () => undefined, environment: {} });
    return { kind: 'program', options, args };
  } catch (e) {
    return { kind: 'invalid', reason: `its redirect flags are invalid: ${errorMessage(e)}` };
  }
}
