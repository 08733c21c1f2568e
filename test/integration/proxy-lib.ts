/**
 * The `siding proxy` integration lab (not a test file itself): a Lab (init-lib.ts: pod and
 * peer namespaces joined by a veth pair) without its stub servers, plus
 * - the real proxy, `node dist/cli.js proxy ...`, run in the pod as UID/GID 1337;
 * - apps and peers from proxy-actors.mjs, run as APP (2000) in the pod and as root in the peer;
 * - readings of the proxy's /stats/prometheus from inside the pod.
 * Traffic only goes to the lab's own addresses and loopback.
 */
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { APP, CLI, initPrerequisite, Lab, PROXY, run } from './init-lib.js';
import { prerequisite, type Prerequisite } from '../helpers/prereq.js';

export const ACTORS = fileURLToPath(new URL('./proxy-actors.mjs', import.meta.url));

export function proxyPrerequisite(): Prerequisite {
  const init = initPrerequisite();
  if (init.missing !== undefined) return init;
  return prerequisite(() => (existsSync(ACTORS) ? undefined : `${ACTORS} is missing`));
}

/** Collects a child's stdout lines as they come. */
function lines(child: ChildProcess): string[] {
  const seen: string[] = [];
  let partial = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    partial += d;
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    seen.push(...parts);
  });
  return seen;
}

/** Waits until a line matching `test` has been seen, the child exits, or the time is up. */
export async function waitForLine(child: ChildProcess, seen: string[], test: (line: string) => boolean, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hit = seen.find(test);
    if (hit !== undefined) return hit;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`exited (${child.exitCode ?? child.signalCode}) before the line; output:\n${seen.join('\n')}`);
    if (Date.now() > deadline) throw new Error(`timed out waiting for a line; output so far:\n${seen.join('\n')}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

export interface RunningProxy {
  readonly child: ChildProcess;
  /** Its JSON log lines so far. */
  readonly log: string[];
  /** Sends a signal and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
  exited(): Promise<number | null>;
}

export type Server = Record<string, unknown> & { kind: string; port: number };

export class ProxyLab {
  private constructor(readonly lab: Lab) {}

  static async create(tag: string, opts: { ipv6?: boolean } = {}): Promise<ProxyLab> {
    return new ProxyLab(await Lab.create(tag, { ...opts, stubs: false }));
  }

  destroy(): Promise<void> {
    return this.lab.destroy();
  }

  /** `siding init <args>` as the CLI, in the pod. */
  async init(args: readonly string[]): Promise<void> {
    const r = await this.lab.cli(args);
    if (r.code !== 0) throw new Error(`siding ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  }

  /** Starts `siding proxy <args>` in the pod as UID/GID 1337 and waits for its "ready" line. */
  async proxy(args: readonly string[] = [], uid = PROXY): Promise<RunningProxy> {
    const child = this.lab.spawnIn('pod', uid, process.execPath, [CLI, 'proxy', ...args]);
    const log = lines(child);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const exit = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      await waitForLine(child, log, (l) => l.includes('"msg":"ready"'));
    } catch (e) {
      child.kill('SIGKILL');
      throw new Error(`siding proxy did not become ready: ${(e as Error).message}\nstderr: ${stderr}`, { cause: e });
    }
    return {
      child,
      log,
      exited: () => exit,
      stop: (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
        return exit;
      },
    };
  }

  /** Starts servers from proxy-actors.mjs: in the pod as APP, in the peer as root. */
  async serve(where: 'pod' | 'peer', servers: readonly Server[]): Promise<{ child: ChildProcess; events: string[] }> {
    const child = this.lab.spawnIn(where, where === 'pod' ? APP : 0, process.execPath, [ACTORS, 'serve', JSON.stringify(servers)]);
    const events = lines(child);
    const ready = await waitForLine(child, events, (l) => l === 'ready' || l.startsWith('failed'));
    if (ready !== 'ready') throw new Error(`servers in the ${where} did not start: ${ready}`);
    return { child, events };
  }

  /** Runs one client operation (proxy-actors.mjs): in the pod as APP (or `uid`), in the peer as root. Returns its last line. */
  async client(where: 'pod' | 'peer', op: Record<string, unknown>, uid = where === 'pod' ? APP : 0): Promise<string> {
    const out = (await this.clientOutput(where, op, uid)).split('\n');
    return out[out.length - 1] ?? '';
  }

  /** Like client(), but everything it printed. */
  async clientOutput(where: 'pod' | 'peer', op: Record<string, unknown>, uid = where === 'pod' ? APP : 0): Promise<string> {
    const ns = where === 'pod' ? this.lab.pod : this.lab.peer;
    const timeoutMs = typeof op.timeoutMs === 'number' ? op.timeoutMs : 5000;
    const r = await run('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', String(uid), '--regid', String(uid), '--clear-groups', process.execPath, ACTORS, 'client', JSON.stringify(op)], {
      timeoutMs: timeoutMs + 10_000,
    });
    if (r.code !== 0) throw new Error(`client ${JSON.stringify(op)} failed (${r.code}): ${r.stderr}`);
    return r.stdout.trim();
  }

  /** Starts a client operation without waiting (for tests that act while it runs). */
  startClient(op: Record<string, unknown>): { child: ChildProcess; out: string[] } {
    const child = this.lab.spawnIn('pod', APP, process.execPath, [ACTORS, 'client', JSON.stringify(op)]);
    return { child, out: lines(child) };
  }

  /** The proxy's Prometheus text, read from inside the pod. */
  async metrics(port = 15090): Promise<Metrics> {
    const text = await this.clientOutput('pod', { op: 'http', host: '127.0.0.1', port, path: '/stats/prometheus' });
    if (!text.includes('siding_proxy_connections_total')) throw new Error(`not the proxy's metrics: ${text.slice(0, 300)}`);
    return new Metrics(text);
  }

  /** GET <path> on the health port from inside the pod: "<status> <body>". */
  ready(port = 15021, path = '/healthz/ready'): Promise<string> {
    return this.client('pod', { op: 'http', host: '127.0.0.1', port, path, status: true });
  }
}

/** Prometheus text, read by metric name and labels. */
export class Metrics {
  constructor(readonly text: string) {}

  /** The value of the series with exactly these labels (0 when absent). */
  value(name: string, labels: Record<string, string> = {}): number {
    const want = Object.entries(labels)
      .map(([k, v]) => `${k}="${v}"`)
      .sort();
    for (const line of this.text.split('\n')) {
      if (!line.startsWith(name)) continue;
      const rest = line.slice(name.length);
      const m = /^(?:\{([^}]*)\})? (\S+)$/.exec(rest);
      if (m === null) continue;
      const have = (m[1] ?? '').split(',').filter((s) => s !== '').sort();
      if (have.length === want.length && have.every((h, i) => h === want[i])) return Number(m[2]);
    }
    return 0;
  }

  /** siding_proxy_connections_total for one direction and outcome. */
  connections(direction: 'outbound' | 'inbound', outcome: string): number {
    return this.value('siding_proxy_connections_total', { direction, outcome });
  }

  /** Every outcome's count for one direction. */
  outcomes(direction: 'outbound' | 'inbound'): Record<string, number> {
    const out: Record<string, number> = {};
    for (const m of this.text.matchAll(/^siding_proxy_connections_total\{([^}]*)\} (\S+)$/gm)) {
      const labels = m[1] ?? '';
      if (!labels.includes(`direction="${direction}"`)) continue;
      const outcome = /outcome="([^"]+)"/.exec(labels)?.[1];
      if (outcome !== undefined && Number(m[2]) > 0) out[outcome] = Number(m[2]);
    }
    return out;
  }

  bytes(direction: 'outbound' | 'inbound', way: 'upstream' | 'downstream'): number {
    return this.value('siding_proxy_bytes_total', { direction, way });
  }
}
