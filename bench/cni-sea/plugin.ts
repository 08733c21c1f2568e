/**
 * The other candidate for siding's CNI plugin, kept only to measure the choice
 * (BENCHMARKS.md, docs/cni.md): the same decisions as cni/plugin (Go), in TypeScript, built
 * as a Node.js single executable application. Everything the CNI library gives the Go
 * plugin (environment checks, version negotiation, result versions, error JSON) is written
 * by hand here, and only as far as the benchmark needs: VERSION, ADD, DEL, STATUS, GC.
 */
import http from 'node:http';
import { openSync, closeSync, readFileSync } from 'node:fs';

const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

function out(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v)}\n`);
}

function fail(code: number, msg: string): never {
  out({ cniVersion: '1.1.0', code, msg });
  process.exit(1);
}

function args(text: string): Record<string, string> {
  const o: Record<string, string> = {};
  for (const pair of text.split(';')) {
    const i = pair.indexOf('=');
    if (i > 0) o[pair.slice(0, i)] = pair.slice(i + 1);
  }
  return o;
}

function post(socket: string, body: string, timeoutMs: number): Promise<{ ok: boolean; code?: number; message?: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, path: '/v1/cni', method: 'POST', headers: { 'content-type': 'application/json' }, timeout: timeoutMs }, (res) => {
      let data = '';
      res.setEncoding('utf8').on('data', (d: string) => (data += d));
      res.on('end', () => {
        try {
          resolve(JSON.parse(data) as { ok: boolean });
        } catch (e) {
          reject(e instanceof Error ? e : new Error(String(e)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function main(): Promise<void> {
  const command = process.env.CNI_COMMAND ?? '';
  if (command === 'VERSION') return out({ cniVersion: '1.1.0', supportedVersions: VERSIONS });
  const conf = JSON.parse(readFileSync(0, 'utf8')) as {
    cniVersion?: string;
    socket?: string;
    timeoutSeconds?: number;
    prevResult?: unknown;
    runtimeConfig?: { 'io.kubernetes.cri.pod-annotations'?: Record<string, string> };
  };
  if (!VERSIONS.includes(conf.cniVersion ?? '')) fail(1, `incompatible CNI version ${String(conf.cniVersion)}`);
  if (command === 'DEL' || command === 'STATUS' || command === 'GC') return;
  if (command !== 'ADD') fail(4, `unknown CNI_COMMAND ${command}`);
  if (conf.prevResult === undefined) fail(7, 'no prevResult');
  const a = args(process.env.CNI_ARGS ?? '');
  const annotations = conf.runtimeConfig?.['io.kubernetes.cri.pod-annotations'];
  const status = annotations?.['siding.io/status'];
  const injected = status !== undefined && status.includes('"cniRedirect"');
  if (a.K8S_POD_NAME !== undefined && (annotations === undefined || injected)) {
    const netns = process.env.CNI_NETNS ?? '';
    const fd = openSync(netns, 'r');
    try {
      const body = JSON.stringify({
        command: 'ADD',
        containerId: process.env.CNI_CONTAINERID ?? '',
        ifName: process.env.CNI_IFNAME ?? '',
        netns: `/proc/${process.pid}/fd/${fd}`,
        runtimeNetns: netns,
        pod: { namespace: a.K8S_POD_NAMESPACE ?? '', name: a.K8S_POD_NAME, uid: a.K8S_POD_UID ?? '' },
        ...(annotations === undefined ? {} : { annotations }),
        cniVersion: conf.cniVersion,
        ipv6: ((conf.prevResult as { ips?: { address?: string }[] }).ips ?? []).some((ip) => (ip.address ?? '').includes(':') && !(ip.address ?? '').startsWith('fe80')),
      });
      const verdict = await post(conf.socket ?? '/var/run/siding/cni.sock', body, (conf.timeoutSeconds ?? 30) * 1000).catch((e: unknown) =>
        fail(11, `siding CNI agent not reachable: ${e instanceof Error ? e.message : String(e)}`),
      );
      if (!verdict.ok) fail(verdict.code ?? 100, `siding: ${verdict.message ?? ''}`);
    } finally {
      closeSync(fd);
    }
  }
  out(conf.prevResult);
}

main().catch((e: unknown) => fail(999, e instanceof Error ? e.message : String(e)));
