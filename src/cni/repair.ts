/**
 * Race repair. A pod whose sandbox was set up while siding's plugin was not chained on its
 * node (the agent not yet started, or restarting) has no redirect: its siding-validation
 * container exits 126 and the pod never starts its app. Running the container again does not
 * help (the network is set up once per sandbox), so the agent deletes such a pod and its
 * controller creates a new one, which gets its redirect. `repairDecision` decides (pure);
 * `Repairer` acts once per pod, records an event on it and logs a line.
 *
 * Left alone, with an event: a pod no controller would recreate (deleting it would lose it),
 * and a pod whose redirect this agent programmed (its validation fails for another reason;
 * deleting it would only loop).
 */
import type { Logger } from '../logger.js';
import type { PodApi, PodView } from '../kube/pods.js';
import { STATUS_ANNOTATION } from '../inject/annotations.js';
import { VALIDATION_CONTAINER } from '../inject/status.js';
import { errorMessage } from '../errors/index.js';

/** siding init --run-validation's exit code when the redirect is missing. */
export const VALIDATION_EXIT_CODE = 126;
export const REPAIR_EVENT_REASON = 'SidingRedirectMissing';
export const AGENT_COMPONENT = 'siding-cni-agent';

export type RepairAction =
  | { readonly kind: 'none' }
  | { readonly kind: 'delete'; readonly message: string }
  | { readonly kind: 'report'; readonly message: string };

export interface RepairContext {
  readonly nodeName: string;
  /** Whether this agent programmed the redirect of the pod with this UID. */
  readonly programmed: (uid: string) => boolean;
}

function injectedForCni(pod: PodView): boolean {
  const status = pod.annotations[STATUS_ANNOTATION];
  if (status === undefined) return false;
  try {
    const v: unknown = JSON.parse(status);
    return typeof v === 'object' && v !== null && Object.hasOwn(v, 'cniRedirect');
  } catch {
    return false;
  }
}

export function repairDecision(pod: PodView, ctx: RepairContext): RepairAction {
  if (pod.nodeName !== ctx.nodeName || pod.deleting || !injectedForCni(pod)) return { kind: 'none' };
  const t = pod.initTerminations[VALIDATION_CONTAINER];
  if (t === undefined || t.exitCode !== VALIDATION_EXIT_CODE) return { kind: 'none' };
  if (ctx.programmed(pod.uid)) {
    return {
      kind: 'report',
      message: `${VALIDATION_CONTAINER} exited ${VALIDATION_EXIT_CODE} although siding's CNI agent programmed this pod's traffic redirect on node ${ctx.nodeName}; not deleting it (a new pod would fail the same way): read ${VALIDATION_CONTAINER}'s log`,
    };
  }
  if (pod.controller === undefined) {
    return {
      kind: 'report',
      message: `this pod started before siding's CNI agent was ready on node ${ctx.nodeName}, so it has no traffic redirect (${VALIDATION_CONTAINER} exited ${VALIDATION_EXIT_CODE}); no controller would recreate it, so siding leaves it: delete and create it again`,
    };
  }
  return {
    kind: 'delete',
    message: `siding deleted this pod: it started before siding's CNI agent was ready on node ${ctx.nodeName}, so it had no traffic redirect (${VALIDATION_CONTAINER} exited ${VALIDATION_EXIT_CODE}); its ${pod.controller.kind} ${pod.controller.name} creates a new one`,
  };
}

// Pods acted on are remembered by UID so each is handled once; a node runs at most a few
// hundred pods (kubelet's default maxPods is 110), so 4,096 entries never drop a live one.
const MAX_HANDLED = 4096;

export interface RepairerOptions {
  readonly api: Pick<PodApi, 'deletePod' | 'createPodEvent'>;
  readonly ctx: RepairContext;
  readonly log: Logger;
  /** Repair acts only while the agent is ready (its plugin chained): a new pod must get its redirect. */
  readonly active: () => boolean;
  readonly onAction?: (kind: 'delete' | 'report', ok: boolean) => void;
}

export class Repairer {
  private readonly handled = new Set<string>();

  constructor(private readonly opts: RepairerOptions) {}

  /** Looks at one pod; acts at most once per pod. */
  consider(pod: PodView): void {
    if (!this.opts.active() || this.handled.has(pod.uid)) return;
    const action = repairDecision(pod, this.opts.ctx);
    if (action.kind === 'none') return;
    if (this.handled.size >= MAX_HANDLED) this.handled.clear();
    this.handled.add(pod.uid);
    void this.act(pod, action);
  }

  private async act(pod: PodView, action: Exclude<RepairAction, { kind: 'none' }>): Promise<void> {
    const fields = { namespace: pod.namespace, pod: pod.name, uid: pod.uid, action: action.kind };
    try {
      if (action.kind === 'delete') await this.opts.api.deletePod(pod.namespace, pod.name, pod.uid);
      this.opts.log.warn({ ...fields, message: action.message }, action.kind === 'delete' ? 'repair: deleted a pod without its traffic redirect' : 'repair: a pod has no traffic redirect');
      this.opts.onAction?.(action.kind, true);
    } catch (e) {
      // Try again on the pod's next change (or the next re-list).
      this.handled.delete(pod.uid);
      this.opts.log.error({ ...fields, err: errorMessage(e) }, 'repair failed');
      this.opts.onAction?.(action.kind, false);
      return;
    }
    try {
      await this.opts.api.createPodEvent(pod, { reason: REPAIR_EVENT_REASON, message: action.message, type: 'Warning' }, AGENT_COMPONENT, this.opts.ctx.nodeName);
    } catch (e) {
      this.opts.log.warn({ ...fields, err: errorMessage(e) }, 'repair: could not record the event');
    }
  }
}
