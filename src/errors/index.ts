/**
 * siding's error hierarchy. Every error carries a stable `code` (documented in
 * docs/errors.md and checked by a test) and optional typed context.
 */

export type SidingErrorCode =
  | 'ERR_CONFIG'
  | 'ERR_ANNOTATION'
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

/** Thrown when an injection config (file, ConfigMap or built-in) fails validation. */
export class ConfigError extends SidingError {
  readonly problems: readonly string[];
  constructor(problems: readonly string[], options: SidingErrorOptions = {}) {
    super('ERR_CONFIG', `invalid injection config:\n  - ${problems.join('\n  - ')}`, options);
    this.problems = problems;
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

/** Thrown by `siding inject`/`check` when a workload's annotations are invalid. */
export class AnnotationError extends SidingError {
  readonly problems: readonly AnnotationProblem[];
  constructor(problems: readonly AnnotationProblem[]) {
    super('ERR_ANNOTATION', problems.map(formatAnnotationProblem).join('; '));
    this.problems = problems;
  }
}

/** Thrown by the `siding init` flag parser before any program runs; exit code 2. */
export class InitFlagError extends SidingError {
  readonly flag: string;
  readonly value: string;
  constructor(flag: string, value: string, reason: string) {
    super('ERR_INIT_FLAG', `invalid value '${value}' for flag ${flag}: ${reason}`);
    this.flag = flag;
    this.value = value;
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

/** Thrown when iptables-restore (or another program) fails; keeps what is needed to debug it. */
export class ApplyError extends SidingError {
  readonly command: readonly string[];
  readonly exitCode: number | undefined;
  readonly stderr: string;
  readonly payload: string | undefined;
  constructor(
    message: string,
    ctx: { command: readonly string[]; exitCode?: number | undefined; stderr?: string; payload?: string },
    options: SidingErrorOptions = {},
  ) {
    super('ERR_APPLY', message, options);
    this.command = ctx.command;
    this.exitCode = ctx.exitCode;
    this.stderr = ctx.stderr ?? '';
    this.payload = ctx.payload;
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

export function isSidingError(e: unknown): e is SidingError {
  return e instanceof SidingError;
}

export function errorMessage(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
