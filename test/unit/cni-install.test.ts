/**
 * The agent's writes to a node's CNI directories, on real files in a temporary directory:
 * the plugin executable, the chain entry, and putting back exactly what was there.
 */
import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sidingEntry } from '../../src/cni/chain.js';
import { CniInstaller } from '../../src/cni/install.js';
import { fixtureText } from '../helpers/fixtures.js';

let dir: string;
let paths: { binDir: string; confDir: string; confFile: undefined; stateDir: string; pluginSource: string };
const entry = sidingEntry('/var/run/siding/cni.sock', 30);

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'siding-cni-install-'));
  paths = { binDir: join(dir, 'bin'), confDir: join(dir, 'net.d'), confFile: undefined, stateDir: join(dir, 'state'), pluginSource: join(dir, 'plugin') };
  for (const d of [paths.binDir, paths.confDir, paths.stateDir]) mkdirSync(d);
  writeFileSync(paths.pluginSource, '#!/bin/sh\necho plugin\n');
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const read = (name: string): string => readFileSync(join(paths.confDir, name), 'utf8');

describe('installing siding on a node', () => {
  it('installs the plugin executable once and removes it on uninstall', () => {
    const i = new CniInstaller(paths, entry);
    assert.equal(i.installPlugin(), 'installed');
    assert.equal(statSync(join(paths.binDir, 'siding')).mode & 0o777, 0o755);
    assert.equal(i.installPlugin(), 'unchanged');
    writeFileSync(paths.pluginSource, '#!/bin/sh\necho newer\n');
    assert.equal(i.installPlugin(), 'installed');
    i.removePlugin();
    assert.deepEqual(readdirSync(paths.binDir), []);
  });

  it('chains into a conflist and restores its exact bytes and mode', () => {
    const original = fixtureText('cni', '10-calico.conflist');
    writeFileSync(join(paths.confDir, '10-calico.conflist'), original);
    chmodSync(join(paths.confDir, '10-calico.conflist'), 0o640);
    const i = new CniInstaller(paths, entry);
    assert.equal(i.ensureChained(), 'chained');
    assert.notEqual(read('10-calico.conflist'), original);
    assert.equal(i.ensureChained(), 'already-chained');
    assert.equal(i.unchain(), 'restored');
    assert.equal(read('10-calico.conflist'), original);
    assert.equal(statSync(join(paths.confDir, '10-calico.conflist')).mode & 0o777, 0o640);
    assert.deepEqual(readdirSync(paths.confDir), ['10-calico.conflist']);
    assert.deepEqual(readdirSync(paths.stateDir), []);
  });

  it('turns a .conf into a .conflist and back, byte for byte', () => {
    const original = fixtureText('cni', '10-bridge.conf');
    writeFileSync(join(paths.confDir, '10-bridge.conf'), original);
    const i = new CniInstaller(paths, entry);
    assert.equal(i.ensureChained(), 'chained');
    assert.deepEqual(readdirSync(paths.confDir), ['10-bridge.conflist']);
    assert.equal(i.unchain(), 'restored');
    assert.deepEqual(readdirSync(paths.confDir), ['10-bridge.conf']);
    assert.equal(read('10-bridge.conf'), original);
  });

  it('chains again after another CNI rewrites its configuration, and then restores the new version', () => {
    writeFileSync(join(paths.confDir, '10-bridge.conflist'), fixtureText('cni', '10-bridge.conflist'));
    const i = new CniInstaller(paths, entry);
    i.ensureChained();
    const rewritten = fixtureText('cni', '10-calico.conflist');
    writeFileSync(join(paths.confDir, '10-bridge.conflist'), rewritten);
    assert.equal(i.ensureChained(), 'chained');
    assert.ok(read('10-bridge.conflist').includes('"siding"'));
    assert.equal(i.unchain(), 'restored');
    assert.equal(read('10-bridge.conflist'), rewritten);
  });

  it('removes only its entry from a file another CNI changed while keeping siding in it', () => {
    writeFileSync(join(paths.confDir, '10-bridge.conflist'), fixtureText('cni', '10-bridge.conflist'));
    const i = new CniInstaller(paths, entry);
    i.ensureChained();
    const changed = JSON.parse(read('10-bridge.conflist')) as { name: string };
    changed.name = 'renamed-by-another-cni';
    writeFileSync(join(paths.confDir, '10-bridge.conflist'), JSON.stringify(changed));
    assert.equal(i.unchain(), 'entry-removed');
    const after = JSON.parse(read('10-bridge.conflist')) as { name: string; plugins: { type: string }[] };
    assert.equal(after.name, 'renamed-by-another-cni');
    assert.deepEqual(after.plugins.map((p) => p.type), ['bridge', 'portmap', 'firewall']);
  });

  it('waits for a configuration when the directory has none, and chains the one that appears', () => {
    const i = new CniInstaller(paths, entry);
    assert.equal(i.ensureChained(), 'no-config');
    writeFileSync(join(paths.confDir, '05-cilium.conflist'), fixtureText('cni', '05-cilium.conflist'));
    assert.equal(i.ensureChained(), 'chained');
  });

  it('restores the original bytes even after an agent restart (the backup lives in the state directory)', () => {
    const original = fixtureText('cni', '05-cilium.conflist');
    writeFileSync(join(paths.confDir, '05-cilium.conflist'), original);
    new CniInstaller(paths, entry).ensureChained();
    const restarted = new CniInstaller(paths, entry);
    assert.equal(restarted.ensureChained(), 'already-chained');
    assert.equal(restarted.unchain(), 'restored');
    assert.equal(read('05-cilium.conflist'), original);
  });
});
