/**
 * Shared by test/e2e/cluster-*.test.ts: the testenv of scripts/kube-testenv.sh (admin
 * kubeconfig in SIDING_E2E_KUBECONFIG, set by scripts/e2e.sh), its kubectl, API clients,
 * throw-away namespaces, the webhook's log, and bounded polling.
 *
 * Everything a test creates lives in namespaces (or cluster objects) with a random
 * suffix and is deleted afterwards, so the suites can run against one long-lived testenv.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { execa } from 'execa';
import { stringify } from 'yaml';
import { parseRecord, INIT_CONTAINER, PROXY_CONTAINER, type InjectionRecord } from '../../../src/inject/status.js';
import { STATUS_ANNOTATION } from '../../../src/inject/annotations.js';
import { decodeBundle } from '../../../src/kube/cabundle.js';
import { loadFixture } from '../../helpers/fixtures.js';
import { isRoot, prerequisite, type Prerequisite } from '../../helpers/prereq.js';
import { CLI, SIDING } from './siding.js';

export { CLI, SIDING };
const repo = fileURLToPath(new URL('../../../', import.meta.url));
const TESTENV = join(repo, 'scripts/kube-testenv.sh');

export const kubeconfig = process.env.SIDING_E2E_KUBECONFIG ?? '';
/** The testenv keeps the admin kubeconfig at the top of its state directory. */
export const stateDir = dirname(kubeconfig);
/** Same default as scripts/kube-testenv.sh. */
export const certsMode: 'manage' | 'static' = process.env.SIDING_TESTENV_CERTS === 'static' ? 'static' : 'manage';

let kubectlBin = '';

export const prereq: Prerequisite = prerequisite(() => {
  if (kubeconfig === '') return 'SIDING_E2E_KUBECONFIG is not set (run through scripts/e2e.sh)';
  if (!existsSync(kubeconfig)) return `SIDING_E2E_KUBECONFIG ${kubeconfig} does not exist`;
  if (!isRoot()) return 'the e2e suite needs root (it stops and starts the webhook in its network namespace)';
  if (!existsSync(CLI)) return 'dist/cli.js is missing: run npm run build';
  const bin = execFileSync('bash', [join(repo, 'scripts/build-kube.sh'), '--check'], { encoding: 'utf8' }).trim().split('\n').at(-1) ?? '';
  kubectlBin = join(bin, 'kubectl');
  if (!existsSync(kubectlBin)) return `no kubectl in ${bin}`;
  return undefined;
});

/** A DNS-label-safe random suffix. */
export function suffix(): string {
  return randomBytes(3).toString('hex');
}

/** What a finished command left; `exitCode` is undefined when a signal ended it. */
export interface Run {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

async function run(file: string, args: readonly string[], input?: string): Promise<Run> {
  const r = await execa(file, args, { reject: false, ...(input === undefined ? {} : { input }) });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** kubectl with the admin kubeconfig; never rejects, the caller checks exitCode and stderr. */
export function kubectl(args: readonly string[], input?: string): Promise<Run> {
  return run(kubectlBin, ['--kubeconfig', kubeconfig, ...args], input);
}

/**
 * kubectl with the admin kubeconfig as a running child (`logs -f`): its output as it comes,
 * and how it ended (`done` never rejects; a command still running after `timeoutMs` is killed).
 */
export function kubectlChild(args: readonly string[], timeoutMs: number): { stdout: Readable; done: Promise<Run> } {
  const child = execa(kubectlBin, ['--kubeconfig', kubeconfig, ...args], { reject: false, timeout: timeoutMs });
  const done = child.then((r) => ({ exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr }));
  return { stdout: child.stdout, done };
}

/** `kubectl apply -f -` of the given objects (YAML documents). */
export function kubectlApply(objects: readonly object[]): Promise<Run> {
  return kubectl(['apply', '-f', '-'], objects.map((o) => stringify(o)).join('---\n'));
}

/** siding's CLI from dist/, as users run it. */
export function siding(args: readonly string[]): Promise<Run> {
  return run('node', [CLI, ...args]);
}

export type TestenvCommand = 'webhook-stop' | 'webhook-start' | 'status' | 'webhook-scale' | 'webhook-rollout';

/**
 * scripts/kube-testenv.sh SUBCOMMAND [ARGS] with the environment scripts/e2e.sh ran `up`
 * with, plus `env` (more SIDING_TESTENV_* settings for this command). Resolves with its
 * stderr (its progress lines).
 */
export async function testenv(command: TestenvCommand, args: readonly string[] = [], env: Record<string, string> = {}): Promise<string> {
  const r = await execa('bash', [TESTENV, command, ...args], { reject: false, env: { SIDING_TESTENV_DIR: stateDir, ...env } });
  if (r.exitCode !== 0) throw new Error(`kube-testenv.sh ${command} exited ${String(r.exitCode)}:\n${r.stderr}\n${r.stdout}`);
  return r.stderr;
}

export interface Clients {
  kc: k8s.KubeConfig;
  core: k8s.CoreV1Api;
  apps: k8s.AppsV1Api;
  admission: k8s.AdmissionregistrationV1Api;
}

export function clients(): Clients {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(k8s.CoreV1Api),
    apps: kc.makeApiClient(k8s.AppsV1Api),
    admission: kc.makeApiClient(k8s.AdmissionregistrationV1Api),
  };
}

/** The HTTP status of an @kubernetes/client-node failure, if it is one. */
export function apiStatus(e: unknown): number | undefined {
  return e instanceof k8s.ApiException ? (e as k8s.ApiException<unknown>).code : undefined;
}

/** The server's message of an @kubernetes/client-node failure (the Status body), else the error text. */
export function apiMessage(e: unknown): string {
  if (e instanceof k8s.ApiException) {
    const body = (e as k8s.ApiException<unknown>).body;
    if (typeof body === 'string') {
      try {
        const status = JSON.parse(body) as { message?: unknown };
        if (typeof status.message === 'string') return status.message;
      } catch {
        return body;
      }
      return body;
    }
  }
  return e instanceof Error ? e.message : String(e);
}

/**
 * Polls `fn` every 200 ms until it returns something other than undefined. The bound only
 * stops a hung test (the message says what never happened); it asserts nothing about speed.
 */
export async function eventually<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, boundMs = 60_000): Promise<T> {
  const end = Date.now() + boundMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) {
      throw new Error(`gave up after ${boundMs / 1000}s waiting for ${what}${last === undefined ? '' : `; last error: ${apiMessage(last)}`}`);
    }
    await sleep(200);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Namespaces a test creates, deleted by `cleanup()` (without waiting for the namespace
 * controller to finish: the names are unique).
 */
export class Namespaces {
  private readonly created: string[] = [];
  constructor(private readonly core: k8s.CoreV1Api) {}

  /** `prefix-<random>`, labelled as given; waits until its `default` ServiceAccount exists (pods need it). */
  async create(prefix: string, labels: Record<string, string> = {}): Promise<string> {
    const name = `${prefix}-${suffix()}`;
    await this.core.createNamespace({ body: { metadata: { name, labels } } });
    this.created.push(name);
    await eventually(`the default ServiceAccount in ${name}`, async () => {
      await this.core.readNamespacedServiceAccount({ namespace: name, name: 'default' });
      return true;
    });
    return name;
  }

  async cleanup(): Promise<void> {
    await Promise.allSettled(this.created.map((name) => this.core.deleteNamespace({ name })));
    this.created.length = 0;
  }
}

/** A fresh copy of test/fixtures/e2e/pod.yaml with name and namespace set. */
export function podFixture(namespace: string, name: string): k8s.V1Pod {
  const pod = loadFixture<k8s.V1Pod>('e2e', 'pod.yaml');
  pod.metadata = { ...pod.metadata, name, namespace };
  return pod;
}

export interface InjectionView {
  /** Names of the pod's init containers, in order. */
  initContainers: string[];
  containers: string[];
  /** The parsed siding.io/status record, or why it is missing or invalid. */
  record: InjectionRecord | string;
}

/** What siding left in a stored pod, in a form assertions can compare. */
export function injectionOf(pod: k8s.V1Pod): InjectionView {
  const raw = pod.metadata?.annotations?.[STATUS_ANNOTATION];
  let record: InjectionRecord | string = `no ${STATUS_ANNOTATION} annotation`;
  if (raw !== undefined) {
    const parsed = parseRecord(raw);
    record = parsed.ok ? parsed.value : parsed.reason;
  }
  return {
    initContainers: (pod.spec?.initContainers ?? []).map((c) => c.name),
    containers: (pod.spec?.containers ?? []).map((c) => c.name),
    record,
  };
}

/**
 * Whether siding injected the stored pod: exactly one siding-init and one siding-proxy,
 * first among the init containers, the proxy a native sidecar (restartPolicy Always),
 * and a valid status record naming both. Returns the problems, empty when injected.
 */
export function injectionProblems(pod: k8s.V1Pod): string[] {
  const problems: string[] = [];
  const view = injectionOf(pod);
  const name = `${pod.metadata?.namespace ?? '?'}/${pod.metadata?.name ?? '?'}`;
  if (view.initContainers[0] !== INIT_CONTAINER || view.initContainers[1] !== PROXY_CONTAINER) {
    problems.push(`${name}: init containers ${JSON.stringify(view.initContainers)} do not start with ${INIT_CONTAINER}, ${PROXY_CONTAINER}`);
  }
  const all = [...view.initContainers, ...view.containers];
  for (const c of [INIT_CONTAINER, PROXY_CONTAINER]) {
    const n = all.filter((x) => x === c).length;
    if (n !== 1) problems.push(`${name}: ${n} containers named ${c}`);
  }
  const proxy = pod.spec?.initContainers?.find((c) => c.name === PROXY_CONTAINER);
  if (proxy !== undefined && proxy.restartPolicy !== 'Always') {
    problems.push(`${name}: ${PROXY_CONTAINER} has restartPolicy ${String(proxy.restartPolicy)}, not Always`);
  }
  if (typeof view.record === 'string') problems.push(`${name}: ${view.record}`);
  else if (JSON.stringify(view.record.initContainers) !== JSON.stringify([INIT_CONTAINER, PROXY_CONTAINER])) {
    problems.push(`${name}: the status record names init containers ${JSON.stringify(view.record.initContainers)}`);
  }
  return problems;
}

/** True when the stored pod carries nothing of siding's. */
export function untouched(pod: k8s.V1Pod): boolean {
  const view = injectionOf(pod);
  const names = [...view.initContainers, ...view.containers];
  return !names.includes(INIT_CONTAINER) && !names.includes(PROXY_CONTAINER) && pod.metadata?.annotations?.[STATUS_ANNOTATION] === undefined;
}

export interface ReviewLogLine {
  time: number;
  pid: number;
  namespace?: string;
  pod?: string;
  decision?: string;
  reason?: string;
  message?: string;
}

/** The webhook's "admission review" log lines (testenv: logs/webhook.log), optionally for one namespace. */
export function reviewLog(namespace?: string): ReviewLogLine[] {
  const file = join(stateDir, 'logs', 'webhook.log');
  const out: ReviewLogLine[] = [];
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let rec: ReviewLogLine & { msg?: string };
    try {
      rec = JSON.parse(line) as ReviewLogLine & { msg?: string };
    } catch {
      continue;
    }
    if (rec.msg !== 'admission review') continue;
    if (namespace !== undefined && rec.namespace !== namespace) continue;
    out.push(rec);
  }
  return out;
}

/**
 * The review log of `namespace` once it holds a line for `pod`. The webhook's logger
 * buffers, so a line shows up a moment after the answer; and since lines are in order,
 * everything reviewed before that pod is in the returned list too.
 */
export function reviewLogThrough(namespace: string, pod: string): Promise<ReviewLogLine[]> {
  return eventually(`the webhook's log line for ${namespace}/${pod}`, () => {
    const lines = reviewLog(namespace);
    return lines.some((l) => l.pod === pod) ? lines : undefined;
  });
}

/** The testenv's name for webhook replica `replica` (1 or 2): its pid file run/NAME.pid and log logs/NAME.log. */
export function replicaName(replica: 1 | 2): string {
  return replica === 1 ? 'webhook' : `webhook-${replica}`;
}

/** The pid of the testenv's webhook process (replica 1 unless told). */
export function webhookPid(replica: 1 | 2 = 1): number {
  return Number(readFileSync(join(stateDir, 'run', `${replicaName(replica)}.pid`), 'utf8').trim());
}

/** Every JSON line of a replica's log (all its processes so far), oldest first. */
export function replicaLog(replica: 1 | 2): Array<Record<string, unknown> & { pid: number; time: number; msg?: string }> {
  const file = join(stateDir, 'logs', `${replicaName(replica)}.log`);
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as Record<string, unknown> & { pid: number; time: number; msg?: string }];
      } catch {
        return [];
      }
    });
}

/** Where the API server reaches the webhook: the EndpointSlice the testenv wrote for the Service. */
export async function webhookAddress(c: Clients): Promise<{ host: string; port: number }> {
  const discovery = c.kc.makeApiClient(k8s.DiscoveryV1Api);
  const slice = await discovery.readNamespacedEndpointSlice({ namespace: SIDING.namespace, name: `${SIDING.service}-testenv` });
  const host = slice.endpoints?.[0]?.addresses[0];
  const port = slice.ports?.[0]?.port;
  if (host === undefined || port === undefined) throw new Error('the testenv EndpointSlice names no address and port');
  return { host, port };
}

/** The CA certificates in the caBundle of siding's webhook. */
export async function caBundle(c: Clients): Promise<string[]> {
  const config = await c.admission.readMutatingWebhookConfiguration({ name: SIDING.webhookConfig });
  return decodeBundle(config.webhooks?.find((w) => w.name === SIDING.webhookName)?.clientConfig.caBundle);
}

export interface Readyz {
  status?: string;
  config?: { ok?: boolean; valid?: boolean; detail?: string; lastError?: string; resourceVersion?: string };
}

/** GET /readyz from the webhook, trusting only the caBundle and checking the Service name, as the API server does. */
export async function webhookReadyz(c: Clients): Promise<Readyz> {
  const { host, port } = await webhookAddress(c);
  const ca = (await caBundle(c)).join('\n');
  return new Promise((resolve, reject) => {
    const req = https.get({ host, port, path: '/readyz', ca, servername: `${SIDING.service}.${SIDING.namespace}.svc`, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => {
        try {
          resolve(JSON.parse(body) as Readyz);
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('timeout', () => req.destroy(new Error('GET /readyz timed out')));
    req.on('error', reject);
  });
}
