/**
 * `siding init` against istio-iptables (the one test/peers builds, scripts/build-peers.sh),
 * both with Istio's default flags, each run in a fresh network namespace that has a pod
 * address (created for the run and deleted after it), interleaved in one loop so both see the
 * same machine state. Both run inside the namespace as an init container runs them
 * (`nsenter --net=...`), under a small measuring parent that reports, per run, the wall time
 * (fork to exit) and the CPU time and peak resident memory of the whole process tree
 * (wait4's rusage: the program and every program it ran). Then `iptables-restore` of
 * siding's payload alone, `node -e 0` (the floor of any Node.js program), the programs each
 * runs (strace -f), and rule building and rendering for a big config.
 *
 * Needs root (network namespaces, iptables) and python3 (the measuring parent); without
 * them, this part is skipped loudly. Without the istio-iptables build, the comparison is.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { Bench } from 'tinybench';
import type { RawInitFlags } from '../src/redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../src/redirect/host.js';
import { runInit } from '../src/redirect/init.js';
import { memoryLogger } from '../src/redirect/log.js';
import { parseInitFlags, type ParseEnv } from '../src/redirect/options.js';
import { render } from '../src/redirect/render.js';
import { buildRules } from '../src/redirect/rules.js';
import { CountingRunner, programOf, SpawnRunner, type Command } from '../src/redirect/runner.js';
import { median, mustRun, REPO, runProgram } from './procs.js';

/** The `siding` executable as installed: `siding init` runs its own CommonJS bundle. */
const SIDING = path.join(REPO, 'dist/siding.cjs');

/** The command line Istio's injector gives istio-iptables, as siding init flags. */
export const ISTIO_INIT_ARGS = ['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];
const ISTIO_INIT_RAW: RawInitFlags = {
  envoyPort: '15001',
  inboundCapturePort: '15006',
  proxyUid: '1337',
  istioInboundInterceptionMode: 'REDIRECT',
  istioServiceCidr: '*',
  istioServiceExcludeCidr: '',
  istioInboundPorts: '*',
  istioLocalExcludePorts: '15090,15021,15020',
};
const PARSE_ENV: ParseEnv = { exists: () => true, readFile: () => undefined, environment: {} };

/** One measured run: wall, and CPU and peak memory of the whole process tree. */
interface Measured {
  code: number;
  wall_ms: number;
  cpu_ms: number;
  peak_mib: number;
  stderr: string;
}

/** What one program did over the runs. */
export interface ProgramStats {
  median_ms: number;
  min_ms: number;
  max_ms: number;
  cpu_median_ms: number;
  /** Highest peak resident memory of any run (the largest process of the tree). */
  peak_mib: number;
  peak_median_mib: number;
}

export interface InitResults {
  runs: number;
  /** Which iptables backend siding chose (the direct restore uses the same one). */
  backend: string;
  /** siding init, wall. */
  median_ms: number;
  min_ms: number;
  max_ms: number;
  cpu_median_ms: number;
  /** siding init's highest peak resident memory over the runs (target: <= 45 MiB). */
  peak_mib: number;
  peak_median_mib: number;
  /** istio-iptables with the same flags, measured the same way; null when it is not built. */
  istio: (ProgramStats & { version: string; execve: number | undefined; execve_programs: string[] | undefined }) | null;
  /** siding ÷ istio-iptables, medians (targets: <= 1.5). */
  istio_ratio_wall: number | null;
  istio_ratio_cpu: number | null;
  restore_median_ms: number;
  /** siding ÷ restore. */
  ratio: number;
  restore_min_ms: number;
  restore_max_ms: number;
  /** `node -e 0`, measured the same way: the floor any Node.js program pays. */
  node_floor_median_ms: number;
  node_floor: ProgramStats;
  /** Programs siding init asks its runner to run with --netns (CNI mode; one nsenter+program each). */
  execs: number;
  execs_per_family: { ipv4: number; ipv6: number };
  programs: string[];
  /** execve calls strace saw in the whole process tree of one run inside the namespace (node itself included). */
  execve: number | undefined;
  execve_programs: string[] | undefined;
  rules: RulesResults;
}

export interface RulesResults {
  excluded_ports: number;
  excluded_cidrs: number;
  rules: number;
  payload_bytes: number;
  parse_median_ms: number;
  build_median_ms: number;
  render_median_ms: number;
}

export type InitOutcome = { skipped: string } | InitResults;

const TOOLS = ['ip', 'nsenter', 'python3', 'iptables-nft-restore', 'iptables-legacy-restore', 'iptables-nft-save', 'iptables-legacy-save'];

export function initPrerequisite(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: network namespaces and iptables need root';
  const missing = TOOLS.filter((t) => lookPath(t) === undefined);
  if (missing.length > 0) return `missing programs: ${missing.join(', ')}`;
  return undefined;
}

/** The istio-iptables build, or why there is none. */
function istioBinary(): { path: string; version: string } | { missing: string } {
  try {
    const script = fileURLToPath(new URL('../scripts/build-peers.sh', import.meta.url));
    const dir = execFileSync('bash', [script, '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim().split('\n').pop() ?? '';
    return { path: `${dir}/istio-iptables`, version: path.basename(path.dirname(dir)) };
  } catch {
    return { missing: 'istio-iptables is not built (scripts/build-peers.sh)' };
  }
}

// The measuring parent: forks, execs the program (stdout to /dev/null, stdin from a file when
// given, stderr passed on), waits with wait4 and prints wall, CPU and peak RSS as JSON.
const MEASURE = `
import json, os, sys, time
argv = json.loads(sys.argv[1])
stdin = sys.argv[2] if len(sys.argv) > 2 else None
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    if stdin:
        os.dup2(os.open(stdin, os.O_RDONLY), 0)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    os.execvp(argv[0], argv)
_, status, ru = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_ms": wall * 1000, "cpu_ms": (ru.ru_utime + ru.ru_stime) * 1000, "peak_kb": ru.ru_maxrss}))`;

async function measure(argv: readonly string[]): Promise<Measured> {
  const r = await runProgram('python3', ['-c', MEASURE, JSON.stringify(argv)]);
  if (r.code !== 0) throw new Error(`the measuring parent failed (${r.code}): ${r.stderr}`);
  const m = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { code: number; wall_ms: number; cpu_ms: number; peak_kb: number };
  return { code: m.code, wall_ms: m.wall_ms, cpu_ms: m.cpu_ms, peak_mib: m.peak_kb / 1024, stderr: r.stderr };
}

function stats(runs: readonly Measured[]): ProgramStats {
  const wall = runs.map((r) => r.wall_ms);
  return {
    median_ms: median(wall),
    min_ms: Math.min(...wall),
    max_ms: Math.max(...wall),
    cpu_median_ms: median(runs.map((r) => r.cpu_ms)),
    peak_mib: Math.max(...runs.map((r) => r.peak_mib)),
    peak_median_mib: median(runs.map((r) => r.peak_mib)),
  };
}

let nsCounter = 0;

/**
 * A fresh network namespace as a pod has it: lo up, and an interface with an address (both
 * istio-iptables and siding init decide about IPv6 from the pod's addresses, and refuse a
 * namespace with none). Deleted by the returned function.
 */
async function freshNetns(): Promise<{ path: string; remove: () => Promise<void> }> {
  nsCounter += 1;
  const name = `sdbench-${process.pid}-${nsCounter}`;
  await mustRun('ip', ['netns', 'add', name]);
  await mustRun('ip', ['-n', name, '-batch', '-'], 'link set lo up\nlink add eth0 type veth peer name eth1\naddr add 10.0.0.2/24 dev eth0\nlink set eth1 up\nlink set eth0 up\n');
  return {
    path: `/run/netns/${name}`,
    remove: async () => {
      for (let attempt = 0; attempt < 5; attempt++) {
        if ((await runProgram('ip', ['netns', 'del', name])).code === 0) return;
        await delay(50);
      }
      throw new Error(`could not delete network namespace ${name}`);
    },
  };
}

/** The IPv4 payload from `siding init --dry-run` (the text after its comment line). */
async function dryRunPayload(): Promise<string> {
  const r = await mustRun(process.execPath, [SIDING, 'init', ...ISTIO_INIT_ARGS, '--dry-run', '--ipv6', 'off']);
  const lines = r.stdout.split('\n');
  if (!lines[0]?.startsWith('# siding init --dry-run: IPv4')) throw new Error(`unexpected --dry-run output: ${r.stdout.slice(0, 300)}`);
  return lines.slice(1).join('\n');
}

/** The family a program serves; reading the addresses decides about IPv6, so it counts there. */
function familyOf(cmd: Command): 'ipv4' | 'ipv6' {
  const args = [cmd.file, ...cmd.args];
  return args.some((a) => a.includes('ip6tables') || a.includes('ip6_tables') || a === '-6') || (args.includes('addr') && args.includes('show')) ? 'ipv6' : 'ipv4';
}

/** One apply with --netns (CNI mode) through the library, counting what its runner runs. */
async function countPrograms(): Promise<{ commands: Command[] }> {
  const ns = await freshNetns();
  try {
    const runner = new CountingRunner(new SpawnRunner());
    const opts = parseInitFlags({ ...ISTIO_INIT_RAW, netns: ns.path }, PARSE_ENV);
    await runInit(opts, {
      runner,
      lookPath: (n) => lookPath(n),
      readFile: readFileOrUndefined,
      sleep: (ms) => delay(ms),
      out: () => undefined,
      log: memoryLogger(),
    });
    return { commands: runner.commands };
  } finally {
    await ns.remove();
  }
}

/** execve calls of one run inside a fresh namespace, from strace -f (undefined without strace). */
async function straceExecs(argv: readonly string[]): Promise<{ count: number; programs: string[] } | undefined> {
  const strace = lookPath('strace');
  if (strace === undefined) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'siding-bench-strace-'));
  const ns = await freshNetns();
  try {
    const out = path.join(dir, 'trace');
    await mustRun(strace, ['-f', '-qq', '-e', 'trace=execve', '-o', out, 'nsenter', `--net=${ns.path}`, '--', ...argv]);
    // Successful execve lines: `PID execve("/usr/bin/nsenter", [...], ...) = 0`; nsenter itself is not counted.
    const ok = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => /execve\(/.test(l) && /\) = 0$/.test(l));
    const programs = ok.map((l) => /execve\("([^"]+)"/.exec(l)?.[1] ?? '?').map((p) => p.slice(p.lastIndexOf('/') + 1)).filter((p, i) => !(i === 0 && p === 'nsenter'));
    return { count: programs.length, programs };
  } finally {
    await ns.remove();
    rmSync(dir, { recursive: true, force: true });
  }
}

function list(n: number, item: (i: number) => string): string {
  return Array.from({ length: n }, (_, i) => item(i)).join(',');
}

/** parseInitFlags, buildRules and render with 1,000 excluded outbound ports and 1,000 excluded CIDRs. */
export async function benchRules(timeMs: number): Promise<RulesResults> {
  const ports = list(1000, (i) => String(20000 + i));
  const cidrs = list(1000, (i) => `10.${Math.floor(i / 250)}.${i % 250}.0/24`);
  const raw: RawInitFlags = { ...ISTIO_INIT_RAW, istioLocalOutboundPortsExclude: ports, istioServiceExcludeCidr: cidrs };
  const opts = parseInitFlags(raw, PARSE_ENV);
  const rules = buildRules(opts.redirect, 'ipv4');
  const payload = render(rules);
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(300, timeMs / 2) });
  bench.add('parse', () => {
    parseInitFlags(raw, PARSE_ENV);
  });
  bench.add('build', () => {
    buildRules(opts.redirect, 'ipv4');
  });
  bench.add('render', () => {
    render(rules);
  });
  await bench.run();
  const medianMs = (name: string): number => {
    const r = bench.tasks.find((t) => t.name === name)?.result;
    if (r?.state !== 'completed') throw new Error(`rules bench ${name} did not complete`);
    return r.latency.p50;
  };
  return {
    excluded_ports: 1000,
    excluded_cidrs: 1000,
    rules: rules.length,
    payload_bytes: Buffer.byteLength(payload),
    parse_median_ms: medianMs('parse'),
    build_median_ms: medianMs('build'),
    render_median_ms: medianMs('render'),
  };
}

export async function benchInit(runs: number, log: (line: string) => void): Promise<InitOutcome> {
  const missing = initPrerequisite();
  if (missing !== undefined) return { skipped: missing };
  const istio = istioBinary();
  if ('missing' in istio) process.stderr.write(`\n!!! ${istio.missing}: siding init is measured without the comparison\n\n`);

  const payload = await dryRunPayload();
  let backend: string | undefined;
  const siding: Measured[] = [];
  const peer: Measured[] = [];
  const restore: number[] = [];
  const floor: Measured[] = [];

  /** Runs `argv` inside a fresh namespace under the measuring parent. */
  const inside = async (argv: readonly string[], what: string): Promise<Measured> => {
    const ns = await freshNetns();
    try {
      const m = await measure(['nsenter', `--net=${ns.path}`, '--', ...argv]);
      if (m.code !== 0) throw new Error(`${what} exited ${m.code}: ${m.stderr}`);
      return m;
    } finally {
      await ns.remove();
    }
  };
  const runSiding = async (): Promise<Measured> => {
    const m = await inside([process.execPath, SIDING, 'init', ...ISTIO_INIT_ARGS], 'siding init');
    const chosen = /backend=(nft|legacy)/.exec(m.stderr)?.[1];
    if (chosen === undefined) throw new Error(`siding init did not say which backend it chose: ${m.stderr}`);
    if (backend !== undefined && backend !== chosen) throw new Error(`siding init chose ${chosen} after ${backend}`);
    backend = chosen;
    return m;
  };
  const runIstio = (): Promise<Measured> => inside([(istio as { path: string }).path, ...ISTIO_INIT_ARGS], 'istio-iptables');
  const runRestore = async (): Promise<number> => {
    const ns = await freshNetns();
    try {
      // The same wrapper and arguments siding's own restore has: nsenter, --noflush, -w.
      const r = await runProgram('nsenter', [`--net=${ns.path}`, '--', `iptables-${backend ?? 'nft'}-restore`, '--noflush', '-w', '10'], { input: payload });
      if (r.code !== 0) throw new Error(`iptables-restore exited ${r.code}: ${r.stderr}`);
      return r.ms;
    } finally {
      await ns.remove();
    }
  };

  // Warm-up: file caches, and the backend siding picks (the direct restore uses the same).
  await runSiding();
  if (!('missing' in istio)) await runIstio();
  await runRestore();
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first so neither always runs right after namespace churn.
    const order = i % 2 === 0 ? ['siding', 'istio'] : ['istio', 'siding'];
    for (const who of order) {
      if (who === 'siding') siding.push(await runSiding());
      else if (!('missing' in istio)) peer.push(await runIstio());
    }
    restore.push(await runRestore());
    floor.push(await measure([process.execPath, '-e', '0']));
  }
  const s = stats(siding);
  const p = peer.length > 0 ? stats(peer) : undefined;
  log(
    `init: ${runs} runs each; siding median ${s.median_ms.toFixed(1)} ms wall, ${s.cpu_median_ms.toFixed(1)} ms CPU, peak ${s.peak_mib.toFixed(1)} MiB` +
      (p === undefined ? '' : `; istio-iptables ${p.median_ms.toFixed(1)} ms wall, ${p.cpu_median_ms.toFixed(1)} ms CPU, peak ${p.peak_mib.toFixed(1)} MiB`),
  );

  const counted = await countPrograms();
  const sidingExecs = await straceExecs([process.execPath, SIDING, 'init', ...ISTIO_INIT_ARGS]);
  const istioExecs = 'missing' in istio ? undefined : await straceExecs([istio.path, ...ISTIO_INIT_ARGS]);
  const rules = await benchRules(1000);
  const perFamily = { ipv4: 0, ipv6: 0 };
  for (const c of counted.commands) perFamily[familyOf(c)] += 1;
  const nodeFloor = stats(floor);
  return {
    runs,
    backend: backend ?? 'unknown',
    median_ms: s.median_ms,
    min_ms: s.min_ms,
    max_ms: s.max_ms,
    cpu_median_ms: s.cpu_median_ms,
    peak_mib: s.peak_mib,
    peak_median_mib: s.peak_median_mib,
    istio: p === undefined || 'missing' in istio ? null : { ...p, version: istio.version, execve: istioExecs?.count, execve_programs: istioExecs?.programs },
    istio_ratio_wall: p === undefined ? null : s.median_ms / p.median_ms,
    istio_ratio_cpu: p === undefined ? null : s.cpu_median_ms / p.cpu_median_ms,
    restore_median_ms: median(restore),
    ratio: s.median_ms / median(restore),
    restore_min_ms: Math.min(...restore),
    restore_max_ms: Math.max(...restore),
    node_floor_median_ms: nodeFloor.median_ms,
    node_floor: nodeFloor,
    execs: counted.commands.length,
    execs_per_family: perFamily,
    programs: counted.commands.map((c) => `${programOf(c)}${c.args.includes('addr') ? ` ${c.args.slice(c.args.indexOf('addr')).join(' ')}` : ''}`),
    execve: sidingExecs?.count,
    execve_programs: sidingExecs?.programs,
    rules,
  };
}
