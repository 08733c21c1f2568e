import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DEFAULT_LISTEN, formatAuthority, parseListenAddress } from '../../src/admission/listen.js';
import { InputError } from '../../src/errors/index.js';

describe('parseListenAddress', () => {
  const valid: [string, string, number][] = [
    [DEFAULT_LISTEN, '127.0.0.1', 9443],
    ['0.0.0.0:8443', '0.0.0.0', 8443],
    ['[::]:9443', '::', 9443],
    ['[::1]:0', '::1', 0],
    ['localhost:9443', 'localhost', 9443],
    ['siding.siding-system.svc:443', 'siding.siding-system.svc', 443],
    ['127.0.0.1:65535', '127.0.0.1', 65535],
  ];
  for (const [input, host, port] of valid) {
    it(`reads ${input} as host ${host} and port ${port}`, () => {
      assert.deepEqual(parseListenAddress(input), { host, port });
    });
  }

  const invalid: [string, RegExp][] = [
    ['9443', /HOST:PORT/],
    [':9443', /HOST:PORT/],
    ['127.0.0.1:', /HOST:PORT/],
    ['127.0.0.1:65536', /port must be/],
    ['127.0.0.1:-1', /HOST:PORT/],
    ['127.0.0.1:94x3', /HOST:PORT/],
    ['::1:9443', /HOST:PORT/],
    ['[127.0.0.1]:9443', /not an IPv6/],
    ['[fe80::1%eth0]:9443', /not an IPv6/],
    ['127.1:9443', /host must be/],
    ['999.0.0.1:9443', /host must be/],
    ['bad_host:9443', /host must be/],
    ['host;rm -rf /:9443', /HOST:PORT|host must be/],
    ['-leading.example:9443', /host must be/],
  ];
  for (const [input, reason] of invalid) {
    it(`rejects ${JSON.stringify(input)} with an InputError naming --listen`, () => {
      assert.throws(
        () => parseListenAddress(input),
        (e: unknown) => e instanceof InputError && e.message.includes('--listen') && reason.test(e.message),
      );
    });
  }

  it('formats IPv6 hosts in brackets for URLs', () => {
    assert.equal(formatAuthority({ host: '::1', port: 9443 }), '[::1]:9443');
    assert.equal(formatAuthority({ host: '127.0.0.1', port: 9443 }), '127.0.0.1:9443');
  });
});
