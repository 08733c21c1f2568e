/**
 * `siding inject` and `siding check` as users run them: the CLI in a process of its own
 * (from source, so no build is needed), real files and standard input.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { runCli } from '../helpers/cli.js';
import { fixturePath, fixtureText } from '../helpers/fixtures.js';

const siding = runCli;

function tempFile(name: string, text: string): string {
  const file = join(mkdtempSync(join(tmpdir(), 'siding-cli-')), name);
  writeFileSync(file, text);
  return file;
}

test('siding inject -f FILE writes the injected stream as YAML and exits 0', async () => {
  const r = await siding(['inject', '-f', fixturePath('inject', 'manifest-deployment.yaml')]);
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout);
  assert.ok(Array.isArray(docs));
  assert.equal(docs.length, 3);
  assert.match(r.stdout, /name: siding-proxy/);
  assert.match(r.stdout, /mode: "on"/, 'a string that YAML 1.1 would read as a boolean stays quoted');
});

test('siding inject -f - reads standard input and -o json writes JSON', async () => {
  const r = await siding(['inject', '-f', '-', '-o', 'json'], fixtureText('inject', 'manifest-cronjob.yaml'));
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kind: string; spec: { jobTemplate: { spec: { template: { spec: { initContainers: { name: string }[] } } } } } };
  assert.equal(out.kind, 'CronJob');
  assert.deepEqual(out.spec.jobTemplate.spec.template.spec.initContainers.map((c) => c.name), ['siding-init', 'siding-proxy']);
});

test('siding inject exits 1 with every denial and writes nothing when a workload is denied', async () => {
  const r = await siding(['inject', '-f', fixturePath('inject', 'manifest-check-mixed.yaml')]);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /siding: denied: Pod\/bad-\*: invalid value '80;rm -rf \/' for annotation 'traffic\.siding\.io\/excludeOutboundPorts'/);
  assert.match(r.stderr, /siding: denied: Pod\/bad-\*: .*runs as UID 1337/);
});

test('siding inject exits 2 on input that is not YAML', async () => {
  const r = await siding(['inject', '-f', '-'], 'kind: Pod\nmetadata: [\n');
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /^siding: \(stdin\): document 1: /);
});

test('siding inject exits 2 on a document that is not a Kubernetes object', async () => {
  const r = await siding(['inject', '-f', '-'], '- just\n- a list\n');
  assert.equal(r.code, 2);
  assert.match(r.stderr, /not a Kubernetes object/);
});

test('siding inject exits 2 when the file cannot be read or -f is missing', async () => {
  const missing = await siding(['inject', '-f', '/nonexistent/siding.yaml']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /cannot read \/nonexistent\/siding\.yaml/);
  const noFlag = await siding(['inject']);
  assert.equal(noFlag.code, 2);
  assert.match(noFlag.stderr, /--filename/);
});

test('siding inject --config applies the config and exits 1 on an invalid one', async () => {
  const good = tempFile('config.yaml', 'proxy:\n  image: registry.example.com/mesh/envoy:v9\n');
  const r = await siding(['inject', '-f', fixturePath('inject', 'plain-pod.yaml'), '--config', good]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /image: registry\.example\.com\/mesh\/envoy:v9/);
  const bad = tempFile('config.yaml', 'proxy:\n  uid: root\n');
  const r2 = await siding(['inject', '-f', fixturePath('inject', 'plain-pod.yaml'), '--config', bad]);
  assert.equal(r2.code, 1);
  assert.match(r2.stderr, /proxy\.uid: must be an integer/);
});

test('siding check prints one line per workload and exits 1 when one would be denied', async () => {
  const r = await siding(['check', '-f', fixturePath('inject', 'manifest-check-mixed.yaml'), '--namespace-labels', 'siding-injection=enabled']);
  assert.equal(r.code, 1, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 6);
  assert.equal(lines[0], 'Deployment/web: injected');
  assert.equal(lines[1], "DaemonSet/node-agent: skipped: hostNetwork (the pod shares the node's network namespace)");
  assert.equal(lines[2], 'ReplicaSet/legacy: skipped: opted out by label siding.io/inject');
  assert.match(lines[5] ?? '', /^Pod\/bad-\*: denied: invalid value/);
});

test('siding check explains a namespace without the injection label and exits 0', async () => {
  const r = await siding(['check', '-f', '-', '--namespace-labels', 'team=shop'], fixtureText('inject', 'plain-pod.yaml'));
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'Pod/plain: skipped: namespace shop does not have the label siding-injection=enabled');
});

test('siding check exits 2 on malformed --namespace-labels', async () => {
  const r = await siding(['check', '-f', fixturePath('inject', 'plain-pod.yaml'), '--namespace-labels', 'a=b,=c']);
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--namespace-labels/);
});

test('siding inject --help documents the flags', async () => {
  const r = await siding(['inject', '--help']);
  assert.equal(r.code, 0);
  for (const flag of ['--filename', '--output', '--config', '--namespace']) assert.ok(r.stdout.includes(flag), flag);
});
