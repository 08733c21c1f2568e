import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { parseTestFlags } from '../helpers/init-flags.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { capturesOutbound, chooseProbeTarget, validateRedirect } from '../../src/redirect/validate.js';
import { probeRedirect } from '../../src/redirect/probe-local.js';
import type { ProbeOutcome } from '../../src/redirect/validate.js';
import { runInit } from '../../src/redirect/init.js';
import { memoryLogger } from '../../src/redirect/log.js';
import { RecordingRunner } from '../../src/redirect/runner.js';
import { InitFlagError, ValidationError } from '../../src/errors/index.js';

const ISTIO_INIT_ARGS: RawInitFlags = { istioServiceCidr: '*', istioInboundPorts: '*', istioLocalExcludePorts: '15090,15021,15020' };
const options = (extra: RawInitFlags = {}) => parseTestFlags({ ...ISTIO_INIT_ARGS, ...extra });
const cfg = (extra: RawInitFlags = {}) => options(extra).redirect;

/** A free loopback port: listen on 0, read it, close. */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen({ host: '127.0.0.1', port: 0 }, r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('what the outbound rules capture', () => {
  it('follows the outbound chain: -o, then loopback, then -x, then -q, then -i', () => {
    const c = cfg({ istioServiceCidr: '', istioServiceExcludeCidr: '10.96.0.0/12', istioLocalOutboundPortsExclude: '3306', istioOutboundPorts: '3306,443' });
    assert.equal(capturesOutbound(c, 'ipv4', '192.0.2.1', 80), false, '-i is empty');
    assert.equal(capturesOutbound(c, 'ipv4', '192.0.2.1', 443), true, '-q captures');
    assert.equal(capturesOutbound(c, 'ipv4', '10.96.0.10', 443), false, '-x wins over -q');
    assert.equal(capturesOutbound(c, 'ipv4', '192.0.2.1', 3306), false, '-o wins over -q');
    assert.equal(capturesOutbound(c, 'ipv4', '127.0.0.1', 443), false, 'loopback is never captured');
    assert.equal(capturesOutbound(cfg(), 'ipv4', '192.0.2.1', 80), true, '-i * captures the rest');
  });

  it("lets the validation connection (root's group) through when the owner-group filter leaves group 0 out", () => {
    const only = parseTestFlags(ISTIO_INIT_ARGS, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS: '1000' } }).redirect;
    assert.equal(capturesOutbound(only, 'ipv4', '192.0.2.1', 80), false);
    const except = parseTestFlags(ISTIO_INIT_ARGS, { environment: { ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE: '0' } }).redirect;
    assert.equal(capturesOutbound(except, 'ipv4', '192.0.2.1', 80), false);
  });

  it('leaves port 53 to the DNS redirect when DNS is captured', () => {
    assert.equal(capturesOutbound(cfg({ redirectDns: true }), 'ipv4', '192.0.2.1', 53), false);
    assert.equal(capturesOutbound(cfg(), 'ipv4', '192.0.2.1', 53), true);
  });
});

describe('choosing the validation connection', () => {
  it('uses 192.0.2.1 when everything is captured', () => {
    assert.deepEqual(chooseProbeTarget(cfg(), 15002, ['ipv4', 'ipv6']), { family: 'ipv4', address: '192.0.2.1', port: 15002 });
  });

  it('uses the first address of an included CIDR when only that is captured', () => {
    assert.deepEqual(chooseProbeTarget(cfg({ istioServiceCidr: '10.96.0.0/12' }), 15002, ['ipv4', 'ipv6']), { family: 'ipv4', address: '10.96.0.1', port: 15002 });
    assert.deepEqual(chooseProbeTarget(cfg({ istioServiceCidr: 'fd00:10::/64' }), 15002, ['ipv4', 'ipv6']), { family: 'ipv6', address: 'fd00:10::1', port: 15002 });
  });

  it('explains when nothing on the probe port would be captured', () => {
    const none = chooseProbeTarget(cfg({ istioServiceCidr: '' }), 15002, ['ipv4']);
    assert.ok(typeof none === 'string' && /nothing to validate/.test(none), JSON.stringify(none));
    const excluded = chooseProbeTarget(cfg({ istioLocalOutboundPortsExclude: '15002' }), 15002, ['ipv4']);
    assert.ok(typeof excluded === 'string' && /port 15002/.test(excluded), JSON.stringify(excluded));
  });

  it('refuses --run-validation in the flag parser, before anything runs, when there is nothing to validate', () => {
    assert.throws(
      () => options({ istioServiceCidr: '', runValidation: true }),
      (e: unknown) => e instanceof InitFlagError && e.flag === '--run-validation' && /nothing to validate/.test(e.message),
    );
  });
});

describe('the validation probe', () => {
  it('succeeds when the connection reaches its own listener', async () => {
    const port = await freePort();
    // Without a redirect, dialling the listener directly is the only way to reach it.
    assert.deepEqual(await probeRedirect({ family: 'ipv4', address: '127.0.0.1', port }, port, 2000), { ok: true });
  });

  it('reports a refused connection as not redirected', async () => {
    const [listen, target] = [await freePort(), await freePort()];
    const outcome = await probeRedirect({ family: 'ipv4', address: '127.0.0.1', port: target }, listen, 2000);
    assert.deepEqual(outcome, { ok: false, what: 'refused', detail: 'ECONNREFUSED' });
  });

  it('reports another listener answering as a wrong answer', async () => {
    const other = createServer((s) => s.end('hello from someone else\n'));
    await new Promise<void>((r) => other.listen({ host: '127.0.0.1', port: 0 }, r));
    try {
      const target = (other.address() as AddressInfo).port;
      const outcome = await probeRedirect({ family: 'ipv4', address: '127.0.0.1', port: target }, await freePort(), 2000);
      assert.equal(outcome.ok, false);
      assert.equal(!outcome.ok && outcome.what, 'wrong-answer');
    } finally {
      await new Promise<void>((r) => other.close(() => r()));
    }
  });

  it('reports a listener that cannot start', async () => {
    const busy = createServer();
    await new Promise<void>((r) => busy.listen({ host: '127.0.0.1', port: 0 }, r));
    try {
      const port = (busy.address() as AddressInfo).port;
      const outcome = await probeRedirect({ family: 'ipv4', address: '127.0.0.1', port }, port, 2000);
      assert.equal(!outcome.ok && outcome.what, 'listen');
    } finally {
      await new Promise<void>((r) => busy.close(() => r()));
    }
  });

  it('throws a ValidationError saying what did not happen', async () => {
    const prober = (): Promise<ProbeOutcome> => Promise.resolve({ ok: false, what: 'timeout', detail: 'no answer within 1000 ms' });
    await assert.rejects(validateRedirect(cfg(), { family: 'ipv4', address: '192.0.2.1', port: 15002 }, 1000, prober, memoryLogger()), (e: unknown) => {
      assert.ok(e instanceof ValidationError);
      assert.match(e.message, /192\.0\.2\.1:15002 should have been redirected to port 15001, but the connection was not redirected \(it timed out\)/);
      return true;
    });
  });

  it('validates alone with --skip-rule-apply, running no iptables program', async () => {
    const runner = new RecordingRunner();
    const log = memoryLogger();
    let asked: unknown;
    const report = await runInit(options({ runValidation: true, skipRuleApply: true }), {
      runner,
      lookPath: (n) => n,
      readFile: () => undefined,
      sleep: () => Promise.resolve(),
      out: () => undefined,
      log,
      prober: (target, listenPort) => {
        asked = { target, listenPort };
        return Promise.resolve({ ok: true });
      },
    });
    assert.equal(report.validated, true);
    assert.equal(runner.commands.length, 0);
    assert.deepEqual(asked, { target: { family: 'ipv4', address: '192.0.2.1', port: 15002 }, listenPort: 15001 });
  });
});
