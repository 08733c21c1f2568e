/**
 * One CNI call, as the agent answers it: find the pod's annotations (from the request, or
 * from the API server when the runtime did not pass them), decide with `podRedirect`, then
 * program the redirect (ADD) or check it is in place (CHECK) in the pod's namespace. Every
 * outcome is a verdict; nothing here throws for anything about the pod.
 */
import type { InitOptions } from '../redirect/config.js';
import { errorMessage } from '../errors/index.js';
import { CNI_CODES, type CniRequest, type CniVerdict } from './protocol.js';
import { podRedirect } from './pod-redirect.js';

export interface HandlerDeps {
  /**
   * The pod's annotations from the API server: undefined when the pod does not exist (or
   * has another UID than `uid`). Throws when the API server cannot be asked.
   */
  lookupAnnotations(namespace: string, name: string, uid: string | undefined): Promise<Readonly<Record<string, string>> | undefined>;
  /**
   * Programs the redirect in the namespace at `netns`; throws (ApplyError) when it cannot.
   * `ipv6`: whether the pod has a global IPv6 address, when the plugin could tell.
   */
  program(options: InitOptions, netns: string, ipv6: boolean | undefined): Promise<{ rules: number; backend: string; families: readonly string[] }>;
  /** What is missing of the redirect in the namespace at `netns` (empty: all there). */
  verify(options: InitOptions, netns: string): Promise<readonly string[]>;
  exists(path: string): boolean;
  /** Called after a pod's redirect was programmed (repair leaves such pods alone). */
  programmed(uid: string | undefined): void;
}

const fail = (code: number, message: string, details?: string): CniVerdict =>
  details === undefined ? { ok: false, code, message } : { ok: false, code, message, details };

export async function handleCni(req: CniRequest, deps: HandlerDeps): Promise<CniVerdict> {
  const who = `pod ${req.pod.namespace}/${req.pod.name}`;
  let annotations = req.annotations;
  if (annotations === undefined) {
    try {
      annotations = await deps.lookupAnnotations(req.pod.namespace, req.pod.name, req.pod.uid);
    } catch (e) {
      return fail(CNI_CODES.tryAgainLater, `${who}: the runtime passed no annotations and the API server could not be asked whether siding injected the pod: ${errorMessage(e)}`);
    }
    if (annotations === undefined) {
      return fail(CNI_CODES.tryAgainLater, `${who}: the runtime passed no annotations and the API server does not know the pod (yet)`);
    }
  }
  const decision = podRedirect(annotations);
  if (decision.kind === 'none') return { ok: true, action: 'passthrough', message: `${who}: nothing to do: ${decision.reason}` };
  if (decision.kind === 'invalid') return fail(CNI_CODES.record, `${who} is injected for CNI mode but ${decision.reason}`);
  if (!req.netns.startsWith('/') || req.netns.includes('\0') || !deps.exists(req.netns)) {
    return fail(CNI_CODES.redirect, `${who}: the network namespace ${req.netns} (${req.runtimeNetns}) cannot be opened by the agent`);
  }
  if (req.command === 'CHECK') {
    let missing: readonly string[];
    try {
      missing = await deps.verify(decision.options, req.netns);
    } catch (e) {
      return fail(CNI_CODES.redirect, `${who}: could not read the traffic redirect: ${errorMessage(e)}`);
    }
    if (missing.length > 0) return fail(CNI_CODES.redirect, `${who}: the traffic redirect is not in place: ${missing.join('; ')}`);
    return { ok: true, action: 'checked', message: `${who}: the traffic redirect is in place` };
  }
  try {
    const done = await deps.program(decision.options, req.netns, req.ipv6);
    deps.programmed(req.pod.uid);
    return { ok: true, action: 'programmed', message: `${who}: programmed ${done.rules} rules (${done.families.join(', ')}, iptables-${done.backend})` };
  } catch (e) {
    return fail(CNI_CODES.redirect, `${who}: the traffic redirect could not be programmed, so the pod cannot start (the runtime retries): ${errorMessage(e)}`);
  }
}
