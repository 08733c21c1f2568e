/**
 * `siding cni-agent`, assembled: the socket the plugin calls, the plugin and its chain entry
 * on the node (kept in place while another CNI rewrites its configuration), the pods of the
 * node (lookups and repair), and health. `startAgent` returns once the socket answers;
 * `close` takes siding off the node again (configuration first, so the runtime stops calling
 * the plugin, then the plugin itself).
 */
import { existsSync, lstatSync, mkdirSync, rmSync, watch, type FSWatcher } from 'node:fs';
import { dirname } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { Registry } from 'prom-client';
import { systemClock, type Clock } from '../kube/clock.js';
import type { Logger } from '../logger.js';
import { createPodApi, type PodApi } from '../kube/pods.js';
import { applyRedirect } from '../redirect/apply.js';
import { lookPath, NamespaceHost, readFileOrUndefined } from '../redirect/host.js';
import { SpawnRunner, type Runner } from '../redirect/runner.js';
import { verifyRedirect } from '../redirect/verify.js';
import { errorMessage } from '../errors/index.js';
import { buildHealthApp, buildSocketApp, createAgentMetrics, type LogOptions } from './app.js';
import { sidingEntry } from './chain.js';
import type { HandlerDeps } from './handler.js';
import { CniInstaller, type ChainState } from './install.js';
import type { AgentOptions } from './options.js';
import { NodePods } from './podwatch.js';
import { Repairer } from './repair.js';

export interface AgentDeps {
  podApi?: PodApi;
  runner?: Runner;
  clock?: Clock;
  log?: LogOptions;
}

export interface RunningAgent {
  readonly socketApp: FastifyInstance;
  /** http://HOST:PORT of /healthz, /readyz, /metrics. */
  readonly healthUrl: string;
  /** Why the agent is not ready, or undefined. */
  notReady(): string | undefined;
  /** Takes siding off the node (chain entry, plugin, socket) and stops. */
  close(): Promise<void>;
}

// UIDs of pods whose redirect this agent programmed (repair leaves those alone); a node runs a
// few hundred pods at most, so this many never forgets a live one.
const MAX_PROGRAMMED = 4096;
// Editors and CNI installers write a file in several steps; one check after they settle.
const WATCH_SETTLE_MS = 200;

export async function startAgent(opts: AgentOptions, deps: AgentDeps = {}): Promise<RunningAgent> {
  const clock = deps.clock ?? systemClock;
  const runner = deps.runner ?? new SpawnRunner();
  const registry = new Registry();
  const metrics = createAgentMetrics(registry);
  const installer = new CniInstaller(
    { binDir: opts.cniBinDir, confDir: opts.cniConfDir, confFile: opts.cniConfFile, stateDir: opts.stateDir, pluginSource: opts.plugin },
    sidingEntry(opts.hostSocket, opts.pluginTimeoutSeconds),
  );
  const programmed = new Set<string>();
  let chain: ChainState | 'error' = 'no-config';
  let chainError: string | undefined;
  let closing = false;

  const podApi = deps.podApi ?? (await createPodApi(opts.kubeconfig));
  // The pods of this node (lookups, repair). Its callbacks run only once it is started below,
  // after the logger and the repairer they use exist.
  const nodePods: NodePods = new NodePods({
    api: podApi,
    nodeName: opts.nodeName,
    clock,
    log: { info: (o: object, m: string) => log.info(o, m), warn: (o: object, m: string) => log.warn(o, m), error: (o: object, m: string) => log.error(o, m) },
    onPod: (p) => repairer.consider(p),
  });

  const handlerDeps: HandlerDeps = {
    async lookupAnnotations(namespace, name, uid) {
      const cached = nodePods.get(namespace, name);
      if (cached !== undefined && (uid === undefined || uid === '' || cached.uid === uid)) return cached.annotations;
      const pod = await podApi.getPod(namespace, name);
      return pod === undefined || (uid !== undefined && uid !== '' && pod.uid !== uid) ? undefined : pod.annotations;
    },
    async program(options, netns, ipv6) {
      const host = new NamespaceHost({ runner, lookPath: (n) => lookPath(n), readFile: readFileOrUndefined }, netns);
      // 'auto' asks whether the pod has a global IPv6 address; the plugin read the answer
      // from prevResult, which saves reading the namespace.
      const families = opts.ipv6 === 'auto' && ipv6 !== undefined ? (ipv6 ? 'on' : 'off') : opts.ipv6;
      const report = await applyRedirect(
        options.redirect,
        { iptablesMode: opts.iptablesMode, ipv6: families, dualStack: options.dualStack, lock: options.lock },
        { host, log: socketApp.log, sleep: (ms) => delay(ms) },
      );
      return {
        rules: report.families.reduce((n, f) => n + f.rules, 0),
        backend: report.backend,
        families: report.families.map((f) => (f.family === 'ipv4' ? 'IPv4' : 'IPv6')),
      };
    },
    verify(options, netns) {
      const host = new NamespaceHost({ runner, lookPath: (n) => lookPath(n), readFile: readFileOrUndefined }, netns);
      return verifyRedirect(options.redirect, opts.iptablesMode, host);
    },
    exists: existsSync,
    programmed(uid) {
      if (uid === undefined || uid === '') return;
      if (programmed.size >= MAX_PROGRAMMED) programmed.clear();
      programmed.add(uid);
    },
  };

  const socketApp = buildSocketApp({ ...handlerDeps, metrics, ...(deps.log === undefined ? {} : { log: deps.log }) });
  const log: Logger = socketApp.log;
  const notReady = (): string | undefined => {
    if (closing) return 'shutting down';
    if (chain === 'error') return `cannot chain into the CNI configuration: ${chainError ?? ''}`;
    if (chain === 'no-config') return `no CNI configuration in ${opts.cniConfDir} yet (the node's network plugin has not written one)`;
    return undefined;
  };

  // 1. The socket, before the chain entry points the runtime at it.
  mkdirSync(dirname(opts.socket), { recursive: true, mode: 0o700 });
  mkdirSync(opts.stateDir, { recursive: true, mode: 0o700 });
  try {
    if (lstatSync(opts.socket).isSocket()) rmSync(opts.socket);
  } catch {
    // no stale socket
  }
  await socketApp.listen({ path: opts.socket });

  // 2. The plugin, then its entry in the chain, kept there.
  const repairer = new Repairer({
    api: podApi,
    ctx: { nodeName: opts.nodeName, programmed: (uid) => programmed.has(uid) },
    log,
    active: () => opts.repair && notReady() === undefined,
    onAction: (action, ok) => metrics.repairs.inc({ action, result: ok ? 'ok' : 'error' }),
  });
  const ensure = (): void => {
    if (closing) return;
    const before = notReady();
    try {
      chain = installer.ensureChained();
      chainError = undefined;
      if (chain === 'chained') log.info({ dir: opts.cniConfDir, file: installer.primary() }, 'chained siding into the CNI configuration');
    } catch (e) {
      chain = 'error';
      if (chainError !== errorMessage(e)) log.error({ err: errorMessage(e) }, 'cannot chain into the CNI configuration');
      chainError = errorMessage(e);
    }
    metrics.ready.set(notReady() === undefined ? 1 : 0);
    // Just became ready: pods that started without the plugin can now be repaired.
    if (before !== undefined && notReady() === undefined) for (const p of nodePods.all()) repairer.consider(p);
  };
  const installed = installer.installPlugin();
  log.info({ dir: opts.cniBinDir, result: installed }, 'CNI plugin installed');
  ensure();
  let watcher: FSWatcher | undefined;
  let settle: (() => void) | undefined;
  try {
    mkdirSync(opts.cniConfDir, { recursive: true });
    watcher = watch(opts.cniConfDir, () => {
      settle?.();
      settle = clock.setTimer(ensure, WATCH_SETTLE_MS);
    });
    watcher.on('error', (e) => log.warn({ err: errorMessage(e) }, 'watching the CNI configuration directory failed; the periodic check goes on'));
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'cannot watch the CNI configuration directory; checking it periodically');
  }
  let cancelResync: (() => void) | undefined;
  const resync = (): void => {
    ensure();
    cancelResync = clock.setTimer(resync, opts.resyncSeconds * 1000);
  };
  cancelResync = clock.setTimer(resync, opts.resyncSeconds * 1000);

  // 3. The pods of this node: lookups, and repair.
  void nodePods.start();

  // 4. Health.
  const healthApp = buildHealthApp({ notReady }, registry, deps.log);
  await healthApp.listen({ host: opts.health.host, port: opts.health.port });
  const addr = healthApp.server.address();
  const port = typeof addr === 'object' && addr !== null ? addr.port : opts.health.port;
  const healthUrl = `http://${opts.health.host.includes(':') ? `[${opts.health.host}]` : opts.health.host}:${port}`;
  log.info({ socket: opts.socket, health: healthUrl, node: opts.nodeName, repair: opts.repair, ready: notReady() ?? 'yes' }, 'siding CNI agent started');

  return {
    socketApp,
    healthUrl,
    notReady,
    async close() {
      if (closing) return;
      closing = true;
      metrics.ready.set(0);
      watcher?.close();
      settle?.();
      cancelResync?.();
      nodePods.stop();
      try {
        const undone = installer.unchain();
        log.info({ dir: opts.cniConfDir, result: undone }, 'took siding out of the CNI configuration');
      } catch (e) {
        log.error({ err: errorMessage(e) }, 'could not take siding out of the CNI configuration');
      }
      await socketApp.close();
      rmSync(opts.socket, { force: true });
      installer.removePlugin();
      await healthApp.close();
      log.info({}, 'siding CNI agent stopped');
    },
  };
}
