/**
 * `siding init` with real traffic, for each iptables backend, in a pod namespace with IPv4
 * and IPv6 (ULA) addresses. See init-lib.ts for the lab and its stub servers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { APP, initPrerequisite, Lab, must, PEER4, PEER6, POD4, POD6, PROXY, ISTIO_INIT_ARGS } from './init-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = initPrerequisite();

for (const backend of ['legacy', 'nft'] as const) {
  describe(`siding init with the ${backend} backend`, skipUnless(prereq), () => {
    let lab: Lab;
    const other = backend === 'legacy' ? 'nft' : 'legacy';

    before(async () => {
      lab = await Lab.create(backend, { ipv6: true });
    });
    after(async () => {
      await lab?.destroy();
    });

    /** Removes siding's rules, then applies Istio's usual flags plus `extra` with this backend. */
    async function apply(args: readonly string[]): Promise<void> {
      await lab.sidingOk(['init', '--cleanup', '--iptables-mode', backend]);
      await lab.sidingOk([...args, '--iptables-mode', backend]);
    }

    it('redirects an app-UID connection to the peer to the outbound port and lets a proxy-UID one reach the peer', async () => {
      await apply(ISTIO_INIT_ARGS);
      assert.equal(await lab.app(PEER4, 9000), 'outbound');
      assert.equal(await lab.proxy(PEER4, 9000), 'peer');
      // the rules went to this backend and not to the other one
      assert.match(await lab.save(backend), /SIDING_OUTPUT/);
      assert.doesNotMatch(await lab.save(other).catch(() => ''), /SIDING_/);
    });

    it('lets a connection of the proxy GID reach the peer while another group is redirected', async () => {
      await apply([...ISTIO_INIT_ARGS, '-g', '1400']);
      assert.equal(await lab.connect('pod', { host: PEER4, port: 9000, uid: APP, gid: 1400 }), 'peer');
      assert.equal(await lab.connect('pod', { host: PEER4, port: 9000, uid: APP, gid: APP }), 'outbound');
      assert.equal(await lab.connect('pod', { host: PEER4, port: 9000, uid: PROXY, gid: APP }), 'peer');
    });

    it("lands a peer's connection to the app port on the inbound port and lets excluded inbound ports reach the app", async () => {
      await apply(ISTIO_INIT_ARGS);
      assert.equal(await lab.fromPeer(POD4, 8080), 'inbound');
      assert.equal(await lab.fromPeer(POD4, 15021), 'app');
    });

    it('lets excluded outbound ports and excluded CIDRs reach the peer', async () => {
      await apply([...ISTIO_INIT_ARGS, '-o', '9001']);
      assert.equal(await lab.app(PEER4, 9001), 'peer');
      assert.equal(await lab.app(PEER4, 9000), 'outbound');
      await apply([...ISTIO_INIT_ARGS, '-x', `${PEER4}/32,${PEER6}/128`]);
      assert.equal(await lab.app(PEER4, 9000), 'peer');
      assert.equal(await lab.app(PEER6, 9000), 'peer');
    });

    it('captures only the listed destinations when -i is a list', async () => {
      await apply(['init', '-i', '10.250.0.0/30', '-b', '*']);
      assert.equal(await lab.app(PEER4, 9000), 'outbound');
      assert.equal(await lab.app(PEER6, 9000), 'peer');
      await apply(['init', '-i', '10.99.0.0/16,fd00:99::/64', '-b', '*']);
      assert.equal(await lab.app(PEER4, 9000), 'peer');
      assert.equal(await lab.app(PEER6, 9000), 'peer');
    });

    it('captures only the listed inbound ports when -b is a list', async () => {
      await apply(['init', '-i', '*', '-b', '8080']);
      assert.equal(await lab.fromPeer(POD4, 8080), 'inbound');
      assert.equal(await lab.fromPeer(POD4, 8081), 'app');
      await apply(['init', '-i', '*', '-b', '']);
      assert.equal(await lab.fromPeer(POD4, 8080), 'app');
    });

    it('always captures the -q ports, even when -i captures nothing', async () => {
      await apply(['init', '-i', '', '-b', '*', '-q', '9002']);
      assert.equal(await lab.app(PEER4, 9002), 'outbound');
      assert.equal(await lab.app(PEER4, 9000), 'peer');
    });

    it('does not capture app traffic to 127.0.0.1 and lets the proxy reach the app from 127.0.0.6', async () => {
      await apply(ISTIO_INIT_ARGS);
      assert.equal(await lab.app('127.0.0.1', 8080), 'app');
      assert.equal(await lab.app(POD4, 8080), 'app', 'the app calling its own pod address is not captured');
      assert.equal(await lab.proxy(POD4, 8080, { source: '127.0.0.6' }), 'app');
      assert.equal(await lab.proxy(POD4, 8080), 'inbound', 'the proxy calling its own pod address is inbound traffic');
    });

    it('applies the same rules through ip6tables on the IPv6 addresses of the veth with --dual-stack, and neighbour discovery keeps working', async () => {
      await apply([...ISTIO_INIT_ARGS, '--dual-stack']);
      // Forget the neighbours, so the connections below need neighbour discovery under the rules.
      for (const ns of [lab.pod, lab.peer]) await must('ip', ['-n', ns, '-6', 'neigh', 'flush', 'all']);
      assert.equal(await lab.app(PEER6, 9000), 'outbound');
      assert.equal(await lab.proxy(PEER6, 9000), 'peer');
      assert.equal(await lab.fromPeer(POD6, 8080), 'inbound');
      assert.equal(await lab.fromPeer(POD6, 15021), 'app');
      assert.equal(await lab.app('::1', 8080), 'app');
      assert.equal(await lab.proxy(POD6, 8080, { source: '::6' }), 'app');
      assert.equal(await lab.proxy(POD6, 8080), 'inbound');
      assert.match(await lab.save(backend, 'ipv6'), /-s ::6\/128 -o lo .*siding\/passthrough/);
    });

    it("redirects the app's DNS over UDP and TCP to the DNS port, and not the proxy's", async () => {
      await apply([...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns', '--dual-stack']);
      for (const host of [PEER4, PEER6]) {
        assert.equal(await lab.connect('pod', { host, port: 53, proto: 'udp', uid: APP }), 'dns-proxy', `UDP to ${host}`);
        assert.equal(await lab.connect('pod', { host, port: 53, proto: 'tcp', uid: APP }), 'dns-proxy-tcp', `TCP to ${host}`);
        assert.equal(await lab.connect('pod', { host, port: 53, proto: 'udp', uid: PROXY }), 'peer-dns', `proxy UDP to ${host}`);
        assert.equal(await lab.connect('pod', { host, port: 53, proto: 'tcp', uid: PROXY }), 'peer-dns-tcp', `proxy TCP to ${host}`);
      }
      // the conntrack zones are in place in the raw table
      assert.match(await lab.save(backend), /-A SIDING_DNS_ZONE_OUT .*--dport 53 .*-j CT --zone 2/);
    });

    it('gives an identical ruleset when run twice, with one jump per built-in chain', async () => {
      await apply([...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns', '--dual-stack']);
      const first = await lab.state(backend);
      await lab.sidingOk([...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns', '--dual-stack', '--iptables-mode', backend]);
      const second = await lab.state(backend);
      assert.equal(second, first);
      assert.equal(first.match(/siding\/outbound-jump/g)?.length, 2, 'one OUTPUT jump per family');
      assert.equal(await lab.app(PEER4, 9000), 'outbound');
    });

    it("restores the original ruleset exactly with --cleanup, keeping someone else's rules", async () => {
      await lab.sidingOk(['init', '--cleanup', '--iptables-mode', backend]);
      for (const family of ['ipv4', 'ipv6'] as const) {
        await lab.restore(
          backend,
          family,
          [
            '*raw',
            '-A PREROUTING -p udp --dport 5558 -m comment --comment foreign -j CT --notrack',
            'COMMIT',
            '*nat',
            ':FOREIGN - [0:0]',
            '-A FOREIGN -p tcp --dport 5556 -j RETURN',
            '-A PREROUTING -p tcp --dport 5557 -j FOREIGN',
            '-A OUTPUT -p tcp --dport 5555 -m comment --comment foreign -j RETURN',
            'COMMIT',
            '',
          ].join('\n'),
        );
      }
      const original = await lab.state(backend);
      await lab.sidingOk([...ISTIO_INIT_ARGS, '--redirect-dns', '--capture-all-dns', '-c', 'eth9', '--iptables-mode', backend]);
      assert.equal(await lab.app(PEER4, 9000), 'outbound');
      // a re-run with fewer features drops the chains it no longer needs
      await lab.sidingOk([...ISTIO_INIT_ARGS, '--iptables-mode', backend]);
      assert.doesNotMatch(await lab.save(backend), /SIDING_DNS/);
      await lab.sidingOk(['init', '--cleanup', '--iptables-mode', backend]);
      assert.equal(await lab.state(backend), original);
      assert.equal(await lab.app(PEER4, 9000), 'peer');
      // cleaning again finds nothing and changes nothing
      await lab.sidingOk(['init', '--cleanup-only', '--iptables-mode', backend]);
      assert.equal(await lab.state(backend), original);
    });

    it('leaves the ruleset untouched when a flag value is bad', async () => {
      await apply(ISTIO_INIT_ARGS);
      const before = await lab.state(backend);
      const bad: [string[], RegExp][] = [
        [['-p', '70000'], /-p\/--envoy-port/],
        [['-x', '10.0.0.0/33'], /-x\/--istio-service-exclude-cidr/],
        [['-u', 'root;reboot'], /-u\/--proxy-uid/],
        [['-c', 'eth0;reboot'], /-c\/--istio-exclude-interfaces/],
        [['--iptables-mode', 'both'], /--iptables-mode/],
      ];
      for (const [flags, names] of bad) {
        const r = await lab.siding([...ISTIO_INIT_ARGS, '--iptables-mode', backend, ...flags]);
        assert.equal(r.code, 2, `${flags.join(' ')}: ${r.stderr}`);
        assert.match(r.stderr, names);
        assert.ok(r.stderr.includes(`'${flags[1] ?? ''}'`), `the message quotes the value: ${r.stderr}`);
      }
      // the same through the real CLI process, and a commander usage error
      const cli = await lab.cli([...ISTIO_INIT_ARGS, '--iptables-mode', backend, '-p', '70000']);
      assert.equal(cli.code, 2, cli.stderr);
      assert.match(cli.stderr, /invalid value '70000' for flag -p\/--envoy-port/);
      const usage = await lab.cli([...ISTIO_INIT_ARGS, '--no-such-flag']);
      assert.equal(usage.code, 2, usage.stderr);
      assert.equal(await lab.state(backend), before);
    });
  });
}
