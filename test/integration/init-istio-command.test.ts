/**
 * In a fresh network namespace, the istio-iptables command Istio's injector writes (run as
 * the real CLI process inside the namespace, backend and IPv6 detected automatically)
 * redirects, lets the proxy and port 15021 through, converges, and cleans up.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { initPrerequisite, Lab, PEER4, POD4, ISTIO_INIT_ARGS } from './init-lib.js';
import { skipUnless } from '../helpers/prereq.js';

const prereq = initPrerequisite();

describe("the istio-iptables command of Istio's injector, in a fresh network namespace", skipUnless(prereq), () => {
  let lab: Lab;
  let original: string;
  const everything = async (): Promise<string> => `${await lab.state('nft')}${await lab.state('legacy')}`;

  before(async () => {
    lab = await Lab.create('istio');
    original = await everything();
  });
  after(async () => {
    await lab?.destroy();
  });

  it('applies with exit 0, choosing nft and IPv4 only, as istio-iptables does in an IPv4 pod', async () => {
    const r = await lab.cli(ISTIO_INIT_ARGS);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /backend=nft/);
    assert.match(r.stderr, /IPv4 only/);
    assert.equal(r.stdout, '');
    assert.match(await lab.save('nft'), /SIDING_OUTPUT/);
  });

  it("redirects an app-UID connection to 15001 and a peer's inbound connection to 15006", async () => {
    assert.equal(await lab.app(PEER4, 9000), 'outbound');
    assert.equal(await lab.fromPeer(POD4, 8080), 'inbound');
  });

  it('lets the proxy UID reach the peer and inbound port 15021 reach the app', async () => {
    assert.equal(await lab.proxy(PEER4, 9000), 'peer');
    assert.equal(await lab.fromPeer(POD4, 15021), 'app');
  });

  it('gives the same ruleset when run twice', async () => {
    const first = await everything();
    const r = await lab.cli(ISTIO_INIT_ARGS);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await everything(), first);
  });

  it('leaves the namespace as it was after --cleanup', async () => {
    const r = await lab.cli(['init', '--cleanup']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(await everything(), original);
    assert.equal(await lab.app(PEER4, 9000), 'peer');
    assert.equal(await lab.fromPeer(POD4, 8080), 'app');
  });
});
