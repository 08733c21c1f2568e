/**
 * Shared by test/e2e/node/*.test.ts: workloads built from siding's own image (the one the
 * node runs siding from), pod state, `kubectl exec`, and the proxies' Prometheus counters.
 *
 * The tests run in the control plane's network namespace (scripts/e2e.sh), which routes
 * the pod range to the node: pod IPs are reachable from here, as from an API server.
 */
import http from 'node:http';
import type * as k8s from '@kubernetes/client-node';
import { PROXY_CONTAINER, INIT_CONTAINER } from '../../../src/inject/status.js';
import { eventually, kubectl, type Clients, type Run } from './cluster.js';

/** siding's image as scripts/build-image.sh names it; imported into the node, never pulled. */
export const IMAGE = 'localhost/siding:e2e';
export const NODE_NAME = process.env.SIDING_TESTENV_NODE_NAME ?? 'siding-node';
/** The proxy's ports (the config's defaults). */
export const METRICS_PORT = 15090;
export const HEALTH_PORT = 15021;

/**
 * First thing every test app does: ask the proxy whether it is ready, and log the answer.
 * With the proxy held ahead of the app, this line must say 200: the app's own view of
 * the start order.
 */
const PROBE_PROXY = `require('http').get({host:'127.0.0.1',port:${HEALTH_PORT},path:'/healthz/ready',agent:false},r=>{console.log('proxy ready at app start: '+r.statusCode);r.resume()}).on('error',e=>console.log('proxy ready at app start: '+e.code));`;

/** An HTTP server on 8080 and 8081 answering who it is and which peer address it saw. */
export const SERVER_SCRIPT =
  PROBE_PROXY +
  `const srv=p=>require('http').createServer((q,r)=>{r.setHeader('content-type','application/json');r.end(JSON.stringify({pod:process.env.HOSTNAME,port:p,peer:q.socket.remoteAddress}))}).listen(p);` +
  `const a=srv(8080),b=srv(8081);` +
  `process.on('SIGTERM',()=>{console.log('SIGTERM');a.close();b.close();setTimeout(()=>process.exit(0),200)});`;

/** An idle app that exits 0 on SIGTERM (the client: requests are made with `kubectl exec`). */
export const IDLE_SCRIPT =
  PROBE_PROXY + `setInterval(()=>{},1e9);process.on('SIGTERM',()=>{console.log('SIGTERM');process.exit(0)});`;

/**
 * Run inside a pod's app container: COUNT requests to URL, one new connection each (so
 * that every request is one proxied connection), EVERY ms apart; prints a JSON summary.
 */
export const REQUESTS_SCRIPT = `const [url,count,every]=process.argv.slice(1);const n=Number(count),gap=Number(every);` +
  `const res={ok:0,failed:0,errors:[],peers:{},pods:{}};` +
  `const one=()=>new Promise(done=>{const q=require('http').get(url,{agent:false,timeout:5000},r=>{let b='';r.on('data',d=>b+=d);r.on('end',()=>{try{const j=JSON.parse(b);res.peers[j.peer]=(res.peers[j.peer]||0)+1;res.pods[j.pod]=(res.pods[j.pod]||0)+1;res.ok++}catch(e){res.failed++;res.errors.push('bad body '+b.slice(0,80))}done()})});` +
  `q.on('timeout',()=>q.destroy(new Error('timeout')));q.on('error',e=>{res.failed++;if(res.errors.length<10)res.errors.push(e.code||e.message);done()})});` +
  `(async()=>{for(let i=0;i<n;i++){await one();if(gap>0)await new Promise(r=>setTimeout(r,gap))}console.log(JSON.stringify(res))})();`;

export interface Requests {
  ok: number;
  failed: number;
  errors: string[];
  /** Peer address the server saw → count. */
  peers: Record<string, number>;
  /** Server pod name → count. */
  pods: Record<string, number>;
}

/** A container of siding's image running `node -e SCRIPT`. */
export function nodeContainer(name: string, script: string, extra: Partial<k8s.V1Container> = {}): k8s.V1Container {
  return { name, image: IMAGE, imagePullPolicy: 'Never', command: ['node', '-e', script], ...extra };
}

export function pod(namespace: string, name: string, spec: Partial<k8s.V1PodSpec>, meta: Partial<k8s.V1ObjectMeta> = {}): k8s.V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace, ...meta },
    spec: { terminationGracePeriodSeconds: 10, containers: [], ...spec },
  };
}

/** The pod once every container is ready (bounded: a hung test says what never happened). */
export async function podReady(c: Clients, namespace: string, name: string, boundMs = 60_000): Promise<k8s.V1Pod> {
  return eventually(
    `pod ${namespace}/${name} to be Ready`,
    async () => {
      const p = await c.core.readNamespacedPod({ namespace, name });
      return p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ? p : undefined;
    },
    boundMs,
  );
}

/** How long a pod took from `since` (performance.now() before its creation) to Running and to Ready, in seconds. */
export interface StartTimes {
  pod: k8s.V1Pod;
  runningSeconds: number;
  readySeconds: number;
}

/** Waits for a pod to be Ready, noting when it was first seen Running (polled every 200 ms). */
export async function podStartTimes(c: Clients, namespace: string, name: string, since: number): Promise<StartTimes> {
  let runningSeconds: number | undefined;
  const p = await eventually(`pod ${namespace}/${name} to be Ready`, async () => {
    const p = await c.core.readNamespacedPod({ namespace, name });
    if (runningSeconds === undefined && p.status?.phase === 'Running') runningSeconds = (performance.now() - since) / 1000;
    return p.status?.conditions?.some((x) => x.type === 'Ready' && x.status === 'True') ? p : undefined;
  });
  const readySeconds = (performance.now() - since) / 1000;
  return { pod: p, runningSeconds: runningSeconds ?? readySeconds, readySeconds };
}

/** "Running after 4.2 s, Ready after 5.0 s" */
export function describeStart(t: StartTimes): string {
  return `Running after ${t.runningSeconds.toFixed(1)} s, Ready after ${t.readySeconds.toFixed(1)} s`;
}

/** The status of one container, init or regular. */
export function containerStatus(p: k8s.V1Pod, name: string): k8s.V1ContainerStatus | undefined {
  return [...(p.status?.initContainerStatuses ?? []), ...(p.status?.containerStatuses ?? [])].find((s) => s.name === name);
}

export function startedAt(p: k8s.V1Pod, name: string): Date {
  const s = containerStatus(p, name);
  const at = s?.state?.running?.startedAt ?? s?.state?.terminated?.startedAt;
  if (at === undefined) throw new Error(`container ${name} of ${p.metadata?.name ?? '?'} never started`);
  return new Date(at);
}

/** `kubectl exec` into a container; never rejects. */
export function exec(namespace: string, podName: string, container: string, argv: readonly string[]): Promise<Run> {
  return kubectl(['exec', '-n', namespace, podName, '-c', container, '--', ...argv]);
}

/** Runs REQUESTS_SCRIPT in the app container of a pod. */
export async function requests(namespace: string, podName: string, url: string, count: number, everyMs = 0): Promise<Requests> {
  const r = await exec(namespace, podName, 'app', ['node', '-e', REQUESTS_SCRIPT, url, String(count), String(everyMs)]);
  if (r.exitCode !== 0) throw new Error(`requests from ${podName} failed to run (exit ${String(r.exitCode)}): ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '') as Requests;
}

/** GET http://ip:port/path from the test process (the control plane's netns). */
export function get(ip: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: ip, port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET http://${ip}:${port}${path} timed out`)));
    req.on('error', reject);
  });
}

/**
 * The sum of the samples of `metric` in a Prometheus text exposition whose labels include
 * all of `labels` (other labels, such as outcome, are summed over).
 */
export function sumSamples(text: string, metric: string, labels: Record<string, string>): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${metric}{`) && !line.startsWith(`${metric} `)) continue;
    const close = line.lastIndexOf('}');
    const labelText = close === -1 ? '' : line.slice(metric.length + 1, close);
    const value = Number(line.slice(close === -1 ? metric.length : close + 1).trim().split(' ')[0]);
    const have = new Map<string, string>();
    for (const part of labelText.split(',')) {
      const eq = part.indexOf('=');
      if (eq > 0) have.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim().replace(/^"|"$/g, ''));
    }
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v) && Number.isFinite(value)) sum += value;
  }
  return sum;
}

/** A pod proxy's Prometheus exposition, read from its pod IP. */
export async function proxyStats(p: k8s.V1Pod): Promise<string> {
  const ip = p.status?.podIP;
  if (ip === undefined) throw new Error(`${p.metadata?.name ?? '?'} has no pod IP`);
  const r = await get(ip, METRICS_PORT, '/stats/prometheus');
  if (r.status !== 200) throw new Error(`GET /stats/prometheus of ${p.metadata?.name ?? '?'}: HTTP ${r.status}`);
  return r.body;
}

/** What a proxy has counted for one direction: connections (ended, by outcome) and bytes relayed. */
export interface Traffic {
  /** Connections ended or refused, every outcome. */
  connections: number;
  /** Of those, the ones that ended normally. */
  ok: number;
  /** Bytes read from the connecting side and from the destination, open connections included. */
  upstreamBytes: number;
  downstreamBytes: number;
}

export async function traffic(p: k8s.V1Pod, direction: 'inbound' | 'outbound'): Promise<Traffic> {
  const text = await proxyStats(p);
  return {
    connections: sumSamples(text, 'siding_proxy_connections_total', { direction }),
    ok: sumSamples(text, 'siding_proxy_connections_total', { direction, outcome: 'ok' }),
    upstreamBytes: sumSamples(text, 'siding_proxy_bytes_total', { direction, way: 'upstream' }),
    downstreamBytes: sumSamples(text, 'siding_proxy_bytes_total', { direction, way: 'downstream' }),
  };
}

/** The sum of each field over several readings. */
export function totalTraffic(readings: readonly Traffic[]): Traffic {
  const t: Traffic = { connections: 0, ok: 0, upstreamBytes: 0, downstreamBytes: 0 };
  for (const r of readings) {
    t.connections += r.connections;
    t.ok += r.ok;
    t.upstreamBytes += r.upstreamBytes;
    t.downstreamBytes += r.downstreamBytes;
  }
  return t;
}

/** b - a, field by field. */
export function trafficDelta(a: Traffic, b: Traffic): Traffic {
  return {
    connections: b.connections - a.connections,
    ok: b.ok - a.ok,
    upstreamBytes: b.upstreamBytes - a.upstreamBytes,
    downstreamBytes: b.downstreamBytes - a.downstreamBytes,
  };
}

export { INIT_CONTAINER, PROXY_CONTAINER };
