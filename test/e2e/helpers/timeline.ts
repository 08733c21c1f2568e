/**
 * When things happened in a pod on the test node, finer than the API's whole seconds:
 * - a log line's time as the runtime stamped it (`kubectl logs --timestamps`, nanoseconds);
 * - when a running container's process was made, read on the node: the shim's init.pid in
 *   the container's bundle, then field 22 of /proc/PID/stat (clock ticks since boot). runc
 *   forks that process when the container is created and it runs the image's command when
 *   the container is started: the start comes a little later, never earlier.
 * All times are nanoseconds of wall-clock time as bigint, so they compare with each other.
 * The tests run on the node's machine as root (scripts/e2e.sh), in the same PID namespace.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { bundleDir } from './containerd.js';
import { kubectl, kubectlChild } from './cluster.js';

export interface LogLine {
  /** Wall-clock nanoseconds at which the runtime read the line. */
  at: bigint;
  text: string;
}

/** `2026-12-01T23:34:18.06612456Z` (RFC 3339, 0 to 9 fraction digits) → nanoseconds. */
export function parseTimestamp(stamp: string): bigint {
  const dot = stamp.indexOf('.');
  const whole = dot === -1 ? stamp.replace(/Z$/, '') : stamp.slice(0, dot);
  const fraction = dot === -1 ? '' : stamp.slice(dot + 1).replace(/Z$/, '');
  const seconds = Date.parse(`${whole}Z`);
  if (!Number.isFinite(seconds) || !/^\d{0,9}$/.test(fraction)) throw new Error(`not an RFC 3339 UTC timestamp: ${stamp}`);
  return BigInt(seconds) * 1_000_000n + BigInt(fraction.padEnd(9, '0'));
}

/** Lines of `kubectl logs --timestamps` output. */
export function parseLogs(text: string): LogLine[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const space = l.indexOf(' ');
      return { at: parseTimestamp(l.slice(0, space)), text: l.slice(space + 1) };
    });
}

/** A container's log so far, each line with the runtime's timestamp. */
export async function timedLogs(namespace: string, pod: string, container: string): Promise<LogLine[]> {
  const r = await kubectl(['logs', '--timestamps', '-n', namespace, pod, '-c', container]);
  if (r.exitCode !== 0) throw new Error(`kubectl logs ${pod} -c ${container}: ${r.stderr}`);
  return parseLogs(r.stdout);
}

/**
 * Follows a container's log until the container ends (`kubectl logs -f`), for a pod about
 * to be deleted: once its containers are removed, their logs are gone. `started` resolves
 * when the follower has printed the lines written so far, i.e. it is attached.
 */
export function followLogs(namespace: string, pod: string, container: string): { started: Promise<void>; done: Promise<LogLine[]> } {
  const child = kubectlChild(['logs', '-f', '--timestamps', '-n', namespace, pod, '-c', container], 120_000);
  const done = child.done.then((r) => {
    if (r.exitCode !== 0) throw new Error(`kubectl logs -f ${pod} -c ${container} exited ${String(r.exitCode)}: ${r.stderr}`);
    return parseLogs(r.stdout);
  });
  const started = new Promise<void>((resolve) => {
    child.stdout.once('data', () => resolve());
    void child.done.then(() => resolve());
  });
  return { started, done };
}

/** The first line that matches, or an error that shows the whole log. */
export function lineMatching(lines: readonly LogLine[], pattern: RegExp, what: string): LogLine {
  const found = lines.find((l) => pattern.test(l.text));
  if (found === undefined) throw new Error(`${what}: no line matches ${String(pattern)} in:\n${lines.map((l) => l.text).join('\n')}`);
  return found;
}

/** Wall-clock nanoseconds of the machine's boot, from /proc/uptime (10 ms resolution). */
function bootTime(): bigint {
  const uptime = readFileSync('/proc/uptime', 'utf8').split(' ')[0] ?? '';
  const [s = '0', cs = '0'] = uptime.split('.');
  return BigInt(Date.now()) * 1_000_000n - (BigInt(s) * 1_000_000_000n + BigInt(cs.padEnd(2, '0').slice(0, 2)) * 10_000_000n);
}

/** Clock ticks per second of /proc/PID/stat (USER_HZ). */
function clockTicks(): bigint {
  return BigInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
}

/**
 * When a running container's process was made (see above), in wall-clock nanoseconds
 * (10 ms resolution). Throws when the container is not running.
 */
export function processStart(p: k8s.V1Pod, container: string): bigint {
  const pid = readFileSync(join(bundleDir(p, container), 'init.pid'), 'utf8').trim();
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces and parentheses): state is field 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = BigInt(fields[22 - 3] ?? 'x');
  return bootTime() + (ticks * 1_000_000_000n) / clockTicks();
}

/** Milliseconds between two times, for messages. */
export function ms(from: bigint, to: bigint): string {
  return `${(Number(to - from) / 1e6).toFixed(1)} ms`;
}
