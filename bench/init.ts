/**
 * `siding init` end to end against `iptables-restore` of the same payload, each in a fresh
 * network namespace created for the run (and deleted after it), interleaved in one loop so
 * both see the same machine state. Then the programs one run executes, counted two ways,
 * and rule building and rendering for a big config.
 *
 * Needs root (network namespaces, iptables); without it, this part is skipped loudly.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Bench } from 'tinybench';
import { parseInitFlags, type RawInitFlags } from '../src/redirect/flags.js';
import { lookPath, readFileOrUndefined } from '../src/redirect/host.js';
import { runInit } from '../src/redirect/init.js';
import { memoryLogger } from '../src/redirect/log.js';
import { render } from '../src/redirect/render.js';
import { buildRules } from '../src/redirect/rules.js';
import { CountingRunner, programOf, SpawnRunner, type Command } from '../src/redirect/runner.js';
import { CLI, median, mustRun, runProgram } from './procs.js';

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

export interface InitResults {
  runs: number;
  /** Which iptables backend siding chose (the direct restore uses the same one). */
  backend: string;
  median_ms: number;
  restore_median_ms: number;
  /** siding ÷ restore. */
  ratio: number;
  min_ms: number;
  max_ms: number;
  restore_min_ms: number;
  restore_max_ms: number;
  /** `node -e 0` in the same loop: the floor any Node.js program pays. */
  node_floor_median_ms: number;
  /** Programs siding init asks its runner to run in one apply (one nsenter+program each). */
  execs: number;
  execs_per_family: { ipv4: number; ipv6: number };
  programs: string[];
  /** execve calls strace saw in the whole process tree of one CLI run (node itself included). */
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

const TOOLS = ['ip', 'nsenter', 'iptables-nft-restore', 'iptables-legacy-restore', 'iptables-nft-save', 'iptables-legacy-save'];

export function initPrerequisite(): string | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: network namespaces and iptables need root';
  const missing = TOOLS.filter((t) => lookPath(t) === undefined);
  if (missing.length > 0) return `missing programs: ${missing.join(', ')}`;
  return undefined;
}

let nsCounter = 0;

/** A fresh network namespace with lo up (as a pod's has), deleted by the returned function. */
async function freshNetns(): Promise<{ path: string; remove: () => Promise<void> }> {
  nsCounter += 1;
  const name = `sdbench-${process.pid}-${nsCounter}`;
  await mustRun('ip', ['netns', 'add', name]);
  await mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
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
  const r = await mustRun(process.execPath, [CLI, 'init', ...ISTIO_INIT_ARGS, '--dry-run', '--ipv6', 'off']);
  const lines = r.stdout.split('\n');
  if (!lines[0]?.startsWith('# siding init --dry-run: IPv4')) throw new Error(`unexpected --dry-run output: ${r.stdout.slice(0, 300)}`);
  return lines.slice(1).join('\n');
}

function familyOf(cmd: Command): 'ipv4' | 'ipv6' {
  return [cmd.file, ...cmd.args].some((a) => a.includes('ip6tables') || a.includes('if_inet6') || a.includes('ip6_tables')) ? 'ipv6' : 'ipv4';
}

/** One apply in a fresh namespace through the library, counting what its runner runs. */
async function countPrograms(): Promise<{ commands: Command[] }> {
  const ns = await freshNetns();
  try {
    const runner = new CountingRunner(new SpawnRunner());
    const opts = parseInitFlags({ ...ISTIO_INIT_RAW, netns: ns.path }, { exists: () => true });
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

/** execve calls of one CLI run, from strace -f (undefined without strace). */
async function straceExecs(): Promise<{ count: number; programs: string[] } | undefined> {
  const strace = lookPath('strace');
  if (strace === undefined) return undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'siding-bench-strace-'));
  const ns = await freshNetns();
  try {
    const out = path.join(dir, 'trace');
    await mustRun(strace, ['-f', '-qq', '-e', 'trace=execve', '-o', out, process.execPath, CLI, 'init', ...ISTIO_INIT_ARGS, '--netns', ns.path]);
    // Successful execve lines: `PID execve("/usr/bin/nsenter", [...], ...) = 0`.
    const ok = readFileSync(out, 'utf8')
      .split('\n')
      .filter((l) => /execve\(/.test(l) && /\) = 0$/.test(l));
    const programs = ok.map((l) => /execve\("([^"]+)"/.exec(l)?.[1] ?? '?').map((p) => p.slice(p.lastIndexOf('/') + 1));
    return { count: ok.length, programs };
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
  const opts = parseInitFlags(raw, { exists: () => true });
  const rules = buildRules(opts.redirect, 'ipv4');
  const payload = render(rules);
  const bench = new Bench({ time: timeMs, warmupTime: Math.min(300, timeMs / 2) });
  bench.add('parse', () => {
    parseInitFlags(raw, { exists: () => true });
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

  const payload = await dryRunPayload();
  let backend: string | undefined;
  const siding: number[] = [];
  const restore: number[] = [];
  const floor: number[] = [];

  const runSiding = async (): Promise<number> => {
    const ns = await freshNetns();
    try {
      const r = await runProgram(process.execPath, [CLI, 'init', ...ISTIO_INIT_ARGS, '--netns', ns.path]);
      if (r.code !== 0) throw new Error(`siding init exited ${r.code}: ${r.stderr}`);
      const chosen = /backend=(nft|legacy)/.exec(r.stderr)?.[1];
      if (chosen === undefined) throw new Error(`siding init did not say which backend it chose: ${r.stderr}`);
      if (backend !== undefined && backend !== chosen) throw new Error(`siding init chose ${chosen} after ${backend}`);
      backend = chosen;
      return r.ms;
    } finally {
      await ns.remove();
    }
  };
  const runRestore = async (): Promise<number> => {
    const ns = await freshNetns();
    try {
      // The same wrapper and arguments siding uses: nsenter into the namespace, --noflush, -w.
      const r = await runProgram('nsenter', [`--net=${ns.path}`, '--', `iptables-${backend ?? 'nft'}-restore`, '--noflush', '-w', '10'], { input: payload });
      if (r.code !== 0) throw new Error(`iptables-restore exited ${r.code}: ${r.stderr}`);
      return r.ms;
    } finally {
      await ns.remove();
    }
  };

  // Warm-up: file caches, and the backend siding picks (the direct restore uses the same).
  await runSiding();
  await runRestore();
  for (let i = 0; i < runs; i++) {
    // Alternate which goes first so neither always runs right after namespace churn.
    if (i % 2 === 0) {
      siding.push(await runSiding());
      restore.push(await runRestore());
    } else {
      restore.push(await runRestore());
      siding.push(await runSiding());
    }
    floor.push((await runProgram(process.execPath, ['-e', '0'])).ms);
  }
  log(`init: ${runs} runs each, siding median ${median(siding).toFixed(1)} ms, iptables-${backend}-restore median ${median(restore).toFixed(1)} ms`);

  const counted = await countPrograms();
  const strace = await straceExecs();
  const rules = await benchRules(1000);
  const perFamily = { ipv4: 0, ipv6: 0 };
  for (const c of counted.commands) perFamily[familyOf(c)] += 1;
  return {
    runs,
    backend: backend ?? 'unknown',
    median_ms: median(siding),
    restore_median_ms: median(restore),
    ratio: median(siding) / median(restore),
    min_ms: Math.min(...siding),
    max_ms: Math.max(...siding),
    restore_min_ms: Math.min(...restore),
    restore_max_ms: Math.max(...restore),
    node_floor_median_ms: median(floor),
    execs: counted.commands.length,
    execs_per_family: perFamily,
    programs: counted.commands.map((c) => `${programOf(c)}${c.args.some((a) => a.startsWith('/proc/')) ? ` ${c.args[c.args.length - 1] ?? ''}` : ''}`),
    execve: strace?.count,
    execve_programs: strace?.programs,
    rules,
  };
}
