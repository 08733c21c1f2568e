/**
 * siding's error hierarchy. Every error carries a stable `code` (documented in
 * docs/errors.md and checked by a test) and optional typed context.
 */

import { ProblemList } from './problems.js';

export { MAX_REPORTED_PROBLEMS, ProblemList } from './problems.js';

export type SidingErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_INIT_FLAG'
  | 'ERR_PROXY_FLAG'
  | 'ERR_PROXY'
  | 'ERR_APPLY'
  | 'ERR_VALIDATION'
  | 'ERR_CERT'
  | 'ERR_KUBE'
  | 'ERR_INPUT';

export interface SidingErrorOptions {
  cause?: unknown;
}

export class SidingError extends Error {
  readonly code: SidingErrorCode;

  constructor(code: SidingErrorCode, message: string, options: SidingErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * Thrown when an injection config (file, ConfigMap or built-in) fails validation. Lists at
 * most MAX_REPORTED_PROBLEMS problems, then how many more there were.
 */
export class ConfigError extends SidingError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[] | ProblemList, options: SidingErrorOptions = {}) {
    let list = problems;
    if (!(list instanceof ProblemList)) {
      list = new ProblemList();
      for (const p of problems as readonly string[]) list.add(p);
    }
    const lines = list.lines();
    super('ERR_CONFIG', `invalid injection config:\n  - ${lines.join('\n  - ')}`, options);
    this.problems = lines;
  }
}

/** One problem with one annotation value; collected, never thrown alone. */
export interface AnnotationProblem {
  annotation: string;
  value: string;
  reason: string;
}

export function formatAnnotationProblem(p: AnnotationProblem): string {
  return `invalid value '${p.value}' for annotation '${p.annotation}': ${p.reason}`;
}

/**
 * Thrown by the `siding init` flag parser before any program runs; exit code 2. `envVar` is
 * set when the value came from an environment variable rather than the command line.
 */
export class InitFlagError extends SidingError {
  readonly flag: string;
  /** The value as given. */
  readonly value: string;
  readonly reason: string;
  /** The value as the message shows it. */
  readonly shown: string;
  readonly envVar: string | undefined;
  /** `shown`: the value as the message shows it (escaped and cut by the caller; default: as given). */
  constructor(flag: string, value: string, reason: string, shown: string = value, envVar?: string) {
    const where = envVar === undefined ? `flag ${flag}` : `environment variable ${envVar}${flag === '' ? '' : ` (${flag})`}`;
    super('ERR_INIT_FLAG', `invalid value '${shown}' for ${where}: ${reason}`);
    this.flag = flag;
    this.value = value;
    this.reason = reason;
    this.shown = shown;
    this.envVar = envVar;
  }
}

/** Thrown by the `siding proxy` flag parser before anything listens; exit code 2. */
export class ProxyFlagError extends SidingError {
  readonly flag: string;
  readonly value: string;
  constructor(flag: string, value: string, reason: string) {
    super('ERR_PROXY_FLAG', `invalid value '${value}' for flag ${flag}: ${reason}`);
    this.flag = flag;
    this.value = value;
  }
}

/**
 * Thrown when `siding proxy` cannot start: it runs as a user the redirect does not let
 * through, a port cannot be bound, or DNS is on and the resolver file names no nameserver.
 * Exit code 1.
 */
export class ProxyError extends SidingError {
  constructor(message: string, options: SidingErrorOptions = {}) {
    super('ERR_PROXY', message, options);
  }
}

/** A line of an iptables-restore payload, numbered from 1 as iptables-restore counts. */
export interface PayloadLine {
  readonly number: number;
  readonly text: string;
}

/**
 * Thrown by `siding init` when iptables-restore (or another program) fails, or when no
 * usable iptables backend is found; keeps what is needed to debug it: the command, its exit
 * code and stderr, the payload, and the payload line iptables-restore reported.
 */
export class ApplyError extends SidingError {
  readonly command: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly payload: string | undefined;
  readonly failedLine: PayloadLine | undefined;
  constructor(
    message: string,
    ctx: { command: readonly string[]; exitCode?: number | undefined; stderr?: string; payload?: string; failedLine?: PayloadLine | undefined },
    options: SidingErrorOptions = {},
  ) {
    super('ERR_APPLY', message, options);
    this.command = ctx.command;
    this.exitCode = ctx.exitCode;
    this.stderr = ctx.stderr ?? '';
    this.payload = ctx.payload;
    this.failedLine = ctx.failedLine;
  }
}

/** Thrown by `siding init --run-validation` when a test connection was not redirected; exit 126. */
export class ValidationError extends SidingError {
  constructor(message: string, options: SidingErrorOptions = {}) {
    super('ERR_VALIDATION', message, options);
  }
}

/** Thrown when certificate material cannot be generated, parsed or verified. */
export class CertError extends SidingError {
  constructor(message: string, options: SidingErrorOptions = {}) {
    super('ERR_CERT', message, options);
  }
}

/** Thrown when a Kubernetes API call fails in a way siding cannot recover from. */
export class KubeError extends SidingError {
  readonly statusCode: number | undefined;
  /** The API Status `reason` (AlreadyExists, Conflict, NotFound, ...) when the server sent one. */
  readonly reason: string | undefined;
  constructor(message: string, statusCode?: number, options: SidingErrorOptions & { reason?: string } = {}) {
    super('ERR_KUBE', message, options);
    this.statusCode = statusCode;
    this.reason = options.reason;
  }
}

/** Thrown when CLI input (a manifest file, a stream) cannot be read or parsed. */
export class InputError extends SidingError {
  constructor(message: string, options: SidingErrorOptions = {}) {
    super('ERR_INPUT', message, options);
  }
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Most stderr lines shown in a report: iptables says what went wrong in its first few. */
const MAX_STDERR_LINES = 20;
/** Longest line of a report, so that one program's output cannot flood a terminal or log. */
const MAX_LINE_CHARS = 1000;

const cut = (line: string): string => (line.length > MAX_LINE_CHARS ? `${line.slice(0, MAX_LINE_CHARS)}... (${line.length} characters)` : line);

/**
 * What the CLI prints for an error: siding's own errors by their message, with what a
 * user needs to act on an ApplyError (the program's stderr and the payload line it failed
 * at); anything else, which is a bug, with its stack.
 */
export function describeError(e: unknown): string {
  if (e instanceof ApplyError) {
    const out = [e.message];
    const stderr = e.stderr.trimEnd().split('\n').filter((l) => l.trim() !== '');
    if (stderr.length > 0) {
      out.push(`  ${e.command[0] ?? 'the program'} said:`);
      for (const l of stderr.slice(0, MAX_STDERR_LINES)) out.push(`    ${cut(l)}`);
      if (stderr.length > MAX_STDERR_LINES) out.push(`    ... and ${stderr.length - MAX_STDERR_LINES} more lines`);
    }
    if (e.failedLine !== undefined) out.push(`  payload line ${e.failedLine.number}: ${cut(e.failedLine.text)}`);
    if (e.payload !== undefined) out.push('  (siding init --dry-run prints the whole payload; --log-format json logs it with this error)');
    return out.join('\n');
  }
  if (e instanceof SidingError) return e.message;
  if (e instanceof Error) return e.stack ?? `${e.name}: ${e.message}`;
  return String(e);
}
