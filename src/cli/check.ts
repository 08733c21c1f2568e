import type { Command } from 'commander';
import { isLabelKey, isLabelValue } from '../config/values.js';
import { InputError } from '../errors/index.js';
import { checkObjects, namespacesIn, parseManifests } from '../inject/manifests.js';
import { createKubeApi } from '../kube/client.js';
import { readNamespaceLabels } from '../kube/namespaces.js';
import { configFromFlag, namespaceFromFlag, readManifestInput } from './inject.js';

interface CheckFlags {
  filename: string;
  namespaceLabels?: string;
  config?: string;
  namespace?: string;
  live?: boolean;
  kubeconfig?: string;
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
the labels of each target namespace are read from the cluster instead.
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
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: CheckFlags) => {
      const namespace = namespaceFromFlag(flags.namespace);
      const live = flags.live === true || flags.kubeconfig !== undefined;
      if (live && flags.namespaceLabels !== undefined) {
        throw new InputError('--namespace-labels and --live/--kubeconfig exclude each other: labels come from the flag or from the cluster');
      }
      const labels = flags.namespaceLabels === undefined ? undefined : parseNamespaceLabels(flags.namespaceLabels);
      const config = await configFromFlag(flags.config);
      const { text, source } = await readManifestInput(flags.filename);
      const objects = parseManifests(text, source);
      let lookup = (_ns: string): Readonly<Record<string, string>> | undefined => labels;
      if (live) {
        const found = await readNamespaceLabels(createKubeApi({ kubeconfigPath: flags.kubeconfig }), namespacesIn(objects, namespace));
        for (const ns of found.missing) process.stderr.write(`siding: namespace ${ns} does not exist in the cluster; treating it as unlabelled\n`);
        lookup = (ns) => found.labels.get(ns) ?? {};
      }
      const run = checkObjects(objects, { config, namespace, namespaceLabels: lookup });
      if (run.lines.length === 0) process.stderr.write('siding: no workloads found in the input\n');
      for (const line of run.lines) process.stdout.write(`${line}\n`);
      if (run.denied) process.exitCode = 1;
    });
}
