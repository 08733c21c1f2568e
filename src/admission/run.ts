/**
 * `siding webhook` after flag parsing: turns typed options into dependencies (config,
 * certificate source, metrics registry) and starts the server. Signals stay in src/cli.
 */
import type { FastifyBaseLogger } from 'fastify';
import { collectDefaultMetrics, Registry } from 'prom-client';
import type { InjectionConfig } from '../config/index.js';
import { DEFAULT_CONFIG } from '../config/defaults.js';
import type { KubeWebhookOptions } from '../kube/options.js';
import type { KubeParts } from '../kube/webhook.js';
import type { LogLevel } from './app.js';
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
  // stdout in batches unless the caller gives a stream (logdest.ts says why).
  const logStream = options.logStream ?? batchedStdout();
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  // The certificate Secret must exist before the server can listen, so the kube parts
  // start first and log through a stand-in until the app's logger exists.
  // The Kubernetes client is loaded only in cluster mode: it costs memory and start-up time
  // (BENCHMARKS.md) that a webhook serving files does not need.
  let kube: KubeParts | undefined;
  let attachLog: ((log: FastifyBaseLogger) => void) | undefined;
  if (options.kube !== undefined) {
    const { DeferredLogger, startKubeParts } = await import('../kube/webhook.js');
    const kubeLog = new DeferredLogger(logStream, options.logLevel);
    attachLog = (log) => kubeLog.attach(log);
    kube = await startKubeParts(options.kube, { registry, log: kubeLog, initialConfig: config, initialSource: status.detail });
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
        log: { level: options.logLevel, stream: logStream },
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
  attachLog?.(server.app.log);
  const started = server;
  return {
    ...started,
    close: () => {
      kube.stop();
      return started.close();
    },
  };
}
