/**
 * What the test node's containerd runs for a container, read from its state directory
 * (the tests run on the node's machine as root, scripts/e2e.sh): the bundle holds the OCI
 * runtime spec runc started the container with, and the shim's init.pid; and `ctr` for the
 * images it holds.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { stateDir } from './cluster.js';
import { containerStatus } from './node.js';

const repo = new URL('../../../', import.meta.url).pathname;

let env: Record<string, string> | undefined;

/** What scripts/kube-testenv.sh env names (containerd_state, containerd_socket, ...). */
function testenvNames(): Record<string, string> {
  env ??= Object.fromEntries(
    execFileSync('bash', [join(repo, 'scripts/kube-testenv.sh'), 'env'], {
      encoding: 'utf8',
      env: { ...process.env, SIDING_TESTENV_DIR: stateDir },
    })
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return env;
}

function name(key: string): string {
  const v = testenvNames()[key];
  if (v === undefined || v === '') throw new Error(`kube-testenv.sh env names no ${key}`);
  return v;
}

/** containerd's state directory on the node. */
function containerdState(): string {
  return name('containerd_state');
}

/** `ctr -n k8s.io ARGS` against the node's containerd; throws with its stderr when it fails. */
export function ctr(args: readonly string[]): string {
  return execFileSync('ctr', ['--address', name('containerd_socket'), '-n', 'k8s.io', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The bundle directory of a container the kubelet reports (running or not yet removed). */
export function bundleDir(p: k8s.V1Pod, container: string): string {
  const id = containerStatus(p, container)?.containerID?.replace(/^containerd:\/\//, '');
  if (id === undefined || !/^[0-9a-f]{64}$/.test(id)) throw new Error(`${container} of ${p.metadata?.name ?? '?'} has no containerd ID`);
  return join(containerdState(), 'io.containerd.runtime.v2.task', 'k8s.io', id);
}

/** The parts of the OCI runtime spec the tests look at. */
export interface RuntimeSpec {
  process: {
    user: { uid: number; gid: number };
    noNewPrivileges?: boolean;
    capabilities?: { effective?: string[]; bounding?: string[]; permitted?: string[] };
  };
  root: { readonly?: boolean };
  linux: { seccomp?: { defaultAction: string; syscalls?: unknown[] } };
}

/** The OCI runtime spec a running container was started with. */
export function runtimeSpec(p: k8s.V1Pod, container: string): RuntimeSpec {
  return JSON.parse(readFileSync(join(bundleDir(p, container), 'config.json'), 'utf8')) as RuntimeSpec;
}
