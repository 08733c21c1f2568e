import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isDnsLabel, isLabelKey, isLabelValue, isPortName, parseImage, parseQuantity, quantityValue } from '../../src/config/values.js';
import { okValue, reason } from '../helpers/parsed.js';


test('quantities are Kubernetes quantities and memory in millibytes is refused', () => {
  for (const good of ['100m', '0.5', '2', '1e3', '.5']) okValue(parseQuantity(good, 'cpu'));
  for (const good of ['128Mi', '1Gi', '500M', '1.5Gi', '1024']) okValue(parseQuantity(good, 'memory'));
  for (const bad of ['-1', '1Gb', '1 Gi', 'lots', '1.5m', '+1', '', '1e', '1Mi;x']) {
    assert.equal(parseQuantity(bad, bad === '1.5m' ? 'cpu' : 'memory').ok, false, bad);
  }
  assert.match(reason(parseQuantity('128m', 'memory')), /did you mean '128Mi'/);
  assert.equal(quantityValue('1Gi'), 2 ** 30);
  assert.equal(quantityValue('250m'), 0.25);
  assert.ok(quantityValue('2') > quantityValue('1500m'));
});

test('image references follow the distribution grammar', () => {
  for (const good of [
    'nginx',
    'nginx:1.27',
    'docker.io/envoyproxy/envoy:v1.34.1',
    'registry.example.com:5000/team/app:v1-rc.1',
    'localhost/app@sha256:' + 'a'.repeat(64),
    'ghcr.io/org/app:1.0@sha256:' + 'f'.repeat(64),
  ]) {
    okValue(parseImage(good));
  }
  for (const bad of ['', 'Nginx', 'nginx; curl x | sh', 'nginx:', 'nginx:latest:x', 'a//b', 'app@sha256:abc', '$(id)', 'nginx\n', 'a'.repeat(513)]) {
    assert.equal(parseImage(bad).ok, false, JSON.stringify(bad));
  }
});

test('port names must be IANA service names of at most 15 characters with a letter', () => {
  assert.equal(isPortName('http-envoy-prom'), true);
  assert.equal(isPortName('siding-health'), true);
  for (const bad of ['', '1234', 'http-envoy-prom1', 'Http', '-a', 'a-', 'a--b', 'a_b']) assert.equal(isPortName(bad), false, bad);
});

test('no parser throws on arbitrary input (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      parseQuantity(s, 'cpu');
      parseQuantity(s, 'memory');
      parseImage(s);
      isLabelKey(s);
      isLabelValue(s);
      isDnsLabel(s);
      isPortName(s);
    }),
    { numRuns: 2000 },
  );
});

test('names accept alphanumerics at both ends with separators only between them', () => {
  for (const good of ['a', 'a-b', 'a--b', 'a1-2b', '0']) assert.equal(isDnsLabel(good), true, good);
  for (const bad of ['', '-a', 'a-', 'A', 'a_b', 'a'.repeat(64)]) assert.equal(isDnsLabel(bad), false, bad);
  for (const good of ['app', 'app.kubernetes.io/name', 'a_b.c-d', 'example.com/x']) assert.equal(isLabelKey(good), true, good);
  for (const bad of ['-a', 'a-', '/a', 'Example.com/x', 'a/b/c', `${'a'.repeat(254)}/x`, 'x'.repeat(64)]) assert.equal(isLabelKey(bad), false, bad);
  assert.equal(isLabelValue(''), true);
  assert.equal(isLabelValue('_a'), false);
});
