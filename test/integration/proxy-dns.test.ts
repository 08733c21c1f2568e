/**
 * DNS through `siding proxy` with capture on (siding init --redirect-dns --capture-all-dns,
 * siding proxy --redirect-dns): the app's queries to any server on port 53, UDP and TCP, land on the
 * proxy's 15053 and are forwarded to the nameserver of the proxy's resolver file. Two DNS
 * servers in the peer answer differently, so the answer says which one was asked.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { must, PEER4, ISTIO_INIT_ARGS } from './init-lib.js';
import { ProxyLab, proxyPrerequisite, type RunningProxy } from './proxy-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = proxyPrerequisite();
/** The nameserver the proxy's resolver file names: a second address of the peer. */
const RESOLVER = '10.250.1.53';
/** An address of the peer where no DNS server listens. */
const SILENT = '10.250.1.54';

describe('DNS through siding proxy with --redirect-dns', skipUnless(prereq), () => {
  let lab: ProxyLab;
  let proxy: RunningProxy | undefined;
  let dir: string;
  const resolvConf = (nameserver: string): string => {
    const file = path.join(dir, `resolv-${nameserver}.conf`);
    writeFileSync(file, `# written by the test\nsearch default.svc.cluster.local\nnameserver ${nameserver}\noptions ndots:5\n`);
    chmodSync(file, 0o644);
    return file;
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'siding-pxdns-'));
    // The proxy runs as 1337 and must read the file.
    chmodSync(dir, 0o755);
    lab = await ProxyLab.create('pxdns');
    for (const address of [RESOLVER, SILENT]) await must('ip', ['-n', lab.lab.peer, 'addr', 'add', `${address}/32`, 'dev', 'lo']);
    await lab.serve('peer', [
      { kind: 'dns', host: RESOLVER, port: 53, answer: '198.51.100.53' },
      { kind: 'dns', host: PEER4, port: 53, answer: '198.51.100.2' },
    ]);
    await lab.init([...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns']);
  });
  after(async () => {
    await proxy?.stop('SIGKILL');
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("forwards the app's UDP and TCP queries to the resolver file's nameserver and counts them", async () => {
    proxy = await lab.proxy(['--redirect-dns', '--resolv-conf', resolvConf(RESOLVER), '--drain-seconds', '0']);
    // Asked of the peer's own DNS server, answered by the proxy's nameserver: it went through 15053.
    assert.equal(await lab.client('pod', { op: 'dns-udp', server: PEER4, name: 'peer.example' }), '198.51.100.53');
    assert.equal(await lab.client('pod', { op: 'dns-tcp', server: PEER4, name: 'peer.example' }), '198.51.100.53');
    const m = await lab.metrics();
    assert.equal(m.value('siding_proxy_dns_queries_total', { protocol: 'udp', outcome: 'ok' }), 1);
    assert.equal(m.value('siding_proxy_dns_queries_total', { protocol: 'tcp', outcome: 'ok' }), 1);
    // DNS is not counted as proxied TCP.
    assert.deepEqual(m.outcomes('outbound'), {});
    assert.equal(await proxy.stop(), 0);
  });

  it('answers SERVFAIL when the nameserver does not answer', async () => {
    proxy = await lab.proxy(['--redirect-dns', '--resolv-conf', resolvConf(SILENT), '--drain-seconds', '0']);
    assert.equal(await lab.client('pod', { op: 'dns-udp', server: PEER4, name: 'peer.example', timeoutMs: 8000 }), 'RCODE 2');
    assert.equal((await lab.metrics()).value('siding_proxy_dns_queries_total', { protocol: 'udp', outcome: 'servfail' }), 1);
    assert.equal(await proxy.stop(), 0);
  });

  it('has no DNS listener without --redirect-dns, so captured queries go unanswered', async () => {
    proxy = await lab.proxy(['--drain-seconds', '0']);
    assert.equal(await lab.client('pod', { op: 'dns-udp', server: PEER4, name: 'peer.example', timeoutMs: 1000 }), 'TIMEOUT');
    assert.equal(await lab.client('pod', { op: 'dns-tcp', server: PEER4, name: 'peer.example', timeoutMs: 1000 }), 'ERR ECONNREFUSED');
    assert.equal(await proxy.stop(), 0);
  });

  it('refuses to start with --redirect-dns when the resolver file names no nameserver', async () => {
    const empty = path.join(dir, 'empty.conf');
    writeFileSync(empty, 'search example\n');
    chmodSync(empty, 0o644);
    await assert.rejects(lab.proxy(['--redirect-dns', '--resolv-conf', empty]), /names no nameserver/);
  });
});
