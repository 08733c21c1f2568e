import { X509Certificate } from 'node:crypto';
import { CertError, errorMessage } from '../errors/index.js';

/** What callers need to know about a PEM certificate without a parser of their own. */
export interface CertificateInfo {
  subject: string;
  issuer: string;
  /** Upper-case hex, as node:crypto prints it. */
  serialNumber: string;
  notBefore: Date;
  notAfter: Date;
  /** e.g. ["DNS:siding.siding-system.svc", "IP Address:127.0.0.1"]. */
  subjectAltNames: string[];
  isCa: boolean;
  /** SHA-256 fingerprint, colon-separated hex. */
  fingerprint256: string;
}

/** Reads the first certificate of a PEM string (node:crypto's OpenSSL parser). Throws CertError. */
export function certificateInfo(pem: string): CertificateInfo {
  let x: X509Certificate;
  try {
    x = new X509Certificate(pem);
  } catch (e) {
    throw new CertError(`cannot parse certificate: ${errorMessage(e)}`, { cause: e });
  }
  return {
    subject: x.subject,
    issuer: x.issuer,
    serialNumber: x.serialNumber,
    notBefore: new Date(x.validFrom),
    notAfter: new Date(x.validTo),
    subjectAltNames: x.subjectAltName === undefined ? [] : x.subjectAltName.split(', '),
    isCa: x.ca,
    fingerprint256: x.fingerprint256,
  };
}
