import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { Command } from 'commander';
import { ApplyError, describeError, errorMessage, SidingError } from '../errors/index.js';
import { addInitOptions } from '../redirect/argv.js';
import type { RawInitFlags } from '../redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../redirect/host.js';
import { runInit } from '../redirect/init.js';
import type { InitDeps } from '../redirect/init.js';
import { createLogger } from '../redirect/log.js';
import { parseInitFlags } from '../redirect/options.js';
import { SpawnRunner } from '../redirect/runner.js';
import { exitCodeFor } from './exit.js';

/** What the init command needs from the outside world; tests replace parts of it. */
export interface InitCliDeps extends Omit<InitDeps, 'log'> {
  /** Standard error and standard output, for the log (--log_target). */
  readonly err: (text: string) => void;
  readonly exists: (path: string) => boolean;
  /** The environment istio-iptables' variables are read from. */
  readonly environment: Readonly<Record<string, string | undefined>>;
  /** Who this process is, for --run-validation (default: its UID and GID). */
  readonly identity?: { uid: number; gid: number };
}

/** A directory of this run's own holding the xtables lock file (--cni-mode). */
function privateLockFile(): { path: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'siding-xtables-'));
  return { path: join(dir, 'xtables.lock'), remove: () => rmSync(dir, { recursive: true, force: true }) };
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
    environment: process.env,
    privateLockFile,
  };
}

const HELP_AFTER = `
Every value is checked before iptables is touched; a bad value exits 2 naming the flag.
Exit codes: 0 done, 1 iptables failed, 2 bad flags, 126 --run-validation found no redirect.
Flags not given are read from istio-iptables' environment variables, named in brackets.
Boolean flags also take a value: --redirect-dns=false.
istio-iptables command lines work unchanged, e.g. the one Istio's injector writes:
  siding init -p 15001 -z 15006 -u 1337 -m REDIRECT -i '*' -x "" -b '*' -d 15090,15021,15020
See docs/init.md for the rules each flag produces and every difference from istio-iptables.`;


/** `siding init`: parse flags into InitOptions (exit 2 on a bad value), then runInit. */
export function registerInit(program: Command, overrides: Partial<InitCliDeps> = {}): void {
  addInitOptions(
    program.command('init').description('Program a pod network namespace so its traffic goes through the proxy (a drop-in for istio-iptables)'),
  )
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawInitFlags) => {
      const deps = { ...defaultInitCliDeps(), ...overrides };
      const opts = parseInitFlags(raw, {
        exists: deps.exists,
        readFile: deps.readFile,
        environment: deps.environment,
        identity: deps.identity ?? { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      });
      const write = opts.log.target === 'stdout' ? deps.out : deps.err;
      const log = createLogger(opts.log.format, write, undefined, opts.log.level);
      try {
        await runInit(opts, { ...deps, log });
      } catch (e) {
        if (opts.log.format !== 'json') throw e;
        // JSON lines only: the error is one record, with everything needed to act on it.
        log.error(errorFields(e), errorMessage(e));
        process.exitCode = exitCodeFor(e);
      }
    });
}

/** The fields of an error's JSON log record: for iptables failures the whole payload too. */
export function errorFields(e: unknown): Record<string, unknown> {
  if (e instanceof ApplyError) {
    return {
      code: e.code,
      command: e.command,
      program_exit_code: e.exitCode,
      stderr: e.stderr,
      failed_line: e.failedLine,
      payload: e.payload,
    };
  }
  if (e instanceof SidingError) return { code: e.code };
  return { stack: describeError(e) };
}
