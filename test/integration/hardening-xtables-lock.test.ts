/**
 * `siding init` while another program holds the xtables lock, in a network namespace the
 * test creates. The lock is iptables-legacy's (iptables-nft serialises through nf_tables
 * transactions and ignores it), so these runs use `--iptables-mode legacy`. The lock file is
 * the test's own (XTABLES_LOCKFILE, as the injected init container sets it), held with
 * `flock --no-fork` by a process the test started.
 *
 * With the lock released while siding init waits, it succeeds (and finishes after the holder
 * let go: ordering, not timing). With the lock held past its wait and retries, it fails with
 * a message that says the lock was held and how to wait longer, and leaves no rules.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { isRoot, prerequisite, skipUnless } from '../helpers/prereq.js';
import { lookPath } from '../../src/redirect/host.js';
import { CLI } from './hardening-lib.js';

const TOOLS = ['ip', 'flock', 'nsenter', 'iptables-legacy-restore', 'iptables-legacy-save'];
const ready = prerequisite(() => {
  if (!isRoot()) return 'the xtables lock tests need root (network namespaces, iptables)';
  const missing = TOOLS.filter((t) => lookPath(t) === undefined);
  if (missing.length > 0) return `missing programs: ${missing.join(', ')}`;
  if (!existsSync(CLI)) return `${CLI} does not exist: run npm run build first`;
  return undefined;
});

const ISTIO_INIT_ARGS = ['init', '-p', '15001', '-z', '15006', '-u', '1337', '-m', 'REDIRECT', '-i', '*', '-x', '', '-b', '*', '-d', '15090,15021,15020'];

interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

function watch(child: ChildProcess): Promise<Exit> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return new Promise((resolve) => child.once('close', (code) => resolve({ code, stdout, stderr })));
}

async function must(file: string, args: readonly string[]): Promise<string> {
  const r = await watch(spawn(file, [...args], { stdio: ['ignore', 'pipe', 'pipe'] }));
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${String(r.code)}: ${r.stderr}`);
  return r.stdout;
}

/** Holds the lock file until `holdMs` have passed (or it is killed); resolves once the lock is held. */
async function holdLock(lockFile: string, holdMs: number): Promise<{ child: ChildProcess; exited: Promise<Exit> }> {
  const script = `process.stdout.write('held\\n'); setTimeout(() => {}, ${holdMs});`;
  const child = spawn('flock', ['--no-fork', '--exclusive', lockFile, process.execPath, '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = watch(child);
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      if (d.toString().includes('held')) resolve();
    });
    void exited.then((r) => reject(new Error(`the lock holder exited early: ${r.stderr}`)));
  });
  return { child, exited };
}

describe('siding init with the xtables lock held by another process', { timeout: 120_000, ...skipUnless(ready) }, () => {
  const name = `sdlock-${process.pid}`;
  const netns = `/run/netns/${name}`;
  let dir: string;
  let lockFile: string;
  let env: NodeJS.ProcessEnv;
  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'siding-xtables-lock-'));
    lockFile = path.join(dir, 'xtables.lock');
    env = { ...process.env, XTABLES_LOCKFILE: lockFile };
    await must('ip', ['netns', 'add', name]);
  });
  after(async () => {
    await must('ip', ['netns', 'del', name]);
    rmSync(dir, { recursive: true, force: true });
  });

  const sidingInit = (extra: readonly string[]): Promise<Exit> =>
    watch(spawn(process.execPath, [CLI, ...ISTIO_INIT_ARGS, '--iptables-mode', 'legacy', '--ipv6', 'off', '--netns', netns, ...extra], { env, stdio: ['ignore', 'pipe', 'pipe'] }));
  const legacySave = (): Promise<string> => must('nsenter', [`--net=${netns}`, '--', 'iptables-legacy-save']);

  it('waits while the lock is held and succeeds once it is released', async () => {
    const holder = await holdLock(lockFile, 2000);
    const order: string[] = [];
    const holderDone = holder.exited.then((r) => {
      order.push('holder');
      return r;
    });
    const init = await sidingInit(['--lock-wait', '30']).then((r) => {
      order.push('siding init');
      return r;
    });
    await holderDone;
    assert.equal(init.code, 0, init.stderr);
    assert.deepEqual(order, ['holder', 'siding init'], 'siding init finished while the lock was still held');
    assert.match(await legacySave(), /-A OUTPUT .*-j SIDING_OUTPUT/);
    const cleanup = await sidingInit(['--cleanup']);
    assert.equal(cleanup.code, 0, cleanup.stderr);
  });

  it('fails with a message about the lock after its wait and retries, leaving no rules', async () => {
    const holder = await holdLock(lockFile, 120_000);
    try {
      const init = await sidingInit(['--lock-wait', '1', '--lock-retries', '1', '--lock-retry-delay', '100']);
      assert.equal(init.code, 1, init.stderr);
      assert.match(init.stderr, /xtables lock/);
      assert.match(init.stderr, /--lock-wait/, 'the message does not say how to wait longer');
      assert.match(init.stderr, /trying again/, 'siding init did not retry');
      assert.doesNotMatch(await legacySave(), /SIDING_/);
    } finally {
      holder.child.kill('SIGKILL');
      await holder.exited;
    }
  });
});
