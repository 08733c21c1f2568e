import { lstat, mkdir, open, rename, rm } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { CertError, errorMessage } from '../errors/index.js';
import { generateWebhookCertificates, type WebhookCertificatesOptions } from './generate.js';
import { certificateInfo } from './info.js';

// Names follow the kubernetes.io/tls Secret keys (tls.crt, tls.key) and the usual ca.crt, so
// `kubectl create secret generic --from-file=DIR` gives a Secret the webhook can mount as is.
export const CA_CERT_FILE = 'ca.crt';
export const TLS_CERT_FILE = 'tls.crt';
export const TLS_KEY_FILE = 'tls.key';

// Private keys: owner read/write only. Certificates are public. The directory is the owner's.
const KEY_MODE = 0o600;
const CERT_MODE = 0o644;
const DIR_MODE = 0o700;

export interface CertFile {
  path: string;
  contents: string;
  mode: number;
}

/**
 * Writes `files` into `dir`. A missing directory is created with mode 0700 (an existing one
 * keeps its mode: it may be the user's own). Each file is written to a temporary name with
 * its final mode set explicitly (not left to the umask), then renamed into place, so a reader
 * never sees a half-written key. Without `overwrite`, an existing target is an error and
 * nothing is written.
 */
export async function writeFilesAtomically(dir: string, files: readonly CertFile[], overwrite: boolean): Promise<void> {
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (e) {
    throw new CertError(`cannot create directory ${dir}: ${errorMessage(e)}`, { cause: e });
  }
  if (!overwrite) {
    for (const f of files) {
      const target = path.join(dir, f.path);
      if (await exists(target)) throw new CertError(`${target} already exists (pass --force to overwrite)`);
    }
  }
  for (const f of files) {
    const target = path.join(dir, f.path);
    const tmp = path.join(dir, `.${f.path}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      const handle = await open(tmp, 'wx', KEY_MODE);
      try {
        await handle.chmod(f.mode);
        await handle.writeFile(f.contents);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, target);
    } catch (e) {
      await rm(tmp, { force: true });
      throw new CertError(`cannot write ${target}: ${errorMessage(e)}`, { cause: e });
    }
  }
}

async function exists(p: string): Promise<boolean> {
  try {
    await lstat(p);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw new CertError(`cannot check ${p}: ${errorMessage(e)}`, { cause: e });
  }
}

export interface GenerateFilesOptions extends WebhookCertificatesOptions {
  outDir: string;
  /** Replace existing files instead of failing. */
  force: boolean;
}

export interface GeneratedFiles {
  caCert: string;
  tlsCert: string;
  tlsKey: string;
  subjectAltNames: string[];
  notAfter: Date;
  caNotAfter: Date;
}

/**
 * `siding certs generate`: a CA and a serving certificate for the webhook Service, written as
 * ca.crt, tls.crt and tls.key. The CA key is deliberately not written: the CA signs exactly
 * this one certificate and is then forgotten, so the output directory (often copied into a
 * Secret) can never mint another certificate the API server would trust. Renewal is running
 * the command again and updating the caBundle (or `--manage-certs`, or cert-manager).
 */
export async function generateCertificateFiles(options: GenerateFilesOptions): Promise<GeneratedFiles> {
  const { ca, serving } = await generateWebhookCertificates(options);
  await writeFilesAtomically(
    options.outDir,
    [
      { path: CA_CERT_FILE, contents: ca.cert, mode: CERT_MODE },
      { path: TLS_CERT_FILE, contents: serving.cert, mode: CERT_MODE },
      { path: TLS_KEY_FILE, contents: serving.key, mode: KEY_MODE },
    ],
    options.force,
  );
  const info = certificateInfo(serving.cert);
  return {
    caCert: path.join(options.outDir, CA_CERT_FILE),
    tlsCert: path.join(options.outDir, TLS_CERT_FILE),
    tlsKey: path.join(options.outDir, TLS_KEY_FILE),
    subjectAltNames: info.subjectAltNames,
    notAfter: info.notAfter,
    caNotAfter: certificateInfo(ca.cert).notAfter,
  };
}
