import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  displayValue,
  formatPortList,
  isPortName,
  parseBoolean,
  parseCidr,
  parseCidrList,
  parseCidrSpec,
  parseImage,
  parseInterfaceList,
  parsePort,
  parsePortList,
  parsePortSpec,
  parseQuantity,
  quantityValue,
  type Parsed,
} from '../../src/config/values.js';

function okValue<T>(r: Parsed<T>): T {
  if (!r.ok) assert.fail(`expected ok, got: ${r.reason}`);
  return r.value;
}

function reason<T>(r: Parsed<T>): string {
  if (r.ok) assert.fail(`expected a failure, got ${JSON.stringify(r.value)}`);
  return r.reason;
}

test('accepts ports 1 to 65535 and rejects 0, 65536, signs, spaces and leading zeros', () => {
  assert.equal(okValue(parsePort('1')), 1);
  assert.equal(okValue(parsePort('65535')), 65535);
  for (const bad of ['0', '65536', '-1', '+80', ' 80', '80 ', '080', '8e1', '0x50', '', '99999999']) {
    assert.equal(parsePort(bad).ok, false, bad);
  }
});

test('rejects a port range whose upper bound is below the lower bound', () => {
  assert.match(reason(parsePortList('9000-8000', { allowRanges: true })), /ends below its start/);
});

test('rejects port ranges where only single ports are allowed', () => {
  assert.match(reason(parsePortList('1000-2000', { allowRanges: false })), /ranges are not allowed/);
});

test('parses port lists with spaces around items and removes duplicates in order', () => {
  assert.deepEqual(okValue(parsePortList(' 80, 443 ,80,1000-2000', { allowRanges: true })), [
    { from: 80, to: 80 },
    { from: 443, to: 443 },
    { from: 1000, to: 2000 },
  ]);
  assert.deepEqual(okValue(parsePortList('', { allowRanges: true })), []);
});

test('rejects empty list items and shell metacharacters in port lists', () => {
  assert.match(reason(parsePortList('80,,443', { allowRanges: true })), /empty item/);
  assert.match(reason(parsePortList('80,', { allowRanges: true })), /empty item/);
  for (const bad of ['80;rm -rf /', '$(reboot)', '`id`', '80|nc', '80&&x', '80\n443', '443\u0000']) {
    assert.equal(parsePortList(bad, { allowRanges: true }).ok, false, JSON.stringify(bad));
  }
});

test("'*' means every port only where it is meaningful", () => {
  assert.deepEqual(okValue(parsePortSpec('*', { allowRanges: false })), { kind: 'all' });
  assert.match(reason(parsePortList('*', { allowRanges: true })), /not allowed here/);
  assert.match(reason(parsePortSpec('80,*', { allowRanges: false })), /not allowed here/);
});

test('a list longer than 1024 items is refused', () => {
  const many = Array.from({ length: 1025 }, (_, i) => String(i + 1)).join(',');
  assert.match(reason(parsePortList(many, { allowRanges: true })), /at most 1024/);
});

test('CIDRs are returned in canonical network form', () => {
  assert.equal(okValue(parseCidr('10.1.2.3/8')), '10.0.0.0/8');
  assert.equal(okValue(parseCidr('192.168.1.7')), '192.168.1.7/32');
  assert.equal(okValue(parseCidr('2001:DB8:0:0::1/64')), '2001:db8::/64');
  assert.equal(okValue(parseCidr('::1')), '::1/128');
  assert.equal(okValue(parseCidr('0.0.0.0/0')), '0.0.0.0/0');
});

test('rejects garbage, octal and hex IPv4 forms, zone IDs, IPv4-mapped IPv6 and bad prefixes', () => {
  for (const bad of ['garbage', '10.0.0.0/33', '::/129', '010.0.0.1', '0x7f.0.0.1', '127.1', 'fe80::1%eth0', '::ffff:1.2.3.4', '10.0.0.0/08', '10.0.0.0/', '/8', '1.2.3.4/8/8', '1.2.3.4 ', '*']) {
    assert.equal(parseCidr(bad).ok, false, bad);
  }
  assert.match(reason(parseCidrList('10.0.0.0/8,*')), /not allowed here/);
  assert.deepEqual(okValue(parseCidrSpec('*')), { kind: 'all' });
});

test('interface names follow the Linux limits with a safe alphabet', () => {
  assert.deepEqual(okValue(parseInterfaceList('eth0, net1,veth_a.b-c')), ['eth0', 'net1', 'veth_a.b-c']);
  for (const bad of ['a234567890123456', '.', '..', 'eth0/x', 'eth 0', '-eth', 'eth0;id', 'eth0\n', 'ethé']) {
    assert.equal(parseInterfaceList(bad).ok, false, JSON.stringify(bad));
  }
});

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

test('booleans are exactly true or false', () => {
  assert.equal(okValue(parseBoolean('true')), true);
  assert.equal(okValue(parseBoolean('false')), false);
  for (const bad of ['True', 'FALSE', 'yes', '1', ' true', '']) assert.equal(parseBoolean(bad).ok, false, bad);
});

test('port names must be IANA service names of at most 15 characters with a letter', () => {
  assert.equal(isPortName('http-envoy-prom'), true);
  assert.equal(isPortName('siding-health'), true);
  for (const bad of ['', '1234', 'http-envoy-prom1', 'Http', '-a', 'a-', 'a--b', 'a_b']) assert.equal(isPortName(bad), false, bad);
});

test('displayValue escapes control characters, quotes and non-ASCII, and cuts long values', () => {
  assert.equal(displayValue("a'b\\c"), "a\\'b\\\\c");
  assert.equal(displayValue('x\ny\r\t\u0000\u007f'), 'x\\ny\\r\\t\\x00\\x7f');
  assert.equal(displayValue('tru\u0435'), 'tru\\u0435');
  assert.equal(displayValue('\u202e'), '\\u202e');
  assert.equal(displayValue('😀'), '\\u{1f600}');
  assert.equal(displayValue('a'.repeat(150)), `${'a'.repeat(100)}... (150 characters, truncated)`);
});

test('displayValue output is always printable ASCII on one line (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => {
      const d = displayValue(s);
      assert.match(d, /^[\x20-\x7e]*$/);
      assert.ok(d.length <= 100 * 10 + 40);
    }),
    { numRuns: 500 },
  );
});

test('no parser throws on arbitrary input, and accepted port lists render back to the same list (property)', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary', maxLength: 60 }), (s) => {
      parseCidrList(s);
      parseInterfaceList(s);
      parseQuantity(s, 'cpu');
      parseImage(s);
      const ports = parsePortList(s, { allowRanges: true });
      if (ports.ok) {
        assert.match(formatPortList(ports.value), /^[0-9,-]*$/);
        assert.deepEqual(okValue(parsePortList(formatPortList(ports.value), { allowRanges: true })), ports.value);
      }
    }),
    { numRuns: 2000 },
  );
});

test('any generated port list round-trips through its text form (property)', () => {
  const range = fc.tuple(fc.integer({ min: 1, max: 65535 }), fc.integer({ min: 1, max: 65535 })).map(([a, b]) => ({ from: Math.min(a, b), to: Math.max(a, b) }));
  fc.assert(
    fc.property(fc.uniqueArray(range, { maxLength: 20, selector: (r) => `${r.from}-${r.to}` }), (list) => {
      assert.deepEqual(okValue(parsePortList(formatPortList(list), { allowRanges: true })), list);
    }),
  );
});
