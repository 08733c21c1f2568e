/**
 * A cgroup v1 memory cgroup made for one test under /sys/fs/cgroup/memory, with a memory
 * limit, a process started inside it, its figures (usage, peak, OOM kills), and removal
 * that leaves nothing behind. Needs root and the v1 memory controller mounted there.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isRoot, prerequisite, type Prerequisite } from './prereq.js';

export const MEMORY_CONTROLLER = '/sys/fs/cgroup/memory';

export function memoryCgroupPrerequisite(): Prerequisite {
  return prerequisite(() => {
    if (!isRoot()) return 'memory cgroups need root';
    if (!existsSync(join(MEMORY_CONTROLLER, 'memory.limit_in_bytes'))) {
      return `no cgroup v1 memory controller at ${MEMORY_CONTROLLER}`;
    }
    return undefined;
  });
}

/** "256Mi", "1Gi", "500M", "1000": a Kubernetes memory quantity in bytes (the forms manifests use). */
export function quantityBytes(q: string): number {
  const m = /^(\d+)(Ki|Mi|Gi|k|M|G)?$/.exec(q);
  if (m === null) throw new Error(`not a memory quantity: ${q}`);
  const unit = { Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 }[m[2] ?? ''] ?? 1;
  return Number(m[1]) * unit;
}

export interface MemoryFigures {
  /** memory.usage_in_bytes: what the limit is held against (anonymous memory, page cache, kernel). */
  usage: number;
  /** memory.stat rss: the processes' anonymous memory (heap, buffers). */
  rss: number;
  /** memory.stat cache: page cache charged here (reclaimable unless dirty or shared memory). */
  cache: number;
  /** memory.max_usage_in_bytes: the peak since the cgroup was made. */
  peak: number;
  /** Times the limit was hit (memory.failcnt): the kernel reclaimed instead of growing. */
  limitHits: number;
  /** Processes the kernel's OOM killer killed in this cgroup (memory.oom_control oom_kill). */
  oomKills: number;
}

export class MemoryCgroup {
  readonly path: string;

  private constructor(
    readonly name: string,
    readonly limitBytes: number,
  ) {
    this.path = join(MEMORY_CONTROLLER, name);
  }

  /** Makes `<prefix>-<random>` with memory (and, where the kernel has it, memory+swap) limited to `limitBytes`. */
  static create(prefix: string, limitBytes: number): MemoryCgroup {
    const cg = new MemoryCgroup(`${prefix}-${randomBytes(4).toString('hex')}`, limitBytes);
    mkdirSync(cg.path);
    try {
      writeFileSync(join(cg.path, 'memory.limit_in_bytes'), String(limitBytes));
      // Without swap accounting in the limit a process could page out instead of being
      // killed, which a container in a cluster (no swap by default) cannot.
      const memsw = join(cg.path, 'memory.memsw.limit_in_bytes');
      if (existsSync(memsw)) writeFileSync(memsw, String(limitBytes));
      writeFileSync(join(cg.path, 'memory.swappiness'), '0');
    } catch (e) {
      rmdirSync(cg.path);
      throw e;
    }
    return cg;
  }

  /**
   * Spawns `file args` inside the cgroup. The process joins before it execs (a tiny
   * /bin/sh writes its own pid to cgroup.procs, then execs `file` with the arguments as
   * given, never re-parsed), so everything it allocates is charged here.
   */
  spawn(file: string, args: readonly string[], options: SpawnOptions = {}): ChildProcess {
    const script = 'echo $$ > "$0" && exec "$@"';
    return spawn('/bin/sh', ['-c', script, join(this.path, 'cgroup.procs'), file, ...args], options);
  }

  private read(file: string): string {
    return readFileSync(join(this.path, file), 'utf8');
  }

  figures(): MemoryFigures {
    const oom = /^oom_kill (\d+)$/m.exec(this.read('memory.oom_control'));
    const stat = this.read('memory.stat');
    const field = (name: string): number => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(stat)?.[1] ?? Number.NaN);
    return {
      usage: Number(this.read('memory.usage_in_bytes')),
      rss: field('rss'),
      cache: field('cache'),
      peak: Number(this.read('memory.max_usage_in_bytes')),
      limitHits: Number(this.read('memory.failcnt')),
      oomKills: Number(oom?.[1] ?? Number.NaN),
    };
  }

  pids(): number[] {
    return this.read('cgroup.procs')
      .split('\n')
      .filter((l) => l !== '')
      .map(Number);
  }

  /** SIGKILLs whatever still runs inside, waits until the cgroup is empty, and removes it. */
  async remove(): Promise<void> {
    if (!existsSync(this.path)) return;
    for (let i = 0; i < 100; i++) {
      const pids = this.pids();
      if (pids.length === 0) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    rmdirSync(this.path);
  }
}
