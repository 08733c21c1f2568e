/**
 * Where the serving certificate comes from. The server asks a TlsSource for its first
 * material and, if the source can watch, for every later one; it validates each before use
 * and keeps the old one when a new one is bad. Sources here: a fixed pair, a self-signed pair
 * generated in memory, and a pair of files. A Secret-backed source (self-managed certs) can
 * implement the same interface, or call `WebhookServer.updateTls` directly.
 */
import { readFile } from 'node:fs/promises';
import { unwatchFile, watchFile, type Stats } from 'node:fs';
import { CertError, errorMessage } from '../errors/index.js';
import { parseSubjectAltName } from '../certs/names.js';

/** PEM certificate (may be followed by intermediates) and its PEM private key. */
export interface TlsMaterial {
  cert: string;
  key: string;
}

export interface TlsSource {
  /** For logs: where the material comes from. */
  readonly description: string;
  /** Logged once as a warning at start-up when set (for example: "this certificate is self-signed"). */
  readonly notice?: string;
  /** The material to start with. Throws CertError when there is none. */
  load(): Promise<TlsMaterial>;
  /**
   * Optional: report later material. `onChange` may be called with unchanged or not yet
   * consistent material (a new cert before its key); the server validates and ignores or
   * logs. Returns a function that stops watching.
   */
  watch?(onChange: (material: TlsMaterial) => void, onError: (error: unknown) => void): () => void;
}

/** A fixed pair (tests, or material a caller already holds). */
export function staticTlsSource(material: TlsMaterial, description = 'static certificate'): TlsSource {
  return { description, load: () => Promise.resolve(material) };
}

/** SANs of the in-memory certificate: the names a local client uses for 127.0.0.1:9443. */
export const SELF_SIGNED_SANS = ['localhost', '127.0.0.1', '::1'] as const;
// Long enough for any local session, short enough that nobody deploys it for good.
const SELF_SIGNED_VALIDITY_DAYS = 30;

/** A self-signed certificate generated in memory at load (for `npm start` and local runs). */
export function selfSignedTlsSource(): TlsSource {
  return {
    description: `self-signed certificate generated in memory (SANs ${SELF_SIGNED_SANS.join(', ')}; valid ${SELF_SIGNED_VALIDITY_DAYS} days)`,
    notice:
      'no --tls-cert-file/--tls-key-file given: serving a self-signed certificate generated in memory; clients must skip verification or pin its fingerprint (use real certificates in a cluster)',
    // node-forge (several MB of memory) is loaded only here, not by a webhook serving files.
    load: async () =>
      (await import('../certs/generate.js')).generateSelfSigned({
        validityDays: SELF_SIGNED_VALIDITY_DAYS,
        subjectAltNames: SELF_SIGNED_SANS.map(parseSubjectAltName),
      }),
  };
}

export interface FileTlsSourceOptions {
  /** How often the files are checked; default 1000 ms. */
  pollIntervalMs?: number;
}

// A Secret volume update replaces both files within milliseconds; reading once after the
// burst avoids a reload with a new certificate and the old key.
const SETTLE_MS = 100;

/**
 * `--tls-cert-file` and `--tls-key-file`. Watching polls stat() (fs.watchFile) rather than
 * using inotify (fs.watch): Kubernetes updates Secret volumes by swapping a `..data` symlink,
 * which inotify watches on the old files never see, while stat() follows the link to the new
 * file. Two stat calls a second cost nothing.
 */
export function fileTlsSource(certFile: string, keyFile: string, options: FileTlsSourceOptions = {}): TlsSource {
  const read = async (): Promise<TlsMaterial> => {
    try {
      const [cert, key] = await Promise.all([readFile(certFile, 'utf8'), readFile(keyFile, 'utf8')]);
      return { cert, key };
    } catch (e) {
      throw new CertError(`cannot read the TLS certificate or key: ${errorMessage(e)}`, { cause: e });
    }
  };
  return {
    description: `files ${certFile} and ${keyFile} (watched)`,
    load: read,
    watch(onChange, onError) {
      let stopped = false;
      let timer: NodeJS.Timeout | undefined;
      const listener = (curr: Stats, prev: Stats): void => {
        if (curr.mtimeMs === prev.mtimeMs && curr.ino === prev.ino && curr.size === prev.size) return;
        clearTimeout(timer);
        timer = setTimeout(() => {
          read().then(
            (m) => {
              if (!stopped) onChange(m);
            },
            (e: unknown) => {
              if (!stopped) onError(e);
            },
          );
        }, SETTLE_MS);
      };
      const watchOptions = { interval: options.pollIntervalMs ?? 1000, persistent: false };
      watchFile(certFile, watchOptions, listener);
      watchFile(keyFile, watchOptions, listener);
      return () => {
        stopped = true;
        clearTimeout(timer);
        unwatchFile(certFile, listener);
        unwatchFile(keyFile, listener);
      };
    },
  };
}
