/**
 * The rotation's `Issuer` over src/certs (node-forge signing, node:crypto keys).
 * Serving certificates are capped at their CA's remaining life, in whole days, because
 * src/certs refuses a certificate that would outlive its issuer.
 */
import { generateCa, generateServingCert, type CertKeyPair } from '../certs/generate.js';
import { certificateInfo } from '../certs/info.js';
import { serviceDnsNames } from '../certs/names.js';
import { CertError } from '../errors/index.js';
import { DAY_MS, type Issuer } from './rotation.js';

export interface IssuerOptions {
  service: string;
  namespace: string;
  caValidityDays: number;
  servingValidityDays: number;
}

export function certsIssuer(opts: IssuerOptions): Issuer {
  const names = serviceDnsNames(opts.service, opts.namespace);
  return {
    newCa: (now) =>
      generateCa({ validityDays: opts.caValidityDays, now: new Date(now), commonName: `siding-ca.${opts.namespace}` }),
    async newServing(ca: CertKeyPair, now: number): Promise<CertKeyPair> {
      const caLeft = Math.floor((certificateInfo(ca.cert).notAfter.getTime() - now) / DAY_MS);
      const days = Math.min(opts.servingValidityDays, caLeft);
      if (days < 1) throw new CertError('the CA expires within a day: cannot issue a serving certificate from it');
      return generateServingCert({
        ca,
        validityDays: days,
        now: new Date(now),
        commonName: `${opts.service}.${opts.namespace}.svc`,
        subjectAltNames: names.map((value) => ({ type: 'dns' as const, value })),
      });
    },
  };
}
