import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { DEFAULT_CONFIG, loadConfigFile, type InjectionConfig } from '../config/index.js';
import { isDnsLabel } from '../config/values.js';
import { errorMessage, InputError } from '../errors/index.js';
import { injectManifests, MAX_MANIFEST_BYTES } from '../inject/manifests.js';

interface InjectFlags {
  filename: string;
  output: 'yaml' | 'json';
  config?: string;
  namespace?: string;
}

/** Reads `-f FILE` or standard input for `-`. Throws InputError (exit 2) when it cannot. */
export async function readManifestInput(file: string): Promise<{ text: string; source: string }> {
  if (file !== '-') {
    try {
      return { text: await readFile(file, 'utf8'), source: file };
    } catch (e) {
      throw new InputError(`cannot read ${file}: ${errorMessage(e)}`, { cause: e });
    }
  }
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    size += b.length;
    if (size > MAX_MANIFEST_BYTES) throw new InputError(`standard input is larger than ${MAX_MANIFEST_BYTES} bytes`);
    chunks.push(b);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), source: '(stdin)' };
}

/** `--config FILE` or the built-in default. */
export async function configFromFlag(file: string | undefined): Promise<InjectionConfig> {
  return file === undefined ? DEFAULT_CONFIG : loadConfigFile(file);
}

export function namespaceFromFlag(ns: string | undefined): string | undefined {
  if (ns !== undefined && !isDnsLabel(ns)) throw new InputError(`--namespace '${ns}' is not a namespace name`);
  return ns;
}

const HELP_AFTER = `
Injects Pods and the pod templates of Deployment, StatefulSet, DaemonSet, ReplicaSet,
ReplicationController, Job and CronJob; every other object passes through unchanged.
Same engine, annotations and errors as the webhook (docs/annotations.md).
Exit codes: 0 done, 1 a workload was denied (nothing is written) or the config is invalid,
2 unreadable or unparsable input or bad flags.
Example: siding inject -f deploy.yaml | kubectl apply -f -`;

export function registerInject(program: Command): void {
  program
    .command('inject')
    .description('add the proxy and the redirect init container to the workloads in a manifest stream (like istioctl kube-inject)')
    .requiredOption('-f, --filename <file>', "YAML or JSON manifests (multi-document and List); '-' for standard input")
    .addOption(new Option('-o, --output <format>', 'output format').choices(['yaml', 'json']).default('yaml'))
    .option('--config <file>', 'injection config (YAML or JSON); default the built-in config')
    .option('-n, --namespace <ns>', "namespace the workloads are created in (default: each object's metadata.namespace, else 'default')")
    .addHelpText('after', HELP_AFTER)
    .action(async (flags: InjectFlags) => {
      const namespace = namespaceFromFlag(flags.namespace);
      const config = await configFromFlag(flags.config);
      const { text, source } = await readManifestInput(flags.filename);
      const run = injectManifests(text, source, { config, namespace, output: flags.output });
      for (const w of run.warnings) process.stderr.write(`siding: warning: ${w}\n`);
      if (run.denials.length > 0) {
        for (const d of run.denials) process.stderr.write(`siding: denied: ${d}\n`);
        process.exitCode = 1;
        return;
      }
      process.stdout.write(run.output);
    });
}
