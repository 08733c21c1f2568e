/**
 * Helpers for the CNI integration tests (not a test file itself): the agent as its own
 * process (the built CLI), network namespaces the test makes, and reading their rules.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { normaliseSave } from '../../src/redirect/save.js';
import { CLI, must, run } from './init-lib.js';

export interface AgentDirs {
  root: string;
  bin: string;
  conf: string;
  state: string;
  socket: string;
  kubeconfig: string;
}

/**
 * Directories standing in for a node's: CNI bin and configuration directories, the agent's
 * state, its socket, and a kubeconfig whose API server is a closed loopback port (these
 * tests give the plugin the pods' annotations, as containerd and CRI-O do, so the agent
 * never needs the API server; it keeps retrying the pod list in the background).
 */
export function agentDirs(): AgentDirs {
  const root = mkdtempSync(join(tmpdir(), 'siding-cni-it-'));
  const dirs = { root, bin: join(root, 'bin'), conf: join(root, 'net.d'), state: join(root, 'state'), socket: join(root, 'run', 'cni.sock'), kubeconfig: join(root, 'kubeconfig') };
  for (const d of [dirs.bin, dirs.conf, dirs.state]) mkdirSync(d);
  writeFileSync(
    dirs.kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      'clusters: [{name: none, cluster: {server: "https://127.0.0.1:9", insecure-skip-tls-verify: true}}]',
      'users: [{name: none, user: {token: none}}]',
      'contexts: [{name: none, context: {cluster: none, user: none}}]',
      'current-context: none',
      '',
    ].join('\n'),
  );
  return dirs;
}

export interface AgentProcess {
  child: ChildProcess;
  healthUrl: string;
  log: () => string;
  /** Ends it with a signal and waits for its exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
}

/** Starts `siding cni-agent` and waits until it logs that it started. */
export function startAgentProcess(dirs: AgentDirs, plugin: string, extra: string[] = []): Promise<AgentProcess> {
  const args = [
    CLI, 'cni-agent', '--node-name', 'it-node', '--cni-bin-dir', dirs.bin, '--cni-conf-dir', dirs.conf, '--state-dir', dirs.state,
    '--plugin', plugin, '--socket', dirs.socket, '--health', '127.0.0.1:0', '--kubeconfig', dirs.kubeconfig, '--log-level', 'debug', ...extra,
  ];
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the agent did not start within 20 s:\n${out}`)), 20_000);
    const check = (): void => {
      const line = out.split('\n').find((l) => l.includes('"siding CNI agent started"'));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', check);
      const healthUrl = (JSON.parse(line) as { health: string }).health;
      resolve({
        child,
        healthUrl,
        log: () => out,
        stop: (signal) => {
          child.kill(signal);
          return exited;
        },
      });
    };
    child.stdout.on('data', check);
    void exited.then((code) => reject(new Error(`the agent exited (${code}) before it started:\n${out}`)));
  });
}

/**
 * A fresh network namespace at /run/netns/NAME as the main CNI plugin leaves a pod's: lo up,
 * and eth0 with 10.9.0.5/24 and a default route (one end of a veth pair whose other end
 * stays in the namespace too: nothing leaves it).
 */
export async function makeNetns(): Promise<string> {
  const name = `sdcni-${randomBytes(4).toString('hex')}`;
  await must('ip', ['netns', 'add', name]);
  for (const a of [
    ['link', 'set', 'lo', 'up'],
    ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'peer0'],
    ['addr', 'add', '10.9.0.5/24', 'dev', 'eth0'],
    ['link', 'set', 'eth0', 'up'],
    ['route', 'add', 'default', 'dev', 'eth0'],
  ]) {
    await must('ip', ['-n', name, ...a]);
  }
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  await run('ip', ['netns', 'del', name]);
}

/** Both backends' IPv4 and IPv6 rulesets of a namespace, normalised for comparison. */
export async function rulesets(name: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const tool of ['iptables-nft-save', 'iptables-legacy-save', 'ip6tables-nft-save', 'ip6tables-legacy-save']) {
    const r = await run('ip', ['netns', 'exec', name, tool]);
    out[tool] = r.code === 0 ? normaliseSave(r.stdout) : `(exit ${r.code})`;
  }
  return out;
}
