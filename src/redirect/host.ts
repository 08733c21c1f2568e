/**
 * Where programs run: the current network namespace, or another one given by path
 * (`--netns`), entered with `nsenter --net=PATH` (or `ip netns exec NAME` when nsenter is
 * missing and the path is a named namespace). Also finds programs on PATH without running
 * anything, and reads /proc/net files of the target namespace.
 */
import { accessSync, constants, readFileSync } from 'node:fs';
import { networkInterfaces } from 'node:os';
import type { Command, Runner, RunResult } from './runner.js';
import { ApplyError } from '../errors/index.js';

export type LookPath = (name: string) => string | undefined;

// iptables lives in sbin, which a non-login PATH (a container's) may not list.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin', '/usr/local/bin', '/usr/bin', '/bin'];

/** Finds an executable on PATH (then in the sbin directories). */
export function lookPath(name: string, pathEnv: string = process.env.PATH ?? ''): string | undefined {
  const dirs = [...pathEnv.split(':').filter((d) => d.startsWith('/')), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = `${dir}/${name}`;
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** Reads a file, or undefined when it cannot be read. */
export function readFileOrUndefined(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** One address of an interface in the namespace. */
export interface InterfaceAddress {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
}

/** The addresses of the interfaces that are up in siding's own namespace (getifaddrs, no program). */
export function localAddresses(): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.push({ family: a.family === 'IPv4' ? 'ipv4' : 'ipv6', address: a.address.replace(/%.*$/, '') });
  }
  return out;
}

/** Parses `ip -o addr show up` lines: `2: eth0    inet 10.0.0.1/24 brd ... scope global eth0`. */
export function parseIpAddrShow(text: string): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const line of text.split('\n')) {
    const cols = line.trim().split(/\s+/);
    const i = cols.findIndex((c) => c === 'inet' || c === 'inet6');
    const addr = i === -1 ? undefined : cols[i + 1];
    if (addr === undefined) continue;
    out.push({ family: cols[i] === 'inet' ? 'ipv4' : 'ipv6', address: addr.replace(/\/.*$/, '') });
  }
  return out;
}

export interface HostDeps {
  runner: Runner;
  lookPath: LookPath;
  readFile: (path: string) => string | undefined;
  /** The addresses of siding's own namespace (default: localAddresses). */
  addresses?: () => InterfaceAddress[];
}

const NAMED_NETNS = /^\/(?:var\/)?run\/netns\/([A-Za-z0-9_.-]{1,64})$/;

/** Runs programs in the target network namespace. */
export class NamespaceHost {
  private readonly wrapper: (file: string, args: readonly string[]) => { file: string; args: string[] };

  constructor(
    private readonly deps: HostDeps,
    /** undefined: the namespace siding runs in. */
    readonly netns: string | undefined,
  ) {
    if (netns === undefined) {
      this.wrapper = (file, args) => ({ file, args: [...args] });
      return;
    }
    const nsenter = deps.lookPath('nsenter');
    const named = NAMED_NETNS.exec(netns);
    const ip = deps.lookPath('ip');
    if (nsenter !== undefined) {
      this.wrapper = (file, args) => ({ file: nsenter, args: [`--net=${netns}`, '--', file, ...args] });
    } else if (named?.[1] !== undefined && ip !== undefined) {
      const name = named[1];
      this.wrapper = (file, args) => ({ file: ip, args: ['netns', 'exec', name, file, ...args] });
    } else {
      throw new ApplyError(`--netns needs nsenter (util-linux) on PATH, or 'ip' with a path under /run/netns; neither is usable for ${netns}`, {
        command: ['nsenter', `--net=${netns}`],
      });
    }
  }

  /** Whether programs run in another namespace than siding's own. */
  get remote(): boolean {
    return this.netns !== undefined;
  }

  lookPath(name: string): string | undefined {
    return this.deps.lookPath(name);
  }

  /** The command that runs `file args` in the target namespace. */
  command(file: string, args: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Command {
    const w: Command = this.wrapper(file, args);
    return { ...w, ...(input === undefined ? {} : { input }), ...(env === undefined ? {} : { env }) };
  }

  run(file: string, args: readonly string[], input?: string, env?: Readonly<Record<string, string>>): Promise<RunResult> {
    return this.deps.runner.run(this.command(file, args, input, env));
  }

  /**
   * The addresses of the interfaces that are up in the target namespace: read in place for
   * siding's own namespace; `ip -o addr show up` (one program) for another one. Undefined
   * when they cannot be read.
   */
  async addresses(): Promise<InterfaceAddress[] | undefined> {
    if (this.netns === undefined) {
      try {
        return (this.deps.addresses ?? localAddresses)();
      } catch {
        // getifaddrs throws when its netlink socket is refused (a seccomp profile, say): the
        // addresses cannot be read, as when `ip` fails for another namespace.
        return undefined;
      }
    }
    const ip = this.deps.lookPath('ip');
    if (ip === undefined) return undefined;
    const r = await this.run(ip, ['-o', 'addr', 'show', 'up']);
    return r.exitCode === 0 ? parseIpAddrShow(r.stdout) : undefined;
  }

  /**
   * Reads a /proc/net file as the target namespace sees it. For the current namespace that
   * is a plain read; for another one it costs a program (`cat`), so callers only ask when
   * the answer can save one.
   */
  async readProcNet(name: string): Promise<string | undefined> {
    if (this.netns === undefined) return this.deps.readFile(`/proc/net/${name}`);
    const cat = this.deps.lookPath('cat') ?? '/bin/cat';
    const r = await this.run(cat, [`/proc/net/${name}`]);
    return r.exitCode === 0 ? r.stdout : undefined;
  }
}
