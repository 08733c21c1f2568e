/**
 * `siding proxy` side by side (BENCH_ONLY=proxy), in two network namespaces joined by a veth
 * pair, as two pods on one node: a client pod (the lab's "pod") and a server pod ("peer").
 *   direct    no redirect anywhere: the client talks to the server
 *   pipe      the client pod redirected to a bare Node.js pipe (where the proxy would listen)
 *             that pipes every connection to one fixed address: the runtime's ceiling
 *   outbound  the client pod redirected (siding init, Istio's flags) through its siding proxy
 *   both      both pods redirected, each through its own proxy (outbound hop + inbound hop)
 * Every program runs in its own process. Needs root; skipped loudly without it.
 */
import type { ChildProcess } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { initPrerequisite, Lab, PEER4, PROXY, run, ISTIO_INIT_ARGS } from '../test/integration/init-lib.js';
import { CLI, clockTicks, cpuSeconds, median, residentMemory } from './procs.js';
import { PORTS } from './proxy-ports.js';
import { machine, type Machine } from './report.js';

const LOAD = fileURLToPath(new URL('./proxy-load.ts', import.meta.url));
/** Where the redirect sends the client pod's outbound TCP (siding init -p). */
const OUTBOUND_PORT = 15001;
export const SCENARIOS = ['direct', 'pipe', 'outbound', 'both'] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface RrResult {
  requests: number;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
}
export interface BulkResult {
  bytes: number;
  seconds: number;
  mb_per_s: number;
}
export interface ConnsResult {
  connections: number;
  conns_per_s: number;
  errors: number;
}

export interface ProxyResults {
  /** This part's own machine reading (a BENCH_ONLY=proxy run keeps the other parts' results). */
  machine: Machine;
  settings: { duration_s: number; warmup_s: number; size_bytes: number; bulk_bytes: number; held_connections: number; ready_runs: number };
  rr: Record<Scenario, { c1: RrResult; c16: RrResult }>;
  bulk: Record<Scenario, BulkResult>;
  conns: { direct: ConnsResult; outbound: ConnsResult };
  /** CPU time of the client pod's proxy per request at c=16, outbound only. */
  proxy_cpu_us_per_request: number;
  /** VmRSS, and RssAnon (without file-backed pages: the node binary, shared between processes). */
  rss_mb: { idle: number; held: number; idle_anon: number; held_anon: number };
  /** Spawn of `node dist/cli.js proxy` to its "ready" line, and what the proxy reports (since its process started). */
  ready_ms: { median: number; runs: number[]; self_reported_median: number };
  sockopt: { ns_per_call: number; calls: number };
}

export type ProxyOutcome = ProxyResults | { skipped: string };

export interface ProxyBenchSettings {
  durationS: number;
  warmupS: number;
  bulkBytes: number;
  held: number;
  readyRuns: number;
  log: (line: string) => void;
}

const SIZE = 1024;

/** Spawns a program in a namespace and waits for a line; resolves with the child and when the line came. */
async function started(child: ChildProcess, test: (line: string) => boolean, timeoutMs = 30_000): Promise<{ line: string; at: number }> {
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => reject(new Error(`no expected line within ${timeoutMs} ms: ${out}${err}`)), timeoutMs);
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      const at = performance.now();
      out += d;
      const line = out.split('\n').find(test);
      if (line !== undefined) {
        clearTimeout(timer);
        resolve({ line, at });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`exited ${code} before the expected line: ${out}${err}`));
    });
  });
}

function stop(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill(signal);
  return exited;
}

/** Runs one load program to completion in a namespace, as root; returns its JSON output. */
async function load<T>(lab: Lab, where: 'pod' | 'peer', mode: string, o: Record<string, number | string>): Promise<T> {
  const ns = where === 'pod' ? lab.pod : lab.peer;
  const r = await run('ip', ['netns', 'exec', ns, process.execPath, '--import', 'tsx', LOAD, mode, JSON.stringify(o)], { timeoutMs: 300_000 });
  if (r.code !== 0) throw new Error(`${mode} exited ${r.code}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '') as T;
}

export async function benchProxy(s: ProxyBenchSettings): Promise<ProxyOutcome> {
  const missing = initPrerequisite().missing;
  if (missing !== undefined) return { skipped: missing };
  const info = machine();
  const lab = await Lab.create('pxbench', { stubs: false });
  const children: ChildProcess[] = [];
  const spawnIn = (where: 'pod' | 'peer', uid: number, args: string[]): ChildProcess => {
    const c = lab.spawnIn(where, uid, process.execPath, args);
    children.push(c);
    return c;
  };
  const startProxy = async (where: 'pod' | 'peer'): Promise<{ child: ChildProcess; wallMs: number; selfMs: number }> => {
    const t0 = performance.now();
    const child = spawnIn(where, PROXY, [CLI, 'proxy', '--drain-seconds', '0']);
    const { line, at } = await started(child, (l) => l.includes('"msg":"ready"'));
    return { child, wallMs: at - t0, selfMs: (JSON.parse(line) as { startupMs: number }).startupMs };
  };
  const durationMs = s.durationS * 1000;
  const warmupMs = s.warmupS * 1000;
  const rrRun = async (scenario: Scenario, conns: number): Promise<RrResult> => {
    const r = await load<RrResult>(lab, 'pod', 'rr', { host: PEER4, port: PORTS.rr, conns, size: SIZE, durationMs, warmupMs });
    s.log(`proxy: ${scenario} rr c=${conns}: ${r.rps.toFixed(0)} req/s, p50 ${r.p50_ms.toFixed(3)} ms, p99 ${r.p99_ms.toFixed(3)} ms`);
    return r;
  };
  const bulkRun = async (scenario: Scenario): Promise<BulkResult> => {
    const r = await load<BulkResult>(lab, 'pod', 'bulk', { host: PEER4, port: PORTS.sink, bytes: s.bulkBytes });
    s.log(`proxy: ${scenario} bulk ${(s.bulkBytes / 2 ** 20).toFixed(0)} MiB: ${r.mb_per_s.toFixed(0)} MB/s`);
    return r;
  };
  const connsRun = async (scenario: Scenario): Promise<ConnsResult> => {
    const r = await load<ConnsResult>(lab, 'pod', 'conns', { host: PEER4, port: PORTS.conn, conns: 16, durationMs });
    s.log(`proxy: ${scenario} new connections c=16: ${r.conns_per_s.toFixed(0)}/s (${r.errors} errors)`);
    return r;
  };

  try {
    await started(spawnIn('peer', 0, ['--import', 'tsx', LOAD, 'serve', JSON.stringify({ size: SIZE })]), (l) => l === 'ready');
    const rr: Partial<ProxyResults['rr']> = {};
    const bulk: Partial<ProxyResults['bulk']> = {};
    rr.direct = { c1: await rrRun('direct', 1), c16: await rrRun('direct', 16) };
    bulk.direct = await bulkRun('direct');
    const connsDirect = await connsRun('direct');

    // The client pod is redirected from here on. The bare pipe sits where the proxy will: on
    // the outbound port, as the proxy's UID, so the client's connection takes the same
    // redirect and the pipe's the same way out; it just ignores the original destination.
    const init = await lab.cli(ISTIO_INIT_ARGS);
    if (init.code !== 0) throw new Error(`siding init in the client pod: ${init.stderr}`);
    const pipeTo = async (port: number): Promise<ChildProcess> => {
      const child = spawnIn('pod', PROXY, ['--import', 'tsx', LOAD, 'pipe', JSON.stringify({ listen: OUTBOUND_PORT, host: PEER4, port })]);
      await started(child, (l) => l === 'ready');
      return child;
    };
    let pipe = await pipeTo(PORTS.rr);
    rr.pipe = { c1: await rrRun('pipe', 1), c16: await rrRun('pipe', 16) };
    await stop(pipe);
    pipe = await pipeTo(PORTS.sink);
    bulk.pipe = await bulkRun('pipe');
    await stop(pipe);

    // getsockopt alone, on a redirected connection, before the proxy takes 15001.
    const sockopt = await load<{ ns_per_call: number; calls: number; original: unknown }>(lab, 'pod', 'sockopt', { listen: OUTBOUND_PORT, host: PEER4, port: PORTS.rr, calls: 200_000 });
    s.log(`proxy: getsockopt(SO_ORIGINAL_DST) through koffi: ${sockopt.ns_per_call.toFixed(0)} ns per call (answered ${JSON.stringify(sockopt.original)})`);

    const readyWall: number[] = [];
    const readySelf: number[] = [];
    let proxyA: ChildProcess | undefined;
    for (let i = 0; i < s.readyRuns; i++) {
      if (proxyA !== undefined) await stop(proxyA);
      const p = await startProxy('pod');
      proxyA = p.child;
      readyWall.push(p.wallMs);
      readySelf.push(p.selfMs);
    }
    if (proxyA?.pid === undefined) throw new Error('the client pod proxy did not start');
    s.log(`proxy: ready ${median(readyWall).toFixed(0)} ms after spawn (median of ${s.readyRuns}; ${median(readySelf)} ms after its process started, by its own clock)`);

    // Memory before any load: idle, then with idle connections held open.
    await new Promise((r) => setTimeout(r, 1000));
    const idle = residentMemory(proxyA.pid);
    const holder = spawnIn('pod', 0, ['--import', 'tsx', LOAD, 'hold', JSON.stringify({ host: PEER4, port: PORTS.hold, count: s.held })]);
    await started(holder, (l) => l.startsWith('held'), 120_000);
    await new Promise((r) => setTimeout(r, 1000));
    const held = residentMemory(proxyA.pid);
    holder.stdin?.end();
    await stop(holder);
    s.log(`proxy: RSS idle ${idle.rssMb.toFixed(1)} MB (anonymous ${idle.anonMb.toFixed(1)}), with ${s.held} open idle connections ${held.rssMb.toFixed(1)} MB (anonymous ${held.anonMb.toFixed(1)})`);

    const ticks = await clockTicks();
    const cpu0 = cpuSeconds(proxyA.pid, ticks);
    const outC16 = await rrRun('outbound', 16);
    const cpuUs = ((cpuSeconds(proxyA.pid, ticks) - cpu0) * 1e6) / outC16.requests;
    rr.outbound = { c1: await rrRun('outbound', 1), c16: outC16 };
    bulk.outbound = await bulkRun('outbound');
    const connsOutbound = await connsRun('outbound');

    // The server pod is redirected too: two proxies between the pods.
    const initB = await run('ip', ['netns', 'exec', lab.peer, process.execPath, CLI, ...ISTIO_INIT_ARGS]);
    if (initB.code !== 0) throw new Error(`siding init in the server pod: ${initB.stderr}`);
    await startProxy('peer');
    rr.both = { c1: await rrRun('both', 1), c16: await rrRun('both', 16) };
    bulk.both = await bulkRun('both');

    info.loadavg_end = os.loadavg()[0] ?? 0;
    return {
      machine: info,
      settings: { duration_s: s.durationS, warmup_s: s.warmupS, size_bytes: SIZE, bulk_bytes: s.bulkBytes, held_connections: s.held, ready_runs: s.readyRuns },
      rr: rr as ProxyResults['rr'],
      bulk: bulk as ProxyResults['bulk'],
      conns: { direct: connsDirect, outbound: connsOutbound },
      proxy_cpu_us_per_request: cpuUs,
      rss_mb: { idle: idle.rssMb, held: held.rssMb, idle_anon: idle.anonMb, held_anon: held.anonMb },
      ready_ms: { median: median(readyWall), runs: readyWall, self_reported_median: median(readySelf) },
      sockopt: { ns_per_call: sockopt.ns_per_call, calls: sockopt.calls },
    };
  } finally {
    for (const c of children) await stop(c, 'SIGKILL');
    await lab.destroy();
  }
}
