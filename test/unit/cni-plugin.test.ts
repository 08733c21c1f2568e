/**
 * siding's CNI plugin binary (cni/plugin), run as a runtime runs it, for what it decides
 * without the agent: CNI version negotiation, prevResult passed through in the config's
 * version, chaining required, STATUS/GC/CHECK version gates, and the pass-through and
 * failure rules when the agent cannot be reached (here: no socket at all).
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { k8sArgs, pluginPath, prevResult, runPlugin, sidingConfig } from '../helpers/cni.js';
import { prerequisite, skipUnless } from '../helpers/prereq.js';

const plugin = pluginPath();
const prereq = prerequisite(() => (plugin === undefined ? "siding's CNI plugin is not built (scripts/build-cni-plugin.sh, needs Go)" : undefined));
const P = plugin ?? '';
const dir = mkdtempSync(join(tmpdir(), 'siding-cni-plugin-'));
const socket = join(dir, 'no-agent.sock');
// The plugin's own namespace: openable; CNI_NETNS_OVERRIDE lets the library accept it.
const netns = '/proc/self/ns/net';
const override = { CNI_NETNS_OVERRIDE: '1' };
const injected = { 'siding.io/status': JSON.stringify({ version: '0.1.0', layout: 'native', initContainers: ['siding-validation', 'siding-proxy'], containers: [], volumes: [], annotations: [], proxyImage: 'x', cniRedirect: ['-p', '15001'] }) };
const VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];

/** A main plugin's result in `version`'s format (before 1.0.0 each IP carries its version). */
function prevIn(version: string): Record<string, unknown> {
  const prev: Record<string, unknown> = { ...prevResult(), cniVersion: version };
  if (version.startsWith('0.')) prev.ips = (prev.ips as Record<string, unknown>[]).map((ip) => ({ ...ip, version: '4' }));
  return prev;
}

describe("siding's CNI plugin", skipUnless(prereq), () => {
  it('answers VERSION with the versions that can chain (0.3.0 to 1.1.0)', async () => {
    const r = await runPlugin(P, { command: 'VERSION', config: { cniVersion: '1.1.0' } });
    assert.equal(r.code, 0);
    assert.deepEqual(r.json, { cniVersion: '1.1.0', supportedVersions: VERSIONS });
  });

  it('refuses a configuration version it does not support with error code 1', async () => {
    const r = await runPlugin(P, { command: 'ADD', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ cniVersion: '0.2.0', socket, annotations: {}, prev: prevResult() }), extraEnv: override });
    assert.equal(r.code, 1);
    assert.equal(r.json?.code, 1);
  });

  for (const version of VERSIONS) {
    it(`passes a pod siding did not inject through untouched, as a ${version} result, without the agent`, async () => {
      const r = await runPlugin(P, {
        command: 'ADD',
        netns,
        args: k8sArgs('app', 'web'),
        config: sidingConfig({ cniVersion: version, socket, annotations: { 'app.kubernetes.io/name': 'web' }, prev: prevIn(version) }),
        extraEnv: override,
      });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal(r.json?.cniVersion, version);
      const ips = r.json?.ips as { address: string; version?: string }[];
      assert.equal(ips[0]?.address, '10.9.0.5/24');
      // Before 1.0.0 each IP names its version; 1.0.0 dropped the field.
      assert.equal(ips[0]?.version, version.startsWith('0.') ? '4' : undefined);
      assert.deepEqual(r.json?.routes, [{ dst: '10.96.0.0/12' }]);
      assert.equal(r.stderr, '');
    });
  }

  it('passes a sandbox that is not a Kubernetes pod through (no K8S_POD_* in CNI_ARGS)', async () => {
    const r = await runPlugin(P, { command: 'ADD', netns, config: sidingConfig({ socket, annotations: injected, prev: prevResult() }), extraEnv: override });
    assert.equal(r.code, 0);
    assert.deepEqual((r.json?.ips as unknown[]).length, 1);
  });

  it('fails the ADD of an injected pod with "try again later" (11) naming the pod and the socket when the agent is down', async () => {
    const r = await runPlugin(P, { command: 'ADD', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ socket, annotations: injected, prev: prevResult() }), extraEnv: override });
    assert.equal(r.code, 1);
    assert.equal(r.json?.code, 11);
    assert.match(String(r.json?.msg), /pod app\/web needs its traffic redirect, but the siding CNI agent is not reachable at .*no-agent\.sock/);
  });

  it('lets a pod through when the runtime passed no annotations and the agent is down (validation and repair catch an injected one)', async () => {
    const r = await runPlugin(P, { command: 'ADD', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ socket, prev: prevResult() }), extraEnv: override });
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stderr, /not reachable .* passes through/);
  });

  it('requires prevResult: siding only chains after the plugin that sets up the interface', async () => {
    const r = await runPlugin(P, { command: 'ADD', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ socket, annotations: {} }), extraEnv: override });
    assert.equal(r.json?.code, 7);
    assert.match(String(r.json?.msg), /chained plugin/);
  });

  it('refuses a relative socket path and a timeout beyond two minutes as invalid configuration (7)', async () => {
    for (const config of [sidingConfig({ socket: 'cni.sock', annotations: {}, prev: prevResult() }), sidingConfig({ socket, annotations: {}, prev: prevResult(), timeoutSeconds: 121 })]) {
      const r = await runPlugin(P, { command: 'ADD', netns, args: k8sArgs('app', 'web'), config, extraEnv: override });
      assert.equal(r.json?.code, 7, r.stdout);
    }
  });

  it('gates CHECK to 0.4.0 and later, STATUS and GC to 1.1.0', async () => {
    const check = await runPlugin(P, { command: 'CHECK', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ cniVersion: '0.3.1', socket, annotations: {}, prev: prevResult() }), extraEnv: override });
    assert.match(String(check.json?.msg), /does not allow CHECK/);
    const status10 = await runPlugin(P, { command: 'STATUS', config: sidingConfig({ cniVersion: '1.0.0', socket }) });
    assert.match(String(status10.json?.msg), /does not allow STATUS/);
    const gc10 = await runPlugin(P, { command: 'GC', config: sidingConfig({ cniVersion: '1.0.0', socket }) });
    assert.match(String(gc10.json?.msg), /does not allow GC/);
  });

  it('reports STATUS ready and GC done even with the agent down (pods siding did not inject must keep starting)', async () => {
    for (const command of ['STATUS', 'GC'] as const) {
      const r = await runPlugin(P, { command, config: { ...sidingConfig({ cniVersion: '1.1.0', socket }), 'cni.dev/valid-attachments': [] } });
      assert.equal(r.code, 0, `${command}: ${r.stdout}`);
      assert.equal(r.stdout, '');
    }
  });

  it('answers DEL with success whatever the state, without a network namespace', async () => {
    const r = await runPlugin(P, { command: 'DEL', args: k8sArgs('app', 'web'), config: sidingConfig({ socket, annotations: injected }) });
    assert.equal(r.code, 0);
  });

  it('CHECK of a pod siding did not inject succeeds without the agent; of an injected one it fails with the agent down', async () => {
    const plain = await runPlugin(P, { command: 'CHECK', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ socket, annotations: {}, prev: prevResult() }), extraEnv: override });
    assert.equal(plain.code, 0, plain.stdout);
    const inj = await runPlugin(P, { command: 'CHECK', netns, args: k8sArgs('app', 'web'), config: sidingConfig({ socket, annotations: injected, prev: prevResult() }), extraEnv: override });
    assert.equal(inj.json?.code, 11);
  });

  it('cleans up', () => rmSync(dir, { recursive: true, force: true }));
});
