/**
 * The flags of `siding cni-agent`, parsed once into typed options; every problem is reported
 * together as one InputError (exit 2) before anything on the node is touched.
 */
import { isAbsolute } from 'node:path';
import { parseListenAddress, type ListenAddress } from '../admission/listen.js';
import { LOG_LEVELS, type LogLevel } from '../admission/app.js';
import { InputError } from '../errors/index.js';
import { displayValue, parseWholeNumber, STRICT } from '../grammar/index.js';
import type { IptablesMode, Ipv6Mode } from '../redirect/config.js';
import { isConfigFile } from './chain.js';

export const AGENT_DEFAULTS = {
  cniBinDir: '/host/opt/cni/bin',
  cniConfDir: '/host/etc/cni/net.d',
  plugin: '/usr/local/lib/siding/cni/siding',
  socket: '/var/run/siding/cni.sock',
  stateDir: '/var/lib/siding/cni',
  health: '127.0.0.1:15029',
  // How long the plugin waits for an answer: programming takes milliseconds; 30 s covers an
  // xtables lock held by a busy node (the rules' own lock wait is 10 s, retried).
  timeoutSeconds: 30,
  resyncSeconds: 30,
} as const;

export interface RawAgentFlags {
  nodeName?: string;
  cniBinDir?: string;
  cniConfDir?: string;
  cniConfFile?: string;
  plugin?: string;
  socket?: string;
  hostSocket?: string;
  stateDir?: string;
  health?: string;
  repair?: boolean;
  iptablesMode?: string;
  ipv6?: string;
  pluginTimeout?: string;
  resync?: string;
  kubeconfig?: string;
  logLevel?: string;
}

export interface AgentOptions {
  nodeName: string;
  cniBinDir: string;
  cniConfDir: string;
  cniConfFile: string | undefined;
  plugin: string;
  socket: string;
  /** The socket's path as the node (and so the plugin) sees it. */
  hostSocket: string;
  stateDir: string;
  health: ListenAddress;
  repair: boolean;
  iptablesMode: IptablesMode;
  ipv6: Ipv6Mode;
  pluginTimeoutSeconds: number;
  resyncSeconds: number;
  kubeconfig: string | undefined;
  logLevel: LogLevel;
}

// A node name is a DNS subdomain.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
// sun_path holds 108 bytes with its NUL.
const MAX_SOCKET_PATH = 107;

export function parseAgentFlags(raw: RawAgentFlags, env: NodeJS.ProcessEnv = process.env): AgentOptions {
  const problems: string[] = [];
  const bad = (flag: string, value: string, reason: string): void => void problems.push(`invalid value '${value}' for ${flag}: ${reason}`);
  const path = (flag: string, value: string): string => {
    if (!isAbsolute(value) || value.includes('\0') || value.length > 4096) bad(flag, value, 'must be an absolute path');
    return value;
  };
  const oneOf = <T extends string>(flag: string, value: string, allowed: readonly T[]): T => {
    const found = allowed.find((a) => a === value);
    if (found === undefined) bad(flag, value, `must be one of ${allowed.join(', ')}`);
    return found ?? allowed[0]!;
  };
  const seconds = (flag: string, value: string, min: number, max: number): number => {
    const r = parseWholeNumber(value, { min, max, unit: 'seconds' }, STRICT);
    if (!r.ok) bad(flag, displayValue(value), r.reason);
    return r.ok ? r.value : min;
  };

  const nodeName = raw.nodeName ?? env.NODE_NAME ?? '';
  if (nodeName === '') problems.push('--node-name is required (or $NODE_NAME, from the downward API spec.nodeName)');
  else if (nodeName.length > 253 || !DNS1123_SUBDOMAIN.test(nodeName)) bad('--node-name', nodeName, 'must be a node name (DNS-1123 subdomain)');
  const socket = path('--socket', raw.socket ?? AGENT_DEFAULTS.socket);
  const hostSocket = path('--host-socket', raw.hostSocket ?? socket);
  for (const [flag, value] of [['--socket', socket], ['--host-socket', hostSocket]] as const) {
    if (Buffer.byteLength(value) > MAX_SOCKET_PATH) bad(flag, value, `a unix socket path is at most ${MAX_SOCKET_PATH} bytes`);
  }
  const confFile = raw.cniConfFile;
  if (confFile !== undefined && (confFile.includes('/') || !isConfigFile(confFile))) {
    bad('--cni-conf-file', confFile, 'must be a file name (no directory) ending in .conflist, .conf or .json');
  }
  let health: ListenAddress = { host: '127.0.0.1', port: 15029 };
  try {
    health = parseListenAddress(raw.health ?? AGENT_DEFAULTS.health);
  } catch (e) {
    bad('--health', raw.health ?? '', e instanceof Error ? e.message.replace(/^invalid value '[^']*' for --listen: /, '') : String(e));
  }
  const options: AgentOptions = {
    nodeName,
    cniBinDir: path('--cni-bin-dir', raw.cniBinDir ?? AGENT_DEFAULTS.cniBinDir),
    cniConfDir: path('--cni-conf-dir', raw.cniConfDir ?? AGENT_DEFAULTS.cniConfDir),
    cniConfFile: confFile,
    plugin: path('--plugin', raw.plugin ?? AGENT_DEFAULTS.plugin),
    socket,
    hostSocket,
    stateDir: path('--state-dir', raw.stateDir ?? AGENT_DEFAULTS.stateDir),
    health,
    repair: raw.repair !== false,
    iptablesMode: oneOf('--iptables-mode', raw.iptablesMode ?? 'auto', ['auto', 'legacy', 'nft'] as const),
    ipv6: oneOf('--ipv6', raw.ipv6 ?? 'auto', ['auto', 'on', 'off'] as const),
    // The plugin's own ceiling (cni/plugin/conf.go) is 120 s.
    pluginTimeoutSeconds: seconds('--plugin-timeout', raw.pluginTimeout ?? String(AGENT_DEFAULTS.timeoutSeconds), 1, 120),
    resyncSeconds: seconds('--resync', raw.resync ?? String(AGENT_DEFAULTS.resyncSeconds), 1, 3600),
    kubeconfig: raw.kubeconfig === undefined ? undefined : path('--kubeconfig', raw.kubeconfig),
    logLevel: oneOf('--log-level', raw.logLevel ?? 'info', LOG_LEVELS),
  };
  if (problems.length > 0) throw new InputError(problems.join('; '));
  return options;
}
