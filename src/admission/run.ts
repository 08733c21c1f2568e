/**
 * `siding webhook` after flag parsing: turns typed options into dependencies (config,
 * certificate source, metrics registry) and starts the server. Signals stay in src/cli.
 */
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { InjectionConfig } from '../config/index.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import type { KubeWebhookOptions } from '../kube/options.js';
import type { KubeParts } from '../kube/webhook.js';
import { createLogger, type LogLevel } from './app.js';
import type { ConfigStatus } from './config-status.js';
import type { ListenAddress } from './listen.js';
import { batchedStdout } from './logdest.js';
import { missingNodeFlags } from './node-flags.js';
import { startServer, type ServerTimeouts, type WebhookServer } from './server.js';
import { fileTlsSource, selfSignedTlsSource, type TlsSource } from './tls.js';

export interface WebhookOptions {
  listen: ListenAddress;
  /** Both files, or neither (then a self-signed certificate is generated in memory). */
  tlsFiles?: { cert: string; key: string };
  /** Injection config file; default the built-in config. */
  configFile?: string;
  logLevel: LogLevel;
  /** Default stdout, written in batches (logdest.ts). */
  logStream?: { write(line: string): void };
  timeouts?: Partial<ServerTimeouts>;
  /** In-cluster parts (src/kube): self-managed certificates (replace tlsFiles) and/or a watched ConfigMap. */
  kube?: KubeWebhookOptions;
}

/** Loads the config (throws ConfigError), picks the TLS source, and starts listening. */
export async function startWebhook(options: WebhookOptions): Promise<WebhookServer> {
  // The file parser (and yaml, megabytes of memory) is loaded only when there is a file.
  const config: InjectionConfig =
    options.configFile === undefined ? DEFAULT_CONFIG : await (await import('../config/parse.js')).loadConfigFile(options.configFile);
  const status: ConfigStatus = {
    ok: true,
    detail: options.configFile === undefined ? 'built-in default config' : `config file ${options.configFile}`,
  };
  // One logger for the whole process, made before anything logs: the Kubernetes parts
  // (which start first: the certificate Secret must exist before the server can listen)
  // and fastify write through it. stdout in batches unless the caller gives a stream
  // (logdest.ts says why).
  const logger = createLogger(options.logLevel, options.logStream ?? batchedStdout());
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // The Kubernetes client is loaded only in cluster mode: it costs memory and start-up time
  // (BENCHMARKS.md) that a webhook serving files does not need.
  let kube: KubeParts | undefined;
  if (options.kube !== undefined) {
    const { startKubeParts } = await import('../kube/webhook.js');
    kube = await startKubeParts(options.kube, { registry, log: logger, initialConfig: config, initialSource: status.detail });
  }
  const tls: TlsSource =
    kube?.tls ??
    (options.tlsFiles === undefined ? selfSignedTlsSource() : fileTlsSource(options.tlsFiles.cert, options.tlsFiles.key));
  const live = kube?.config;

  let server: WebhookServer;
  try {
    server = await startServer(
      {
        getConfig: live === undefined ? () => config : () => live.current(),
        configStatus: live === undefined ? () => status : () => live.status(),
        registry,
        logger,
        ...(kube === undefined ? {} : { namespaceLabels: kube.namespaceLabels }),
      },
      { listen: options.listen, tls, ...(options.timeouts === undefined ? {} : { timeouts: options.timeouts }) },
    );
  } catch (e) {
    kube?.stop();
    throw e;
  }
  // Logged after "webhook listening", for whoever starts node by hand (node-flags.ts says why).
  const missing = missingNodeFlags(process.execArgv);
  if (missing.length > 0) {
    server.app.log.info(
      { nodeFlags: missing },
      "node started without siding's recommended heap flags; memory under load may exceed the documented figures",
    );
  }
  if (kube === undefined) return server;
  const started = server;
  return {
    ...started,
    close: () => {
      kube.stop();
      return started.close();
    },
  };
}
