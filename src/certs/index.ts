export {
  generateCa,
  generateServingCert,
  generateSelfSigned,
  generateWebhookCertificates,
  randomSerialHex,
  MAX_VALIDITY_DAYS,
  type CertKeyPair,
  type CaOptions,
  type ServingOptions,
  type SelfSignedOptions,
  type RsaKeyBits,
  type WebhookCertificates,
  type WebhookCertificatesOptions,
} from './generate.js';
export { certificateInfo, type CertificateInfo } from './info.js';
export {
  generateCertificateFiles,
  writeFilesAtomically,
  CA_CERT_FILE,
  TLS_CERT_FILE,
  TLS_KEY_FILE,
  type CertFile,
  type GenerateFilesOptions,
  type GeneratedFiles,
} from './files.js';
export { parseNamespaceName, parseServiceName, parseSubjectAltName, serviceDnsNames, type SubjectAltName } from './names.js';
