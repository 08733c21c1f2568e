/**
 * A pod whose `siding-init` cannot program its rules never runs its application, and says
 * why. siding gives siding-init its own RuntimeDefault seccomp profile, so a pod author
 * cannot break it; to make it fail here, the test takes the pod exactly as the webhook
 * injects it (a server-side dry run), gives siding-init a Localhost profile on the node that
 * denies both iptables backends (netlink sockets of the netfilter family for nft, raw IP
 * sockets for legacy), as a node hardened that way would, and creates that pod opted out of
 * a second injection.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { skipUnless } from '../../helpers/prereq.js';
import { SIDING, clients, eventually, injectionProblems, kubectl, Namespaces, prereq, stateDir, type Clients } from '../helpers/cluster.js';
import { IDLE_SCRIPT, INIT_CONTAINER, containerStatus, nodeContainer, pod } from '../helpers/node.js';

const AF_INET = 2;
const AF_INET6 = 10;
const AF_NETLINK = 16;
const NETLINK_NETFILTER = 12;
const SOCK_RAW = 3;
/**
 * socket() returns EPERM for the two ways iptables reaches the kernel; everything else is
 * allowed (netlink route sockets too, which are also SOCK_RAW: reading the interfaces needs them).
 */
const DENY_IPTABLES = {
  defaultAction: 'SCMP_ACT_ALLOW',
  syscalls: [
    {
      names: ['socket'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 1,
      args: [
        { index: 0, value: AF_NETLINK, op: 'SCMP_CMP_EQ' },
        { index: 2, value: NETLINK_NETFILTER, op: 'SCMP_CMP_EQ' },
      ],
    },
    // Raw IP sockets (iptables-legacy), IPv4 and IPv6. The type argument carries
    // SOCK_CLOEXEC/SOCK_NONBLOCK above its low bits.
    ...[AF_INET, AF_INET6].map((family) => ({
      names: ['socket'],
      action: 'SCMP_ACT_ERRNO',
      errnoRet: 1,
      args: [
        { index: 0, value: family, op: 'SCMP_CMP_EQ' },
        { index: 1, value: 0xf, valueTwo: SOCK_RAW, op: 'SCMP_CMP_MASKED_EQ' },
      ],
    })),
  ],
};

describe('a pod whose siding-init fails', skipUnless(prereq), () => {
  let c: Clients;
  let namespaces: Namespaces;
  const profileDir = join(stateDir, 'node', 'kubelet', 'seccomp', 'siding-e2e');

  before(() => {
    c = clients();
    namespaces = new Namespaces(c.core);
    // Where the kubelet (--root-dir STATE/node/kubelet) looks for Localhost profiles.
    mkdirSync(profileDir, { recursive: true });
    writeFileSync(join(profileDir, 'deny-iptables.json'), JSON.stringify(DENY_IPTABLES));
  });

  after(async () => {
    await namespaces?.cleanup();
    rmSync(profileDir, { recursive: true, force: true });
  });

  it('never starts the app container, and its events and siding-init log say why', async () => {
    const ns = await namespaces.create('e2e-node-initfail', { ...SIDING.injectionLabel });
    const draft = pod(ns, 'denied', { automountServiceAccountToken: false, containers: [nodeContainer('app', IDLE_SCRIPT)] });
    const injected = await c.core.createNamespacedPod({ namespace: ns, body: draft, dryRun: 'All' });
    const spec = injected.spec;
    assert.ok(spec !== undefined);
    const init = spec.initContainers?.find((x) => x.name === INIT_CONTAINER);
    assert.ok(init?.securityContext?.seccompProfile !== undefined, 'the webhook injected siding-init with its own seccomp profile');
    init.securityContext.seccompProfile = { type: 'Localhost', localhostProfile: 'siding-e2e/deny-iptables.json' };
    const body: typeof injected = {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: {
        name: 'denied',
        namespace: ns,
        labels: { ...injected.metadata?.labels, 'siding.io/inject': 'false' },
        annotations: { ...injected.metadata?.annotations },
      },
      spec,
    };
    await c.core.createNamespacedPod({ namespace: ns, body });
    // Two failed runs: the kubelet retried siding-init and still did not go further.
    const failed = await eventually('siding-init to fail twice', async () => {
      const p = await c.core.readNamespacedPod({ namespace: ns, name: 'denied' });
      const s = containerStatus(p, INIT_CONTAINER);
      const last = s?.lastState?.terminated ?? s?.state?.terminated;
      return (s?.restartCount ?? 0) >= 1 && last !== undefined && last.exitCode !== 0 ? p : undefined;
    });
    assert.deepEqual(injectionProblems(failed), []);
    const app = containerStatus(failed, 'app');
    assert.equal(app?.state?.running, undefined, 'the app container runs');
    assert.equal(app?.state?.terminated, undefined, 'the app container ran');
    assert.equal(app?.restartCount ?? 0, 0);
    assert.notEqual(failed.status?.phase, 'Running');

    const events = await eventually('an event about the failing siding-init', async () => {
      const list = await c.core.listNamespacedEvent({ namespace: ns, fieldSelector: 'involvedObject.name=denied' });
      const e = list.items.find((x) => x.reason === 'BackOff' && (x.message ?? '').includes(INIT_CONTAINER));
      return e === undefined ? undefined : list.items;
    });
    assert.ok(events.some((e) => /Back-off restarting failed container siding-init/.test(e.message ?? '')));

    // The log of whichever run of siding-init the kubelet still keeps (it removes older ones).
    const log = await eventually("siding-init's log of a failed run", async () => {
      const r = await kubectl(['logs', '-n', ns, 'denied', '-c', INIT_CONTAINER]);
      return /could not apply/.test(r.stdout) ? r.stdout : undefined;
    });
    assert.match(log, /Operation not permitted/);
    assert.match(log, /iptables-legacy-restore could not apply the IPv4 rules/);
  });
});
