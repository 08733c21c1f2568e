/**
 * The in-cluster flags of `siding webhook` (and `siding check --live`), parsed once into
 * typed options. Every problem is collected and reported together as one InputError.
 */
import { parseNamespaceName, parseServiceName } from '../certs/names.js';
import { InputError, errorMessage } from '../errors/index.js';
import { DEFAULT_POLICY, validatePolicy, type RotationPolicy } from './rotation.js';

/** The ConfigMap key the config is read from (configwatch.ts); here so that parsing flags loads no watcher. */
export const DEFAULT_CONFIG_KEY = 'config.yaml';

export const DEFAULTS = {
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

const UNIT_MS = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
// A year: no re-check or overlap is longer, and it keeps the number far from overflow.
const MAX_DURATION_MS = 365 * UNIT_MS.d;

/** `90s`, `5m`, `1h30m`, `2d`, `250ms` → milliseconds. Throws InputError. */
export function parseDuration(flag: string, value: string): number {
  const parts = [...value.matchAll(/(\d+)(ms|s|m|h|d)/g)];
  const joined = parts.map((p) => p[0]).join('');
  if (parts.length === 0 || joined !== value) {
    throw new InputError(`invalid value '${value}' for ${flag}: expected a duration such as 90s, 5m, 1h30m or 2d`);
  }
  const ms = parts.reduce((sum, p) => sum + Number(p[1]) * UNIT_MS[p[2] as keyof typeof UNIT_MS], 0);
  if (ms > MAX_DURATION_MS) throw new InputError(`invalid value '${value}' for ${flag}: at most 365d`);
  return ms;
}

function parseDays(flag: string, value: string): number {
  if (!/^\d{1,4}$/.test(value) || Number(value) < 1) {
    throw new InputError(`invalid value '${value}' for ${flag}: expected a whole number of days from 1`);
  }
  return Number(value);
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
  const namespace = attempt(() => parseNamespaceName(raw.namespace ?? envNamespace ?? DEFAULTS.namespace), DEFAULTS.namespace);
  const service = attempt(() => parseServiceName(raw.service ?? DEFAULTS.service), DEFAULTS.service);
  const webhookConfig = attempt(() => parseObjectName('--webhook-config', raw.webhookConfig ?? DEFAULTS.webhookConfig), '');
  const certSecret = attempt(() => parseObjectName('--cert-secret', raw.certSecret ?? DEFAULTS.certSecret), '');
  const configMap =
    raw.configMap === undefined
      ? undefined
      : { name: attempt(() => parseObjectName('--config-map', raw.configMap ?? ''), ''), key: DEFAULTS.configKey };
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
      ...(raw.caValidityDays === undefined ? {} : { caValidityDays: attempt(() => parseDays('--ca-validity-days', raw.caValidityDays ?? ''), DEFAULT_POLICY.caValidityDays) }),
      ...(raw.certValidityDays === undefined
        ? {}
        : { servingValidityDays: attempt(() => parseDays('--cert-validity-days', raw.certValidityDays ?? ''), DEFAULT_POLICY.servingValidityDays) }),
      ...(raw.caOverlap === undefined ? {} : { overlapMs: attempt(() => parseDuration('--ca-overlap', raw.caOverlap ?? ''), DEFAULT_POLICY.overlapMs) }),
      ...(raw.certCheckInterval === undefined
        ? {}
        : { checkIntervalMs: attempt(() => parseDuration('--cert-check-interval', raw.certCheckInterval ?? ''), DEFAULT_POLICY.checkIntervalMs) }),
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
