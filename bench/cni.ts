/**
 * CNI mode: the plugin's share of a pod's network setup (ADD), for a pod siding injected and
 * for one it did not, with the two candidates for the plugin executable side by side (the
 * static Go plugin, cni/plugin, and a Node.js single executable of the same decisions,
 * bench/cni-sea); their sizes; and the node agent's memory idle and after programming 100
 * pods. The agent runs as its own process (the built CLI) on directories standing in for a
 * node's; every pod is a network namespace made for it. The plugin's share is the whole
 * siding call: a chain without siding lacks exactly this call, the other plugins unchanged.
 *
 * Needs root (network namespaces, iptables) and Go (the plugin); skipped loudly otherwise.
 */
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DEFAULT_CONFIG, type InjectionConfig } from '../src/config/index.js';
import { injectPod } from '../src/inject/index.js';
import { CLI, REPO, median, mustRun, percentile, residentMemory, startServer } from './procs.js';
import { fmt, table, type Target } from './report.js';

export interface Latency {
  runs: number;
  median_ms: number;
  p90_ms: number;
  min_ms: number;
  max_ms: number;
}

export interface CniResults {
  runs: number;
  go: { bytes: number; linkage: string; add_injected: Latency; add_plain: Latency };
  sea: { bytes: number; linkage: string; add_injected: Latency; add_plain: Latency };
  agent: { rss_idle_mb: number; rss_100_pods_mb: number; peak_mb: number; pods: number; programmed_median_ms: number };
}

export type CniOutcome = CniResults | { skipped: string };

function latency(ms: number[]): Latency {
  const s = [...ms].sort((a, b) => a - b);
  return { runs: s.length, median_ms: median(s), p90_ms: percentile(s, 90), min_ms: s[0] ?? NaN, max_ms: s.at(-1) ?? NaN };
}

function run(file: string, env: Record<string, string>, input: string): Promise<{ code: number; stdout: string; ms: number }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn(file, [], { env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env }, stdio: ['pipe', 'pipe', 'ignore'] });
    let stdout = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, ms: Number(process.hrtime.bigint() - start) / 1e6 }));
    child.stdin.end(input);
  });
}

const CNI_CONFIG: InjectionConfig = { ...DEFAULT_CONFIG, redirect: { ...DEFAULT_CONFIG.redirect, mode: 'cni' } };

function injectedAnnotations(): Record<string, string> {
  const o = injectPod({ metadata: { name: 'web', namespace: 'app' }, spec: { containers: [{ name: 'app', image: 'app' }] } }, { namespace: 'app' }, CNI_CONFIG);
  if (o.kind !== 'injected') throw new Error('the bench pod was not injected');
  return { ...o.pod.metadata?.annotations };
}

export async function benchCni(opts: { runs: number; pods: number; log: (line: string) => void }): Promise<CniOutcome> {
  if (process.getuid?.() !== 0) return { skipped: 'needs root (network namespaces, iptables)' };
  let go: string;
  let sea: string;
  try {
    go = execFileSync('bash', [join(REPO, 'scripts/build-cni-plugin.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop() ?? '';
    opts.log('building the Node.js single-executable candidate (bench/cni-sea)...');
    sea = execFileSync('bash', [join(REPO, 'bench/cni-sea/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop() ?? '';
  } catch (e) {
    return { skipped: `the plugins could not be built: ${e instanceof Error ? e.message : String(e)}` };
  }
  const dir = mkdtempSync(join(tmpdir(), 'siding-bench-cni-'));
  const namespaces: string[] = [];
  const netns = async (): Promise<string> => {
    const name = `sdbcni-${randomBytes(4).toString('hex')}`;
    await mustRun('ip', ['netns', 'add', name]);
    await mustRun('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
    namespaces.push(name);
    return name;
  };
  for (const d of ['bin', 'net.d', 'state']) mkdirSync(join(dir, d));
  writeFileSync(join(dir, 'net.d', '10-bench.conflist'), '{"cniVersion":"1.0.0","name":"bench","plugins":[{"type":"bridge"}]}\n');
  const socket = join(dir, 'cni.sock');
  // As in its pod: in-cluster credentials (bench/cni-agent-incluster.sh), so the memory
  // reading is the DaemonSet's (a kubeconfig would load @kubernetes/client-node's loader).
  const agent = await startServer(
    'bash',
    [join(REPO, 'bench/cni-agent-incluster.sh'), process.execPath, CLI, '--node-name', 'bench', '--cni-bin-dir', join(dir, 'bin'), '--cni-conf-dir', join(dir, 'net.d'),
      '--state-dir', join(dir, 'state'), '--plugin', go, '--socket', socket, '--health', '127.0.0.1:0', '--log-level', 'info'],
    (out) => (out.includes('"siding CNI agent started"') ? 'started' : undefined),
  );
  let agentLog = '';
  agent.child.stdout?.on('data', (d: string) => (agentLog += d));
  try {
    const annotations = injectedAnnotations();
    const conf = (pod: Record<string, string>): string =>
      JSON.stringify({
        cniVersion: '1.0.0', name: 'bench', type: 'siding', socket, timeoutSeconds: 30,
        capabilities: { 'io.kubernetes.cri.pod-annotations': true },
        runtimeConfig: { 'io.kubernetes.cri.pod-annotations': pod },
        prevResult: { cniVersion: '1.0.0', interfaces: [{ name: 'eth0' }], ips: [{ address: '10.9.0.5/24', interface: 0 }] },
      });
    const env = (ns: string): Record<string, string> => ({
      CNI_COMMAND: 'ADD', CNI_CONTAINERID: randomBytes(8).toString('hex'), CNI_NETNS: `/run/netns/${ns}`, CNI_IFNAME: 'eth0', CNI_PATH: join(dir, 'bin'),
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=app;K8S_POD_NAME=web',
    });
    await new Promise((r) => setTimeout(r, 2000));
    const idle = residentMemory(agent.pid);

    // A pod siding did not inject: neither candidate talks to the agent.
    opts.log(`ADD of a pod siding did not inject: ${opts.runs} runs per candidate...`);
    const plainNs = await netns();
    const plain = { go: [] as number[], sea: [] as number[] };
    for (let i = 0; i < opts.runs + 2; i++) {
      for (const [name, bin] of [['go', go], ['sea', sea]] as const) {
        const r = await run(bin, env(plainNs), conf({ 'app.kubernetes.io/name': 'web' }));
        if (r.code !== 0) throw new Error(`${name} plugin failed on a plain pod: ${r.stdout}`);
        if (i >= 2) plain[name].push(r.ms);
      }
    }
    // An injected pod: the agent programs its namespace.
    opts.log(`ADD of an injected pod: ${opts.runs} runs per candidate, a fresh namespace each...`);
    const injected = { go: [] as number[], sea: [] as number[] };
    for (let i = 0; i < opts.runs + 2; i++) {
      for (const [name, bin] of [['go', go], ['sea', sea]] as const) {
        const ns = await netns();
        const r = await run(bin, env(ns), conf(annotations));
        if (r.code !== 0) throw new Error(`${name} plugin failed on an injected pod: ${r.stdout}`);
        if (i >= 2) injected[name].push(r.ms);
      }
    }
    // The agent's memory with `pods` programmed pods (their namespaces kept until the reading).
    opts.log(`agent memory after programming ${opts.pods} pods...`);
    for (let i = namespaces.length - 1; i < opts.pods + 1; i++) {
      const r = await run(go, env(await netns()), conf(annotations));
      if (r.code !== 0) throw new Error(`programming pod ${i} failed: ${r.stdout}`);
    }
    await new Promise((r) => setTimeout(r, 1000));
    const loaded = residentMemory(agent.pid);
    const agentMs = [...agentLog.matchAll(/"result":"programmed","duration_ms":([0-9.]+)/g)].map((m) => Number(m[1]));
    const linkage = (file: string): string => execFileSync('file', ['-L', file], { encoding: 'utf8' }).includes('statically linked') ? 'static' : 'dynamic (glibc)';
    return {
      runs: opts.runs,
      go: { bytes: statSync(go).size, linkage: linkage(go), add_injected: latency(injected.go), add_plain: latency(plain.go) },
      sea: { bytes: statSync(sea).size, linkage: linkage(sea), add_injected: latency(injected.sea), add_plain: latency(plain.sea) },
      agent: { rss_idle_mb: idle.rssMb, rss_100_pods_mb: loaded.rssMb, peak_mb: loaded.peakMb, pods: namespaces.length - 1, programmed_median_ms: median(agentMs) },
    };
  } finally {
    await agent.stop();
    for (const n of namespaces) await mustRun('ip', ['netns', 'del', n]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export function cniTable(r: CniOutcome): string {
  if ('skipped' in r) return `CNI mode: skipped (${r.skipped})`;
  const row = (name: string, c: CniResults['go']): string[] => [
    name,
    `${(c.bytes / 2 ** 20).toFixed(1)} MiB, ${c.linkage}`,
    `${fmt(c.add_injected.median_ms, 1)} / ${fmt(c.add_injected.p90_ms, 1)}`,
    `${fmt(c.add_plain.median_ms, 1)} / ${fmt(c.add_plain.p90_ms, 1)}`,
  ];
  return [
    `CNI plugin: the siding call in a pod's ADD (ms, median / p90 of ${r.runs})`,
    table(['candidate', 'size', 'injected pod', 'pod not injected'], [row('Go (cni/plugin, shipped)', r.go), row('Node.js single executable', r.sea)]),
    `Agent: RSS ${fmt(r.agent.rss_idle_mb, 1)} MB idle, ${fmt(r.agent.rss_100_pods_mb, 1)} MB after programming ${r.agent.pods} pods (peak ${fmt(r.agent.peak_mb, 1)} MB); programming one pod took ${fmt(r.agent.programmed_median_ms, 1)} ms inside the agent (median)`,
  ].join('\n');
}

export function cniTargets(r: CniOutcome): Target[] {
  const ran = 'skipped' in r ? undefined : r;
  return [
    { name: 'CNI: ADD of an injected pod, siding share, median', target: '<= 50 ms', measured: `${fmt(ran?.go.add_injected.median_ms, 1)} ms`, met: ran === undefined ? undefined : ran.go.add_injected.median_ms <= 50 },
    { name: 'CNI: ADD of a pod not injected, siding share, median', target: '<= 10 ms', measured: `${fmt(ran?.go.add_plain.median_ms, 1)} ms`, met: ran === undefined ? undefined : ran.go.add_plain.median_ms <= 10 },
  ];
}
