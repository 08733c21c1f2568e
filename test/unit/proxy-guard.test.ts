import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback, loopVerdict, type GuardInput } from '../../src/proxy/guard.js';

const LOCAL = new Set(['10.250.0.1', 'fd00:5d::1']);
const base = (over: Partial<GuardInput>): GuardInput => ({
  original: { family: 4, address: '10.250.0.2', port: 9000 },
  localAddress: '::ffff:127.0.0.1',
  localPort: 15001,
  ownPorts: new Set([15001, 15006]),
  isLocal: (a) => isLoopback(a) || LOCAL.has(a),
  ...over,
});

describe('the loop guard', () => {
  const cases: { name: string; input: Partial<GuardInput>; loop: boolean }[] = [
    { name: 'lets a redirected connection to a peer through', input: {}, loop: false },
    {
      name: 'refuses a connection that was not redirected (original destination = the listener)',
      input: { original: { family: 4, address: '127.0.0.1', port: 15001 } },
      loop: true,
    },
    {
      name: 'refuses a direct dial of the listener on the pod address (IPv4-mapped local address)',
      input: { original: { family: 4, address: '10.250.0.1', port: 15001 }, localAddress: '::ffff:10.250.0.1' },
      loop: true,
    },
    {
      name: "refuses a redirected inbound connection to the pod's outbound port",
      input: { original: { family: 4, address: '10.250.0.1', port: 15001 }, localAddress: '::ffff:10.250.0.1', localPort: 15006 },
      loop: true,
    },
    {
      name: 'refuses a connection to the inbound port on loopback over IPv6',
      input: { original: { family: 6, address: '::1', port: 15006 }, localAddress: '::1', localPort: 15001 },
      loop: true,
    },
    {
      name: 'lets a connection to port 15001 of another host through',
      input: { original: { family: 4, address: '10.250.0.2', port: 15001 } },
      loop: false,
    },
    {
      name: "lets a connection to another port of the pod's own address through",
      input: { original: { family: 6, address: 'fd00:5d::1', port: 8080 }, localAddress: 'fd00:5d::1', localPort: 15006 },
      loop: false,
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const v = loopVerdict(base(c.input));
      assert.equal(v.loop, c.loop);
      if (v.loop) assert.ok(v.reason.length > 0);
    });
  }

  it('knows all of 127.0.0.0/8 and ::1 as loopback, mapped or not', () => {
    for (const a of ['127.0.0.1', '127.0.0.6', '::ffff:127.0.0.1', '::1']) assert.ok(isLoopback(a), a);
    for (const a of ['10.0.0.1', '::2', 'fd00::1', '::ffff:10.0.0.1']) assert.ok(!isLoopback(a), a);
  });
});
