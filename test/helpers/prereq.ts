/**
 * Suites that need root, iptables or Kubernetes binaries call `prerequisite()` once.
 * On a laptop a missing prerequisite skips the suite with a loud reason; under CI=true
 * it is a failure, because CI must run everything.
 */
export interface Prerequisite {
  /** undefined when the suite can run; otherwise why it cannot. */
  missing: string | undefined;
}

export function prerequisite(check: () => string | undefined): Prerequisite {
  let missing: string | undefined;
  try {
    missing = check();
  } catch (e) {
    missing = e instanceof Error ? e.message : String(e);
  }
  if (missing !== undefined) {
    if (process.env.CI === 'true') {
      throw new Error(`CI=true and a prerequisite is missing: ${missing}`);
    }
    process.stderr.write(`\n!!! SKIPPING SUITE: ${missing}\n!!! (under CI=true this is a failure)\n\n`);
  }
  return { missing };
}

/** Options for node:test's describe/it that skip with the reason when the prerequisite is missing. */
export function skipUnless(p: Prerequisite): { skip: string | false } {
  return { skip: p.missing ?? false };
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
