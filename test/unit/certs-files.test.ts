import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readdir, readFile, rm, stat, writeFile, mkdir, chmod } from 'node:fs/promises';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { generateCertificateFiles } from '../../src/certs/index.js';
import { CertError } from '../../src/errors/index.js';
import { runCli } from '../helpers/cli.js';

const mode = async (p: string): Promise<number> => (await stat(p)).mode & 0o777;

describe('generateCertificateFiles', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'siding-certs-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes ca.crt, tls.crt and tls.key (no CA key) into a new 0700 directory, keys 0600 and certificates 0644', async () => {
    const dir = path.join(root, 'fresh', 'nested');
    const out = await generateCertificateFiles({
      service: 'siding',
      namespace: 'siding-system',
      outDir: dir,
      validityDays: 30,
      caValidityDays: 60,
      force: false,
    });
    assert.deepEqual((await readdir(dir)).sort(), ['ca.crt', 'tls.crt', 'tls.key']);
    assert.equal(await mode(dir), 0o700);
    assert.equal(await mode(path.join(dir, 'tls.key')), 0o600);
    assert.equal(await mode(path.join(dir, 'tls.crt')), 0o644);
    assert.equal(await mode(path.join(dir, 'ca.crt')), 0o644);
    assert.equal(out.tlsKey, path.join(dir, 'tls.key'));

    const ca = new X509Certificate(await readFile(out.caCert));
    const leaf = new X509Certificate(await readFile(out.tlsCert));
    assert.equal(leaf.checkIssued(ca), true);
    assert.equal(leaf.verify(ca.publicKey), true);
    const keyPublic = createPublicKey(createPrivateKey(await readFile(out.tlsKey))).export({ type: 'spki', format: 'pem' });
    assert.equal(keyPublic, leaf.publicKey.export({ type: 'spki', format: 'pem' }));
  });

  it('sets the file modes itself instead of trusting the umask', async () => {
    const previous = process.umask(0o077);
    try {
      const dir = path.join(root, 'umask');
      await generateCertificateFiles({ service: 's', namespace: 'n', outDir: dir, validityDays: 1, caValidityDays: 1, force: false });
      assert.equal(await mode(path.join(dir, 'ca.crt')), 0o644);
    } finally {
      process.umask(previous);
    }
  });

  it('leaves the mode of an existing directory alone', async () => {
    const dir = path.join(root, 'existing');
    await mkdir(dir);
    await chmod(dir, 0o755);
    await generateCertificateFiles({ service: 's', namespace: 'n', outDir: dir, validityDays: 1, caValidityDays: 1, force: false });
    assert.equal(await mode(dir), 0o755);
  });

  it('refuses to overwrite existing files without force and writes nothing', async () => {
    const dir = path.join(root, 'occupied');
    await mkdir(dir);
    await writeFile(path.join(dir, 'tls.key'), 'precious');
    await assert.rejects(
      generateCertificateFiles({ service: 's', namespace: 'n', outDir: dir, validityDays: 1, caValidityDays: 1, force: false }),
      (e: unknown) => e instanceof CertError && /already exists/.test(e.message),
    );
    assert.deepEqual(await readdir(dir), ['tls.key']);
    assert.equal(await readFile(path.join(dir, 'tls.key'), 'utf8'), 'precious');
  });

  it('replaces existing files with force, with a new serial and key', async () => {
    const dir = path.join(root, 'rotate');
    const opts = { service: 's', namespace: 'n', outDir: dir, validityDays: 1, caValidityDays: 1 };
    await generateCertificateFiles({ ...opts, force: false });
    const before = new X509Certificate(await readFile(path.join(dir, 'tls.crt')));
    await generateCertificateFiles({ ...opts, force: true });
    const after = new X509Certificate(await readFile(path.join(dir, 'tls.crt')));
    assert.notEqual(after.serialNumber, before.serialNumber);
    assert.deepEqual((await readdir(dir)).sort(), ['ca.crt', 'tls.crt', 'tls.key'], 'no temporary files left behind');
    assert.equal(await mode(path.join(dir, 'tls.key')), 0o600);
  });
});

describe('siding certs generate', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(path.join(tmpdir(), 'siding-certs-cli-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('writes the files with the Service names and the extra SANs, repeatable and comma-separated', async () => {
    const dir = path.join(root, 'ok');
    const r = await runCli([
      'certs', 'generate',
      '--service', 'siding', '--namespace', 'siding-system', '--out-dir', dir,
      '--validity-days', '10', '--extra-san', 'localhost,127.0.0.1', '--extra-san', '::1',
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /tls\.crt/);
    const leaf = new X509Certificate(await readFile(path.join(dir, 'tls.crt')));
    assert.equal(
      leaf.subjectAltName,
      'DNS:siding, DNS:siding.siding-system, DNS:siding.siding-system.svc, DNS:siding.siding-system.svc.cluster.local, DNS:localhost, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1',
    );
    const days = (new Date(leaf.validTo).getTime() - Date.now()) / 86_400_000;
    assert.ok(days > 9.9 && days <= 10, `valid for ${days} days`);
  });

  const usage: [string, string[], RegExp][] = [
    ['an invalid Service name', ['--service', 'Bad_Name', '--namespace', 'n'], /invalid service name/],
    ['an invalid namespace', ['--service', 's', '--namespace', 'a/b'], /invalid namespace/],
    ['an invalid extra SAN', ['--service', 's', '--namespace', 'n', '--extra-san', '*.example.com'], /subject alternative name/],
    ['a validity of zero days', ['--service', 's', '--namespace', 'n', '--validity-days', '0'], /--validity-days/],
    ['a non-numeric validity', ['--service', 's', '--namespace', 'n', '--validity-days', '1e3'], /--validity-days/],
    ['a validity beyond the CA’s', ['--service', 's', '--namespace', 'n', '--validity-days', '400', '--ca-validity-days', '365'], /must not exceed/],
  ];
  for (const [what, args, message] of usage) {
    it(`exits 2 on ${what} and writes nothing`, async () => {
      const dir = path.join(root, 'bad');
      const r = await runCli(['certs', 'generate', ...args, '--out-dir', dir]);
      assert.equal(r.code, 2);
      assert.match(r.stderr, message);
      await assert.rejects(stat(dir), { code: 'ENOENT' });
    });
  }

  it('exits 2 when a required flag is missing', async () => {
    const r = await runCli(['certs', 'generate', '--service', 's', '--out-dir', path.join(root, 'x')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--namespace/);
  });

  it('exits 1 when the files exist and --force is not given', async () => {
    const dir = path.join(root, 'twice');
    const args = ['certs', 'generate', '--service', 's', '--namespace', 'n', '--out-dir', dir, '--validity-days', '1'];
    assert.equal((await runCli(args)).code, 0);
    const second = await runCli(args);
    assert.equal(second.code, 1);
    assert.match(second.stderr, /already exists/);
    assert.equal((await runCli([...args, '--force'])).code, 0);
  });
});
