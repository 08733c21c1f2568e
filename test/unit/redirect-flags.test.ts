import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Command, CommanderError } from 'commander';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { parseTestFlags, TEST_RESOLV_CONF } from '../helpers/init-flags.js';
import type { TestParseEnv } from '../helpers/init-flags.js';
import type { InitOptions } from '../../src/redirect/config.js';
import { InitFlagError } from '../../src/errors/index.js';
import { registerInit } from '../../src/cli/init.js';
import { RecordingRunner } from '../../src/redirect/runner.js';

const env = { exists: (p: string) => p === '/var/run/netns/pod' };
const parse = (raw: RawInitFlags, more: TestParseEnv = {}): InitOptions => parseTestFlags(raw, { ...env, ...more });

function rejects(raw: RawInitFlags, flag: string, value: string, reason?: RegExp, more: TestParseEnv = {}): InitFlagError {
  let error: InitFlagError | undefined;
  assert.throws(
    () => parse(raw, more),
    (e: unknown) => {
      assert.ok(e instanceof InitFlagError, String(e));
      assert.equal(e.flag, flag);
      assert.equal(e.value, value);
      assert.ok(e.message.includes(`'${value}'`) && e.message.includes(flag), e.message);
      if (reason !== undefined) assert.match(e.message, reason);
      error = e;
      return true;
    },
  );
  return error as InitFlagError;
}

/** Parses a command line through the real commander command, without running anything. */
async function parseArgv(argv: string[]): Promise<{ options?: InitOptions; error?: unknown; runner: RecordingRunner }> {
  const runner = new RecordingRunner();
  const program = new Command('siding').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  let options: InitOptions | undefined;
  registerInit(program, {
    runner,
    out: () => undefined,
    err: () => undefined,
    exists: env.exists,
    lookPath: () => undefined,
    readFile: (p) => (p === '/etc/resolv.conf' ? TEST_RESOLV_CONF : undefined),
    environment: {},
  });
  // Capture the parsed options by intercepting the dry run: every argv gets --dry-run.
  const cmd = program.commands.find((c) => c.name() === 'init');
  cmd?.exitOverride();
  cmd?.hook('preAction', (c) => {
    options = parse(c.opts());
  });
  try {
    await program.parseAsync(['init', ...argv, '--dry-run'], { from: 'user' });
    return options === undefined ? { runner } : { options, runner };
  } catch (error) {
    return { error, runner };
  }
}

describe('siding init flag parsing', () => {
  it('gives istio-iptables defaults when no flag is given', () => {
    const o = parse({});
    assert.equal(o.redirect.proxyPort, 15001);
    assert.equal(o.redirect.inboundPort, 15006);
    assert.equal(o.redirect.tunnelPort, 15008);
    assert.deepEqual(o.redirect.proxyUids, ['1337']);
    assert.deepEqual(o.redirect.proxyGids, ['1337']);
    assert.deepEqual(o.redirect.outboundInclude, { kind: 'list', cidrs: [], hasLoopback: false });
    assert.deepEqual(o.redirect.inboundInclude, { kind: 'list', ports: [] });
    assert.deepEqual(o.redirect.dns, { kind: 'off' });
    assert.deepEqual(o.redirect.ownerGroups, { kind: 'all-except', groups: [] });
    assert.deepEqual(o.redirect.ipv4Loopback, { family: 'ipv4', address: '127.0.0.1', prefix: 32 });
    assert.equal(o.redirect.dropInvalid, false);
    assert.equal(o.dualStack, false);
    assert.equal(o.iptablesMode, 'auto');
    assert.equal(o.ipv6, 'auto');
    assert.equal(o.action, 'apply');
    assert.equal(o.validation.timeoutMs, 5000);
    assert.equal(o.validation.probePort, 15002);
  });

  it("parses the command line Istio's injector writes, through commander", async () => {
    const { options, error } = await parseArgv(['-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020']);
    assert.equal(error, undefined);
    assert.ok(options !== undefined);
    assert.deepEqual(options.redirect.outboundInclude, { kind: 'all' });
    assert.deepEqual(options.redirect.outboundExclude, []);
    assert.deepEqual(options.redirect.inboundInclude, { kind: 'all' });
    assert.deepEqual(options.redirect.inboundExcludePorts, [
      { from: 15090, to: 15090 },
      { from: 15021, to: 15021 },
      { from: 15020, to: 15020 },
    ]);
  });

  it('accepts the istio-iptables long flag names', async () => {
    const { options } = await parseArgv([
      '--envoy-port', '15001', '--inbound-capture-port', '15006', '--proxy-uid', '1337', '--proxy-gid', '1338',
      '--istio-inbound-interception-mode', 'REDIRECT', '--istio-service-cidr', '*', '--istio-service-exclude-cidr', '10.0.0.0/8',
      '--istio-inbound-ports', '*', '--istio-local-exclude-ports', '15020', '--istio-local-outbound-ports-exclude', '3306',
      '--istio-outbound-ports', '443', '--istio-exclude-interfaces', 'eth1', '--kube-virt-interfaces', 'net1', '--redirect-dns',
    ]);
    assert.ok(options !== undefined);
    assert.deepEqual(options.redirect.proxyGids, ['1338']);
    assert.deepEqual(options.redirect.outboundIncludePorts, [{ from: 443, to: 443 }]);
    assert.deepEqual(options.redirect.excludeInterfaces, ['eth1']);
    assert.deepEqual(options.redirect.virtualInterfaces, ['net1']);
    assert.deepEqual(options.redirect.dns, { kind: 'servers', port: 15053, servers: [{ family: 'ipv4', address: '10.96.0.10' }, { family: 'ipv6', address: 'fd00:10:96::a' }] });
  });

  it('treats --cleanup-only as --cleanup', () => {
    assert.equal(parse({ cleanupOnly: true }).action, 'cleanup');
    assert.equal(parse({ cleanup: true }).action, 'cleanup');
  });

  it('makes an unknown flag a commander usage error, which the CLI maps to exit 2', async () => {
    const { error, runner } = await parseArgv(['--no-such-flag']);
    assert.ok(error instanceof CommanderError);
    assert.notEqual(error.exitCode, 0);
    assert.equal(runner.commands.length, 0);
  });

  it('rejects a bad value before any program runs, where a good one would run programs', async () => {
    const attempt = async (argv: string[]): Promise<{ error: unknown; runner: RecordingRunner }> => {
      const runner = new RecordingRunner();
      const program = new Command('siding').exitOverride();
      registerInit(program, {
        runner,
        out: () => undefined,
        err: () => undefined,
        exists: () => true,
        lookPath: (n) => `/usr/sbin/${n}`,
        readFile: () => undefined,
        environment: {},
        addresses: () => [{ family: 'ipv4', address: '10.0.0.5' }],
      });
      program.commands.forEach((c) => c.exitOverride());
      try {
        await program.parseAsync(['init', ...argv], { from: 'user' });
        return { error: undefined, runner };
      } catch (error) {
        return { error, runner };
      }
    };
    const bad = await attempt(['-i', '*', '-p', '0']);
    assert.ok(bad.error instanceof InitFlagError);
    assert.equal(bad.runner.commands.length, 0);
    const good = await attempt(['-i', '*', '-p', '15001']);
    assert.equal(good.error, undefined);
    assert.ok(good.runner.commands.length > 0);
  });

  it('rejects a port of 0, above 65535, or that is not a number', () => {
    rejects({ envoyPort: '0' }, '-p/--envoy-port', '0');
    rejects({ envoyPort: '65536' }, '-p/--envoy-port', '65536');
    rejects({ inboundCapturePort: '15006x' }, '-z/--inbound-capture-port', '15006x');
    rejects({ dnsPort: '-1' }, '--dns-port', '-1');
    rejects({ inboundTunnelPort: '' }, '-e/--inbound-tunnel-port', '');
  });

  it('accepts port ranges with a dash or a colon', () => {
    assert.deepEqual(parse({ istioLocalOutboundPortsExclude: '8000-8100,9000:9001,53' }).redirect.outboundExcludePorts, [
      { from: 8000, to: 8100 },
      { from: 9000, to: 9001 },
      { from: 53, to: 53 },
    ]);
  });

  it('rejects a port range whose upper bound is below the lower bound', () => {
    rejects({ istioLocalExcludePorts: '15020,9000-8000' }, '-d/--istio-local-exclude-ports', '15020,9000-8000', /ends below its start/);
  });

  it('drops empty items and trailing commas, as istio-iptables does', () => {
    assert.deepEqual(parse({ istioLocalExcludePorts: '15020,,15021,' }).redirect.inboundExcludePorts, [
      { from: 15020, to: 15020 },
      { from: 15021, to: 15021 },
    ]);
    assert.deepEqual(parse({ istioServiceCidr: ',10.0.0.0/8,' }).redirect.outboundInclude, {
      kind: 'list',
      cidrs: [{ family: 'ipv4', address: '10.0.0.0', prefix: 8 }],
      hasLoopback: false,
    });
    assert.deepEqual(parse({ proxyUid: '1337,' }).redirect.proxyUids, ['1337']);
    assert.deepEqual(parse({ kubeVirtInterfaces: 'eth0,,' }).redirect.virtualInterfaces, ['eth0']);
  });

  it("accepts '*' for all inbound ports but not in the exclude list", () => {
    assert.deepEqual(parse({ istioInboundPorts: '*' }).redirect.inboundInclude, { kind: 'all' });
    rejects({ istioLocalExcludePorts: '*' }, '-d/--istio-local-exclude-ports', '*');
  });

  it('removes duplicate ports, CIDRs and IDs but keeps the first order', () => {
    const o = parse({ istioLocalExcludePorts: '2,1,2', istioServiceExcludeCidr: '10.0.0.0/8,10.1.0.0/8', proxyUid: '5,5,4' });
    assert.deepEqual(o.redirect.inboundExcludePorts.map((p) => p.from), [2, 1]);
    assert.deepEqual(o.redirect.outboundExclude, [{ family: 'ipv4', address: '10.0.0.0', prefix: 8 }]);
    assert.deepEqual(o.redirect.proxyUids, ['5', '4']);
  });

  it('clears host bits of CIDRs and makes a bare address a /32 or /128', () => {
    const o = parse({ istioServiceCidr: '10.1.2.3/8,192.168.1.1,FD00:0:0::1/64,2001:db8::1' });
    assert.deepEqual(o.redirect.outboundInclude, {
      kind: 'list',
      cidrs: [
        { family: 'ipv4', address: '10.0.0.0', prefix: 8 },
        { family: 'ipv4', address: '192.168.1.1', prefix: 32 },
        { family: 'ipv6', address: 'fd00::', prefix: 64 },
        { family: 'ipv6', address: '2001:db8::1', prefix: 128 },
      ],
      hasLoopback: false,
    });
  });

  it('rejects malformed addresses and prefixes', () => {
    rejects({ istioServiceExcludeCidr: '10.0.0.0/33' }, '-x/--istio-service-exclude-cidr', '10.0.0.0/33', /prefix length/);
    rejects({ istioServiceExcludeCidr: 'fd00::/129' }, '-x/--istio-service-exclude-cidr', 'fd00::/129', /prefix length/);
    rejects({ istioServiceCidr: '10.0.0' }, '-i/--istio-service-cidr', '10.0.0');
    rejects({ istioServiceCidr: '010.0.0.1' }, '-i/--istio-service-cidr', '010.0.0.1');
    rejects({ istioServiceCidr: '256.0.0.1/8' }, '-i/--istio-service-cidr', '256.0.0.1/8');
    rejects({ istioServiceCidr: 'fe80::1%eth0' }, '-i/--istio-service-cidr', 'fe80::1%eth0');
    rejects({ istioServiceCidr: '::ffff:10.0.0.1' }, '-i/--istio-service-cidr', '::ffff:10.0.0.1', /IPv4-mapped/);
    assert.deepEqual(parse({ istioServiceCidr: '::10.0.0.1' }).redirect.outboundInclude, {
      kind: 'list',
      cidrs: [{ family: 'ipv6', address: '::a00:1', prefix: 128 }],
      hasLoopback: false,
    });
    rejects({ istioServiceCidr: '10.0.0.0/8 ; rm -rf /' }, '-i/--istio-service-cidr', '10.0.0.0/8 ; rm -rf /');
    rejects({ istioServiceCidr: '10.0.0.0/-1' }, '-i/--istio-service-cidr', '10.0.0.0/-1');
  });

  it('takes UIDs and GIDs as numbers, ranges or names, as iptables does, and rejects anything else', () => {
    assert.deepEqual(parse({ proxyUid: '1337,1000-2000,istio-proxy,42' }).redirect.proxyUids, ['1337', '1000-2000', 'istio-proxy', '42']);
    // iptables' owner match reads 0042 as octal (34): refused rather than silently another user.
    rejects({ proxyUid: '0042' }, '-u/--proxy-uid', '0042', /leading zero/);
    rejects({ proxyUid: '4294967295' }, '-u/--proxy-uid', '4294967295');
    rejects({ proxyGid: '-5' }, '-g/--proxy-gid', '-5');
    rejects({ proxyGid: '20-10' }, '-g/--proxy-gid', '20-10', /upper bound/);
    rejects({ proxyUid: 'a b' }, '-u/--proxy-uid', 'a b');
    rejects({ proxyUid: '1337 -j ACCEPT' }, '-u/--proxy-uid', '1337 -j ACCEPT');
  });

  it("defaults -u to ENVOY_USER's UID from /etc/passwd, else 1337, when it is absent or empty", () => {
    const passwd = 'root:x:0:0::/root:/bin/sh\nistio-proxy:x:1500:1500::/:/sbin/nologin\nenvoy:x:101:101::/:/sbin/nologin\n';
    assert.deepEqual(parse({}, { files: { '/etc/passwd': passwd } }).redirect.proxyUids, ['1500']);
    assert.deepEqual(parse({ proxyUid: '' }, { files: { '/etc/passwd': passwd }, environment: { ENVOY_USER: 'envoy' } }).redirect.proxyUids, ['101']);
    assert.deepEqual(parse({}, { files: { '/etc/passwd': passwd }, environment: { ENVOY_USER: 'nobody' } }).redirect.proxyGids, ['1337']);
  });

  it('rejects interface names that are too long or contain other characters', () => {
    rejects({ istioExcludeInterfaces: 'abcdefghijklmnop' }, '-c/--istio-exclude-interfaces', 'abcdefghijklmnop');
    rejects({ kubeVirtInterfaces: 'eth0 -j ACCEPT' }, '-k/--kube-virt-interfaces', 'eth0 -j ACCEPT');
    rejects({ kubeVirtInterfaces: '..' }, '-k/--kube-virt-interfaces', '..');
    rejects({ kubeVirtInterfaces: '-eth0' }, '-k/--kube-virt-interfaces', '-eth0');
    assert.deepEqual(parse({ istioExcludeInterfaces: 'eth0,veth+,net1.100' }).redirect.excludeInterfaces, ['eth0', 'veth+', 'net1.100']);
  });

  it('refuses TPROXY, saying why, and any other mode but REDIRECT (or empty)', () => {
    rejects({ istioInboundInterceptionMode: 'TPROXY' }, '-m/--istio-inbound-interception-mode', 'TPROXY', /not supported.*IP_TRANSPARENT/);
    rejects({ istioInboundInterceptionMode: 'redirect' }, '-m/--istio-inbound-interception-mode', 'redirect', /must be REDIRECT/);
    assert.equal(parse({ istioInboundInterceptionMode: '' }).redirect.mode, 'REDIRECT');
  });

  it('accepts the TPROXY mark and route table with REDIRECT, and checks they are numbers', () => {
    parse({ istioInboundTproxyMark: '1337', istioInboundTproxyRouteTable: '133' });
    rejects({ istioInboundTproxyMark: 'x' }, '-t/--istio-inbound-tproxy-mark', 'x');
    rejects({ istioInboundTproxyRouteTable: '0' }, '-r/--istio-inbound-tproxy-route-table', '0');
  });

  it('rejects unknown --iptables-mode, --ipv6 and --log-format values', () => {
    rejects({ iptablesMode: 'iptables' }, '--iptables-mode', 'iptables', /auto, legacy, nft/);
    rejects({ ipv6: 'yes' }, '--ipv6', 'yes', /auto, on, off/);
    rejects({ logFormat: 'xml' }, '--log-format', 'xml', /text, json/);
  });

  it('requires --netns to be an absolute path that exists', () => {
    assert.equal(parse({ netns: '/var/run/netns/pod' }).netns, '/var/run/netns/pod');
    rejects({ netns: 'pod' }, '--netns', 'pod', /absolute path/);
    rejects({ netns: '/var/run/netns/other' }, '--netns', '/var/run/netns/other', /no such file/);
  });

  it('parses probe timeouts as Go durations within bounds', () => {
    assert.equal(parse({ probeTimeout: '500ms' }).validation.timeoutMs, 500);
    assert.equal(parse({ probeTimeout: '2s' }).validation.timeoutMs, 2000);
    assert.equal(parse({ probeTimeout: '3' }).validation.timeoutMs, 3000);
    assert.equal(parse({ probeTimeout: '1m30s' }).validation.timeoutMs, 90000);
    assert.equal(parse({ probeTimeout: '1.5s' }).validation.timeoutMs, 1500);
    assert.equal(parse({ probeTimeout: '1h' }).validation.timeoutMs, 3600000);
    rejects({ probeTimeout: '2h' }, '--probe-timeout', '2h', /between/);
    rejects({ probeTimeout: '0' }, '--probe-timeout', '0', /between/);
    for (const bad of ['5x', 's', '1..5s', '-1s', '5 s', '']) rejects({ probeTimeout: bad }, '--probe-timeout', bad);
  });

  it('bounds the lock settings', () => {
    const o = parse({ lockWait: '3', lockRetries: '0', lockRetryDelay: '250' });
    assert.deepEqual(o.lock, { waitSeconds: 3, retries: 0, retryDelayMs: 250 });
    rejects({ lockWait: '0' }, '--lock-wait', '0');
    rejects({ lockRetries: '21' }, '--lock-retries', '21');
    rejects({ lockRetryDelay: '1.5' }, '--lock-retry-delay', '1.5');
  });

  it('refuses --run-validation together with --cleanup', () => {
    rejects({ runValidation: true, cleanup: true }, '--run-validation', 'true', /--cleanup/);
  });

  it('refuses --run-validation when no outbound connection on the probe port would be captured', () => {
    rejects({ runValidation: true, istioServiceCidr: '' }, '--run-validation', 'true', /nothing to validate/);
    rejects({ runValidation: true, istioServiceCidr: '*', istioLocalOutboundPortsExclude: '15002' }, '--run-validation', 'true', /nothing to validate/);
  });

  it('gives --run-validation a destination the rules capture, and none without it', () => {
    assert.deepEqual(parse({ runValidation: true, istioServiceCidr: '*' }).validation.target, { family: 'ipv4', address: '192.0.2.1', port: 15002 });
    assert.deepEqual(parse({ runValidation: true, istioServiceCidr: '10.1.0.0/16' }).validation.target, { family: 'ipv4', address: '10.1.0.1', port: 15002 });
    assert.equal(parse({ istioServiceCidr: '*' }).validation.target, undefined);
  });

  it('never lets a list value through unvalidated (property)', () => {
    // Any accepted value renders to characters iptables-restore reads as plain words.
    const safe = /^[0-9A-Za-z.:/_+-]*$/;
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (s) => {
        for (const key of ['istioServiceCidr', 'istioLocalExcludePorts', 'istioExcludeInterfaces', 'proxyUid'] as const) {
          let o: InitOptions;
          try {
            o = parse({ [key]: s });
          } catch (e) {
            assert.ok(e instanceof InitFlagError);
            continue;
          }
          const words = JSON.stringify(o.redirect).match(/"[^"]*"/g) ?? [];
          for (const w of words) assert.match(w.slice(1, -1), safe);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it('round-trips any valid port list (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 0, max: 100 })), { minLength: 1, maxLength: 20 }), (items) => {
        const text = items.map(([p, n]) => (n === 0 ? String(p) : `${p}-${Math.min(65535, p + n)}`)).join(',');
        const ports = parse({ istioLocalOutboundPortsExclude: text }).redirect.outboundExcludePorts;
        for (const r of ports) assert.ok(r.from >= 1 && r.to <= 65535 && r.from <= r.to);
        assert.ok(ports.length <= items.length);
      }),
    );
  });
});
