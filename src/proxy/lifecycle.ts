/**
 * The proxy's lifecycle as a pure state machine: starting → ready → draining → stopped.
 * run.ts feeds it events and carries out the actions it returns; readiness is `ready` only.
 *
 * SIGTERM (or SIGINT) starts the drain: readiness turns 503, the inbound listener stops
 * accepting, and open connections may go on for the drain time. Outbound keeps accepting,
 * so an app that is itself still shutting down (classic layout: every container gets SIGTERM
 * at once) can make its last calls. When the time is up the rest are closed and the proxy
 * stops. With exitWhenIdle (a native sidecar, stopped only after the app has exited) it stops
 * as soon as nothing is open. A second signal stops it at once.
 */

export type Phase = 'starting' | 'ready' | 'draining' | 'stopped';

export type LifeEvent =
  /** Every listener is bound. */
  | { readonly kind: 'listening' }
  /** SIGTERM or SIGINT. */
  | { readonly kind: 'terminate' }
  /** The last open connection ended. */
  | { readonly kind: 'idle' }
  /** The drain time is over. */
  | { readonly kind: 'deadline' };

export type LifeAction =
  /** Readiness answers 503 from now on. */
  | { readonly kind: 'not-ready' }
  /** Close the inbound listener (new inbound connections are refused by the kernel). */
  | { readonly kind: 'stop-inbound' }
  /** Deliver a `deadline` event after this long. */
  | { readonly kind: 'start-timer'; readonly ms: number }
  /** Reset every connection still open. */
  | { readonly kind: 'close-connections' }
  /** Close every listener and server; the process then exits 0. */
  | { readonly kind: 'stop' };

export interface LifeSettings {
  readonly drainMs: number;
  readonly exitWhenIdle: boolean;
}

export interface Step {
  readonly phase: Phase;
  readonly actions: readonly LifeAction[];
}

/** The next phase and what to do, given the current phase, an event and how many connections are open. */
export function step(phase: Phase, event: LifeEvent, open: number, s: LifeSettings): Step {
  const stay: Step = { phase, actions: [] };
  const stop = (closeFirst: boolean): Step => ({
    phase: 'stopped',
    actions: closeFirst && open > 0 ? [{ kind: 'close-connections' }, { kind: 'stop' }] : [{ kind: 'stop' }],
  });
  switch (phase) {
    case 'starting':
    case 'ready':
      if (event.kind === 'listening') return phase === 'starting' ? { phase: 'ready', actions: [] } : stay;
      if (event.kind !== 'terminate') return stay;
      if (s.drainMs === 0 || (s.exitWhenIdle && open === 0)) {
        const done = stop(true);
        return { phase: done.phase, actions: [{ kind: 'not-ready' }, { kind: 'stop-inbound' }, ...done.actions] };
      }
      return { phase: 'draining', actions: [{ kind: 'not-ready' }, { kind: 'stop-inbound' }, { kind: 'start-timer', ms: s.drainMs }] };
    case 'draining':
      if (event.kind === 'deadline' || event.kind === 'terminate') return stop(true);
      if (event.kind === 'idle' && s.exitWhenIdle) return stop(false);
      return stay;
    case 'stopped':
      return stay;
  }
}
