import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { MAX_DRAIN_SECONDS } from '../config/defaults.js';
import { parseProxyFlags, type RawProxyFlags } from '../proxy/flags.js';
import { DEFAULTS, LOG_LEVELS, METRICS_PATH, type ProxyOptions } from '../proxy/options.js';

const HELP_AFTER = `
Outbound TCP redirected to --outbound-port goes to its original destination (SO_ORIGINAL_DST);
inbound TCP redirected to --inbound-port goes to the app from 127.0.0.6 (::6 for IPv6).
Connections whose original destination is the proxy itself are refused (loop guard).
GET <readiness-path> on --health-port: 200 when every listener is bound, 503 while draining.
GET ${METRICS_PATH} on --metrics-port: Prometheus metrics.
SIGTERM: not ready, inbound closed, open connections may go on for --drain-seconds (outbound
still accepts), then the rest are reset and it exits 0.
It must run as --uid or --gid, the IDs siding init lets through.
Exit codes: 0 stopped after a signal, 1 cannot start (wrong user, port taken, no nameserver), 2 bad flags.
See docs/proxy.md.`;

/** Starts the proxy and runs it until it has stopped: drains on SIGTERM/SIGINT, then exit code 0. */
export async function runProxy(opts: ProxyOptions): Promise<void> {
  // SIGTERM (kubelet) or SIGINT (Ctrl-C) starts the drain; a second one ends it at once. A
  // signal that comes while the proxy starts is held until it has started.
  const signals: { held: number; terminate?: () => void } = { held: 0 };
  const onSignal = (): void => {
    if (signals.terminate === undefined) signals.held += 1;
    else signals.terminate();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  const [{ createProxyLogger }, { startProxy }] = await Promise.all([import('../proxy/log.js'), import('../proxy/run.js')]);
  const log = createProxyLogger(opts.logLevel);
  const proxy = await startProxy(opts, {
    log,
    readFile: (path) => readFileSync(path, 'utf8'),
    ids: { uid: process.getuid?.() ?? -1, gid: process.getgid?.() ?? -1 },
  }).catch((e: unknown) => {
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    throw e;
  });
  signals.terminate = () => {
    log.info({}, 'signal received');
    proxy.terminate();
  };
  for (; signals.held > 0; signals.held--) signals.terminate();
  await proxy.stopped;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  process.exitCode = 0;
}

/**
 * `siding proxy`: parse flags (exit 2 on a bad value), then `run` (runProxy; tests pass
 * their own to see the parsed options).
 */
export function registerProxy(program: Command, run: (opts: ProxyOptions) => Promise<void> = runProxy): void {
  program
    .command('proxy')
    .description("The pod's passthrough proxy: relays redirected TCP to its original destination, serves readiness and metrics")
    .option('--outbound-port <port>', `where siding init redirects outbound TCP (-p) (default ${DEFAULTS.outboundPort})`)
    .option('--inbound-port <port>', `where siding init redirects inbound TCP (-z) (default ${DEFAULTS.inboundPort})`)
    .option('--health-port <port>', `readiness endpoint port (default ${DEFAULTS.healthPort})`)
    .option('--readiness-path <path>', `readiness endpoint path (default ${DEFAULTS.readinessPath})`)
    .option('--metrics-port <port>', `Prometheus endpoint port, path ${METRICS_PATH} (default ${DEFAULTS.metricsPort})`)
    .option('--uid <uid>', `the UID siding init lets through (-u); the proxy must run as it or as --gid (default ${DEFAULTS.uid})`)
    .option('--gid <gid>', 'the GID siding init lets through (-g) (default: --uid)')
    .option('--redirect-dns', 'the pod\'s DNS is captured (siding init --redirect-dns): serve DNS on 127.0.0.1 and ::1, UDP and TCP, and forward it')
    .option('--dns-port <port>', `with --redirect-dns: the DNS port (siding init --dns-port) (default ${DEFAULTS.dnsPort})`)
    .option('--resolv-conf <file>', `with --redirect-dns: whose nameserver lines DNS is forwarded to (default ${DEFAULTS.resolvConf})`)
    .option('--drain-seconds <seconds>', `after SIGTERM, how long open connections may go on, 0-${MAX_DRAIN_SECONDS} (default ${DEFAULTS.drainSeconds})`)
    .option('--exit-when-idle', 'during the drain, exit as soon as no connection is open (native sidecars: the app has already exited)')
    .option('--max-connections <n>', `open connections at once, both directions; more are refused (default ${DEFAULTS.maxConnections})`)
    .option('--connect-timeout <duration>', `how long connecting to the original destination may take, e.g. 10s or 500ms (default ${DEFAULTS.connectTimeout})`)
    .addOption(new Option('--log-level <level>', `JSON log level on stdout; debug logs every connection (default ${DEFAULTS.logLevel})`).choices(LOG_LEVELS))
    .addHelpText('after', HELP_AFTER)
    .action(async (raw: RawProxyFlags) => {
      await run(parseProxyFlags(raw));
    });
}
