/**
 * Child processes for the benchmarks: the servers and the load generator each run in their
 * own process, so the numbers are not one event loop measuring itself. Programs are run
 * with argument arrays, never through a shell.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../', import.meta.url));
export const CLI = fileURLToPath(new URL('../dist/cli.js', import.meta.url));

/** `node --import tsx FILE`: how a bench/*.ts helper runs as its own process. */
export function tsNode(file: string, args: readonly string[]): { file: string; args: string[] } {
  return { file: process.execPath, args: ['--import', 'tsx', fileURLToPath(new URL(file, import.meta.url)), ...args] };
}

export interface Finished {
  code: number;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  ms: number;
}

/** Runs a program to completion (argument array, optional stdin) and measures its wall time. */
export function runProgram(file: string, args: readonly string[], opts: { input?: string; timeoutMs?: number; cwd?: string } = {}): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, [...args], { cwd: opts.cwd ?? REPO, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ms = Number(process.hrtime.bigint() - start) / 1e6;
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr, ms });
    });
    if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a program and throws with its output unless it exits 0. */
export async function mustRun(file: string, args: readonly string[], input?: string): Promise<Finished> {
  const r = await runProgram(file, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r;
}

/** A long-running server process. */
export interface Server {
  readonly child: ChildProcess;
  readonly pid: number;
  /** https://127.0.0.1:PORT */
  readonly url: string;
  /** Sends SIGTERM and waits for the exit code. */
  stop(): Promise<number | null>;
}

/**
 * Starts a server and waits until `findUrl` recognises its URL in what it wrote so far
 * (stdout, or the file its stdout goes to).
 */
export function startServer(
  file: string,
  args: readonly string[],
  findUrl: (output: string) => string | undefined,
  opts: { stdio?: StdioOptions; readOutput?: () => string; timeoutMs?: number } = {},
): Promise<Server> {
  const child = spawn(file, [...args], { cwd: REPO, stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const deadline = Date.now() + (opts.timeoutMs ?? 30_000);
    const poll = setInterval(() => {
      const text = opts.readOutput?.() ?? out;
      const url = findUrl(text);
      if (url !== undefined && child.pid !== undefined) {
        clearInterval(poll);
        const pid = child.pid;
        resolve({
          child,
          pid,
          url,
          stop: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            return exited;
          },
        });
      } else if (child.exitCode !== null || Date.now() > deadline) {
        clearInterval(poll);
        child.kill('SIGKILL');
        reject(new Error(`${file} ${args.join(' ')} did not start: ${text.slice(-2000)}`));
      }
    }, 25);
  });
}

/** Resident memory of a process in MiB (VmRSS; VmHWM: the peak so far; RssAnon: VmRSS less file-backed pages such as the node binary's). */
export function residentMemory(pid: number): { rssMb: number; peakMb: number; anonMb: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string): number => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
    if (m === null) throw new Error(`no ${field} in /proc/${pid}/status`);
    return Number(m[1]);
  };
  return { rssMb: kb('VmRSS') / 1024, peakMb: kb('VmHWM') / 1024, anonMb: kb('RssAnon') / 1024 };
}

/** CPU time (user + system) a process has used so far, in seconds. */
export function cpuSeconds(pid: number, ticksPerSecond: number): number {
  // /proc/PID/stat: the command name (field 2) may contain spaces; count from the ')' after it.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // After ')': state is field 3, so utime (14) and stime (15) are at offsets 11 and 12.
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
}

/** The kernel's clock ticks per second (USER_HZ), for /proc/PID/stat times. */
export async function clockTicks(): Promise<number> {
  const r = await runProgram('getconf', ['CLK_TCK']);
  const n = Number(r.stdout.trim());
  return r.code === 0 && Number.isInteger(n) && n > 0 ? n : 100;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? (s[mid] ?? Number.NaN) : ((s[mid - 1] ?? 0) + (s[mid] ?? 0)) / 2;
}

/** The p-th percentile (0-100) of a sorted array, nearest rank. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}
