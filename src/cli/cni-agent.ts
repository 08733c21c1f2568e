import { Option, type Command } from 'commander';
import { LOG_LEVELS } from '../admission/app.js';
import { startAgent } from '../cni/agent.js';
import { AGENT_DEFAULTS, parseAgentFlags, type RawAgentFlags } from '../cni/options.js';

const HELP_AFTER = `
Runs on every node (the siding-cni DaemonSet of manifests/overlays/cni). It installs
siding's CNI plugin into the CNI bin directory, chains it last into the node's primary CNI
configuration (and again whenever another CNI rewrites it), and programs the traffic
redirect of each pod injected in CNI mode (redirect.mode: cni) in the pod's network
namespace, with siding init's rules, while the runtime sets the pod's network up. Pods that
started without it (siding-validation exited 126) are deleted for their controller to
recreate, unless --no-repair. On SIGTERM it takes siding out again: the configuration gets
its exact bytes back, the plugin is removed. See docs/cni.md.
Exit codes: 0 stopped on a signal, 1 failure, 2 bad flags.`;

export function registerCniAgent(program: Command): void {
  program
    .command('cni-agent')
    .description("node agent of siding's CNI mode: installs and chains the CNI plugin, programs injected pods' redirect, repairs pods that started without it")
    .option('--node-name <name>', 'this node (default: $NODE_NAME)')
    .option('--cni-bin-dir <dir>', `the node's CNI bin directory, as mounted (default ${AGENT_DEFAULTS.cniBinDir})`)
    .option('--cni-conf-dir <dir>', `the node's CNI configuration directory, as mounted (default ${AGENT_DEFAULTS.cniConfDir})`)
    .option('--cni-conf-file <name>', "chain into this file of --cni-conf-dir (default: the first .conflist/.conf/.json by name, the runtime's choice)")
    .option('--plugin <file>', `the plugin executable to install (default ${AGENT_DEFAULTS.plugin})`)
    .option('--socket <path>', `unix socket the plugin calls (default ${AGENT_DEFAULTS.socket})`)
    .option('--host-socket <path>', "the socket's path on the node, written into the chain entry (default: --socket)")
    .option('--state-dir <dir>', `where the CNI configuration's original bytes are kept (default ${AGENT_DEFAULTS.stateDir})`)
    .option('--health <host:port>', `serves /healthz, /readyz and /metrics here (default ${AGENT_DEFAULTS.health})`)
    .option('--no-repair', 'do not delete pods that started without their redirect (default: repair them)')
    .option('--iptables-mode <mode>', 'auto, legacy or nft, as for siding init (default auto)')
    .option('--ipv6 <mode>', 'auto, on or off, as for siding init (default auto)')
    .option('--plugin-timeout <seconds>', `how long the plugin waits for this agent (default ${AGENT_DEFAULTS.timeoutSeconds})`)
    .option('--resync <seconds>', `how often the chain entry is checked besides watching the directory (default ${AGENT_DEFAULTS.resyncSeconds})`)
    .option('--kubeconfig <file>', 'kubeconfig for the API (default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config)')
    .addOption(new Option('--log-level <level>', 'JSON log level').choices(LOG_LEVELS).default('info'))
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: RawAgentFlags) => {
      const options = parseAgentFlags(flags);
      const agent = await startAgent(options, { log: { level: options.logLevel } });
      // SIGTERM (the kubelet) or SIGINT: take siding off the node, finish in-flight calls.
      await new Promise<void>((resolve, reject) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          agent.socketApp.log.info({ signal }, 'stopping');
          agent.close().then(resolve, reject);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      process.exitCode = 0;
    });
}
