/**
 * Backend detection, --netns, --ipv6, --run-validation, the xtables lock, and the number of
 * programs a run executes; with real iptables in namespaces the tests create.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI, initPrerequisite, Lab, must, PEER4, run, ISTIO_INIT_ARGS } from './init-lib.js';
import { skipUnless } from '../helpers/prereq.js';
import { CountingRunner, SpawnRunner, programOf } from '../../src/redirect/runner.js';

const prereq = initPrerequisite();
const FOREIGN = '*nat\n-A OUTPUT -p tcp --dport 5555 -m comment --comment foreign -j RETURN\nCOMMIT\n';

describe('backend detection and --iptables-mode', skipUnless(prereq), () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create('detect');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('uses iptables-legacy when legacy already holds rules in the namespace', async () => {
    await lab.restore('legacy', 'ipv4', FOREIGN);
    const r = await lab.sidingOk(ISTIO_INIT_ARGS);
    assert.match(r.stderr, /backend=legacy reason=iptables-legacy already holds rules/);
    assert.match(await lab.save('legacy'), /SIDING_OUTPUT/);
    assert.doesNotMatch(await lab.save('nft'), /SIDING_/);
    assert.equal(await lab.app(PEER4, 9000), 'outbound');
  });

  it('obeys --iptables-mode over detection', async () => {
    const r = await lab.sidingOk([...ISTIO_INIT_ARGS, '--iptables-mode', 'nft']);
    assert.match(r.stderr, /backend=nft reason=--iptables-mode nft/);
    assert.match(await lab.save('nft'), /SIDING_OUTPUT/);
  });

  it("removes siding's rules from both backends with --cleanup in auto mode, and only those", async () => {
    await lab.sidingOk(['init', '--cleanup']);
    assert.doesNotMatch(await lab.save('legacy'), /SIDING_|siding\//);
    assert.doesNotMatch(await lab.save('nft'), /SIDING_|siding\//);
    assert.match(await lab.save('legacy'), /--comment foreign/);
  });
});

describe('IPv6, ::6 on lo, and the number of programs run', skipUnless(prereq), () => {
  let lab: Lab;
  before(async () => {
    // No ::6 on lo: siding adds it when it programs IPv6, as istio-iptables does.
    lab = await Lab.create('ipv6', { ipv6: true, passthroughAddress: false });
  });
  after(async () => {
    await lab?.destroy();
  });
  const hasPassthroughAddress = async (): Promise<boolean> => (await must('ip', ['-n', lab.pod, '-6', 'addr', 'show', 'dev', 'lo'])).includes('::6/128');

  it('programs IPv4 only in a pod with an IPv4 address, as istio-iptables does, and adds no ::6', async () => {
    const r = await lab.siding(ISTIO_INIT_ARGS);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /IPv4 only/);
    assert.doesNotMatch(await lab.save('nft', 'ipv6'), /SIDING_/);
    assert.equal(await hasPassthroughAddress(), false);
    assert.equal(await lab.app('fd00:5d::2', 9000), 'peer');
  });

  it('with --dual-stack, applies both families with a save and a restore each, and adds ::6 to lo for the passthrough', async () => {
    await lab.sidingOk(['init', '--cleanup']);
    const counting = new CountingRunner(new SpawnRunner());
    await lab.sidingOk([...ISTIO_INIT_ARGS, '--dual-stack'], { runner: counting });
    const programs = counting.commands.map(programOf);
    // With --netns (lab.siding adds it) the addresses are read with `ip addr` first.
    assert.deepEqual(programs, ['ip', 'iptables-legacy-save', 'iptables-nft-save', 'iptables-nft-restore', 'ip6tables-nft-save', 'ip', 'ip6tables-nft-restore']);
    assert.match(await lab.save('nft', 'ipv6'), /SIDING_OUTPUT/);
    assert.equal(await hasPassthroughAddress(), true);
    assert.equal(await lab.proxy('fd00:5d::1', 8080, { source: '::6' }), 'app');
  });

  it('removes ::6 with --cleanup because siding added it, and keeps an address it did not add', async () => {
    await lab.sidingOk(['init', '--cleanup']);
    assert.equal(await hasPassthroughAddress(), false);
    await must('ip', ['-n', lab.pod, '-6', 'addr', 'add', '::6/128', 'dev', 'lo', 'nodad']);
    await lab.sidingOk([...ISTIO_INIT_ARGS, '--dual-stack']);
    await lab.sidingOk([...ISTIO_INIT_ARGS, '--dual-stack']);
    await lab.sidingOk(['init', '--cleanup']);
    assert.equal(await hasPassthroughAddress(), true, 'the address was there before siding ran');
    await must('ip', ['-n', lab.pod, '-6', 'addr', 'del', '::6/128', 'dev', 'lo']);
  });

  it('leaves ip6tables alone with --ipv6 off', async () => {
    await lab.sidingOk(['init', '--cleanup']);
    await lab.sidingOk([...ISTIO_INIT_ARGS, '--ipv6', 'off', '--dual-stack']);
    assert.match(await lab.save('nft', 'ipv4'), /SIDING_OUTPUT/);
    assert.doesNotMatch(await lab.save('nft', 'ipv6'), /SIDING_/);
  });

  it('programs another namespace with --netns from the CLI process, reading its addresses', async () => {
    await lab.sidingOk(['init', '--cleanup']);
    const r = await run(process.execPath, [CLI, ...ISTIO_INIT_ARGS, '--dual-stack', '--netns', `/run/netns/${lab.pod}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await lab.app(PEER4, 9000), 'outbound');
    assert.equal(await lab.app('fd00:5d::2', 9000), 'outbound');
    assert.equal(await hasPassthroughAddress(), true);
    await lab.sidingOk(['init', '--cleanup']);
  });
});

describe('--run-validation', skipUnless(prereq), () => {
  let lab: Lab;
  // The lab's stub already listens on 15001; validation needs the proxy port free, as it is
  // in an init container, so these runs use -p 15101.
  const FLAGS = [...ISTIO_INIT_ARGS, '-p', '15101', '--run-validation', '--probe-timeout', '1s'];
  before(async () => {
    lab = await Lab.create('valid');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('passes after applying the rules', async () => {
    const r = await lab.cli(FLAGS);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /validation passed/);
  });

  it('passes alone against rules that are already there, also through --netns', async () => {
    const inside = await lab.cli([...FLAGS, '--skip-rule-apply']);
    assert.equal(inside.code, 0, inside.stderr);
    const outside = await run(process.execPath, [CLI, ...FLAGS, '--skip-rule-apply', '--netns', `/run/netns/${lab.pod}`]);
    assert.equal(outside.code, 0, outside.stderr);
    assert.match(outside.stderr, /validation passed/);
  });

  it('exits 126 saying what did not happen when the rules are missing', async () => {
    await lab.sidingOk(['init', '--cleanup']);
    const r = await lab.cli([...FLAGS, '--skip-rule-apply']);
    assert.equal(r.code, 126, r.stderr);
    assert.match(r.stderr, /validation failed: a TCP connection to 192\.0\.2\.1:15002 should have been redirected to port 15101, but the connection was not redirected/);
    const outside = await run(process.execPath, [CLI, ...FLAGS, '--skip-rule-apply', '--netns', `/run/netns/${lab.pod}`]);
    assert.equal(outside.code, 126, outside.stderr);
  });
});

describe('the xtables lock', skipUnless(prereq), () => {
  let lab: Lab;
  let dir: string;
  let lockfile: string;
  before(async () => {
    lab = await Lab.create('lock');
    // A private lock file (XTABLES_LOCKFILE) so holding it never delays anyone else.
    dir = mkdtempSync(join(tmpdir(), 'sdt-lock-'));
    lockfile = join(dir, 'xtables.lock');
  });
  after(async () => {
    await lab?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Holds the lock the way iptables takes it (flock(2), exclusive) in one python3 process,
   * so killing that process releases it. Resolves once the lock is held.
   */
  async function holdLock(): Promise<() => Promise<void>> {
    const script = 'import fcntl, sys, time\nf = open(sys.argv[1], "a")\nfcntl.flock(f, fcntl.LOCK_EX)\nprint("held", flush=True)\ntime.sleep(60)\n';
    const holder = spawn('python3', ['-c', script, lockfile], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      holder.stdout.setEncoding('utf8').on('data', (d: string) => {
        if (d.includes('held')) resolve();
      });
      holder.once('exit', (code) => reject(new Error(`lock holder exited ${code}`)));
    });
    return async () => {
      if (holder.exitCode !== null || holder.signalCode !== null) return;
      const exited = new Promise((res) => holder.once('exit', res));
      holder.kill('SIGKILL');
      await exited;
    };
  }

  it('waits while another program holds the lock and succeeds once it is released', async () => {
    const release = await holdLock();
    const args = ['netns', 'exec', lab.pod, process.execPath, CLI, ...ISTIO_INIT_ARGS, '--iptables-mode', 'legacy', '--lock-wait', '1', '--lock-retries', '20', '--lock-retry-delay', '100'];
    const child = spawn('ip', args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, XTABLES_LOCKFILE: lockfile } });
    let stderr = '';
    // Release the lock only once siding has found it held and said it will try again.
    const code = await new Promise<number | null>((resolve) => {
      child.stderr.setEncoding('utf8').on('data', (d: string) => {
        stderr += d;
        if (stderr.includes('trying again')) void release();
      });
      child.once('close', resolve);
    });
    await release();
    assert.equal(code, 0, stderr);
    assert.match(stderr, /the xtables lock is held by another program; trying again/);
    assert.equal(await lab.app(PEER4, 9000), 'outbound');
  });

  it('fails with a clear message when the lock stays held', async () => {
    const release = await holdLock();
    try {
      const r = await lab.cli([...ISTIO_INIT_ARGS, '--iptables-mode', 'legacy', '--lock-wait', '1', '--lock-retries', '1', '--lock-retry-delay', '0'], {
        XTABLES_LOCKFILE: lockfile,
      });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /xtables lock/);
      assert.match(r.stderr, /--lock-wait/);
    } finally {
      await release();
    }
  });
});

describe('the golden --dry-run payloads', skipUnless(prereq), () => {
  let lab: Lab;
  before(async () => {
    lab = await Lab.create('golden');
  });
  after(async () => {
    await lab?.destroy();
  });

  it('are accepted by iptables-restore --test of both backends and both families', async () => {
    const dir = new URL('../golden/redirect/', import.meta.url);
    const files = readdirSync(dir).filter((f) => f.endsWith('.txt') && f !== 'cleanup.txt');
    assert.ok(files.length > 10);
    for (const file of files) {
      const sections = readFileSync(new URL(file, dir), 'utf8').split(/^(?=# siding init --dry-run)/m);
      for (const section of sections) {
        const family = /IPv6 payload/.test(section) ? 'ip6tables' : 'iptables';
        for (const backend of ['legacy', 'nft']) {
          const r = await run('ip', ['netns', 'exec', lab.pod, `${family}-${backend}-restore`, '--noflush', '--test'], { input: section });
          assert.equal(r.code, 0, `${file} (${family}-${backend}): ${r.stderr}`);
        }
      }
    }
  });
});
