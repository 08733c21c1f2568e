/**
 * Time as a dependency. Certificate rotation decides from "now" and re-checks on a
 * timer; watches back off before reconnecting. Tests pass a fake clock and advance it
 * by hand instead of sleeping: clocks are passed in, never patched.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`; returns a function that cancels it. */
  setTimer(fn: () => void, ms: number): () => void;
}

/** Node's clock. Timers are unref'd: a pending re-check never keeps a process alive on its own. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return () => clearTimeout(t);
  },
};
