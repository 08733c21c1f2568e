/**
 * The in-cluster flags of `siding webhook` (and `siding check --live`), parsed once into
 * typed options. Every problem is collected and reported together as one InputError.
 */
import { parseNamespaceName, parseServiceName } from '../certs/names.js';
import { InputError, errorMessage } from '../errors/index.js';
import { displayValue, parseDuration, parseWholeNumber, STRICT, type Parsed } from '../grammar/index.js';
import { DEFAULT_POLICY, validatePolicy, type RotationPolicy } from './rotation.js';

/** The ConfigMap key the config is read from (configwatch.ts); here so that parsing flags loads no watcher. */
export const DEFAULT_CONFIG_KEY = 'config.yaml';

export const KUBE_FLAG_DEFAULTS = {
  namespace: 'siding-system',
  service: 'siding',
  webhookConfig: 'siding',
  certSecret: 'siding-webhook-certs',
  configKey: DEFAULT_CONFIG_KEY,
} as const;

/** Flags as commander hands them over (strings, booleans). */
export interface RawKubeFlags {
  manageCerts?: boolean;
  namespace?: string;
  service?: string;
  webhookConfig?: string;
  certSecret?: string;
  configMap?: string;
  kubeconfig?: string;
  caValidityDays?: string;
  certValidityDays?: string;
  caOverlap?: string;
  certCheckInterval?: string;
}

export interface KubeWebhookOptions {
  /** --kubeconfig; undefined: $KUBECONFIG, then in-cluster, then ~/.kube/config. */
  kubeconfigPath: string | undefined;
  namespace: string;
  service: string;
  webhookConfig: string;
  certSecret: string;
  /** undefined unless --manage-certs. */
  manageCerts: RotationPolicy | undefined;
  /** undefined unless --config-map. */
  configMap: { name: string; key: string } | undefined;
}

// Object names (Secrets, ConfigMaps, webhook configurations) are DNS-1123 subdomains.
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const MAX_SUBDOMAIN = 253;

export function parseObjectName(flag: string, value: string): string {
  if (value.length > MAX_SUBDOMAIN || !DNS1123_SUBDOMAIN.test(value)) {
    throw new InputError(
      `invalid value '${value}' for ${flag}: must be a DNS-1123 subdomain (lowercase letters, digits, '-' and '.', at most ${MAX_SUBDOMAIN} characters)`,
    );
  }
  return value;
}

const DAY_MS = 86_400_000;
// A year: no re-check or overlap is longer, and it keeps the number far from overflow.
const MAX_DURATION_MS = 365 * DAY_MS;
// Ten thousand days: far beyond any certificate siding issues (rotation.ts checks the rest).
const MAX_DAYS = 9999;

function must<T>(flag: string, value: string, parsed: Parsed<T>): T {
  if (!parsed.ok) throw new InputError(`invalid value '${displayValue(value)}' for ${flag}: ${parsed.reason}`);
  return parsed.value;
}

/** `90s`, `5m`, `1h30m`, `2d`, `250ms` → milliseconds (src/grammar, strict). Throws InputError. */
export function parseDurationFlag(flag: string, value: string): number {
  return must(flag, value, parseDuration(value, { minMs: 0, maxMs: MAX_DURATION_MS }, STRICT));
}

function parseDaysFlag(flag: string, value: string): number {
  return must(flag, value, parseWholeNumber(value, { min: 1, max: MAX_DAYS, unit: 'days' }, STRICT));
}

/**
 * Parses the in-cluster flags. `env` supplies POD_NAMESPACE (the downward API) as the
 * default namespace. Rotation flags without --manage-certs are an error, not ignored.
 */
export function parseKubeFlags(raw: RawKubeFlags, env: NodeJS.ProcessEnv = process.env): KubeWebhookOptions {
  const problems: string[] = [];
  const attempt = <T>(fn: () => T, fallback: T): T => {
    try {
      return fn();
    } catch (e) {
      problems.push(errorMessage(e));
      return fallback;
    }
  };
  const envNamespace = env.POD_NAMESPACE === undefined || env.POD_NAMESPACE === '' ? undefined : env.POD_NAMESPACE;
  const namespace = attempt(() => parseNamespaceName(raw.namespace ?? envNamespace ?? KUBE_FLAG_DEFAULTS.namespace), KUBE_FLAG_DEFAULTS.namespace);
  const service = attempt(() => parseServiceName(raw.service ?? KUBE_FLAG_DEFAULTS.service), KUBE_FLAG_DEFAULTS.service);
  const webhookConfig = attempt(() => parseObjectName('--webhook-config', raw.webhookConfig ?? KUBE_FLAG_DEFAULTS.webhookConfig), '');
  const certSecret = attempt(() => parseObjectName('--cert-secret', raw.certSecret ?? KUBE_FLAG_DEFAULTS.certSecret), '');
  const configMap =
    raw.configMap === undefined
      ? undefined
      : { name: attempt(() => parseObjectName('--config-map', raw.configMap ?? ''), ''), key: KUBE_FLAG_DEFAULTS.configKey };
  if (raw.kubeconfig === '') problems.push('--kubeconfig needs a path');

  const rotationFlags: Array<[keyof RawKubeFlags, string]> = [
    ['caValidityDays', '--ca-validity-days'],
    ['certValidityDays', '--cert-validity-days'],
    ['caOverlap', '--ca-overlap'],
    ['certCheckInterval', '--cert-check-interval'],
  ];
  let manageCerts: RotationPolicy | undefined;
  if (raw.manageCerts === true) {
    const policy: RotationPolicy = {
      ...DEFAULT_POLICY,
      ...(raw.caValidityDays === undefined ? {} : { caValidityDays: attempt(() => parseDaysFlag('--ca-validity-days', raw.caValidityDays ?? ''), DEFAULT_POLICY.caValidityDays) }),
      ...(raw.certValidityDays === undefined
        ? {}
        : { servingValidityDays: attempt(() => parseDaysFlag('--cert-validity-days', raw.certValidityDays ?? ''), DEFAULT_POLICY.servingValidityDays) }),
      ...(raw.caOverlap === undefined ? {} : { overlapMs: attempt(() => parseDurationFlag('--ca-overlap', raw.caOverlap ?? ''), DEFAULT_POLICY.overlapMs) }),
      ...(raw.certCheckInterval === undefined
        ? {}
        : { checkIntervalMs: attempt(() => parseDurationFlag('--cert-check-interval', raw.certCheckInterval ?? ''), DEFAULT_POLICY.checkIntervalMs) }),
    };
    if (problems.length === 0) manageCerts = attempt(() => validatePolicy(policy), undefined);
  } else {
    for (const [key, flag] of rotationFlags) if (raw[key] !== undefined) problems.push(`${flag} needs --manage-certs`);
  }

  if (problems.length > 0) throw new InputError(problems.join('; '));
  return {
    kubeconfigPath: raw.kubeconfig,
    namespace,
    service,
    webhookConfig,
    certSecret,
    manageCerts,
    configMap,
  };
}

/** Whether any flag asks for the Kubernetes API at all. */
export function wantsKube(o: KubeWebhookOptions): boolean {
  return o.manageCerts !== undefined || o.configMap !== undefined;
}
