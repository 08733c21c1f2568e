/**
 * A webhook replica as the Deployment runs it, started inside a memory cgroup against the
 * testenv's API server (the e2e memory test and the bench), and the Deployment's memory
 * limit read from manifests/install.yaml.
 */
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
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
 * on 127.0.0.1 only.
 */
export async function startReplicaIn(cgroup: MemoryCgroup, stateDir: string): Promise<Replica> {
  // Its output goes through a pipe, as a container's does, and is read here: written to a
  // file, it would fill page cache that the cgroup pays for. Only the last lines are kept.
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
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const tail: string[] = [];
  let resolveListening!: (port: number) => void;
  const listening = new Promise<number>((resolve) => (resolveListening = resolve));
  const onLine = (line: string): void => {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    const m = /"url":"https:\/\/127\.0\.0\.1:(\d+)"[^\n]*"msg":"webhook listening"/.exec(line);
    if (m !== null) resolveListening(Number(m[1]));
  };
  createInterface({ input: child.stdout! }).on('line', onLine);
  createInterface({ input: child.stderr! }).on('line', onLine);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const port = await Promise.race([
    listening,
    exited.then(() => Promise.reject(new Error(`the replica exited before listening: ${tail.join('\n')}`))),
    new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`the replica did not listen within 60 s: ${tail.join('\n')}`)), 60_000)),
  ]).catch((e: unknown) => {
    child.kill('SIGKILL');
    throw e;
  });
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
