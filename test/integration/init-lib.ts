/**
 * Network-namespace lab for the `siding init` integration tests (not a test file itself).
 *
 * A lab is two namespaces the test creates, a "pod" and a "peer", joined by a veth pair:
 *   pod  10.250.0.1/30  fd00:5d::1/64   (default route via the peer)
 *   peer 10.250.0.2/30  fd00:5d::2/64
 * Traffic only ever goes to these addresses or to loopback. Stub servers answer with a word
 * naming who they are, so a test asserts where a connection landed, not what rules exist:
 *   pod (run as the proxy, UID/GID 1337): 15001 "outbound", 15006 "inbound", 8080/8081/15021
 *     "app", 15053 "dns-proxy" (UDP, on 127.0.0.1 and ::1) and "dns-proxy-tcp" (TCP)
 *   peer: 9000/9001/9002 "peer", 53 "peer-dns" (UDP) and "peer-dns-tcp" (TCP)
 * Every program is run with an argument array; nothing goes through a shell.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isRoot, prerequisite } from '../helpers/prereq.js';
import type { Prerequisite } from '../helpers/prereq.js';
import { Command, CommanderError } from 'commander';
import { lookPath } from '../../src/redirect/host.js';
import { registerInit } from '../../src/cli/init.js';
import type { InitCliDeps } from '../../src/cli/init.js';
import { InitFlagError, ValidationError } from '../../src/errors/index.js';
import { normaliseSave } from '../../src/redirect/save.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
export const PROXY = 1337;
export const APP = 2000;

export const POD4 = '10.250.0.1';
export const PEER4 = '10.250.0.2';
export const POD6 = 'fd00:5d::1';
export const PEER6 = 'fd00:5d::2';

/** The seed's exact command line (istio-init's), as an argument array. */
export const SEED = ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

const TOOLS = ['ip', 'setpriv', 'nsenter', 'iptables-legacy-save', 'iptables-nft-save', 'ip6tables-legacy-save', 'ip6tables-nft-save'];

/** Root, the programs, and a built CLI; otherwise the suite skips (fails under CI=true). */
export function initPrerequisite(): Prerequisite {
  return prerequisite(() => {
    if (!isRoot()) return 'siding init integration tests need root (network namespaces, iptables)';
    const missing = TOOLS.filter((t) => lookPath(t) === undefined);
    if (missing.length > 0) return `missing programs: ${missing.join(', ')}`;
    if (!existsSync(CLI)) return `${CLI} does not exist: run npm run build first`;
    return undefined;
  });
}

export interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a program with an argument array and collects its output. */
export function run(
  file: string,
  args: readonly string[],
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? (signal === null ? 1 : 128), stdout, stderr });
    });
    if (opts.input !== undefined && child.stdin !== null) {
      child.stdin.on('error', () => undefined);
      child.stdin.end(opts.input);
    }
  });
}

/** Runs a program and fails with its output when it exits non-zero. */
export async function must(file: string, args: readonly string[], input?: string): Promise<string> {
  const r = await run(file, args, input === undefined ? {} : { input });
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

const SERVER = `
const net = require('net'), dgram = require('dgram');
const specs = JSON.parse(process.argv[1]);
let pending = specs.length;
const ready = () => { if (--pending === 0) console.log('ready'); };
for (const s of specs) {
  if (s.proto === 'tcp') {
    const srv = net.createServer((c) => { c.on('error', () => {}); c.end(s.reply + '\\n'); });
    srv.on('error', (e) => { console.log('failed ' + s.port + ' ' + e.code); process.exit(1); });
    srv.listen({ host: '::', port: s.port }, ready);
  } else {
    const sock = dgram.createSocket({ type: s.host && !s.host.includes(':') ? 'udp4' : 'udp6' });
    sock.on('message', (m, r) => sock.send(s.reply, r.port, r.address));
    sock.on('error', (e) => { console.log('failed ' + s.port + ' ' + e.code); process.exit(1); });
    sock.bind({ address: s.host || '::', port: s.port }, ready);
  }
}`;

const CLIENT = `
const net = require('net'), dgram = require('dgram');
const o = JSON.parse(process.argv[1]);
const done = (s) => { process.stdout.write(s + '\\n'); process.exit(0); };
setTimeout(() => done('TIMEOUT'), o.timeoutMs);
if (o.proto === 'udp') {
  const sock = dgram.createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
  sock.on('error', (e) => done('ERR ' + e.code));
  sock.on('message', (m) => done(m.toString().trim()));
  sock.connect(o.port, o.host, () => sock.send('query'));
} else {
  let data = '';
  const opts = { host: o.host, port: o.port };
  if (o.source) opts.localAddress = o.source;
  const c = net.connect(opts);
  c.setEncoding('utf8');
  c.on('data', (d) => { data += d; });
  c.on('end', () => done(data.trim()));
  c.on('error', (e) => done('ERR ' + e.code));
}`;

export interface ConnectOptions {
  host: string;
  port: number;
  proto?: 'tcp' | 'udp';
  uid?: number;
  gid?: number;
  /** Local address to bind (e.g. 127.0.0.6). */
  source?: string;
  timeoutMs?: number;
}

let labCounter = 0;

/** A pod namespace and a peer namespace joined by a veth pair, with stub servers. */
export class Lab {
  readonly pod: string;
  readonly peer: string;
  private readonly servers: ChildProcess[] = [];

  private constructor(tag: string) {
    labCounter += 1;
    this.pod = `sdt-${process.pid}-${tag}-${labCounter}-pod`;
    this.peer = `sdt-${process.pid}-${tag}-${labCounter}-peer`;
  }

  /**
   * Creates the namespaces, the veth pair and the addresses; starts the stub servers unless
   * `stubs` is false (the proxy tests bring their own servers and the real proxy).
   */
  static async create(tag: string, opts: { ipv6?: boolean; stubs?: boolean } = {}): Promise<Lab> {
    const lab = new Lab(tag);
    // Interface names are limited to 15 characters: v<pid><n><a|b>.
    const vethPod = `v${process.pid % 1_000_000}${labCounter}a`;
    const vethPeer = `v${process.pid % 1_000_000}${labCounter}b`;
    try {
      await must('ip', ['netns', 'add', lab.pod]);
      await must('ip', ['netns', 'add', lab.peer]);
      await must('ip', ['link', 'add', vethPod, 'netns', lab.pod, 'type', 'veth', 'peer', 'name', vethPeer, 'netns', lab.peer]);
      for (const [ns, dev, v4, v6] of [
        [lab.pod, vethPod, `${POD4}/30`, `${POD6}/64`],
        [lab.peer, vethPeer, `${PEER4}/30`, `${PEER6}/64`],
      ] as const) {
        await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        await must('ip', ['-n', ns, 'addr', 'add', v4, 'dev', dev]);
        if (opts.ipv6 === true) await must('ip', ['-n', ns, '-6', 'addr', 'add', v6, 'dev', dev, 'nodad']);
        await must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
      }
      // A pod always has a default route; the validation connection needs one to leave.
      await must('ip', ['-n', lab.pod, 'route', 'add', 'default', 'via', PEER4]);
      if (opts.ipv6 === true) {
        await must('ip', ['-n', lab.pod, '-6', 'route', 'add', 'default', 'via', PEER6]);
        // The proxy's IPv6 passthrough source; Envoy binds it, here it must exist on lo.
        await must('ip', ['-n', lab.pod, '-6', 'addr', 'add', '::6/128', 'dev', 'lo', 'nodad']);
      }
      if (opts.stubs === false) return lab;
      await lab.startServers(lab.pod, PROXY, [
        { proto: 'tcp', port: 15001, reply: 'outbound' },
        { proto: 'tcp', port: 15006, reply: 'inbound' },
        { proto: 'tcp', port: 8080, reply: 'app' },
        { proto: 'tcp', port: 8081, reply: 'app' },
        { proto: 'tcp', port: 15021, reply: 'app' },
        { proto: 'tcp', port: 15053, reply: 'dns-proxy-tcp' },
        // Like a real DNS proxy, bound to loopback: REDIRECT sends the query to 127.0.0.1
        // (::1), and the answer must leave from there to match the conntrack entry.
        { proto: 'udp', port: 15053, reply: 'dns-proxy', host: '127.0.0.1' },
        ...(opts.ipv6 === true ? [{ proto: 'udp' as const, port: 15053, reply: 'dns-proxy', host: '::1' }] : []),
      ]);
      await lab.startServers(lab.peer, 0, [
        { proto: 'tcp', port: 9000, reply: 'peer' },
        { proto: 'tcp', port: 9001, reply: 'peer' },
        { proto: 'tcp', port: 9002, reply: 'peer' },
        { proto: 'tcp', port: 53, reply: 'peer-dns-tcp' },
        { proto: 'udp', port: 53, reply: 'peer-dns' },
      ]);
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  private startServers(ns: string, id: number, specs: { proto: 'tcp' | 'udp'; port: number; reply: string; host?: string }[]): Promise<void> {
    const args = ['netns', 'exec', ns, 'setpriv', '--reuid', String(id), '--regid', String(id), '--clear-groups', process.execPath, '-e', SERVER, JSON.stringify(specs)];
    const child = spawn('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`stub servers in ${ns} did not start: ${out}`)), 10_000);
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        if (out.includes('ready')) {
          clearTimeout(timer);
          resolve();
        } else if (out.includes('failed')) {
          clearTimeout(timer);
          reject(new Error(`stub servers in ${ns}: ${out}`));
        }
      });
      child.on('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`stub servers in ${ns} exited ${code}: ${out}`));
      });
    });
  }

  /**
   * Starts a long-running program inside a namespace as a user (`ip netns exec NS setpriv
   * ...`); it is killed by destroy() if still running. The returned process is the program
   * itself (ip and setpriv exec into it), so its pid is the program's.
   */
  spawnIn(from: 'pod' | 'peer', uid: number, file: string, args: readonly string[]): ChildProcess {
    const ns = from === 'pod' ? this.pod : this.peer;
    const child = spawn('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', file, ...args], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.servers.push(child);
    return child;
  }

  /** Connects from a namespace as a given user; returns the answer, 'TIMEOUT' or 'ERR <code>'. */
  async connect(from: 'pod' | 'peer', o: ConnectOptions): Promise<string> {
    const ns = from === 'pod' ? this.pod : this.peer;
    const uid = o.uid ?? 0;
    const gid = o.gid ?? uid;
    const spec = { host: o.host, port: o.port, proto: o.proto ?? 'tcp', source: o.source, timeoutMs: o.timeoutMs ?? 1500 };
    const r = await run('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', String(uid), '--regid', String(gid), '--clear-groups', process.execPath, '-e', CLIENT, JSON.stringify(spec)]);
    if (r.code !== 0) throw new Error(`client failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** An app-UID TCP connection from the pod. */
  app(host: string, port: number, extra: Partial<ConnectOptions> = {}): Promise<string> {
    return this.connect('pod', { host, port, uid: APP, ...extra });
  }

  /** A proxy-UID TCP connection from the pod. */
  proxy(host: string, port: number, extra: Partial<ConnectOptions> = {}): Promise<string> {
    return this.connect('pod', { host, port, uid: PROXY, ...extra });
  }

  /** A TCP connection from the peer to the pod. */
  fromPeer(host: string, port: number): Promise<string> {
    return this.connect('peer', { host, port });
  }

  /** Runs the built CLI, `node dist/cli.js <args>`, as a process inside the pod namespace. */
  cli(args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
    return run('ip', ['netns', 'exec', this.pod, process.execPath, CLI, ...args], { env });
  }

  /**
   * Runs `siding <args> --netns /run/netns/<pod>` in this process: the same commander
   * command, parser and runInit as the CLI, with the real execa runner and nsenter, but
   * without starting Node.js again for every run. Exit codes as src/cli/index.ts maps them.
   */
  async siding(args: readonly string[], overrides: Partial<InitCliDeps> = {}): Promise<Result> {
    let stdout = '';
    let stderr = '';
    const program = new Command('siding').exitOverride().configureOutput({
      writeOut: (t) => (stdout += t),
      writeErr: (t) => (stderr += t),
    });
    registerInit(program, { out: (t) => (stdout += t), err: (t) => (stderr += t), ...overrides });
    program.commands.forEach((c) => c.exitOverride());
    try {
      await program.parseAsync([...args, '--netns', `/run/netns/${this.pod}`], { from: 'user' });
      return { code: 0, stdout, stderr };
    } catch (e) {
      stderr += `siding: ${e instanceof Error ? e.message : String(e)}\n`;
      if (e instanceof CommanderError) return { code: e.exitCode === 0 ? 0 : 2, stdout, stderr };
      if (e instanceof InitFlagError) return { code: 2, stdout, stderr };
      if (e instanceof ValidationError) return { code: 126, stdout, stderr };
      return { code: 1, stdout, stderr };
    }
  }

  /** Runs `siding <args>` (in this process) and fails unless it exits 0. */
  async sidingOk(args: readonly string[], overrides: Partial<InitCliDeps> = {}): Promise<Result> {
    const r = await this.siding(args, overrides);
    if (r.code !== 0) throw new Error(`siding ${args.join(' ')} exited ${r.code}: ${r.stderr}${r.stdout}`);
    return r;
  }

  /** iptables-save of the pod namespace for one backend and family. */
  save(backend: 'legacy' | 'nft', family: 'ipv4' | 'ipv6' = 'ipv4'): Promise<string> {
    const prog = `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${backend}-save`;
    return must('ip', ['netns', 'exec', this.pod, prog]);
  }

  /** Both families of one backend, normalised (no counters, no comments, empty tables dropped). */
  async state(backend: 'legacy' | 'nft'): Promise<string> {
    return `# IPv4\n${normaliseSave(await this.save(backend, 'ipv4'))}# IPv6\n${normaliseSave(await this.save(backend, 'ipv6'))}`;
  }

  /** Applies a payload with iptables-restore --noflush in the pod (someone else's rules). */
  async restore(backend: 'legacy' | 'nft', family: 'ipv4' | 'ipv6', payload: string): Promise<void> {
    const prog = `${family === 'ipv4' ? 'iptables' : 'ip6tables'}-${backend}-restore`;
    await must('ip', ['netns', 'exec', this.pod, prog, '--noflush'], payload);
  }

  /** Stops the servers and deletes both namespaces (the veth pair goes with them). */
  async destroy(): Promise<void> {
    for (const s of this.servers) {
      if (s.exitCode === null && s.signalCode === null) {
        const exited = new Promise((resolve) => s.once('exit', resolve));
        s.kill('SIGKILL');
        await exited;
      }
    }
    const problems: string[] = [];
    for (const ns of [this.pod, this.peer]) {
      // A namespace that was never created fails to delete; only a remaining one is a problem.
      for (let attempt = 0; attempt < 5; attempt++) {
        const r = await run('ip', ['netns', 'del', ns]);
        if (r.code === 0 || !existsSync(`/run/netns/${ns}`)) break;
        if (attempt === 4) problems.push(`${ns}: ${r.stderr.trim()}`);
        await new Promise((res) => setTimeout(res, 100));
      }
    }
    if (problems.length > 0) throw new Error(`could not delete namespaces: ${problems.join('; ')}`);
  }
}
