/**
 * The only way siding init runs a program: a `Runner` is passed in. `SpawnRunner` runs
 * programs for real (argument arrays, never a shell); `RecordingRunner` answers from a script and records every program, for tests and for
 * counting programs per run.
 */
import { spawnSync } from 'node:child_process';
import { constants } from 'node:os';

export interface Command {
  /** Absolute path or name of the program. */
  readonly file: string;
  readonly args: readonly string[];
  /** Written to the program's stdin. */
  readonly input?: string;
  /** Variables added to siding's own environment for this program. */
  readonly env?: Readonly<Record<string, string>>;
  readonly timeoutMs?: number;
}

export interface RunResult {
  /** 127 when the program could not be started (see `spawnError`). */
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
  /** Set when the program could not be started at all (ENOENT, EACCES...). */
  readonly spawnError?: string;
}

export interface Runner {
  /** Runs a program to completion. Resolves with its result; rejects only on internal errors. */
  run(cmd: Command): Promise<RunResult>;
}

// Longest any single program may run. iptables-restore waits at most --lock-wait (600 s)
// itself; this only stops a program that hangs for another reason.
const DEFAULT_TIMEOUT_MS = 660_000;

// The most output one program may produce: iptables-save of a node with very many rules
// is a few MB; this bounds what a runaway program can make siding hold.
const MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

/**
 * Runs programs with node:child_process (argument arrays, never a shell), one at a time and
 * synchronously: `siding init` runs a few short programs in sequence on every pod start, and
 * spawnSync needs no pipe streams or event-loop turns per program (BENCHMARKS.md; it also
 * never loaded execa, whose import alone cost more than the programs).
 */
export class SpawnRunner implements Runner {
  run(cmd: Command): Promise<RunResult> {
    const r = spawnSync(cmd.file, [...cmd.args], {
      stdio: [cmd.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      ...(cmd.input === undefined ? {} : { input: cmd.input }),
      encoding: 'utf8',
      timeout: cmd.timeoutMs ?? DEFAULT_TIMEOUT_MS,
      killSignal: 'SIGKILL',
      maxBuffer: MAX_OUTPUT_BYTES,
      ...(cmd.env === undefined ? {} : { env: { ...process.env, ...cmd.env } }),
    });
    const stdout = r.stdout ?? '';
    const stderr = r.stderr ?? '';
    const error = r.error as NodeJS.ErrnoException | undefined;
    if (r.status === null && r.signal === null && error !== undefined) {
      return Promise.resolve({ exitCode: 127, stdout: '', stderr: error.message, spawnError: error.code ?? error.message });
    }
    if (r.status === null) {
      // Killed (the timeout, or a signal from outside): the shell convention, 128 + signal.
      const signal = r.signal ?? 'SIGKILL';
      return Promise.resolve({ exitCode: 128 + (constants.signals[signal] ?? 9), stdout, stderr: `${stderr}killed by ${signal}` });
    }
    return Promise.resolve({ exitCode: r.status, stdout, stderr });
  }
}

/** A scripted answer: the first responder whose `when` matches a command answers it. */
export interface Responder {
  when: (cmd: Command) => boolean;
  result: Partial<RunResult> | ((cmd: Command) => Partial<RunResult>);
  /** Answer at most this many times (default: always). */
  times?: number;
}

/**
 * Records every command and answers from responders (exit 0 with empty output when none
 * matches). `commands.length` is the number of programs a run executed.
 */
export class RecordingRunner implements Runner {
  readonly commands: Command[] = [];
  private readonly responders: Responder[];

  constructor(responders: Responder[] = []) {
    this.responders = responders.map((r) => ({ ...r }));
  }

  on(when: (cmd: Command) => boolean, result: Responder['result'], times?: number): this {
    this.responders.push(times === undefined ? { when, result } : { when, result, times });
    return this;
  }

  run(cmd: Command): Promise<RunResult> {
    this.commands.push(cmd);
    const r = this.responders.find((x) => (x.times === undefined || x.times > 0) && x.when(cmd));
    if (r === undefined) return Promise.resolve({ exitCode: 0, stdout: '', stderr: '' });
    if (r.times !== undefined) r.times -= 1;
    const partial = typeof r.result === 'function' ? r.result(cmd) : r.result;
    return Promise.resolve({ exitCode: 0, stdout: '', stderr: '', ...partial });
  }

  /** Each recorded command as one line: `file arg arg`. */
  lines(): string[] {
    return this.commands.map((c) => [c.file, ...c.args].join(' '));
  }
}

/** A runner that delegates to another and records what it ran (to count programs for real). */
export class CountingRunner implements Runner {
  readonly commands: Command[] = [];
  constructor(private readonly inner: Runner) {}
  run(cmd: Command): Promise<RunResult> {
    this.commands.push(cmd);
    return this.inner.run(cmd);
  }
}

/** The program name of a command, ignoring an `nsenter`/`ip netns exec` wrapper. */
export function programOf(cmd: Command): string {
  const base = (s: string): string => s.slice(s.lastIndexOf('/') + 1);
  if (base(cmd.file) === 'nsenter') {
    const i = cmd.args.indexOf('--');
    return base(cmd.args[i + 1] ?? '');
  }
  if (base(cmd.file) === 'ip' && cmd.args[0] === 'netns' && cmd.args[1] === 'exec') return base(cmd.args[3] ?? '');
  return base(cmd.file);
}
