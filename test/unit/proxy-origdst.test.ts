import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import ipaddr from 'ipaddr.js';
import {
  AF_INET,
  AF_INET6,
  decodeSockaddr,
  formatIpv6,
  originalDstQuery,
  SOL_IP,
  SOL_IPV6,
  SO_ORIGINAL_DST,
  IP6T_SO_ORIGINAL_DST,
  unmapped,
} from '../../src/proxy/origdst.js';

/** A sockaddr_in as the kernel writes it: family little-endian, port big-endian. */
function sockaddrIn(address: string, port: number): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = AF_INET;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(address.split('.').map(Number), 4);
  return b;
}

function sockaddrIn6(address: string, port: number): Uint8Array {
  const b = new Uint8Array(28);
  b[0] = AF_INET6;
  b[2] = port >> 8;
  b[3] = port & 0xff;
  b.set(ipaddr.IPv6.parse(address).toByteArray(), 8);
  return b;
}

describe('original destination decoding', () => {
  it('decodes an IPv4 sockaddr_in, port in network byte order', () => {
    assert.deepEqual(decodeSockaddr(sockaddrIn('10.250.0.2', 9000), 16), { family: 4, address: '10.250.0.2', port: 9000 });
    // The kernel leaves the length at the size asked for (28) for the IPv4 answer.
    assert.deepEqual(decodeSockaddr(sockaddrIn('127.0.0.1', 65535), 28), { family: 4, address: '127.0.0.1', port: 65535 });
  });

  it('decodes an IPv6 sockaddr_in6 to the text Node.js uses for socket addresses', () => {
    assert.deepEqual(decodeSockaddr(sockaddrIn6('fd00:5d::2', 443), 28), { family: 6, address: 'fd00:5d::2', port: 443 });
    assert.deepEqual(decodeSockaddr(sockaddrIn6('::1', 15001), 28), { family: 6, address: '::1', port: 15001 });
    assert.deepEqual(decodeSockaddr(sockaddrIn6('2001:db8:0:1:1:1:1:1', 80), 28), { family: 6, address: '2001:db8:0:1:1:1:1:1', port: 80 });
  });

  it('refuses short buffers, unknown families and port 0 with a reason', () => {
    assert.equal(typeof decodeSockaddr(sockaddrIn('1.2.3.4', 80), 4), 'string');
    assert.equal(typeof decodeSockaddr(sockaddrIn6('::1', 80), 16), 'string');
    assert.match(decodeSockaddr(new Uint8Array(28).fill(7), 28) as string, /unknown address family/);
    assert.match(decodeSockaddr(sockaddrIn('1.2.3.4', 0), 16) as string, /port 0/);
    assert.equal(typeof decodeSockaddr(new Uint8Array(2), 28), 'string');
  });

  it('never throws and always returns an endpoint or a reason, for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.nat(64), (bytes, len) => {
        const r = decodeSockaddr(bytes, len);
        assert.ok(typeof r === 'string' || (r.port > 0 && r.port < 65536));
      }),
    );
  });

  it('asks for the IPv4 option on IPv4 and IPv4-mapped sockets, and the IPv6 option otherwise', () => {
    assert.deepEqual(originalDstQuery('10.0.0.1'), { level: SOL_IP, name: SO_ORIGINAL_DST });
    assert.deepEqual(originalDstQuery('::ffff:10.0.0.1'), { level: SOL_IP, name: SO_ORIGINAL_DST });
    assert.deepEqual(originalDstQuery('fd00::1'), { level: SOL_IPV6, name: IP6T_SO_ORIGINAL_DST });
    assert.deepEqual(originalDstQuery('::1'), { level: SOL_IPV6, name: IP6T_SO_ORIGINAL_DST });
  });

  it('unmaps IPv4-mapped addresses and leaves others alone', () => {
    assert.equal(unmapped('::ffff:127.0.0.6'), '127.0.0.6');
    assert.equal(unmapped('::ffff:1:2'), '::ffff:1:2');
    assert.equal(unmapped('fd00::1'), 'fd00::1');
  });
});

describe('IPv6 text', () => {
  it('compresses the longest zero run, the first on a tie, and never a single zero group', () => {
    assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0]), '::');
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1]), '2001:db8::1:0:0:1');
    assert.equal(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1]), '2001:db8:0:1:1:1:1:1');
    assert.equal(formatIpv6([1, 0, 0, 2, 0, 0, 0, 3]), '1:0:0:2::3');
  });

  it('writes IPv4-mapped and IPv4-compatible addresses with a dotted tail, as Node.js does', () => {
    assert.equal(formatIpv6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]), '::ffff:10.0.0.1');
    assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0x0a00, 0x0001]), '::10.0.0.1');
  });

  it("matches ipaddr.js's RFC 5952 text for every address outside ::/96 and ::ffff:0:0/96", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 0xffff })), { minLength: 8, maxLength: 8 }), (groups) => {
        fc.pre(!groups.slice(0, 5).every((g) => g === 0));
        assert.equal(formatIpv6(groups), new ipaddr.IPv6(groups).toRFC5952String());
      }),
      { numRuns: 2000 },
    );
  });
});
