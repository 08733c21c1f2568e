/**
 * Running siding's CNI plugin as a runtime does: CNI_* environment, the network
 * configuration on stdin, the result or error as JSON on stdout.
 */
import { execFileSync, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The built plugin (scripts/build-cni-plugin.sh), or undefined when it is not built. */
export function pluginPath(): string | undefined {
  try {
    return execFileSync('bash', [`${REPO}scripts/build-cni-plugin.sh`, '--check'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim().split('\n').pop();
  } catch {
    return undefined;
  }
}

export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  json: Record<string, unknown> | undefined;
  ms: number;
}

export interface PluginCall {
  command: 'ADD' | 'DEL' | 'CHECK' | 'VERSION' | 'STATUS' | 'GC';
  config: unknown;
  netns?: string;
  containerId?: string;
  args?: string;
  extraEnv?: Record<string, string>;
}

export function runPlugin(plugin: string, call: PluginCall): Promise<PluginRun> {
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    CNI_COMMAND: call.command,
    CNI_CONTAINERID: call.containerId ?? 'c0ffee0123456789',
    CNI_IFNAME: 'eth0',
    CNI_PATH: '/opt/cni/bin',
    ...(call.netns === undefined ? {} : { CNI_NETNS: call.netns }),
    ...(call.args === undefined ? {} : { CNI_ARGS: call.args }),
    ...call.extraEnv,
  };
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(plugin, [], { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() === '' ? undefined : (JSON.parse(stdout) as Record<string, unknown>);
      } catch {
        json = undefined;
      }
      resolve({ code: code ?? -1, stdout, stderr, json, ms: performance.now() - started });
    });
    child.stdin.end(typeof call.config === 'string' ? call.config : JSON.stringify(call.config));
  });
}

/** A prevResult as a 1.0.0 main plugin returns it. */
export function prevResult(address = '10.9.0.5/24', sandbox = '/var/run/netns/test'): Record<string, unknown> {
  return {
    cniVersion: '1.0.0',
    interfaces: [{ name: 'eth0', mac: '0a:58:0a:09:00:05', sandbox }],
    ips: [{ address, gateway: address.replace(/\.\d+\/\d+$/, '.1'), interface: 0 }],
    routes: [{ dst: '10.96.0.0/12' }],
    dns: {},
  };
}

/** siding's entry as the runtime hands it to the plugin: name, version, runtimeConfig, prevResult added. */
export function sidingConfig(opts: {
  cniVersion?: string;
  socket: string;
  annotations?: Record<string, string> | undefined;
  prev?: Record<string, unknown> | undefined;
  timeoutSeconds?: number;
}): Record<string, unknown> {
  const conf: Record<string, unknown> = {
    cniVersion: opts.cniVersion ?? '1.0.0',
    name: 'k8s-pod-network',
    type: 'siding',
    socket: opts.socket,
    timeoutSeconds: opts.timeoutSeconds ?? 10,
    capabilities: { 'io.kubernetes.cri.pod-annotations': true },
  };
  if (opts.annotations !== undefined) conf.runtimeConfig = { 'io.kubernetes.cri.pod-annotations': opts.annotations };
  if (opts.prev !== undefined) conf.prevResult = opts.prev;
  return conf;
}

export const k8sArgs = (namespace: string, name: string, uid = 'c6a8f1e2-0000-4000-8000-000000000001'): string =>
  `IgnoreUnknown=1;K8S_POD_NAMESPACE=${namespace};K8S_POD_NAME=${name};K8S_POD_INFRA_CONTAINER_ID=c0ffee0123456789;K8S_POD_UID=${uid}`;
