import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import { registerProxy } from '../../src/cli/proxy.js';
import { DEFAULT_CONFIG } from '../../src/config/defaults.js';
import { configFromValue } from '../../src/config/index.js';
import { ProxyFlagError } from '../../src/errors/index.js';
import { proxyArgs } from '../../src/inject/proxy-args.js';
import { parseProxyFlags } from '../../src/proxy/flags.js';
import type { ProxyOptions } from '../../src/proxy/options.js';

/** Parses a command line through the real commander command, without starting anything. */
async function parseArgv(argv: readonly string[]): Promise<ProxyOptions> {
  let seen: ProxyOptions | undefined;
  const program = new Command('siding').exitOverride();
  registerProxy(program, (opts) => {
    seen = opts;
    return Promise.resolve();
  });
  program.commands.forEach((c) => c.exitOverride());
  await program.parseAsync(['proxy', ...argv], { from: 'user' });
  assert.ok(seen !== undefined);
  return seen;
}

function rejects(argv: readonly string[], flag: string, reason: RegExp): Promise<void> {
  return assert.rejects(parseArgv(argv), (e: unknown) => {
    assert.ok(e instanceof ProxyFlagError, String(e));
    assert.equal(e.flag, flag);
    assert.match(e.message, reason);
    return true;
  });
}

describe('siding proxy flags', () => {
  it("defaults to the injection config's ports, UID, drain and limit, without DNS", () => {
    const p = DEFAULT_CONFIG.proxy;
    assert.deepEqual(parseProxyFlags({}), {
      outboundPort: p.outboundPort,
      inboundPort: p.inboundPort,
      healthPort: p.healthPort,
      readinessPath: p.readinessPath,
      metricsPort: p.metricsPort,
      uid: p.uid,
      gid: p.gid,
      dns: { enabled: false },
      drainSeconds: p.drainSeconds,
      exitWhenIdle: false,
      maxConnections: p.maxConnections,
      connectTimeoutMs: 10_000,
      logLevel: 'info',
    });
  });

  it('reads every flag of the command line', async () => {
    const o = await parseArgv([
      '--outbound-port', '16001', '--inbound-port', '16006', '--health-port', '16021', '--readiness-path', '/ready',
      '--metrics-port', '16090', '--uid', '2001', '--gid', '2002', '--redirect-dns', '--dns-port', '16053',
      '--resolv-conf', '/run/resolv.conf', '--drain-seconds', '0', '--exit-when-idle', '--max-connections', '7',
      '--connect-timeout', '250ms', '--log-level', 'debug',
    ]);
    assert.deepEqual(o, {
      outboundPort: 16001,
      inboundPort: 16006,
      healthPort: 16021,
      readinessPath: '/ready',
      metricsPort: 16090,
      uid: 2001,
      gid: 2002,
      dns: { enabled: true, port: 16053, resolvConf: '/run/resolv.conf' },
      drainSeconds: 0,
      exitWhenIdle: true,
      maxConnections: 7,
      connectTimeoutMs: 250,
      logLevel: 'debug',
    });
  });

  it('takes --gid from --uid when only --uid is given', () => {
    assert.equal(parseProxyFlags({ uid: '4000' }).gid, 4000);
  });

  it('refuses bad values, naming the flag', async () => {
    await rejects(['--outbound-port', '0'], '--outbound-port', /out of range/);
    await rejects(['--inbound-port', '15006x'], '--inbound-port', /not a port/);
    await rejects(['--uid', '-1'], '--uid', /whole number/);
    await rejects(['--drain-seconds', '3601'], '--drain-seconds', /0 to 3600/);
    await rejects(['--max-connections', '0'], '--max-connections', /1 to 1000000/);
    await rejects(['--connect-timeout', '10x'], '--connect-timeout', /is not a duration/);
    await rejects(['--connect-timeout', '10m'], '--connect-timeout', /not between 50ms and 5m/);
    await rejects(['--connect-timeout', '10ms'], '--connect-timeout', /not between 50ms and 5m/);
    await rejects(['--readiness-path', 'healthz'], '--readiness-path', /absolute path/);
    await rejects(['--redirect-dns', '--resolv-conf', 'resolv.conf'], '--resolv-conf', /absolute file path/);
  });

  it('refuses two listeners on one port', async () => {
    await rejects(['--inbound-port', '15001'], '--inbound-port', /already the port of --outbound-port/);
    await rejects(['--redirect-dns', '--dns-port', '15021'], '--dns-port', /already the port of --health-port/);
  });

  it('refuses DNS settings without --redirect-dns, which would silently do nothing', async () => {
    await rejects(['--dns-port', '15053'], '--dns-port', /only means something with --redirect-dns/);
    await rejects(['--resolv-conf', '/etc/resolv.conf'], '--resolv-conf', /only means something with --redirect-dns/);
  });

  it("parses the injector's computed flags back to the config's values (nothing typed twice)", async () => {
    const config = configFromValue(
      { proxy: { outboundPort: 16001, inboundPort: 16006, uid: 4242, gid: 4343, drainSeconds: 20, maxConnections: 99 }, redirect: { redirectDNS: true, dnsPort: 16053 } },
      'test',
    );
    for (const layout of ['native', 'classic'] as const) {
      const o = await parseArgv(proxyArgs(config, config.redirect, layout));
      assert.equal(o.outboundPort, 16001);
      assert.equal(o.inboundPort, 16006);
      assert.equal(o.healthPort, config.proxy.healthPort);
      assert.equal(o.metricsPort, config.proxy.metricsPort);
      assert.equal(o.readinessPath, config.proxy.readinessPath);
      assert.equal(o.uid, 4242);
      assert.equal(o.gid, 4343);
      assert.equal(o.drainSeconds, 20);
      assert.equal(o.maxConnections, 99);
      assert.deepEqual(o.dns, { enabled: true, port: 16053, resolvConf: '/etc/resolv.conf' });
      assert.equal(o.exitWhenIdle, layout === 'native');
    }
    const plain = await parseArgv(proxyArgs(DEFAULT_CONFIG, DEFAULT_CONFIG.redirect, 'classic'));
    assert.deepEqual(plain, parseProxyFlags({}));
  });
});
