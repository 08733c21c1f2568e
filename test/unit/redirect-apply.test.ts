import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { parseTestFlags } from '../helpers/init-flags.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import type { ApplySettings } from '../../src/redirect/apply.js';
import { applyRedirect, classifyFailure, cleanupRedirect } from '../../src/redirect/apply.js';
import { NamespaceHost } from '../../src/redirect/host.js';
import type { InterfaceAddress } from '../../src/redirect/host.js';
import { decideIpv6 } from '../../src/redirect/ipv6.js';
import { CHAINS } from '../../src/redirect/rules.js';
import { memoryLogger } from '../../src/redirect/log.js';
import { buildRules } from '../../src/redirect/rules.js';
import { render } from '../../src/redirect/render.js';
import { RecordingRunner, programOf } from '../../src/redirect/runner.js';
import type { Command } from '../../src/redirect/runner.js';
import { ApplyError, describeError } from '../../src/errors/index.js';

const ISTIO_INIT_ARGS: RawInitFlags = { istioServiceCidr: '*', istioInboundPorts: '*', istioLocalExcludePorts: '15090,15021,15020' };
const cfg = (extra: RawInitFlags = {}) => parseTestFlags({ ...ISTIO_INIT_ARGS, ...extra }).redirect;
const settings = (extra: Partial<ApplySettings> = {}): ApplySettings => ({
  iptablesMode: 'auto',
  ipv6: 'auto',
  dualStack: false,
  lock: { waitSeconds: 10, retries: 3, retryDelayMs: 1000 },
  ...extra,
});

const LO: InterfaceAddress[] = [
  { family: 'ipv4', address: '127.0.0.1' },
  { family: 'ipv6', address: '::1' },
];
const V4_POD: InterfaceAddress[] = [...LO, { family: 'ipv4', address: '10.0.0.5' }, { family: 'ipv6', address: 'fe80::1' }];
const DUAL_POD: InterfaceAddress[] = [...V4_POD, { family: 'ipv6', address: 'fd00:5d::1' }];
const V6_POD: InterfaceAddress[] = [...LO, { family: 'ipv6', address: 'fd00:5d::1' }, { family: 'ipv6', address: 'fe80::1' }];
const IP_ADDR_DUAL = [
  '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
  '2: eth0    inet 10.0.0.5/24 brd 10.0.0.255 scope global eth0\\       valid_lft forever preferred_lft forever',
  '2: eth0    inet6 fd00:5d::1/64 scope global \\       valid_lft forever preferred_lft forever',
].join('\n');
const FOREIGN_LEGACY = '*nat\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n-A OUTPUT -p tcp -m tcp --dport 5555 -j RETURN\nCOMMIT\n';
const fixture = (name: string) => readFileSync(new URL(`../fixtures/redirect/${name}`, import.meta.url), 'utf8');

interface World {
  runner: RecordingRunner;
  /** Programs that exist (by name); default: all of them. */
  missing?: string[];
  /** /proc/net files of the current namespace. */
  proc?: Record<string, string>;
  /** Addresses of the current namespace (default: an IPv4 pod); an Error: reading them throws it. */
  addresses?: InterfaceAddress[] | Error;
  netns?: string;
}

function deps(w: World) {
  const log = memoryLogger();
  const sleeps: number[] = [];
  const host = new NamespaceHost(
    {
      runner: w.runner,
      lookPath: (n) => ((w.missing ?? []).includes(n) ? undefined : `/usr/sbin/${n}`),
      readFile: (p) => w.proc?.[p.replace('/proc/net/', '')],
      addresses: () => {
        if (w.addresses instanceof Error) throw w.addresses;
        return w.addresses ?? V4_POD;
      },
    },
    w.netns,
  );
  return {
    host,
    log,
    sleeps,
    sleep: (ms: number) => {
      sleeps.push(ms);
      return Promise.resolve();
    },
  };
}

const is = (name: string) => (c: Command) => programOf(c) === name;

describe('applying the rules', () => {
  it('runs a save and one restore per family in a fresh namespace, and adds ::6 to lo for IPv6', async () => {
    const runner = new RecordingRunner();
    const d = deps({ runner, proc: { ip_tables_names: '' }, addresses: DUAL_POD });
    const report = await applyRedirect(cfg(), settings({ dualStack: true }), d);
    assert.deepEqual(runner.commands.map(programOf), ['iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip', 'ip6tables-nft-restore']);
    const restore = runner.commands[1];
    assert.deepEqual(restore?.args, ['--noflush', '-w', '10']);
    assert.equal(restore?.input, render(buildRules(cfg(), 'ipv4')));
    assert.deepEqual(runner.commands[3]?.args, ['-6', 'addr', 'add', '::6/128', 'dev', 'lo']);
    assert.equal(runner.commands[4]?.input, render(buildRules(cfg(), 'ipv6'), {}, [{ table: 'nat', chain: CHAINS.addedLoopbackAddress }]));
    assert.equal(report.backend, 'nft');
    assert.deepEqual(report.families.map((f) => f.family), ['ipv4', 'ipv6']);
    assert.equal(report.families[1]?.addedPassthroughAddress, true);
  });

  it('runs every program through nsenter with --netns, reading the addresses with ip', async () => {
    const runner = new RecordingRunner().on((c) => programOf(c) === 'ip' && c.args.includes('show'), { stdout: IP_ADDR_DUAL });
    const d = deps({ runner, netns: '/var/run/netns/pod' });
    await applyRedirect(cfg(), settings({ dualStack: true }), d);
    for (const c of runner.commands) {
      assert.equal(c.file, '/usr/sbin/nsenter');
      assert.deepEqual(c.args.slice(0, 2), ['--net=/var/run/netns/pod', '--']);
    }
    const names = runner.commands.map(programOf);
    assert.deepEqual(names, ['ip', 'iptables-legacy-save', 'iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip', 'ip6tables-nft-restore']);
  });

  it('deletes the jumps a previous run left before adding them again', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-save'), { stdout: fixture('nft-istio-dns-foreign.save') });
    await applyRedirect(cfg({ redirectDns: true, captureAllDns: true }), settings({ ipv6: 'off' }), deps({ runner, proc: {} }));
    const payload = runner.commands.find(is('iptables-nft-restore'))?.input ?? '';
    // The fixture holds the layout of an earlier siding (DNS jumped to from nat OUTPUT): all
    // five of its jumps go, and today's two OUTPUT jumps (raw and nat) come.
    assert.equal(payload.split('\n').filter((l) => l.startsWith('-D ')).length, 5);
    assert.equal(payload.split('\n').filter((l) => l.startsWith('-A OUTPUT ')).length, 2);
  });

  it('uses iptables-legacy when legacy already holds rules and nft holds none', async () => {
    const runner = new RecordingRunner().on(is('iptables-legacy-save'), { stdout: FOREIGN_LEGACY });
    const d = deps({ runner, proc: { ip_tables_names: 'nat\n' } });
    const report = await applyRedirect(cfg(), settings({ ipv6: 'off' }), d);
    assert.equal(report.backend, 'legacy');
    assert.match(report.reason, /iptables-legacy already holds rules/);
    assert.deepEqual(runner.commands.map(programOf), ['iptables-legacy-save', 'iptables-nft-save', 'iptables-legacy-restore']);
  });

  it('prefers the backend holding siding rules when both hold rules', async () => {
    const runner = new RecordingRunner()
      .on(is('iptables-legacy-save'), { stdout: fixture('legacy-istio-dns-foreign.save') })
      .on(is('iptables-nft-save'), { stdout: FOREIGN_LEGACY + FOREIGN_LEGACY });
    const report = await applyRedirect(cfg(), settings({ ipv6: 'off' }), deps({ runner, proc: { ip_tables_names: 'nat\n' } }));
    assert.equal(report.backend, 'legacy');
  });

  it('uses iptables-legacy with a note when iptables-nft-save fails', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-save'), { exitCode: 1, stderr: 'Could not fetch rule set generation id: Invalid argument' });
    const d = deps({ runner, proc: {} });
    const report = await applyRedirect(cfg(), settings({ ipv6: 'off' }), d);
    assert.equal(report.backend, 'legacy');
    assert.ok(d.log.lines.some((l) => l.level === 'warn' && /nf_tables looks unavailable/.test(l.msg)));
  });

  it('uses the other backend with a note when a binary is missing', async () => {
    const runner = new RecordingRunner();
    const d = deps({ runner, proc: {}, missing: ['iptables-nft-restore'] });
    const report = await applyRedirect(cfg(), settings({ ipv6: 'off' }), d);
    assert.equal(report.backend, 'legacy');
    assert.ok(d.log.lines.some((l) => /iptables-nft-restore not found/.test(l.msg) || /not found on PATH; using iptables-legacy/.test(l.msg)));
  });

  it('fails naming the missing program when --iptables-mode asks for it', async () => {
    const runner = new RecordingRunner();
    await assert.rejects(applyRedirect(cfg(), settings({ iptablesMode: 'nft' }), deps({ runner, missing: ['iptables-nft-save'] })), /--iptables-mode nft: iptables-nft-save or iptables-nft-restore not found/);
    assert.equal(runner.commands.length, 0);
  });

  it('tries iptables-legacy when nft cannot initialise the nat table in auto mode', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-restore'), { exitCode: 1, stderr: 'iptables-nft-restore: Failed to initialize nft: Protocol not supported\n' });
    const d = deps({ runner, proc: {} });
    const report = await applyRedirect(cfg(), settings({ ipv6: 'off' }), d);
    assert.equal(report.backend, 'legacy');
    // no legacy tables in this namespace, so no legacy save is needed
    assert.deepEqual(runner.commands.map(programOf), ['iptables-nft-save', 'iptables-nft-restore', 'iptables-legacy-restore']);
  });

  it('names the kernel modules that are likely missing when the nat table cannot be initialised', async () => {
    const runner = new RecordingRunner().on(is('iptables-legacy-restore'), {
      exitCode: 2,
      stderr: "iptables-restore v1.8.9 (legacy): iptables-restore: unable to initialize table 'nat'\n\nError occurred at line: 1\n",
    });
    await assert.rejects(applyRedirect(cfg(), settings({ iptablesMode: 'legacy' }), deps({ runner, proc: {} })), (e: unknown) => {
      assert.ok(e instanceof ApplyError);
      assert.match(e.message, /unable to initialize table 'nat'/);
      assert.match(e.message, /likely missing kernel modules: ip_tables, iptable_nat, nf_nat/);
      assert.equal(e.exitCode, 2);
      assert.ok(e.payload?.startsWith('*nat'));
      return true;
    });
  });

  it('says which capabilities are needed when iptables is not permitted', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-restore'), { exitCode: 4, stderr: 'iptables-nft-restore: Permission denied (you must be root)\n' });
    await assert.rejects(applyRedirect(cfg(), settings({ iptablesMode: 'nft' }), deps({ runner, proc: {} })), /NET_ADMIN/);
  });

  it('tries again after a pause while the xtables lock is held, then succeeds', async () => {
    const lock = { exitCode: 4, stderr: 'Another app is currently holding the xtables lock. Stopped waiting after 10s.\n' };
    const runner = new RecordingRunner().on(is('iptables-legacy-restore'), lock, 2);
    const d = deps({ runner, proc: {} });
    await applyRedirect(cfg(), settings({ iptablesMode: 'legacy', ipv6: 'off' }), d);
    assert.equal(runner.commands.filter(is('iptables-legacy-restore')).length, 3);
    assert.deepEqual(d.sleeps, [1000, 1000]);
    assert.equal(d.log.lines.filter((l) => /xtables lock is held/.test(l.msg)).length, 2);
  });

  it('gives up after the last retry with a message about the lock', async () => {
    const runner = new RecordingRunner().on(is('iptables-legacy-restore'), { exitCode: 4, stderr: "Can't lock /run/xtables.lock: Resource temporarily unavailable\n" });
    const d = deps({ runner, proc: {} });
    await assert.rejects(applyRedirect(cfg(), settings({ iptablesMode: 'legacy', lock: { waitSeconds: 1, retries: 2, retryDelayMs: 5 } }), d), /xtables lock.*--lock-wait/s);
    assert.equal(runner.commands.filter(is('iptables-legacy-restore')).length, 3);
  });

  it('puts the raw table back when the nat table fails after raw was committed', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-restore'), { exitCode: 1, stderr: 'iptables-nft-restore: line 20 failed\nError occurred at line: 20\n' }, 1);
    const d = deps({ runner, proc: {} });
    await assert.rejects(applyRedirect(cfg({ redirectDns: true, captureAllDns: true }), settings({ iptablesMode: 'nft', ipv6: 'off' }), d), ApplyError);
    const restores = runner.commands.filter(is('iptables-nft-restore'));
    assert.equal(restores.length, 2);
    const back = restores[1]?.input ?? '';
    assert.match(back, /^\*raw\n/);
    assert.match(back, /-D OUTPUT -p udp -m comment --comment siding\/dns-zone-output-jump -j SIDING_DNS_ZONE_OUT/);
    assert.match(back, /-X SIDING_DNS_ZONE_OUT/);
    assert.doesNotMatch(back, /\*nat/);
  });

  it('keeps the stderr and the payload line iptables-restore reported, and shows both to the user', async () => {
    const stderr = "iptables-restore v1.8.9 (legacy): invalid port/service `99999' specified\nError occurred at line: 3\nTry `iptables-restore -h' or 'iptables-restore --help' for more information.\n";
    const runner = new RecordingRunner().on(is('iptables-legacy-restore'), { exitCode: 2, stderr });
    await assert.rejects(applyRedirect(cfg(), settings({ iptablesMode: 'legacy', ipv6: 'off' }), deps({ runner, proc: {} })), (e: unknown) => {
      assert.ok(e instanceof ApplyError);
      const line3 = e.payload?.split('\n')[2];
      assert.ok(line3 !== undefined && line3 !== '');
      assert.deepEqual(e.failedLine, { number: 3, text: line3 });
      const shown = describeError(e);
      assert.ok(shown.startsWith(e.message), shown);
      assert.ok(
        shown.includes(
          "\n  /usr/sbin/iptables-legacy-restore said:\n    iptables-restore v1.8.9 (legacy): invalid port/service `99999' specified\n    Error occurred at line: 3\n",
        ),
        shown,
      );
      assert.ok(shown.includes(`\n  payload line 3: ${line3}`), shown);
      return true;
    });
  });

  it('puts nothing back when the first table of the payload failed', async () => {
    const runner = new RecordingRunner().on(is('iptables-nft-restore'), { exitCode: 1, stderr: 'Error occurred at line: 4\n' }, 1);
    await assert.rejects(applyRedirect(cfg({ redirectDns: true, captureAllDns: true }), settings({ iptablesMode: 'nft', ipv6: 'off' }), deps({ runner, proc: {} })), ApplyError);
    assert.equal(runner.commands.filter(is('iptables-nft-restore')).length, 1);
  });
});

describe('deciding about IPv6', () => {
  it('programs IPv6 as istio-iptables does: for IPv6-only pods, or with --dual-stack when an IPv6 address exists', () => {
    const program = (mode: 'auto' | 'on' | 'off', dual: boolean, a: InterfaceAddress[] | undefined) => {
      const d = decideIpv6(mode, dual, a);
      return 'error' in d ? 'error' : d.program;
    };
    assert.equal(program('auto', false, V4_POD), false);
    assert.equal(program('auto', false, DUAL_POD), false);
    assert.equal(program('auto', false, V6_POD), true);
    assert.equal(program('auto', true, DUAL_POD), true);
    assert.equal(program('auto', true, V4_POD), false, 'link-local IPv6 addresses do not count');
    assert.equal(program('auto', false, LO), 'error', 'a namespace with only loopback addresses is no pod');
    assert.equal(program('auto', false, [{ family: 'ipv4', address: '169.254.1.1' }]), 'error');
    assert.equal(program('auto', false, undefined), 'error');
    assert.equal(program('on', false, LO), true);
    assert.equal(program('off', true, DUAL_POD), false);
  });

  it('applies IPv4 only in an IPv4 pod and says why', async () => {
    const runner = new RecordingRunner();
    const d = deps({ runner, addresses: DUAL_POD });
    const report = await applyRedirect(cfg(), settings(), d);
    assert.deepEqual(report.families.map((f) => f.family), ['ipv4']);
    assert.ok(!runner.commands.some((c) => programOf(c).startsWith('ip6tables') || programOf(c) === 'ip'));
    assert.ok(d.log.lines.some((l) => l.msg === 'IPv4 only' && /IPv4 address/.test(String(l.fields.reason))));
  });

  it("says the namespace's addresses could not be read, and changes nothing, when reading them fails", async () => {
    const runner = new RecordingRunner();
    // What os.networkInterfaces() throws when getifaddrs' netlink socket is refused (a seccomp profile).
    const refused = Object.assign(new Error('A system error occurred: uv_interface_addresses returned Unknown system error 1'), { code: 'ERR_SYSTEM_ERROR' });
    await assert.rejects(applyRedirect(cfg(), settings(), deps({ runner, addresses: refused })), /addresses could not be read to decide whether to program IPv6; pass --ipv6 on or off/);
    assert.equal(runner.commands.length, 0);
    await applyRedirect(cfg(), settings({ ipv6: 'off' }), deps({ runner, addresses: refused }));
    assert.ok(runner.commands.length > 0, '--ipv6 off needs no addresses');
  });

  it('refuses a namespace without a pod address before changing anything', async () => {
    const runner = new RecordingRunner();
    await assert.rejects(applyRedirect(cfg(), settings(), deps({ runner, addresses: LO })), /no IPv4 or IPv6 address/);
    assert.equal(runner.commands.length, 0);
  });

  it('fails when IPv6 is to be programmed and ip6tables is missing', async () => {
    const d = deps({ runner: new RecordingRunner(), addresses: V6_POD, missing: ['ip6tables-nft-restore'] });
    await assert.rejects(applyRedirect(cfg(), settings(), d), /IPv6 is to be programmed \(the namespace has only IPv6 addresses\) but ip6tables-nft-save or ip6tables-nft-restore not found/);
  });

  it('applies IPv6 with --ipv6 on even without an address, and never with --ipv6 off', async () => {
    const on = new RecordingRunner();
    await applyRedirect(cfg(), settings({ ipv6: 'on' }), deps({ runner: on, addresses: LO }));
    assert.ok(on.commands.some(is('ip6tables-nft-restore')));
    const off = new RecordingRunner();
    await applyRedirect(cfg(), settings({ ipv6: 'off' }), deps({ runner: off, addresses: V6_POD }));
    assert.ok(!off.commands.some((c) => programOf(c).startsWith('ip6tables')));
  });

  it('leaves ::6 unmarked when it was on lo already, and keeps the mark of an earlier run', async () => {
    const exists = { exitCode: 2, stderr: 'RTNETLINK answers: File exists\n' };
    const fresh = new RecordingRunner().on(is('ip'), exists);
    const r1 = await applyRedirect(cfg(), settings(), deps({ runner: fresh, addresses: V6_POD }));
    assert.equal(r1.families[1]?.addedPassthroughAddress, false);
    assert.doesNotMatch(fresh.commands.find(is('ip6tables-nft-restore'))?.input ?? '', new RegExp(CHAINS.addedLoopbackAddress));

    const marked = `*nat\n:OUTPUT ACCEPT [0:0]\n:${CHAINS.addedLoopbackAddress} - [0:0]\n:SIDING_OUTPUT - [0:0]\n-A OUTPUT -m comment --comment siding/outbound-jump -j SIDING_OUTPUT\nCOMMIT\n`;
    // iproute2 with extended acks words it differently.
    const rerun = new RecordingRunner().on(is('ip'), { exitCode: 2, stderr: 'Error: ipv6: address already assigned.\n' }).on(is('ip6tables-nft-save'), { stdout: marked });
    await applyRedirect(cfg(), settings(), deps({ runner: rerun, addresses: V6_POD }));
    assert.match(rerun.commands.find(is('ip6tables-nft-restore'))?.input ?? '', new RegExp(`^:${CHAINS.addedLoopbackAddress} - \\[0:0\\]$`, 'm'));
  });

  it('removes ::6 again when the IPv6 payload fails after siding added it', async () => {
    const runner = new RecordingRunner().on(is('ip6tables-nft-restore'), { exitCode: 1, stderr: 'Bad argument' });
    await assert.rejects(applyRedirect(cfg(), settings(), deps({ runner, addresses: V6_POD })), ApplyError);
    const ips = runner.commands.filter(is('ip')).map((c) => c.args.join(' '));
    assert.deepEqual(ips, ['-6 addr add ::6/128 dev lo', '-6 addr del ::6/128 dev lo']);
  });
});

describe('cleanup', () => {
  it("removes siding's rules from every backend that holds them, and touches nothing when none do", async () => {
    const runner = new RecordingRunner()
      .on(is('iptables-legacy-save'), { stdout: fixture('legacy-istio-dns-foreign.save') })
      .on(is('iptables-nft-save'), { stdout: fixture('nft-istio-dns-foreign.save') });
    const d = deps({ runner, proc: { ip_tables_names: 'nat\nraw\n', ip6_tables_names: '' } });
    const report = await cleanupRedirect(settings(), d);
    assert.deepEqual(report.removed.map((r) => `${r.backend}/${r.family}`), ['legacy/ipv4', 'nft/ipv4']);
    for (const c of runner.commands.filter((x) => programOf(x).endsWith('-restore'))) assert.doesNotMatch(c.input ?? '', /FOREIGN|foreign|-A /);

    const empty = new RecordingRunner();
    const report2 = await cleanupRedirect(settings(), deps({ runner: empty, proc: {} }));
    assert.equal(report2.removed.length, 0);
    assert.ok(!empty.commands.some((c) => programOf(c).endsWith('-restore')));
  });

  it('removes the DNS redirect (nat) before its conntrack zones (raw), so a cleanup that fails half-way never leaves a redirect without its zones', async () => {
    // iptables-restore commits a payload table by table: model a restore whose second table
    // fails after the first was committed, and look at what the first one was.
    const committed: string[] = [];
    const runner = new RecordingRunner()
      .on(is('iptables-nft-save'), { stdout: fixture('nft-istio-dns-foreign.save') })
      .on(
        (c) => {
          if (!programOf(c).endsWith('-restore')) return false;
          const first = /^\*(\w+)$/m.exec(c.input ?? '')?.[1];
          if (first !== undefined) committed.push(first);
          return true;
        },
        { exitCode: 1, stderr: 'iptables-restore: line 9 failed' },
      );
    const d = deps({ runner, proc: { ip_tables_names: 'nat\nraw\n', ip6_tables_names: '' } });
    await assert.rejects(cleanupRedirect(settings({ iptablesMode: 'nft', ipv6: 'off' }), d), ApplyError);
    assert.deepEqual(committed, ['nat'], 'the table a half-done cleanup has removed');
    const payload = runner.commands.find((c) => programOf(c).endsWith('-restore'))?.input ?? '';
    assert.ok(payload.indexOf('*nat') < payload.indexOf('*raw'), payload);
  });

  it('removes ::6 from lo only when the marker chain says siding added it', async () => {
    const saved = (marker: boolean) =>
      `*nat\n:OUTPUT ACCEPT [0:0]\n${marker ? `:${CHAINS.addedLoopbackAddress} - [0:0]\n` : ''}:SIDING_OUTPUT - [0:0]\n-A OUTPUT -m comment --comment siding/outbound-jump -j SIDING_OUTPUT\nCOMMIT\n`;
    for (const marker of [true, false]) {
      const runner = new RecordingRunner().on(is('ip6tables-nft-save'), { stdout: saved(marker) });
      await cleanupRedirect(settings({ iptablesMode: 'nft' }), deps({ runner }));
      const ips = runner.commands.filter(is('ip')).map((c) => c.args.join(' '));
      assert.deepEqual(ips, marker ? ['-6 addr del ::6/128 dev lo'] : []);
    }
  });
});

describe('classifying iptables failures', () => {
  it('recognises the lock, permissions and missing tables', () => {
    assert.equal(classifyFailure('Another app is currently holding the xtables lock. Perhaps you want to use the -w option?'), 'lock');
    assert.equal(classifyFailure("iptables v1.8.9 (legacy): can't initialize iptables table `nat': Table does not exist (do you need to insmod?)"), 'table-init');
    assert.equal(classifyFailure('iptables-restore: Permission denied (you must be root)'), 'permission');
    assert.equal(classifyFailure('Bad argument `foo`'), 'other');
  });
});
