/**
 * Time as a dependency. Certificate rotation decides from "now" and re-checks on a
 * timer; watches back off before reconnecting. Tests pass a fake clock and advance it
 * by hand instead of sleeping (STYLE.md: clocks are passed in, never patched).
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

/** Structured logger; pino's (and so fastify's) signature, so `app.log` fits as is. */
export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** A logger that drops everything (tests that do not look at logs, `siding check`). */
export const silentLogger: Logger = {
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};
