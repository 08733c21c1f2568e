import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { parseAgentFlags } from '../../src/cni/options.js';
import { InputError } from '../../src/errors/index.js';

describe('siding cni-agent flags', () => {
  it('takes the node name from $NODE_NAME and defaults every path to the DaemonSet layout', () => {
    const o = parseAgentFlags({}, { NODE_NAME: 'node-a' });
    assert.equal(o.nodeName, 'node-a');
    assert.equal(o.cniBinDir, '/host/opt/cni/bin');
    assert.equal(o.cniConfDir, '/host/etc/cni/net.d');
    assert.equal(o.socket, '/var/run/siding/cni.sock');
    assert.equal(o.hostSocket, o.socket);
    assert.equal(o.repair, true);
    assert.deepEqual(o.health, { host: '127.0.0.1', port: 15029 });
  });

  it('turns repair off with --no-repair', () => {
    assert.equal(parseAgentFlags({ nodeName: 'n', repair: false }, {}).repair, false);
  });

  it('reports every bad value at once, before touching anything', () => {
    assert.throws(
      () =>
        parseAgentFlags(
          { cniBinDir: 'relative', cniConfFile: '../x.conflist', iptablesMode: 'xt', pluginTimeout: '0', socket: `/${'s'.repeat(120)}`, health: 'nowhere' },
          {},
        ),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        for (const want of ['--node-name is required', "'relative' for --cni-bin-dir", "'../x.conflist' for --cni-conf-file", "'xt' for --iptables-mode", "'0' for --plugin-timeout", 'at most 107 bytes', "'nowhere' for --health"]) {
          assert.ok(e.message.includes(want), `${want} in ${e.message}`);
        }
        return true;
      },
    );
  });

  it('refuses a node name that is not a DNS subdomain', () => {
    assert.throws(() => parseAgentFlags({ nodeName: 'Node_A' }, {}), /must be a node name/);
  });
});
