import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { isQuery, messageId, parseResolvConf, servfail } from '../../src/proxy/dnsmsg.js';

/** A query for `name`, type A, with `extra` bytes after the question (e.g. an EDNS record). */
function query(id: number, name: string, extra: number[] = [], arcount = 0): Uint8Array {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  return Uint8Array.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, arcount, ...labels, 0, 0, 1, 0, 1, ...extra]);
}

describe('resolver file', () => {
  it('reads the nameserver lines in order, skipping comments and other keywords', () => {
    const conf = parseResolvConf('# kubelet\nsearch ns.svc.cluster.local svc.cluster.local\nnameserver 10.96.0.10\n; x\nnameserver fd00::a  # v6\noptions ndots:5\n');
    assert.deepEqual(conf.nameservers, [
      { family: 4, address: '10.96.0.10' },
      { family: 6, address: 'fd00::a' },
    ]);
    assert.deepEqual(conf.ignored, []);
  });

  it('keeps at most three nameservers, as glibc does, and reports what it ignored', () => {
    const conf = parseResolvConf('nameserver 1.1.1.1\nnameserver 2.2.2.2\nnameserver 3.3.3.3\nnameserver 4.4.4.4\nnameserver dns.example\nnameserver\n');
    assert.deepEqual(conf.nameservers.map((n) => n.address), ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
    assert.equal(conf.ignored.length, 3);
  });

  it('finds no nameserver in a file without any', () => {
    assert.deepEqual(parseResolvConf('search example\n').nameservers, []);
  });
});

describe('DNS messages', () => {
  it('reads the ID and tells queries from answers', () => {
    const q = query(0xbeef, 'peer.example');
    assert.equal(messageId(q), 0xbeef);
    assert.ok(isQuery(q));
    assert.equal(messageId(new Uint8Array(5)), undefined);
  });

  it('answers SERVFAIL with the query ID, RD kept, and the question only', () => {
    const q = query(0x1234, 'a.example', [0, 0, 41, 16, 0, 0, 0, 0, 0, 0, 0], 1);
    const a = servfail(q);
    assert.ok(a !== undefined);
    assert.equal(messageId(a), 0x1234);
    assert.equal(a[2], 0x81); // QR and RD
    assert.equal(a[3], 0x82); // RA, RCODE 2
    assert.deepEqual([...a.subarray(4, 12)], [0, 1, 0, 0, 0, 0, 0, 0]);
    assert.equal(a.length, query(0x1234, 'a.example').length);
    assert.ok(!isQuery(a));
  });

  it('makes no SERVFAIL for a message that is not one well-formed query', () => {
    assert.equal(servfail(servfail(query(1, 'x.example'))!), undefined);
    assert.equal(servfail(query(1, 'x.example').subarray(0, 15)), undefined);
    const two = query(1, 'x.example');
    two[5] = 2;
    assert.equal(servfail(two), undefined);
  });

  it('never throws on any bytes and never answers with more than it was sent', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 600 }), (bytes) => {
        const a = servfail(bytes);
        assert.ok(a === undefined || a.length <= bytes.length);
      }),
    );
  });
});
