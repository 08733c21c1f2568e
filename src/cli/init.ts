import { existsSync } from 'node:fs';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { addInitOptions } from '../redirect/argv.js';
import { parseInitFlags } from '../redirect/flags.js';
import type { RawInitFlags } from '../redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../redirect/host.js';
import { runInit } from '../redirect/init.js';
import type { InitDeps } from '../redirect/init.js';
import { createLogger } from '../redirect/log.js';
import { SpawnRunner } from '../redirect/runner.js';

/** What the init command needs from the outside world; tests replace parts of it. */
export interface InitCliDeps extends Omit<InitDeps, 'log'> {
  /** Standard error, for the log. */
  readonly err: (text: string) => void;
  readonly exists: (path: string) => boolean;
}

export function defaultInitCliDeps(): InitCliDeps {
  return {
    runner: new SpawnRunner(),
    lookPath: (name) => lookPath(name),
    readFile: readFileOrUndefined,
    sleep: (ms) => delay(ms),
    out: (t) => void process.stdout.write(t),
    err: (t) => void process.stderr.write(t),
    exists: existsSync,
  };
}

const HELP_AFTER = `
Every value is checked before iptables is touched; a bad value exits 2 naming the flag.
Exit codes: 0 done, 1 iptables failed, 2 bad flags, 126 --run-validation found no redirect.
The seed's command works unchanged:
  siding init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020
See docs/init.md for the rules each flag produces.`;

/** `siding init`: parse flags into InitOptions (exit 2 on a bad value), then runInit. */
export function registerInit(program: Command, overrides: Partial<InitCliDeps> = {}): void {
  addInitOptions(
    program.command('init').description('Program a pod network namespace so its TCP traffic goes through the proxy (istio-iptables compatible)'),
  )
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawInitFlags) => {
      const deps = { ...defaultInitCliDeps(), ...overrides };
      const opts = parseInitFlags(raw, { exists: deps.exists });
      const log = createLogger(opts.logFormat, deps.err);
      await runInit(opts, { ...deps, log });
    });
}
