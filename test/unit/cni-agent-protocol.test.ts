/**
 * The agent's side of the plugin protocol: what a pod's annotations make it do
 * (`podRedirect`), and POST /v1/cni end to end through the fastify app with the real
 * handler and the real rule code (iptables answered by a recording runner), including
 * requests the schema refuses.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import { buildSocketApp, createAgentMetrics } from '../../src/cni/app.js';
import type { HandlerDeps } from '../../src/cni/handler.js';
import { podRedirect } from '../../src/cni/pod-redirect.js';
import { DEFAULT_CONFIG } from '../../src/config/index.js';
import { initArgs } from '../../src/inject/index.js';
import { applyRedirect } from '../../src/redirect/apply.js';
import { NamespaceHost } from '../../src/redirect/host.js';
import { memoryLogger } from '../../src/redirect/log.js';
import { parseInitArgv } from '../../src/redirect/argv.js';
import { RecordingRunner, programOf } from '../../src/redirect/runner.js';
import { verifyRedirect } from '../../src/redirect/verify.js';

const ARGS = initArgs(DEFAULT_CONFIG, DEFAULT_CONFIG.redirect);
const record = (extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ version: '0.1.0', layout: 'native', initContainers: ['siding-validation', 'siding-proxy'], containers: [], volumes: [], annotations: [], proxyImage: 'x', ...extra });
const INJECTED = { 'siding.io/status': record({ cniRedirect: ARGS }) };

describe("what the agent does for a pod, from its annotations", () => {
  it('passes through a pod siding did not inject', () => {
    assert.equal(podRedirect({}).kind, 'none');
    assert.equal(podRedirect({ 'app.kubernetes.io/name': 'x' }).kind, 'none');
  });

  it('passes through a pod injected with siding-init (its record has no cniRedirect)', () => {
    const d = podRedirect({ 'siding.io/status': record() });
    assert.equal(d.kind, 'none');
    assert.match(d.kind === 'none' ? d.reason : '', /siding-init/);
  });

  it("programs exactly what siding init would for the record's flags", () => {
    const d = podRedirect(INJECTED);
    assert.equal(d.kind, 'program');
    if (d.kind !== 'program') return;
    assert.deepEqual(d.options.redirect, parseInitArgv(ARGS, { exists: () => false, readFile: () => undefined, environment: {} }).redirect);
    assert.deepEqual(d.args, ARGS);
  });

  it('refuses a record that sets flags only the node decides (namespace, backend, validation, cleanup)', () => {
    for (const extra of [['--netns', '/proc/1/ns/net'], ['--iptables-mode', 'legacy'], ['--cleanup'], ['--run-validation'], ['--dry-run'], ['--lock-wait', '600']]) {
      const d = podRedirect({ 'siding.io/status': record({ cniRedirect: [...ARGS, ...extra] }) });
      assert.equal(d.kind, 'invalid', extra.join(' '));
      assert.match(d.kind === 'invalid' ? d.reason : '', /only the node decides/);
    }
  });

  it('refuses invalid flags and malformed records with the reason', () => {
    const bad = podRedirect({ 'siding.io/status': record({ cniRedirect: ['-p', '99999'] }) });
    assert.match(bad.kind === 'invalid' ? bad.reason : '', /invalid value '99999' for flag -p/);
    const unknown = podRedirect({ 'siding.io/status': record({ cniRedirect: ['--bogus'] }) });
    assert.match(unknown.kind === 'invalid' ? unknown.reason : '', /unknown option/);
    const forged = podRedirect({ 'siding.io/status': record({ cniRedirect: [1, 2] }) });
    assert.match(forged.kind === 'invalid' ? forged.reason : '', /cniRedirect must be a list/);
    assert.equal(podRedirect({ 'siding.io/status': 'not json' }).kind, 'none');
  });
});

/** The handler's world: real rules and apply code, a recording runner for iptables. */
function world(over: Partial<HandlerDeps> = {}) {
  const runner = new RecordingRunner();
  const programmed: (string | undefined)[] = [];
  const lookups: string[] = [];
  const host = (netns: string) => new NamespaceHost({ runner, lookPath: (n) => `/usr/sbin/${n}`, readFile: () => undefined }, netns);
  const deps: HandlerDeps = {
    lookupAnnotations: (ns, name) => {
      lookups.push(`${ns}/${name}`);
      return Promise.resolve(name === 'known' ? INJECTED : undefined);
    },
    program: async (options, netns) => {
      const r = await applyRedirect(options.redirect, { iptablesMode: 'nft', ipv6: 'off', dualStack: false, lock: options.lock }, { host: host(netns), log: memoryLogger(), sleep: () => Promise.resolve() });
      return { rules: r.families.reduce((n, f) => n + f.rules, 0), backend: r.backend, families: r.families.map((f) => f.family) };
    },
    verify: (options, netns) => verifyRedirect(options.redirect, 'nft', host(netns)),
    exists: (p) => p === '/proc/42/fd/7',
    programmed: (uid) => void programmed.push(uid),
    ...over,
  };
  const app = buildSocketApp({ ...deps, metrics: createAgentMetrics(new Registry()), log: { level: 'silent' } });
  return { app, runner, programmed, lookups };
}

const request = (extra: Record<string, unknown> = {}) => ({
  command: 'ADD',
  containerId: 'c0ffee',
  ifName: 'eth0',
  netns: '/proc/42/fd/7',
  runtimeNetns: '/var/run/netns/cni-1',
  pod: { namespace: 'app', name: 'web', uid: 'u-1' },
  annotations: INJECTED,
  cniVersion: '1.0.0',
  ...extra,
});

describe('POST /v1/cni', () => {
  it("programs an injected pod's redirect in the namespace the plugin holds open, with one iptables-restore", async () => {
    const { app, runner, programmed } = world();
    const res = await app.inject({ method: 'POST', url: '/v1/cni', payload: request() });
    assert.equal(res.statusCode, 200);
    const verdict = res.json<{ ok: boolean; action: string; message: string }>();
    assert.equal(verdict.ok, true, verdict.message);
    assert.equal(verdict.action, 'programmed');
    assert.deepEqual(programmed, ['u-1']);
    const restores = runner.commands.filter((c) => programOf(c) === 'iptables-nft-restore');
    assert.equal(restores.length, 1);
    assert.deepEqual(restores[0]?.args.slice(0, 2), ['--net=/proc/42/fd/7', '--']);
    await app.close();
  });

  it('passes a pod siding did not inject through without running anything', async () => {
    const { app, runner } = world();
    const res = await app.inject({ method: 'POST', url: '/v1/cni', payload: request({ annotations: {} }) });
    assert.equal(res.json<{ action: string }>().action, 'passthrough');
    assert.equal(runner.commands.length, 0);
    await app.close();
  });

  it('looks the pod up when the runtime passed no annotations, and asks the runtime to retry for a pod it cannot find', async () => {
    const { app, lookups } = world();
    const found = await app.inject({ method: 'POST', url: '/v1/cni', payload: request({ annotations: undefined, pod: { namespace: 'app', name: 'known' } }) });
    assert.equal(found.json<{ action: string }>().action, 'programmed');
    const missing = await app.inject({ method: 'POST', url: '/v1/cni', payload: request({ annotations: undefined }) });
    assert.deepEqual(missing.json<{ ok: boolean; code: number }>(), { ok: false, code: 11, message: missing.json<{ message: string }>().message });
    assert.deepEqual(lookups, ['app/known', 'app/web']);
    await app.close();
  });

  it('fails an injected pod whose redirect cannot be programmed with code 100 and the iptables error', async () => {
    const { app, runner } = world();
    runner.on((c) => programOf(c) === 'iptables-nft-restore', { exitCode: 4, stderr: "iptables-restore v1.8.9 (nf_tables): Couldn't load match `owner':No such file or directory\n" });
    const res = await app.inject({ method: 'POST', url: '/v1/cni', payload: request() });
    const v = res.json<{ ok: boolean; code: number; message: string }>();
    assert.equal(v.ok, false);
    assert.equal(v.code, 100);
    assert.match(v.message, /pod app\/web: the traffic redirect could not be programmed, so the pod cannot start .*Couldn't load match/);
    await app.close();
  });

  it('fails when the namespace the plugin named cannot be opened', async () => {
    const { app } = world();
    const res = await app.inject({ method: 'POST', url: '/v1/cni', payload: request({ netns: '/proc/1/fd/99' }) });
    assert.match(res.json<{ message: string }>().message, /cannot be opened by the agent/);
    await app.close();
  });

  it('CHECK reports what is missing of the redirect', async () => {
    const { app } = world();
    const res = await app.inject({ method: 'POST', url: '/v1/cni', payload: request({ command: 'CHECK' }) });
    const v = res.json<{ ok: boolean; code: number; message: string }>();
    assert.equal(v.ok, false);
    assert.match(v.message, /not in place: chain SIDING_INBOUND is missing from the nat table/);
    await app.close();
  });

  it('refuses requests outside the protocol with 400, before any work', async () => {
    const { app, runner } = world();
    for (const payload of [
      request({ command: 'DEL' }),
      request({ extra: true }),
      request({ ifName: 'a-name-longer-than-15' }),
      request({ pod: { namespace: 'app' } }),
      request({ annotations: { a: 1 } }),
    ]) {
      const res = await app.inject({ method: 'POST', url: '/v1/cni', payload });
      assert.equal(res.statusCode, 400, JSON.stringify(payload));
    }
    const text = await app.inject({ method: 'POST', url: '/v1/cni', headers: { 'content-type': 'text/plain' }, payload: 'ADD' });
    assert.equal(text.statusCode, 415);
    assert.equal(runner.commands.length, 0);
    await app.close();
  });
});
