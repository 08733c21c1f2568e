/**
 * Real connections for the differential suite (not a test file itself): a catalogue of
 * probes (who connects, from where, to what), and a runner that makes them in a lab, one
 * process per identity with all of that identity's probes in parallel. Each probe's result
 * is the word the listener that answered says (init-lib.ts), or TIMEOUT / ERR <code>.
 */
import type { Lab, LabOptions } from './init-lib.js';
import { APP, LOCAL_DNS, PEER4, PEER4B, PEER6, PEER6B, POD4, POD6, run, VPEER4, VPOD4, VPOD4_IN_10, VPOD6 } from './init-lib.js';

export interface Probe {
  readonly id: string;
  readonly from: 'pod' | 'peer';
  readonly uid: number;
  readonly gid: number;
  readonly proto: 'tcp' | 'udp';
  readonly host: string;
  readonly port: number;
  /** Local address to bind (127.0.0.6, ::6). */
  readonly source?: string;
}

/** A group no rule names: the app's traffic under another primary group. */
export const OTHER_GROUP = 3000;

// Long enough for a loaded 2-core machine to answer on loopback and a veth; a probe that
// lands nowhere costs this once, since all of one identity's probes run in parallel.
const PROBE_TIMEOUT_MS = 1500;

// One process per namespace makes all its probes. It runs as root and creates each socket
// under the probe's identity (setegid/seteuid around the moment the socket is created), which
// is what iptables' owner match sees; then every connection proceeds in parallel.
const BATCH = `
const net = require('net'), dgram = require('dgram');
const list = JSON.parse(process.argv[1]);
const results = {};
let pending = list.length;
const finish = (id, s) => {
  if (id in results) return;
  results[id] = s;
  if (--pending === 0) { process.stdout.write(JSON.stringify(results)); process.exit(0); }
};
const as = (o) => { process.setegid(o.gid); process.seteuid(o.uid); };
const root = () => { process.seteuid(0); process.setegid(0); };
const tick = () => new Promise((r) => setImmediate(r));
process.setgroups([]);
(async () => {
  for (const o of list) {
    const timer = setTimeout(() => finish(o.id, 'TIMEOUT'), o.timeoutMs);
    const done = (s) => { clearTimeout(timer); finish(o.id, s); };
    as(o);
    if (o.proto === 'udp') {
      const sock = dgram.createSocket(o.host.includes(':') ? 'udp6' : 'udp4');
      sock.on('error', (e) => done('ERR ' + e.code));
      sock.on('message', (m) => done(m.toString().trim()));
      // The socket exists once bound; connect's callback also reports a failure.
      await new Promise((r) => sock.bind(o.source ? { address: o.source } : {}, r).once('error', r));
      root();
      sock.connect(o.port, o.host, (e) => (e ? done('ERR ' + e.code) : sock.send('query')));
    } else {
      let data = '';
      const c = net.connect(o.source ? { host: o.host, port: o.port, localAddress: o.source } : { host: o.host, port: o.port });
      c.setEncoding('utf8');
      c.on('data', (d) => { data += d; });
      c.on('end', () => done(data.trim()));
      c.on('error', (e) => done('ERR ' + e.code));
      await tick();
      root();
    }
  }
})();
if (list.length === 0) process.stdout.write('{}');`;

/** Makes every probe in the lab; resolves with probe id → what answered. */
export async function runProbes(lab: Lab, probes: readonly Probe[], timeoutMs = PROBE_TIMEOUT_MS): Promise<Map<string, string>> {
  const results = new Map<string, string>();
  await Promise.all(
    (['pod', 'peer'] as const).map(async (from) => {
      const list = probes.filter((p) => p.from === from);
      if (list.length === 0) return;
      const ns = from === 'pod' ? lab.pod : lab.peer;
      const specs = list.map((p) => ({ id: p.id, uid: p.uid, gid: p.gid, proto: p.proto, host: p.host, port: p.port, source: p.source, timeoutMs }));
      const r = await run('ip', ['netns', 'exec', ns, process.execPath, '-e', BATCH, JSON.stringify(specs)], { timeoutMs: timeoutMs + 20_000 });
      if (r.code !== 0) throw new Error(`probe process in ${ns} exited ${r.code}: ${r.stderr}`);
      const parsed = JSON.parse(r.stdout) as Record<string, string>;
      for (const p of list) results.set(p.id, parsed[p.id] ?? 'MISSING');
    }),
  );
  return results;
}

/** The proxy's identity in a lab (its first -u and -g), and the probes that lab can make. */
export function probesFor(opts: LabOptions): Probe[] {
  const proxyUid = opts.proxyUid ?? 1337;
  const proxyGid = opts.proxyGid ?? proxyUid;
  const app = { from: 'pod' as const, uid: APP, gid: APP };
  const proxy = { from: 'pod' as const, uid: proxyUid, gid: proxyGid };
  const gidOnly = { from: 'pod' as const, uid: APP, gid: proxyGid };
  const otherGroup = { from: 'pod' as const, uid: APP, gid: OTHER_GROUP };
  const peer = { from: 'peer' as const, uid: 0, gid: 0 };
  type Who = { from: 'pod' | 'peer'; uid: number; gid: number };
  const tcp = (id: string, who: Who, host: string, port: number, source?: string): Probe => ({
    id,
    ...who,
    proto: 'tcp',
    host,
    port,
    ...(source === undefined ? {} : { source }),
  });
  const udp = (id: string, who: Who, host: string, port: number): Probe => ({ id, ...who, proto: 'udp', host, port });

  const probes: Probe[] = [
    // IPv4, from the pod to the peer
    tcp('app -> peer:9000', app, PEER4, 9000),
    tcp('app -> peer:9001', app, PEER4, 9001),
    tcp('app -> peer:443', app, PEER4, 443),
    tcp('app -> peer b:9000', app, PEER4B, 9000),
    tcp('proxy -> peer:9000', proxy, PEER4, 9000),
    tcp('proxy gid only -> peer:9000', gidOnly, PEER4, 9000),
    tcp('other group -> peer:9000', otherGroup, PEER4, 9000),
    // the pod talking to itself
    tcp('app -> own pod ip:8080', app, POD4, 8080),
    tcp('proxy -> own pod ip:8080', proxy, POD4, 8080),
    tcp('proxy -> own pod ip:15008', proxy, POD4, 15008),
    tcp('proxy gid only -> own pod ip:8080', gidOnly, POD4, 8080),
    tcp('app -> 127.0.0.1:8080', app, '127.0.0.1', 8080),
    tcp('proxy -> 127.0.0.1:8080', proxy, '127.0.0.1', 8080),
    tcp('app -> 127.0.0.2:8080', app, '127.0.0.2', 8080),
    tcp('proxy -> 127.0.0.2:8080', proxy, '127.0.0.2', 8080),
    tcp('app -> 127.1.2.3:8080', app, '127.1.2.3', 8080),
    tcp('proxy from 127.0.0.6 -> own pod ip:8080', proxy, POD4, 8080, '127.0.0.6'),
    tcp('app from 127.0.0.6 -> own pod ip:8080', app, POD4, 8080, '127.0.0.6'),
    // DNS (the lab's resolv.conf names the peer, or a resolver on loopback)
    udp('app udp dns -> peer:53', app, PEER4, 53),
    tcp('app tcp dns -> peer:53', app, PEER4, 53),
    udp('app udp dns -> peer b:53', app, PEER4B, 53),
    tcp('app tcp dns -> peer b:53', app, PEER4B, 53),
    udp('proxy udp dns -> peer:53', proxy, PEER4, 53),
    tcp('proxy tcp dns -> peer:53', proxy, PEER4, 53),
    udp('app udp dns -> local resolver', app, LOCAL_DNS, 53),
    tcp('app tcp dns -> local resolver', app, LOCAL_DNS, 53),
    udp('proxy udp dns -> local resolver', proxy, LOCAL_DNS, 53),
    tcp('proxy tcp dns -> local resolver', proxy, LOCAL_DNS, 53),
    // inbound from the peer
    tcp('peer -> pod:8080', peer, POD4, 8080),
    tcp('peer -> pod:8081', peer, POD4, 8081),
    tcp('peer -> pod:15021', peer, POD4, 15021),
    tcp('peer -> pod:15008', peer, POD4, 15008),
  ];
  if (opts.ipv6 === true) {
    probes.push(
      tcp('app -> peer6:9000', app, PEER6, 9000),
      tcp('app -> peer6 b:9000', app, PEER6B, 9000),
      tcp('proxy -> peer6:9000', proxy, PEER6, 9000),
      tcp('app -> own pod ip6:8080', app, POD6, 8080),
      tcp('proxy -> own pod ip6:8080', proxy, POD6, 8080),
      tcp('app -> [::1]:8080', app, '::1', 8080),
      tcp('proxy from ::6 -> own pod ip6:8080', proxy, POD6, 8080, '::6'),
      udp('app udp dns -> peer6:53', app, PEER6, 53),
      tcp('app tcp dns -> peer6:53', app, PEER6, 53),
      udp('app udp dns -> peer6 b:53', app, PEER6B, 53),
      udp('proxy udp dns -> peer6:53', proxy, PEER6, 53),
      tcp('peer -> pod6:8080', peer, POD6, 8080),
      tcp('peer -> pod6:15021', peer, POD6, 15021),
    );
  }
  if (opts.virtualLink === true) {
    probes.push(
      tcp('peer over eth1 -> pod eth1 address:8080', peer, VPOD4, 8080),
      tcp('peer over eth1 -> pod 10.251.0.1:8080', peer, VPOD4_IN_10, 8080),
      tcp('app -> peer over eth1:9000', app, VPEER4, 9000),
    );
    if (opts.ipv6 === true) probes.push(tcp('peer over eth1 -> pod eth1 address6:8080', peer, VPOD6, 8080));
  }
  return probes;
}
