import { Option, type Command } from 'commander';
import { InputError } from '../errors/index.js';
import { LOG_LEVELS, type LogLevel } from '../admission/app.js';
import { DEFAULT_LISTEN, parseListenAddress } from '../admission/listen.js';
import { startWebhook } from '../admission/run.js';
import { KUBE_FLAG_DEFAULTS, parseKubeFlags, wantsKube, type RawKubeFlags } from '../kube/options.js';

interface WebhookFlags extends RawKubeFlags {
  listen: string;
  tlsCertFile?: string;
  tlsKeyFile?: string;
  config?: string;
  logLevel: LogLevel;
}

export function registerWebhook(program: Command): void {
  program
    .command('webhook')
    .description('serve the mutating admission webhook over HTTPS (POST /inject, GET /healthz, /readyz, /metrics)')
    .option('--listen <host:port>', 'address to listen on; [::]:PORT or 0.0.0.0:PORT for every interface', DEFAULT_LISTEN)
    .option('--tls-cert-file <file>', 'PEM serving certificate (watched and reloaded on change); without it a self-signed one is generated in memory')
    .option('--tls-key-file <file>', 'PEM private key of --tls-cert-file')
    .option('--config <file>', 'injection config (YAML or JSON); default the built-in config')
    .addOption(new Option('--log-level <level>', 'JSON log level').choices(LOG_LEVELS).default('info'))
    .option('--manage-certs', 'keep CA and serving certificate in a Secret, patch our caBundle and rotate before expiry (in-cluster)')
    .option('--namespace <ns>', `siding's namespace (default: $POD_NAMESPACE, else ${KUBE_FLAG_DEFAULTS.namespace})`)
    .option('--service <name>', `Service the API server calls (certificate names, caBundle target; default ${KUBE_FLAG_DEFAULTS.service})`)
    .option('--webhook-config <name>', `MutatingWebhookConfiguration whose caBundle is patched (default ${KUBE_FLAG_DEFAULTS.webhookConfig})`)
    .option('--cert-secret <name>', `Secret holding the certificates (default ${KUBE_FLAG_DEFAULTS.certSecret})`)
    .option('--config-map <name>', `watch this ConfigMap (key ${KUBE_FLAG_DEFAULTS.configKey}) for the injection config; --config or the built-in config serves until it loads`)
    .option('--kubeconfig <file>', 'kubeconfig for the API (default: $KUBECONFIG, then the in-cluster service account, then ~/.kube/config)')
    .option('--ca-validity-days <days>', 'with --manage-certs: validity of each new CA (default 1825)')
    .option('--cert-validity-days <days>', 'with --manage-certs: validity of each serving certificate (default 365)')
    .option('--ca-overlap <duration>', 'with --manage-certs: wait between CA rotation steps, e.g. 1h (default 1h)')
    .option('--cert-check-interval <duration>', 'with --manage-certs: how often the Secret and caBundle are re-checked, e.g. 5m (default 5m)')
    .action(async (flags: WebhookFlags) => {
      const listen = parseListenAddress(flags.listen);
      if ((flags.tlsCertFile === undefined) !== (flags.tlsKeyFile === undefined)) {
        throw new InputError('--tls-cert-file and --tls-key-file go together: give both or neither');
      }
      if (flags.manageCerts === true && flags.tlsCertFile !== undefined) {
        throw new InputError('--manage-certs and --tls-cert-file exclude each other: certificates come from the Secret or from files');
      }
      const kube = parseKubeFlags(flags);
      const server = await startWebhook({
        ...(wantsKube(kube) ? { kube } : {}),
        listen,
        logLevel: flags.logLevel,
        ...(flags.tlsCertFile !== undefined && flags.tlsKeyFile !== undefined
          ? { tlsFiles: { cert: flags.tlsCertFile, key: flags.tlsKeyFile } }
          : {}),
        ...(flags.config === undefined ? {} : { configFile: flags.config }),
      });
      // SIGTERM (kubelet) or SIGINT (Ctrl-C): drain (server.ts), finish in-flight reviews, exit 0.
      // The handlers are one-shot, so a second signal falls back to Node's default and kills.
      await new Promise<void>((resolve, reject) => {
        const onSignal = (signal: NodeJS.Signals): void => {
          process.off('SIGTERM', onSignal);
          process.off('SIGINT', onSignal);
          server.app.log.info({ signal }, 'shutting down: draining, then stopping');
          server.close().then(resolve, reject);
        };
        process.once('SIGTERM', onSignal);
        process.once('SIGINT', onSignal);
      });
      server.app.log.info({}, 'webhook stopped');
      process.exitCode = 0;
    });
}
