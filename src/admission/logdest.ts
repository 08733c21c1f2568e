/**
 * Where the webhook's JSON log goes by default: stdout, written in batches. One line per
 * review written straight through cost a write(2) per review, a measurable share of a
 * typical review's CPU (BENCHMARKS.md, item 8). Lines are buffered until LOG_BATCH_BYTES have
 * gathered or LOG_FLUSH_MS have passed, and flushed synchronously when the process exits
 * (normally, on a signal handled by `siding webhook`, or after an uncaught exception). A
 * SIGKILL loses at most the last LOG_FLUSH_MS of lines.
 */
import pino from 'pino';

/** About 25 review lines: one write(2) per batch under load (SonicBoom needs it below its 16 KB maximum write). */
export const LOG_BATCH_BYTES = 8192;
/** The longest a line waits when traffic is low; `kubectl logs -f` still reads as live. */
export const LOG_FLUSH_MS = 250;

export interface LogDestination {
  write(line: string): void;
  /** Writes whatever is buffered, now. */
  flushSync(): void;
}

let stdoutDestination: LogDestination | undefined;

/** The process's batched stdout destination, made on first use (one per process: one exit hook, one timer). */
export function batchedStdout(): LogDestination {
  stdoutDestination ??= batchedLogDestination(1);
  return stdoutDestination;
}

/** A buffered destination on file descriptor `fd`, flushed at exit. */
export function batchedLogDestination(fd: number): LogDestination {
  const dest = pino.destination({ dest: fd, sync: true, minLength: LOG_BATCH_BYTES, periodicFlush: LOG_FLUSH_MS });
  process.once('exit', () => {
    try {
      dest.flushSync();
    } catch {
      // stdout is gone (EPIPE, closed): nothing left to write to.
    }
  });
  return dest;
}
