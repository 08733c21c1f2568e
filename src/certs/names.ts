import ipaddr from 'ipaddr.js';
import { InputError } from '../errors/index.js';

/** One subjectAltName entry, parsed and normalised. */
export type SubjectAltName = { type: 'dns'; value: string } | { type: 'ip'; value: string };

// RFC 1035 label as Kubernetes checks Service names (IsDNS1035Label): starts with a letter.
const DNS1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
// RFC 1123 label as Kubernetes checks namespace names (IsDNS1123Label).
const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
// Both are limited to 63 characters by DNS itself.
const MAX_LABEL = 63;
// A DNS name in a certificate: at most 253 characters (RFC 1035 wire limit minus dots).
const MAX_DNS_NAME = 253;

/** Validates a Service name (`--service`); throws InputError. */
export function parseServiceName(value: string): string {
  if (value.length > MAX_LABEL || !DNS1035_LABEL.test(value)) {
    throw new InputError(
      `invalid service name '${value}': must be a DNS-1035 label (lowercase letters, digits and '-', starting with a letter, at most ${MAX_LABEL} characters)`,
    );
  }
  return value;
}

/** Validates a namespace name (`--namespace`); throws InputError. */
export function parseNamespaceName(value: string): string {
  if (value.length > MAX_LABEL || !DNS1123_LABEL.test(value)) {
    throw new InputError(
      `invalid namespace '${value}': must be a DNS-1123 label (lowercase letters, digits and '-', at most ${MAX_LABEL} characters)`,
    );
  }
  return value;
}

/**
 * Parses one extra SAN: an IPv4 or IPv6 literal becomes an IP SAN, anything else must be a
 * lowercase DNS name (RFC 1123 subdomain, no wildcards). Throws InputError.
 */
export function parseSubjectAltName(value: string): SubjectAltName {
  if (ipaddr.isValid(value)) {
    // isValid accepts legacy IPv4 forms ("127.1", "0x7f.1"); only the dotted quad is unambiguous.
    // A zone id ("fe80::1%eth0") has no meaning in a certificate.
    if (ipaddr.IPv4.isValidFourPartDecimal(value) || (value.includes(':') && !value.includes('%'))) {
      return { type: 'ip', value: ipaddr.parse(value).toString() };
    }
    throw new InputError(
      `invalid subject alternative name '${value}': write IPv4 addresses as four decimal parts and IPv6 addresses without a zone`,
    );
  }
  const labels = value.split('.');
  if (value.length === 0 || value.length > MAX_DNS_NAME || labels.some((l) => l.length > MAX_LABEL || !DNS1123_LABEL.test(l))) {
    throw new InputError(
      `invalid subject alternative name '${value}': must be an IP address or a lowercase DNS name (labels of letters, digits and '-', no wildcards)`,
    );
  }
  // No top-level domain is numeric; "1.2.3.4.5" is a mistyped address, not a name.
  if (/^\d+$/.test(labels[labels.length - 1] ?? '')) {
    throw new InputError(`invalid subject alternative name '${value}': neither an IP address nor a DNS name (the last label is numeric)`);
  }
  return { type: 'dns', value };
}

/** The four names the API server may use to reach a Service: NAME, NAME.NS, NAME.NS.svc, NAME.NS.svc.cluster.local. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [service, `${service}.${namespace}`, `${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`];
}
