import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import type { InitOptions } from '../../src/redirect/config.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { ENV_ONLY, ENV_VARS } from '../../src/redirect/environment.js';
import { registerInit } from '../../src/cli/init.js';
import { InitFlagError } from '../../src/errors/index.js';
import { parseTestFlags } from '../helpers/init-flags.js';
import type { TestParseEnv } from '../helpers/init-flags.js';

const parse = (raw: RawInitFlags, env: TestParseEnv = {}): InitOptions => parseTestFlags(raw, env);

function refuses(raw: RawInitFlags, env: TestParseEnv, expect: { envVar?: string; flag?: string; value: string; reason?: RegExp }): void {
  assert.throws(
    () => parse(raw, env),
    (e: unknown) => {
      assert.ok(e instanceof InitFlagError, String(e));
      assert.equal(e.envVar, expect.envVar);
      if (expect.flag !== undefined) assert.equal(e.flag, expect.flag);
      assert.equal(e.value, expect.value);
      if (expect.envVar !== undefined) assert.ok(e.message.includes(`environment variable ${expect.envVar}`), e.message);
      if (expect.reason !== undefined) assert.match(e.message, expect.reason);
      return true;
    },
  );
}

/** Parses an argv through the real commander command (--dry-run, so nothing runs). */
async function argv(args: string[], environment: Record<string, string> = {}): Promise<InitOptions> {
  let options: InitOptions | undefined;
  const program = new Command('siding').exitOverride();
  registerInit(program, { out: () => undefined, err: () => undefined, exists: () => true, readFile: () => undefined, environment });
  const cmd = program.commands.find((c) => c.name() === 'init');
  cmd?.exitOverride();
  cmd?.hook('preAction', (c) => {
    options = parse(c.opts(), { environment });
  });
  await program.parseAsync(['init', ...args, '--dry-run'], { from: 'user' });
  assert.ok(options !== undefined);
  return options;
}

describe("istio-iptables' environment variables", () => {
  it('fill in flags that are not given, named after the flag', () => {
    const o = parse({}, { environment: { ISTIO_SERVICE_CIDR: '*', ISTIO_INBOUND_PORTS: '8080', PROXY_UID: '1500', INBOUND_CAPTURE_PORT: '16006' } });
    assert.deepEqual(o.redirect.outboundInclude, { kind: 'all' });
    assert.deepEqual(o.redirect.inboundInclude, { kind: 'list', ports: [{ from: 8080, to: 8080 }] });
    assert.deepEqual(o.redirect.proxyUids, ['1500']);
    assert.equal(o.redirect.inboundPort, 16006);
  });

  it('lose to the flag on the command line', () => {
    const o = parse({ istioServiceCidr: '10.0.0.0/8' }, { environment: { ISTIO_SERVICE_CIDR: '*' } });
    assert.equal(o.redirect.outboundInclude.kind, 'list');
  });

  it('do not set -p: istio-iptables reads no ENVOY_PORT', () => {
    assert.equal(parse({}, { environment: { ENVOY_PORT: '16001' } }).redirect.proxyPort, 15001);
  });

  it('read the second variable of a flag after the first, so it wins', () => {
    assert.equal(parse({}, { environment: { REDIRECT_DNS: 'false', ISTIO_META_DNS_CAPTURE: 'true' } }).redirect.dns.kind, 'servers');
    assert.equal(parse({}, { environment: { REDIRECT_DNS: 'true', ISTIO_META_DNS_CAPTURE: 'false' } }).redirect.dns.kind, 'off');
    assert.equal(parse({}, { environment: { INVALID_DROP: 'true' } }).redirect.dropInvalid, true);
    assert.equal(parse({}, { environment: { DUAL_STACK: 'true', ISTIO_DUAL_STACK: '0' } }).dualStack, false);
  });

  it('take booleans as Go reads them, and name the variable of a bad one', () => {
    for (const yes of ['1', 't', 'T', 'TRUE', 'true', 'True']) assert.equal(parse({}, { environment: { DUAL_STACK: yes } }).dualStack, true);
    for (const no of ['0', 'f', 'F', 'FALSE', 'false', 'False']) assert.equal(parse({}, { environment: { DUAL_STACK: no } }).dualStack, false);
    refuses({}, { environment: { DUAL_STACK: 'yes' } }, { envVar: 'DUAL_STACK', flag: '--dual-stack', value: 'yes', reason: /must be one of "1", "t"/ });
  });

  it('name the variable when a value from it is bad', () => {
    refuses({}, { environment: { ISTIO_SERVICE_CIDR: '10.0.0.0/33' } }, { envVar: 'ISTIO_SERVICE_CIDR', flag: '-i/--istio-service-cidr', value: '10.0.0.0/33' });
    refuses({}, { environment: { PROBE_TIMEOUT: 'soon' } }, { envVar: 'PROBE_TIMEOUT', flag: '--probe-timeout', value: 'soon' });
  });

  it('are listed once each, for flags that exist', () => {
    const names = ENV_VARS.flatMap((v) => v.names);
    assert.equal(new Set(names).size, names.length);
    for (const v of ENV_VARS) for (const n of v.names) assert.match(n, /^[A-Z][A-Z0-9_]+$/);
  });

  it('set the owner-group filters: all groups except some, or only some (at most 64)', () => {
    assert.deepEqual(parse({}, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '888,ftp,' } }).redirect.ownerGroups, { kind: 'all-except', groups: ['888', 'ftp'] });
    assert.deepEqual(parse({}, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS: 'java,202', ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '1' } }).redirect.ownerGroups, {
      kind: 'only',
      groups: ['java', '202'],
    });
    assert.deepEqual(parse({}, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS: '' } }).redirect.ownerGroups, { kind: 'only', groups: [] });
    const many = Array.from({ length: 65 }, (_, i) => String(i)).join(',');
    refuses({}, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS: many } }, { envVar: ENV_ONLY.ownerGroups, value: many, reason: /at most 64/ });
    refuses({}, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: 'a b' } }, { envVar: ENV_ONLY.ownerGroupsExclude, value: 'a b' });
  });

  it('set the IPv4 loopback range, which must be loopback with a prefix of 8 to 32', () => {
    assert.deepEqual(parse({}, { environment: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: '127.0.0.1/8' } }).redirect.ipv4Loopback, { family: 'ipv4', address: '127.0.0.0', prefix: 8 });
    for (const bad of ['10.0.0.0/8', '127.0.0.0/7', '::1/128', '127.0.0.1/32,127.0.0.2/32']) {
      refuses({}, { environment: { ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: bad } }, { envVar: ENV_ONLY.ipv4Loopback, value: bad });
    }
  });
});

describe('flags istio-iptables has that siding gives its meaning', () => {
  it('accepts every istio-iptables flag on the command line', async () => {
    const o = await argv([
      '-e', '16008', '-t', '1337', '-r', '133', '--capture-all-dns', '--redirect-dns', '--dual-stack', '--drop-invalid',
      '--network-namespace', '/var/run/netns/pod', '--reconcile', '--force-apply', '--force-iptables-binary', 'nft', '--native-nftables',
      '--cni-mode', '--log_as_json', '--log_output_level', 'default:warn,klog:error', '--log_target', 'stdout', '--log_caller', 'default',
      '--log_stacktrace_level', 'default:none', '--skip-rule-apply', '--iptables-probe-port', '15002', '--probe-timeout', '2s',
    ]);
    assert.equal(o.redirect.tunnelPort, 16008);
    assert.deepEqual(o.redirect.dns, { kind: 'all', port: 15053 });
    assert.equal(o.dualStack, true);
    assert.equal(o.redirect.dropInvalid, true);
    assert.equal(o.netns, '/var/run/netns/pod');
    assert.equal(o.iptablesMode, 'nft');
    assert.equal(o.privateLock, true);
    assert.deepEqual(o.log, { format: 'json', level: 'warn', target: 'stdout' });
  });

  it('takes boolean flags with a value, as istio-iptables does', async () => {
    assert.equal((await argv(['--redirect-dns=true', '--capture-all-dns=1'])).redirect.dns.kind, 'all');
    assert.equal((await argv(['--dual-stack=false'])).dualStack, false);
  });

  it('captures no DNS, with a note, when resolv.conf lists no nameserver and --capture-all-dns is not set', () => {
    const o = parse({ redirectDns: true }, { files: { '/etc/resolv.conf': 'search example.com\n' } });
    assert.deepEqual(o.redirect.dns, { kind: 'off' });
    assert.match(o.notes.join('\n'), /no nameserver/);
  });

  it('refuses --redirect-dns when resolv.conf cannot be read, unless --capture-all-dns', () => {
    assert.throws(() => parseTestFlags({ redirectDns: true }, { files: { '/etc/resolv.conf': undefined as unknown as string } }), /resolv\.conf cannot be read/);
    assert.equal(parseTestFlags({ redirectDns: true, captureAllDns: true }, { files: { '/etc/resolv.conf': undefined as unknown as string } }).redirect.dns.kind, 'all');
  });

  it('chooses the backend from --iptables-mode, --force-iptables-binary or --native-nftables, and refuses contradictions', () => {
    assert.equal(parse({ forceIptablesBinary: 'legacy' }).iptablesMode, 'legacy');
    assert.equal(parse({ nativeNftables: true }).iptablesMode, 'nft');
    assert.equal(parse({ forceIptablesBinary: '' }).iptablesMode, 'auto');
    assert.throws(() => parse({ iptablesMode: 'nft', forceIptablesBinary: 'legacy' }), /contradicts --iptables-mode nft/);
    assert.throws(() => parse({ nativeNftables: true, forceIptablesBinary: 'legacy' }), /contradicts the legacy backend/);
    assert.throws(() => parse({ forceIptablesBinary: 'xtables' }), /must be one of legacy, nft/);
  });

  it('takes --network-namespace as --netns, and refuses two different namespaces', () => {
    assert.equal(parse({ networkNamespace: '/var/run/netns/pod' }).netns, '/var/run/netns/pod');
    assert.equal(parse({ networkNamespace: '' }).netns, undefined);
    assert.throws(() => parse({ netns: '/var/run/netns/a', networkNamespace: '/var/run/netns/b' }), /another namespace/);
  });

  it('reads --log_output_level for the default scope, else all, and refuses unknown scopes and levels', () => {
    assert.equal(parse({ log_output_level: 'warn' }).log.level, 'warn');
    assert.equal(parse({ log_output_level: 'all:error,default:debug' }).log.level, 'debug');
    assert.equal(parse({ log_output_level: 'klog:none' }).log.level, 'info');
    assert.equal(parse({ log_output_level: 'default:fatal' }).log.level, 'error');
    assert.throws(() => parse({ log_output_level: 'default:loud' }), /debug, info, warn, error, fatal, none/);
    assert.throws(() => parse({ log_output_level: 'mine:info' }), /all, default, grpc, klog/);
    assert.throws(() => parse({ log_target: ['/var/log/x'] }), /stdout or stderr/);
  });
});
