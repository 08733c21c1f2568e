/**
 * siding's CNI plugin and node agent on this machine, as root: the agent runs as its own
 * process (the built CLI) on directories standing in for a node's, the plugin binary is
 * called exactly as a runtime calls it (CNI_* variables, the chained entry on stdin with
 * prevResult and the pod's annotations in runtimeConfig), in network namespaces the test
 * makes. Pods come from siding's own injection of the same manifests, in both modes, so
 * "the same annotations" means the same pod.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { parse } from 'yaml';
import { DEFAULT_CONFIG, type InjectionConfig } from '../../src/config/index.js';
import { injectPod } from '../../src/inject/index.js';
import { k8sArgs, pluginPath, prevResult, runPlugin, sidingConfig } from '../helpers/cni.js';
import { fixtureText } from '../helpers/fixtures.js';
import { prerequisite, skipUnless } from '../helpers/prereq.js';
import { agentDirs, deleteNetns, makeNetns, rulesets, startAgentProcess, type AgentDirs, type AgentProcess } from './cni-lib.js';
import { CLI, initPrerequisite, run } from './init-lib.js';

const plugin = pluginPath();
const base = initPrerequisite();
const prereq = base.missing !== undefined ? base : prerequisite(() => (plugin === undefined ? "siding's CNI plugin is not built (scripts/build-cni-plugin.sh)" : undefined));

// The traffic-annotations pod also chooses its proxy image, which the config must allow.
const INIT_CONFIG: InjectionConfig = { ...DEFAULT_CONFIG, proxy: { ...DEFAULT_CONFIG.proxy, imageOverridePrefixes: ['registry.example.com:5000/mesh/'] } };
const CNI_CONFIG: InjectionConfig = { ...INIT_CONFIG, redirect: { ...INIT_CONFIG.redirect, mode: 'cni' } };
const BRIDGE = '{"cniVersion":"1.0.0","name":"it-net","plugins":[{"type":"bridge","bridge":"cni0"},{"type":"portmap","capabilities":{"portMappings":true}}]}\n';

function podFrom(manifest: string, name: string): V1Pod {
  const pod = parse(manifest) as V1Pod;
  pod.metadata = { ...pod.metadata, name };
  return pod;
}

/** The pod as the API server stores it in CNI mode, and siding-init's arguments for it in init mode. */
function bothModes(pod: V1Pod): { annotations: Record<string, string>; initArgs: string[] } {
  const cni = injectPod(structuredClone(pod), { namespace: 'app' }, CNI_CONFIG);
  const init = injectPod(structuredClone(pod), { namespace: 'app' }, INIT_CONFIG);
  assert.equal(cni.kind, 'injected', JSON.stringify(cni));
  assert.equal(init.kind, 'injected', JSON.stringify(init));
  if (cni.kind !== 'injected' || init.kind !== 'injected') throw new Error('not injected');
  const sidingInit = init.pod.spec?.initContainers?.find((c) => c.name === 'siding-init');
  return { annotations: { ...cni.pod.metadata?.annotations }, initArgs: sidingInit?.args ?? [] };
}

const PODS: Record<string, V1Pod> = {
  defaults: podFrom(fixtureText('inject', 'plain-pod.yaml'), 'plain'),
  'every traffic annotation': podFrom(fixtureText('inject', 'traffic-annotations.yaml'), 'annotated'),
};

describe("siding's CNI plugin with the agent running", skipUnless(prereq), () => {
  let dirs: AgentDirs;
  let agent: AgentProcess;
  const namespaces: string[] = [];
  const netns = async (): Promise<string> => {
    const n = await makeNetns();
    namespaces.push(n);
    return n;
  };
  const installed = (): string => join(dirs.bin, 'siding');
  const add = (ns: string, annotations: Record<string, string> | undefined, name = 'web', bin = installed()) =>
    runPlugin(bin, {
      command: 'ADD',
      netns: `/run/netns/${ns}`,
      args: k8sArgs('app', name),
      config: sidingConfig({ socket: dirs.socket, annotations, prev: prevResult('10.9.0.5/24', `/run/netns/${ns}`) }),
    });

  before(async () => {
    dirs = agentDirs();
    writeFileSync(join(dirs.conf, '10-it.conflist'), BRIDGE);
    agent = await startAgentProcess(dirs, plugin ?? '');
  });

  after(async () => {
    if (agent !== undefined && agent.child.exitCode === null) await agent.stop('SIGKILL');
    for (const n of namespaces) await deleteNetns(n);
    if (dirs !== undefined) rmSync(dirs.root, { recursive: true, force: true });
  });

  it('installs the plugin and chains it last into the configuration, and reports ready', async () => {
    assert.ok(existsSync(installed()));
    const conf = JSON.parse(readFileSync(join(dirs.conf, '10-it.conflist'), 'utf8')) as { plugins: { type: string; socket?: string }[] };
    assert.deepEqual(conf.plugins.map((p) => p.type), ['bridge', 'portmap', 'siding']);
    assert.equal(conf.plugins[2]?.socket, dirs.socket);
    const ready = await fetch(`${agent.healthUrl}/readyz`);
    assert.equal(ready.status, 200);
  });

  for (const [title, pod] of Object.entries(PODS)) {
    it(`programs the same ruleset as siding init for the same pod (${title})`, async () => {
      const { annotations, initArgs } = bothModes(pod);
      const viaCni = await netns();
      const viaInit = await netns();
      const r = await add(viaCni, annotations);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.equal((r.json?.ips as { address: string }[])[0]?.address, '10.9.0.5/24', 'prevResult passed through');
      const init = await run(process.execPath, [CLI, 'init', ...initArgs, '--netns', `/run/netns/${viaInit}`]);
      assert.equal(init.code, 0, init.stderr);
      const cniRules = await rulesets(viaCni);
      assert.match(cniRules['iptables-nft-save'] ?? '', /SIDING_OUTPUT/);
      assert.deepEqual(cniRules, await rulesets(viaInit));
    });
  }

  it("redirects for real: the pod's unprivileged siding-validation passes as the proxy's user, and an app's outbound connection is captured", async () => {
    const { annotations, initArgs } = bothModes(PODS.defaults!);
    const ns = await netns();
    assert.equal((await add(ns, annotations)).code, 0);
    const args = [...initArgs, '--run-validation', '--skip-rule-apply'];
    const asProxy = await run('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, CLI, 'init', ...args]);
    assert.equal(asProxy.code, 0, asProxy.stderr);
    assert.match(asProxy.stderr, /validation passed: the proxy's loopback calls are redirected/);
    const asApp = await run('ip', ['netns', 'exec', ns, 'setpriv', '--reuid', '2000', '--regid', '2000', '--clear-groups', process.execPath, CLI, 'init', ...args]);
    assert.equal(asApp.code, 0, asApp.stderr);
    assert.match(asApp.stderr, /validation passed: outbound TCP is redirected to the proxy port/);
    // Without the plugin, the same validation fails with 126.
    const bare = await netns();
    const missing = await run('ip', ['netns', 'exec', bare, 'setpriv', '--reuid', '1337', '--regid', '1337', '--clear-groups', process.execPath, CLI, 'init', ...args]);
    assert.equal(missing.code, 126, missing.stderr);
  });

  it('passes a pod siding did not inject through untouched: no rules, the same result', async () => {
    const ns = await netns();
    const r = await add(ns, { 'app.kubernetes.io/name': 'plain' }, 'plain');
    assert.equal(r.code, 0, r.stdout);
    assert.deepEqual(r.json?.ips, prevResult().ips);
    assert.doesNotMatch(Object.values(await rulesets(ns)).join('\n'), /SIDING/);
  });

  it('CHECK finds the redirect in place, and reports it once it is gone', async () => {
    const { annotations } = bothModes(PODS.defaults!);
    const ns = await netns();
    assert.equal((await add(ns, annotations)).code, 0);
    const check = () =>
      runPlugin(installed(), { command: 'CHECK', netns: `/run/netns/${ns}`, args: k8sArgs('app', 'web'), config: sidingConfig({ socket: dirs.socket, annotations, prev: prevResult() }) });
    assert.equal((await check()).code, 0);
    await run('ip', ['netns', 'exec', ns, process.execPath, CLI, 'init', '--cleanup']);
    const gone = await check();
    assert.equal(gone.json?.code, 100, gone.stdout);
    assert.match(String(gone.json?.msg), /not in place: chain SIDING_INBOUND is missing/);
  });

  it('fails the ADD of an injected pod whose redirect cannot be programmed, with the reason, leaving no rule', async () => {
    // A proxy UID list iptables cannot express cannot come from the webhook; a forged record
    // with a flag the agent refuses must fail the same way as a failing iptables.
    const ns = await netns();
    const forged = { 'siding.io/status': JSON.stringify({ version: '0', layout: 'native', initContainers: [], containers: [], volumes: [], annotations: [], proxyImage: 'x', cniRedirect: ['--netns', '/proc/1/ns/net'] }) };
    const r = await add(ns, forged);
    assert.equal(r.code, 1);
    assert.equal(r.json?.code, 102);
    assert.match(String(r.json?.msg), /only the node decides/);
    assert.doesNotMatch(Object.values(await rulesets(ns)).join('\n'), /SIDING/);
  });

  it('with the agent down: an injected pod fails its ADD (the runtime retries), a pod siding did not inject starts', async () => {
    assert.equal(await agent.stop('SIGKILL'), null);
    const { annotations } = bothModes(PODS.defaults!);
    const injected = await add(await netns(), annotations);
    assert.equal(injected.code, 1);
    assert.equal(injected.json?.code, 11);
    assert.match(String(injected.json?.msg), /pod app\/web needs its traffic redirect, but the siding CNI agent is not reachable/);
    const plain = await add(await netns(), {}, 'plain');
    assert.equal(plain.code, 0, plain.stdout);
  });

  it('restarted, then stopped with SIGTERM, the agent gives the configuration back byte for byte and removes the plugin', async () => {
    agent = await startAgentProcess(dirs, plugin ?? '');
    assert.equal((await fetch(`${agent.healthUrl}/readyz`)).status, 200);
    assert.equal(await agent.stop('SIGTERM'), 0);
    assert.equal(readFileSync(join(dirs.conf, '10-it.conflist'), 'utf8'), BRIDGE);
    assert.deepEqual(readdirSync(dirs.bin), []);
    assert.deepEqual(readdirSync(dirs.conf), ['10-it.conflist']);
  });
});
