/**
 * Shared pieces of the webhook hardening tests (not a test file itself): the webhook CLI as
 * a child process with its log lines, reviews with unique uids, and HTTPS calls that record
 * what happened to each request. Traffic only goes to 127.0.0.1.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import https from 'node:https';
import type { TLSSocket } from 'node:tls';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { prerequisite, type Prerequisite } from '../helpers/prereq.js';

export const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const FIXTURE = new URL('../fixtures/admission/review-v1-pod.json', import.meta.url);

export function builtCliPrerequisite(): Prerequisite {
  return prerequisite(() => (existsSync(CLI) ? undefined : `${CLI} does not exist: run npm run build first`));
}

/** The fixture review (a pod with two containers and an init container) with a unique uid. */
export function reviewBody(uid: string): string {
  const review = JSON.parse(readFileSync(FIXTURE, 'utf8')) as { request: { uid: string } };
  review.request.uid = uid;
  return JSON.stringify(review);
}

export interface Outcome {
  uid: string;
  /** HTTP status, or undefined when the request failed below HTTP. */
  status?: number;
  /** The error code (ECONNRESET, ECONNREFUSED, ...) or message when it failed below HTTP. */
  error?: string;
  /** The uid the answer echoed. */
  answeredUid?: string;
  allowed?: boolean;
  patched?: boolean;
  /** SHA-256 fingerprint of the certificate the server presented on this request's connection. */
  fingerprint?: string;
  /** Whether the request went out on a connection an earlier request had used. */
  reusedSocket?: boolean;
  /** The answer's Connection header. */
  connection?: string;
}

/** POSTs one review and reports what happened; never rejects. */
export function postReview(url: string, uid: string, options: https.RequestOptions): Promise<Outcome> {
  return new Promise((resolve) => {
    const req = https.request(`${url}/inject`, { method: 'POST', headers: { 'content-type': 'application/json' }, ...options }, (res) => {
      const fingerprint = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ uid, error: e.code ?? e.message }));
      res.on('end', () => {
        const outcome: Outcome = { uid, status: res.statusCode ?? 0, fingerprint, reusedSocket: req.reusedSocket };
        if (res.headers.connection !== undefined) outcome.connection = res.headers.connection;
        try {
          const answer = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { response?: { uid?: string; allowed?: boolean; patch?: string } };
          if (answer.response?.uid !== undefined) outcome.answeredUid = answer.response.uid;
          if (answer.response?.allowed !== undefined) outcome.allowed = answer.response.allowed;
          outcome.patched = (answer.response?.patch ?? '') !== '';
        } catch {
          // left without answeredUid: the assertion on it reports the failure
        }
        resolve(outcome);
      });
    });
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ uid, error: e.code ?? e.message, reusedSocket: req.reusedSocket }));
    req.end(reviewBody(uid));
  });
}

export interface WebhookProcess {
  readonly child: ChildProcess;
  readonly url: string;
  /** Every JSON log line so far. */
  readonly logs: Record<string, unknown>[];
  /** Resolves with the exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  /** Sends SIGKILL if it is still running (cleanup after a failed test). */
  kill(): void;
}

/** Starts `node dist/cli.js webhook --listen 127.0.0.1:0 ...extra` and waits for "webhook listening". */
export function startWebhookProcess(extra: readonly string[] = []): Promise<WebhookProcess> {
  const child = spawn(process.execPath, [CLI, 'webhook', '--listen', '127.0.0.1:0', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: Record<string, unknown>[] = [];
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`the webhook did not start: ${stderr}`));
    }, 30_000);
    createInterface({ input: child.stdout }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.msg === 'webhook listening' && typeof entry.url === 'string') {
        clearTimeout(timer);
        resolve({
          child,
          url: entry.url,
          logs,
          exited,
          kill: () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the webhook exited ${String(code)} before listening: ${stderr}`));
    });
  });
}

/** uids of the reviews the webhook logged, i.e. the ones it handled. */
export function handledUids(logs: readonly Record<string, unknown>[]): Set<string> {
  return new Set(logs.filter((l) => l.msg === 'admission review' && typeof l.uid === 'string').map((l) => l.uid as string));
}
