/**
 * Network-namespace lab for the `siding init` integration tests (not a test file itself).
 *
 * A lab is two namespaces the test creates, a "pod" and a "peer", joined by a veth pair
 * named eth0 on both sides (names are per namespace):
 *   pod  10.250.0.1/24  fd00:5d::1/64   (default route via the peer)
 *   peer 10.250.0.2/24 and .3, fd00:5d::2/64 and ::3
 * With `virtualLink`, a second pair, eth1, stands for a VM's virtual interface:
 *   pod  172.31.0.1/24 and 10.251.0.1/32, fd00:5e::1/64 (the peer routes 10.251.0.1 over it)
 *   peer 172.31.0.2/24, fd00:5e::2/64
 * Traffic only ever goes to these addresses or to loopback. Stub servers answer with a word
 * naming who they are, so a test asserts where a connection landed, not what rules exist:
 *   pod (run as the proxy, UID/GID 1337 unless told otherwise): 15001 "outbound",
 *     15006 "inbound", 15008 "tunnel", 8080/8081/15021 "app", 15053 "dns-proxy" (UDP, on
 *     127.0.0.1 and ::1) and "dns-proxy-tcp" (TCP), 127.0.0.53:53 "local-dns" (UDP) and
 *     "local-dns-tcp" (TCP), a resolver on loopback as systemd-resolved has it
 *   peer: 9000/9001/9002/443 "peer", 53 "peer-dns" (UDP, on each address) and "peer-dns-tcp"
 * With `resolvConf`, /etc/netns/<pod>/resolv.conf holds it, so every program started with
 * `ip netns exec <pod>` reads it as /etc/resolv.conf (removed again by destroy()).
 * Every program is run with an argument array; nothing goes through a shell.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isRoot, prerequisite } from '../helpers/prereq.js';
import type { Prerequisite } from '../helpers/prereq.js';
import { Command, CommanderError } from 'commander';
import { lookPath } from '../../src/redirect/host.js';
import { registerInit } from '../../src/cli/init.js';
import type { InitCliDeps } from '../../src/cli/init.js';
import { InitFlagError, ValidationError } from '../../src/errors/index.js';
import { normaliseSave } from '../../src/redirect/save.js';

/** The `siding` executable as installed (package.json bin): `siding init` runs its own bundle. */
export const CLI = fileURLToPath(new URL('../../dist/siding.cjs', import.meta.url));
export const PROXY = 1337;
export const APP = 2000;

export const POD4 = '10.250.0.1';
export const PEER4 = '10.250.0.2';
export const POD6 = 'fd00:5d::1';
export const PEER6 = 'fd00:5d::2';
/** The peer's second addresses: a DNS server that /etc/resolv.conf does not list. */
export const PEER4B = '10.250.0.3';
export const PEER6B = 'fd00:5d::3';
/** The virtual link (eth1): pod and peer addresses, and a pod address inside 10.0.0.0/8. */
export const VPOD4 = '172.31.0.1';
export const VPEER4 = '172.31.0.2';
export const VPOD4_IN_10 = '10.251.0.1';
export const VPOD6 = 'fd00:5e::1';
export const VPEER6 = 'fd00:5e::2';
/** A DNS resolver on the pod's loopback. */
export const LOCAL_DNS = '127.0.0.53';

/** The command line Istio's injector gives istio-iptables, as siding init arguments. */
export const ISTIO_INIT_ARGS = ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

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
  opts: { input?: string; timeoutMs?: number; env?: Record<string, string>; cleanEnv?: boolean } = {},
): Promise<Result> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, [...args], {
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      // cleanEnv: only PATH and the given variables, so no variable of the test runner leaks in.
      env: opts.cleanEnv === true ? { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin', ...opts.env } : { ...process.env, ...opts.env },
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

// Stub servers: `first` are bound as root (a resolver on port 53), then the process becomes
// `uid`/`gid` (the proxy's, so its sockets carry the proxy's owner) and binds `specs`.
const SERVER = `
const net = require('net'), dgram = require('dgram');
const o = JSON.parse(process.argv[1]);
const bind = (specs, then) => {
  let pending = specs.length;
  if (pending === 0) return then();
  const ready = () => { if (--pending === 0) then(); };
  for (const s of specs) {
    if (s.proto === 'tcp') {
      const srv = net.createServer((c) => { c.on('error', () => {}); c.end(s.reply + '\\n'); });
      srv.on('error', (e) => { console.log('failed ' + s.port + ' ' + e.code); process.exit(1); });
      srv.listen({ host: s.host || '::', port: s.port }, ready);
    } else {
      const sock = dgram.createSocket({ type: s.host && !s.host.includes(':') ? 'udp4' : 'udp6' });
      sock.on('message', (m, r) => sock.send(s.reply, r.port, r.address));
      sock.on('error', (e) => { console.log('failed ' + s.port + ' ' + e.code); process.exit(1); });
      sock.bind({ address: s.host || '::', port: s.port }, ready);
    }
  }
};
bind(o.first, () => {
  process.setgroups([]);
  process.setgid(o.gid);
  process.setuid(o.uid);
  bind(o.specs, () => console.log('ready'));
});`;

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

interface ServerSpec {
  proto: 'tcp' | 'udp';
  port: number;
  reply: string;
  host?: string;
}

export interface LabOptions {
  /** IPv6 addresses on both sides. */
  ipv6?: boolean;
  /** An IPv4 address on the pod side (default true; false for an IPv6-only pod). */
  podIpv4?: boolean;
  /** Add ::6/128 to the pod's lo as a proxy's deployment would (default: with ipv6). */
  passthroughAddress?: boolean;
  /** The second link, eth1 (for -k and -c). */
  virtualLink?: boolean;
  /** The pod's /etc/resolv.conf, for programs started inside it. */
  resolvConf?: string;
  /** UID and GID the pod's stub servers run as: the proxy's, so DNS answers get its conntrack zone. */
  proxyUid?: number;
  proxyGid?: number;
  /** Start the stub servers (default true; the proxy tests bring their own servers and the real proxy). */
  stubs?: boolean;
}

/** A pod namespace and a peer namespace joined by a veth pair, with stub servers. */
export class Lab {
  readonly pod: string;
  readonly peer: string;
  private readonly servers: ChildProcess[] = [];
  private etcDir: string | undefined;

  private constructor(tag: string) {
    labCounter += 1;
    this.pod = `sdt-${process.pid}-${tag}-${labCounter}-pod`;
    this.peer = `sdt-${process.pid}-${tag}-${labCounter}-peer`;
  }

  /**
   * Creates the namespaces, the veth pairs and the addresses; starts the stub servers unless
   * `stubs` is false (the proxy tests bring their own servers and the real proxy).
   */
  static async create(tag: string, opts: LabOptions = {}): Promise<Lab> {
    const lab = new Lab(tag);
    const ipv6 = opts.ipv6 === true;
    const podIpv4 = opts.podIpv4 ?? true;
    try {
      await must('ip', ['netns', 'add', lab.pod]);
      await must('ip', ['netns', 'add', lab.peer]);
      if (opts.resolvConf !== undefined) lab.writeResolvConf(opts.resolvConf);
      const links: { dev: string; pod4: string[]; peer4: string[]; pod6: string[]; peer6: string[] }[] = [
        { dev: 'eth0', pod4: podIpv4 ? [`${POD4}/24`] : [], peer4: [`${PEER4}/24`, `${PEER4B}/24`], pod6: [`${POD6}/64`], peer6: [`${PEER6}/64`, `${PEER6B}/64`] },
      ];
      if (opts.virtualLink === true) {
        links.push({ dev: 'eth1', pod4: [`${VPOD4}/24`, `${VPOD4_IN_10}/32`], peer4: [`${VPEER4}/24`], pod6: [`${VPOD6}/64`], peer6: [`${VPEER6}/64`] });
      }
      // Created directly inside the namespaces, so the names only need to be unique there.
      // Each namespace is then configured by one `ip -batch` (a program per command costs more).
      await must('ip', ['-batch', '-'], links.map((l) => `link add ${l.dev} netns ${lab.pod} type veth peer name ${l.dev} netns ${lab.peer}\n`).join(''));
      const pod: string[] = ['link set lo up'];
      const peer: string[] = ['link set lo up'];
      for (const l of links) {
        for (const [cmds, v4, v6] of [
          [pod, l.pod4, l.pod6],
          [peer, l.peer4, l.peer6],
        ] as const) {
          for (const a of v4) cmds.push(`addr add ${a} dev ${l.dev}`);
          if (ipv6) for (const a of v6) cmds.push(`addr add ${a} dev ${l.dev} nodad`);
          cmds.push(`link set ${l.dev} up`);
        }
      }
      // A pod always has a default route; the validation connection needs one to leave.
      if (podIpv4) pod.push(`route add default via ${PEER4}`);
      if (opts.virtualLink === true) peer.push(`route add ${VPOD4_IN_10}/32 dev eth1`);
      if (ipv6) {
        pod.push(`route add default via ${PEER6}`);
        // The proxy's IPv6 passthrough source; Envoy binds it, here it must exist on lo.
        if (opts.passthroughAddress ?? true) pod.push('addr add ::6/128 dev lo nodad');
      }
      await must('ip', ['-n', lab.pod, '-batch', '-'], pod.map((c) => `${c}\n`).join(''));
      await must('ip', ['-n', lab.peer, '-batch', '-'], peer.map((c) => `${c}\n`).join(''));
      if (opts.stubs === false) return lab;
      const proxyUid = opts.proxyUid ?? PROXY;
      const servers = Promise.all([
        lab.startServers(lab.pod, {
          // A resolver on loopback is another program, which may bind port 53.
          first: [
            { proto: 'udp', port: 53, reply: 'local-dns', host: LOCAL_DNS },
            { proto: 'tcp', port: 53, reply: 'local-dns-tcp', host: LOCAL_DNS },
          ],
          uid: proxyUid,
          gid: opts.proxyGid ?? proxyUid,
          specs: [
            { proto: 'tcp', port: 15001, reply: 'outbound' },
            { proto: 'tcp', port: 15006, reply: 'inbound' },
            { proto: 'tcp', port: 15008, reply: 'tunnel' },
            { proto: 'tcp', port: 8080, reply: 'app' },
            { proto: 'tcp', port: 8081, reply: 'app' },
            { proto: 'tcp', port: 15021, reply: 'app' },
            { proto: 'tcp', port: 15053, reply: 'dns-proxy-tcp' },
            // Like a real DNS proxy, bound to loopback: REDIRECT sends the query to 127.0.0.1
            // (::1), and the answer must leave from there to match the conntrack entry.
            { proto: 'udp', port: 15053, reply: 'dns-proxy', host: '127.0.0.1' },
            ...(ipv6 ? [{ proto: 'udp' as const, port: 15053, reply: 'dns-proxy', host: '::1' }] : []),
          ],
        }),
        lab.startServers(lab.peer, {
          first: [],
          uid: 0,
          gid: 0,
          specs: [
            { proto: 'tcp', port: 9000, reply: 'peer' },
            { proto: 'tcp', port: 9001, reply: 'peer' },
            { proto: 'tcp', port: 9002, reply: 'peer' },
            { proto: 'tcp', port: 443, reply: 'peer' },
            { proto: 'tcp', port: 53, reply: 'peer-dns-tcp' },
            // One UDP socket per address, so each answer leaves from the address that was asked.
            ...[PEER4, PEER4B, ...(ipv6 ? [PEER6, PEER6B] : [])].map((host) => ({ proto: 'udp' as const, port: 53, reply: 'peer-dns', host })),
          ],
        }),
      ]);
      await servers;
    } catch (e) {
      await lab.destroy();
      throw e;
    }
    return lab;
  }

  /** /etc/netns/<pod>/resolv.conf: what `ip netns exec <pod>` mounts over /etc/resolv.conf. */
  private writeResolvConf(text: string): void {
    const dir = `/etc/netns/${this.pod}`;
    mkdirSync(dir, { recursive: true });
    this.etcDir = dir;
    writeFileSync(`${dir}/resolv.conf`, text);
  }

  private startServers(ns: string, spec: { first: ServerSpec[]; uid: number; gid: number; specs: ServerSpec[] }): Promise<void> {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, '-e', SERVER, JSON.stringify(spec)], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.servers.push(child);
    return new Promise((resolve, reject) => {
      let out = '';
      const timer = setTimeout(() => reject(new Error(`stub servers in ${ns} did not start: ${out}`)), 20_000);
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

  /**
   * Runs a program inside the pod namespace (and its /etc/netns files) with only PATH and
   * `env` in its environment: how the differential suite runs istio-iptables and siding alike.
   */
  exec(file: string, args: readonly string[], env: Record<string, string> = {}): Promise<Result> {
    return run('ip', ['netns', 'exec', this.pod, file, ...args], { env, cleanEnv: true });
  }

  /** Runs the built CLI, `node dist/siding.cjs <args>`, as a process inside the pod namespace. */
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
    if (this.etcDir !== undefined) {
      rmSync(this.etcDir, { recursive: true, force: true });
      // /etc/netns itself goes when no other lab uses it.
      try {
        rmdirSync('/etc/netns');
      } catch {
        // another lab's directory is still there, or it is already gone
      }
    }
    if (problems.length > 0) throw new Error(`could not delete namespaces: ${problems.join('; ')}`);
  }
}
