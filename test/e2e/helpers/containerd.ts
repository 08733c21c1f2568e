/**
 * What the test node's containerd runs for a container, read from its state directory
 * (the tests run on the node's machine as root, scripts/e2e.sh): the bundle holds the OCI
 * runtime spec runc started the container with, and the shim's init.pid.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as k8s from '@kubernetes/client-node';
import { stateDir } from './cluster.js';
import { containerStatus } from './node.js';

const repo = new URL('../../../', import.meta.url).pathname;

let state: string | undefined;

/** containerd's state directory on the node, as scripts/kube-testenv.sh env names it. */
function containerdState(): string {
  if (state !== undefined) return state;
  const env = execFileSync('bash', [join(repo, 'scripts/kube-testenv.sh'), 'env'], {
    encoding: 'utf8',
    env: { ...process.env, SIDING_TESTENV_DIR: stateDir },
  });
  const line = env.split('\n').find((l) => l.startsWith('containerd_state='));
  if (line === undefined) throw new Error('kube-testenv.sh env names no containerd_state');
  state = line.slice('containerd_state='.length);
  return state;
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
