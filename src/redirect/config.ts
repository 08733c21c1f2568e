/**
 * Typed, validated configuration of `siding init`. Produced once by `parseInitFlags`
 * (options.ts); nothing downstream re-parses strings. Ports and CIDRs are src/grammar's types.
 */
import type { Cidr, Family, PortRange, PortSelection } from '../grammar/index.js';

export type { Cidr, Family, PortRange, PortSelection };

/**
 * -i: `*` (everything), or an explicit list; an empty list means nothing. Unlike the
 * grammar's CidrSelection, it remembers whether a loopback address was written.
 */
export type CidrSelection =
  | { readonly kind: 'all' }
  | {
      readonly kind: 'list';
      readonly cidrs: readonly Cidr[];
      /**
       * Whether an item was written with a loopback address (`127.x.x.x`, `::1`), whatever its
       * prefix: then loopback traffic to the listed ranges is captured too (the app-to-self
       * RETURNs are left out), as istio-iptables decides it.
       */
      readonly hasLoopback: boolean;
    };
/**
 * A user or group as iptables' owner match takes it: a decimal ID (`1337`), an ID range
 * (`1000-2000`), or a name that iptables looks up in the container's /etc/passwd or
 * /etc/group. Validated by flags.ts; rendered as written.
 */
export type OwnerId = string;

/**
 * Whose outbound traffic is captured, by group (istio's ISTIO_OUTBOUND_OWNER_GROUPS and
 * ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE): every group except some, or only some.
 */
export type OwnerGroupFilter =
  | { readonly kind: 'all-except'; readonly groups: readonly OwnerId[] }
  | { readonly kind: 'only'; readonly groups: readonly OwnerId[] };

/**
 * DNS capture (`--redirect-dns`): off; all UDP and TCP port 53 (`--capture-all-dns`); or only
 * DNS to the nameservers of /etc/resolv.conf (the default with `--redirect-dns`).
 */
export type DnsCapture =
  | { readonly kind: 'off' }
  | { readonly kind: 'all'; readonly port: number }
  | { readonly kind: 'servers'; readonly port: number; readonly servers: readonly DnsServer[] };

export interface DnsServer {
  readonly family: Family;
  readonly address: string;
}

/** What the rules must do. Everything `buildRules` needs, and nothing about how to apply it. */
export interface RedirectConfig {
  /** -p: outbound TCP is redirected here. */
  readonly proxyPort: number;
  /** -z: inbound TCP is redirected here. */
  readonly inboundPort: number;
  /** -e/--inbound-tunnel-port: the proxy's own tunnel port, never captured inbound. */
  readonly tunnelPort: number;
  /** -u: traffic owned by these users is never captured. */
  readonly proxyUids: readonly OwnerId[];
  /** -g: traffic owned by these groups is never captured (defaults to -u). */
  readonly proxyGids: readonly OwnerId[];
  /** -m: only REDIRECT is implemented; TPROXY is refused by the parser. */
  readonly mode: 'REDIRECT';
  /** -i */
  readonly outboundInclude: CidrSelection;
  /** -x */
  readonly outboundExclude: readonly Cidr[];
  /** -b */
  readonly inboundInclude: PortSelection;
  /** -d (only meaningful with -b '*') */
  readonly inboundExcludePorts: readonly PortRange[];
  /** -o: never captured, TCP and UDP; checked before everything else outbound. */
  readonly outboundExcludePorts: readonly PortRange[];
  /** -q: captured even where -i would not capture them; -x and -o still win. */
  readonly outboundIncludePorts: readonly PortRange[];
  /** -c: neither inbound nor outbound traffic on these interfaces is captured. */
  readonly excludeInterfaces: readonly string[];
  /** -k: inbound traffic from these interfaces is treated as outbound (per -i), or not captured. */
  readonly virtualInterfaces: readonly string[];
  /** ISTIO_OUTBOUND_OWNER_GROUPS / ISTIO_OUTBOUND_OWNER_GROUPS_EXCLUDE. */
  readonly ownerGroups: OwnerGroupFilter;
  /** ISTIO_OUTBOUND_IPV4_LOOPBACK_CIDR: what counts as IPv4 loopback (default 127.0.0.1/32). */
  readonly ipv4Loopback: Cidr;
  /** --redirect-dns, --capture-all-dns, --dns-port and the nameservers of /etc/resolv.conf. */
  readonly dns: DnsCapture;
  /** --drop-invalid: drop packets conntrack marks INVALID instead of letting them reset connections. */
  readonly dropInvalid: boolean;
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
  /** `auto` decides as istio-iptables does, from the namespace's addresses and `dualStack`. */
  readonly ipv6: Ipv6Mode;
  /** --dual-stack: with `--ipv6 auto`, program IPv6 whenever the namespace has an IPv6 address. */
  readonly dualStack: boolean;
  /** Path of a network namespace file to program instead of the current one. */
  readonly netns: string | undefined;
  readonly lock: LockSettings;
  /**
   * --cni-mode: iptables gets an xtables lock file of its own (a fresh one per run), like
   * istio-iptables' pod-scoped lock, instead of the node-wide /run/xtables.lock.
   */
  readonly privateLock: boolean;
  readonly log: LogSettings;
  /** Things the parser decided that the run should say (logged before anything runs). */
  readonly notes: readonly string[];
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'none';

export interface LogSettings {
  readonly format: LogFormat;
  /** The lowest level written (--log_output_level); siding writes info and warn lines. */
  readonly level: LogLevel;
  /** --log_target: standard error (siding's default) or standard output (istio-iptables'). */
  readonly target: 'stderr' | 'stdout';
}

/** Defaults, as istio-iptables has them (its flags default to empty lists). */
export const DEFAULTS = {
  proxyPort: 15001,
  inboundPort: 15006,
  tunnelPort: 15008,
  proxyUid: '1337',
  mode: 'REDIRECT',
  dnsPort: 15053,
  /** What ENVOY_USER names when unset; its UID is the default -u when that user exists. */
  envoyUser: 'istio-proxy',
  ipv4Loopback: '127.0.0.1/32',
  tproxyMark: '1337',
  tproxyRouteTable: '133',
  probePort: 15002,
  probeTimeout: '5s',
  // The xtables lock is held for milliseconds by a healthy writer; 10 s covers a busy
  // node (kube-proxy resyncs) without hiding a stuck holder for long.
  lockWaitSeconds: 10,
  lockRetries: 3,
  lockRetryDelayMs: 1000,
} as const;
