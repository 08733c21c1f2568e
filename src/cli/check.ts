import type { Command } from 'commander';
import { isLabelKey, isLabelValue } from '../config/values.js';
import { InputError } from '../errors/index.js';
import { checkObjects, namespacesIn, parseManifests } from '../inject/manifests.js';
import type { InjectionConfig } from '../config/index.js';
import { parseConfig } from '../config/parse.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import type { KubeApi } from '../kube/api.js';
import { createKubeApi } from '../kube/client.js';
import { readDaemonSetStatus } from '../kube/daemonset.js';
import { readNamespaceLabels } from '../kube/namespaces.js';
import { DEFAULT_CONFIG_KEY } from '../kube/options.js';
import { AGENT_DAEMONSET, describeRedirectMode, type AgentReport } from '../cni/status.js';
import { errorMessage } from '../errors/index.js';
import { configFromFlag, namespaceFromFlag, readManifestInput } from './inject.js';

interface CheckFlags {
  filename: string;
  namespaceLabels?: string;
  config?: string;
  namespace?: string;
  live?: boolean;
  kubeconfig?: string;
  sidingNamespace: string;
}

const CONFIG_MAP = 'siding-config';

/** --live without --config: the config the webhook serves (its ConfigMap), else the built-in one. */
async function liveConfig(api: KubeApi, namespace: string): Promise<{ config: InjectionConfig; source: string }> {
  try {
    const cm = await api.getConfigMap(namespace, CONFIG_MAP);
    const text = cm?.data[DEFAULT_CONFIG_KEY];
    if (text === undefined) {
      process.stderr.write(`siding: ConfigMap ${namespace}/${CONFIG_MAP} not found; checking with the built-in config\n`);
      return { config: DEFAULT_CONFIG, source: 'built-in config' };
    }
    return { config: parseConfig(text, `ConfigMap ${namespace}/${CONFIG_MAP}`), source: `ConfigMap ${namespace}/${CONFIG_MAP}` };
  } catch (e) {
    process.stderr.write(`siding: cannot read ConfigMap ${namespace}/${CONFIG_MAP} (${errorMessage(e)}); checking with the built-in config\n`);
    return { config: DEFAULT_CONFIG, source: 'built-in config' };
  }
}

async function agentReport(kubeconfig: string | undefined, namespace: string): Promise<AgentReport> {
  try {
    const s = await readDaemonSetStatus({ kubeconfigPath: kubeconfig }, namespace, AGENT_DAEMONSET);
    return s === undefined ? { kind: 'missing', namespace } : { kind: 'status', namespace, ...s };
  } catch (e) {
    return { kind: 'error', message: errorMessage(e) };
  }
}

/** `k=v,k2=v2` → labels; strict label syntax; an empty string is "no labels". */
export function parseNamespaceLabels(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  if (text.trim() === '') return out;
  for (const item of text.split(',')) {
    const eq = item.indexOf('=');
    const key = eq === -1 ? item : item.slice(0, eq);
    const value = eq === -1 ? undefined : item.slice(eq + 1);
    if (value === undefined || !isLabelKey(key) || !isLabelValue(value)) {
      throw new InputError(`--namespace-labels: '${item}' is not key=value with a valid label key and value`);
    }
    out[key] = value;
  }
  return out;
}

const HELP_AFTER = `
One line per workload: "Kind/name: injected", "Kind/name: skipped: <why>" or
"Kind/name: denied: <every error>". Without --namespace-labels the namespace is assumed
to be selected by the webhook (labelled siding-injection=enabled); with it, a namespace
without that label explains why nothing would be injected. With --live (or --kubeconfig)
the labels of each target namespace are read from the cluster instead, and so is the
injection config (ConfigMap siding-config in --siding-namespace) unless --config is given.
A note on standard error says how pods get their redirect: redirect mode init or cni, and
in cni mode with --live whether the node agent (DaemonSet siding-cni) is ready on every node.
Exit codes: 0 nothing denied, 1 a workload would be denied or the config is invalid,
2 unreadable or unparsable input or bad flags.`;

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('explain, per workload, whether siding would inject it and why not')
    .requiredOption('-f, --filename <file>', "YAML or JSON manifests (multi-document and List); '-' for standard input")
    .option('--namespace-labels <k=v,...>', "labels of the target namespace, e.g. 'siding-injection=enabled'")
    .option('--config <file>', 'injection config (YAML or JSON); default the built-in config')
    .option('-n, --namespace <ns>', "namespace the workloads are created in (default: each object's metadata.namespace, else 'default')")
    .option('--live', 'read the labels of each target namespace from the cluster (credentials: $KUBECONFIG, in-cluster, ~/.kube/config)')
    .option('--kubeconfig <file>', 'like --live, with the credentials in this kubeconfig')
    .option('--siding-namespace <ns>', "siding's namespace, where --live reads its config and node agent", 'siding-system')
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: CheckFlags) => {
      const namespace = namespaceFromFlag(flags.namespace);
      const live = flags.live === true || flags.kubeconfig !== undefined;
      if (live && flags.namespaceLabels !== undefined) {
        throw new InputError('--namespace-labels and --live/--kubeconfig exclude each other: labels come from the flag or from the cluster');
      }
      const labels = flags.namespaceLabels === undefined ? undefined : parseNamespaceLabels(flags.namespaceLabels);
      const sidingNamespace = namespaceFromFlag(flags.sidingNamespace) ?? 'siding-system';
      const api = live ? createKubeApi({ kubeconfigPath: flags.kubeconfig }) : undefined;
      const { config, source: configSource } =
        flags.config !== undefined || api === undefined
          ? { config: await configFromFlag(flags.config), source: flags.config === undefined ? 'built-in config' : `config ${flags.config}` }
          : await liveConfig(api, sidingNamespace);
      const agent: AgentReport = live && config.redirect.mode === 'cni' ? await agentReport(flags.kubeconfig, sidingNamespace) : { kind: 'unchecked' };
      process.stderr.write(`siding: ${describeRedirectMode(config.redirect.mode, configSource, agent)}\n`);
      const { text, source } = await readManifestInput(flags.filename);
      const objects = parseManifests(text, source);
      let lookup = (_ns: string): Readonly<Record<string, string>> | undefined => labels;
      if (api !== undefined) {
        const found = await readNamespaceLabels(api, namespacesIn(objects, namespace));
        for (const ns of found.missing) process.stderr.write(`siding: namespace ${ns} does not exist in the cluster; treating it as unlabelled\n`);
        lookup = (ns) => found.labels.get(ns) ?? {};
      }
      const run = checkObjects(objects, { config, namespace, namespaceLabels: lookup });
      if (run.lines.length === 0) process.stderr.write('siding: no workloads found in the input\n');
      for (const line of run.lines) process.stdout.write(`${line}\n`);
      if (run.denied) process.exitCode = 1;
    });
}
