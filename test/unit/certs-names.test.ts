import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseNamespaceName, parseServiceName, parseSubjectAltName, serviceDnsNames } from '../../src/certs/index.js';
import { InputError } from '../../src/errors/index.js';

describe('certificate names', () => {
  it('derives the four in-cluster names of a Service', () => {
    assert.deepEqual(serviceDnsNames('siding', 'siding-system'), [
      'siding',
      'siding.siding-system',
      'siding.siding-system.svc',
      'siding.siding-system.svc.cluster.local',
    ]);
  });

  for (const ok of ['siding', 'a', 'webhook-1', 'x'.repeat(63)]) {
    it(`accepts the Service name ${JSON.stringify(ok.length > 20 ? `${ok.slice(0, 5)}…(${ok.length})` : ok)}`, () => {
      assert.equal(parseServiceName(ok), ok);
    });
  }
  for (const bad of ['', '1siding', 'Siding', 'sid_ing', 'siding-', 'a.b', 'x'.repeat(64), 'a;rm -rf /']) {
    it(`rejects the Service name ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 5)}…(${bad.length})` : bad)}`, () => {
      assert.throws(() => parseServiceName(bad), InputError);
    });
  }

  for (const ok of ['siding-system', 'default', '1team', 'x'.repeat(63)]) {
    it(`accepts the namespace ${JSON.stringify(ok.length > 20 ? `${ok.slice(0, 5)}…(${ok.length})` : ok)}`, () => {
      assert.equal(parseNamespaceName(ok), ok);
    });
  }
  for (const bad of ['', '-ns', 'NS', 'a.b', 'x'.repeat(64), 'ns/evil']) {
    it(`rejects the namespace ${JSON.stringify(bad.length > 20 ? `${bad.slice(0, 5)}…(${bad.length})` : bad)}`, () => {
      assert.throws(() => parseNamespaceName(bad), InputError);
    });
  }

  const sans: [string, { type: 'dns' | 'ip'; value: string }][] = [
    ['localhost', { type: 'dns', value: 'localhost' }],
    ['webhook.example.com', { type: 'dns', value: 'webhook.example.com' }],
    ['127.0.0.1', { type: 'ip', value: '127.0.0.1' }],
    ['::1', { type: 'ip', value: '::1' }],
    ['2001:DB8:0:0:0:0:0:1', { type: 'ip', value: '2001:db8::1' }],
    ['10.96.0.10', { type: 'ip', value: '10.96.0.10' }],
  ];
  for (const [input, expected] of sans) {
    it(`reads the SAN ${input} as ${expected.type} ${expected.value}`, () => {
      assert.deepEqual(parseSubjectAltName(input), expected);
    });
  }
  for (const bad of ['', '*.example.com', 'Example.com', 'a..b', 'under_score', '127.1', '1.2.3.4.5', 'fe80::1%eth0', 'a b', `${'x'.repeat(64)}.com`]) {
    it(`rejects the SAN ${JSON.stringify(bad)}`, () => {
      assert.throws(() => parseSubjectAltName(bad), InputError);
    });
  }
});
