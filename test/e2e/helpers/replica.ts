/**
 * A webhook replica as the Deployment runs it, started inside a memory cgroup against the
 * testenv's API server (the e2e memory test and the bench), and the Deployment's memory
 * limit read from manifests/install.yaml.
 */
import type { ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { WEBHOOK_NODE_FLAGS } from '../../../src/admission/node-flags.js';
import { quantityBytes, type MemoryCgroup } from '../../helpers/cgroup.js';
import { CLI, SIDING } from './siding.js';

export interface Replica {
  child: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  /** SIGTERM, then waits up to 30 s for the exit. */
  stop(): Promise<void>;
}

/**
 * Starts a webhook replica as the Deployment runs it (`--manage-certs --config-map`, the
 * Deployment's node flags) inside `cgroup`, against the testenv whose state is in
 * `stateDir` (its webhook.kubeconfig holds a token of siding's ServiceAccount), listening
 * on 127.0.0.1 only. Its log goes to `logFile`.
 */
export async function startReplicaIn(cgroup: MemoryCgroup, stateDir: string, logFile: string): Promise<Replica> {
  const log = openSync(logFile, 'w');
  const child = cgroup.spawn(
    process.execPath,
    [
      ...WEBHOOK_NODE_FLAGS,
      CLI,
      'webhook',
      '--listen',
      '127.0.0.1:0',
      '--kubeconfig',
      join(stateDir, 'webhook.kubeconfig'),
      '--namespace',
      SIDING.namespace,
      '--config-map',
      SIDING.configMap,
      '--manage-certs',
      '--service',
      SIDING.service,
      '--webhook-config',
      SIDING.webhookConfig,
      '--cert-secret',
      SIDING.certSecret,
    ],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const tail = (): string => (existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '');
  let port = 0;
  for (let i = 0; port === 0; i++) {
    if (i >= 600 || child.exitCode !== null || child.signalCode !== null) {
      child.kill('SIGKILL');
      throw new Error(`the replica did not start listening: ${tail()}`);
    }
    const m = /"url":"https:\/\/127\.0\.0\.1:(\d+)"[^\n]*"msg":"webhook listening"/.exec(readFileSync(logFile, 'utf8'));
    if (m !== null) port = Number(m[1]);
    else await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    port,
    exited,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 30_000))]);
    },
  };
}

/** resources.limits.memory of the webhook container in manifests/install.yaml, in bytes. */
export function manifestMemoryLimit(): number {
  const text = readFileSync(new URL('../../../manifests/install.yaml', import.meta.url), 'utf8');
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJS() as {
      kind?: string;
      metadata?: { name?: string };
      spec?: { template?: { spec?: { containers?: { name: string; resources?: { limits?: { memory?: string } } }[] } } };
    } | null;
    if (o?.kind !== 'Deployment' || o.metadata?.name !== 'siding') continue;
    const memory = o.spec?.template?.spec?.containers?.find((c) => c.name === 'webhook')?.resources?.limits?.memory;
    if (memory !== undefined) return quantityBytes(memory);
  }
  throw new Error('manifests/install.yaml has no memory limit for the webhook container');
}
