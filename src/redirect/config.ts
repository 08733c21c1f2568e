/**
 * Typed, validated configuration of `siding init`. Produced once by `parseInitFlags`
 * (flags.ts); nothing downstream re-parses strings. Ports and CIDRs are src/grammar's types.
 */
import type { Cidr, CidrSelection, Family, PortRange, PortSelection } from '../grammar/index.js';

export type { Cidr, CidrSelection, Family, PortRange, PortSelection };

/** What the rules must do. Everything `buildRules` needs, and nothing about how to apply it. */
export interface RedirectConfig {
  /** -p: outbound TCP is redirected here. */
  readonly proxyPort: number;
  /** -z: inbound TCP is redirected here. */
  readonly inboundPort: number;
  /** --inbound-tunnel-port: the proxy's own tunnel port, never captured inbound. */
  readonly tunnelPort: number;
  /** -u: traffic owned by these UIDs is never captured. */
  readonly proxyUids: readonly number[];
  /** -g: traffic owned by these GIDs is never captured (defaults to -u). */
  readonly proxyGids: readonly number[];
  /** -m: only REDIRECT is implemented; TPROXY is rejected by the parser. */
  readonly mode: 'REDIRECT';
  /** -i */
  readonly outboundInclude: CidrSelection;
  /** -x */
  readonly outboundExclude: readonly Cidr[];
  /** -b */
  readonly inboundInclude: PortSelection;
  /** -d (only meaningful with -b '*') */
  readonly inboundExcludePorts: readonly PortRange[];
  /** -o */
  readonly outboundExcludePorts: readonly PortRange[];
  /** -q: always captured, even when -i or -x would let them through. */
  readonly outboundIncludePorts: readonly PortRange[];
  /** -c: neither inbound nor outbound traffic on these interfaces is captured. */
  readonly excludeInterfaces: readonly string[];
  /** -k: inbound traffic from these interfaces is treated as outbound. */
  readonly virtualInterfaces: readonly string[];
  /** --redirect-dns / --dns-port */
  readonly dns: { readonly enabled: false } | { readonly enabled: true; readonly port: number };
}

export type IptablesMode = 'auto' | 'legacy' | 'nft';
export type Ipv6Mode = 'auto' | 'on' | 'off';
export type LogFormat = 'text' | 'json';

export interface LockSettings {
  /** Passed to iptables-restore as `-w`: how long it waits for the xtables lock. */
  readonly waitSeconds: number;
  /** Further attempts when the lock is still held after waiting. */
  readonly retries: number;
  /** Pause between attempts. */
  readonly retryDelayMs: number;
}

/** The destination of --run-validation's test connection. */
export interface ProbeTarget {
  readonly family: Family;
  readonly address: string;
  readonly port: number;
  /** Where the redirected connection lands; the outbound proxy port unless set. */
  readonly listenPort?: number;
}

export interface ValidationSettings {
  /** Destination port of the test connection (Istio's --iptables-probe-port). */
  readonly probePort: number;
  /** How long the test connection may take to be redirected. */
  readonly timeoutMs: number;
  /**
   * With --run-validation, where the test connection goes: an address and port the rules
   * capture (the parser refuses flags under which there is none). Undefined otherwise.
   */
  readonly target: ProbeTarget | undefined;
}

/** Everything `siding init` was asked to do. */
export interface InitOptions {
  readonly redirect: RedirectConfig;
  readonly action: 'apply' | 'cleanup';
  readonly dryRun: boolean;
  /** Istio's --skip-rule-apply: with --run-validation, only validate (CNI mode). */
  readonly skipRuleApply: boolean;
  readonly runValidation: boolean;
  readonly validation: ValidationSettings;
  readonly iptablesMode: IptablesMode;
  readonly ipv6: Ipv6Mode;
  /** Path of a network namespace file to program instead of the current one. */
  readonly netns: string | undefined;
  readonly lock: LockSettings;
  readonly logFormat: LogFormat;
}

/** Defaults, as istio-iptables has them (its flags default to empty lists). */
export const DEFAULTS = {
  proxyPort: 15001,
  inboundPort: 15006,
  tunnelPort: 15008,
  proxyUid: '1337',
  mode: 'REDIRECT',
  dnsPort: 15053,
  probePort: 15002,
  probeTimeout: '5s',
  // The xtables lock is held for milliseconds by a healthy writer; 10 s covers a busy
  // node (kube-proxy resyncs) without hiding a stuck holder for long.
  lockWaitSeconds: 10,
  lockRetries: 3,
  lockRetryDelayMs: 1000,
} as const;
