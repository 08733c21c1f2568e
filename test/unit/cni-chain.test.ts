/**
 * Chaining siding into the common shapes of node CNI configuration, and out again. Golden
 * files hold what the agent writes (UPDATE_GOLDEN=1 rewrites them).
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chainConfig, isChained, primaryConfig, sidingEntry, unchainConfig } from '../../src/cni/chain.js';
import { CniError } from '../../src/errors/index.js';
import { fixtureText } from '../helpers/fixtures.js';
import { GoldenSet } from '../helpers/golden.js';

const ENTRY = sidingEntry('/var/run/siding/cni.sock', 30);

const SHAPES = ['10-bridge.conflist', '10-calico.conflist', '05-cilium.conflist', '10-bridge.conf', '10-calico-old-siding.conflist'];
const ROUND_TRIPS = ['10-bridge.conflist', '10-calico.conflist', '05-cilium.conflist'];
const golden = new GoldenSet('cni', [...SHAPES.map((n) => `${n}.chained`), ...ROUND_TRIPS.map((n) => `${n}.unchained`)]);

function show(plan: ReturnType<typeof chainConfig>): string {
  if (plan.kind === 'unchanged') return '# unchanged\n';
  return `# write: ${plan.file}\n${plan.remove === undefined ? '' : `# remove: ${plan.remove}\n`}${plan.text}`;
}

describe('chaining siding into a CNI configuration', () => {
  after(() => golden.assertNoStale());

  for (const name of SHAPES) {
    it(`chains siding last into ${name} and keeps every other plugin and key`, () => {
      const text = fixtureText('cni', name);
      const plan = chainConfig(name, text, ENTRY);
      golden.check(`${name}.chained`, show(plan));
      assert.equal(plan.kind, 'write');
      if (plan.kind !== 'write') return;
      const out = JSON.parse(plan.text) as { plugins: { type: string }[]; name?: string; cniVersion?: string };
      const before = JSON.parse(text) as { plugins?: { type: string }[]; name?: string; cniVersion?: string; type?: string };
      assert.deepEqual(out.plugins.at(-1), ENTRY);
      assert.equal(out.plugins.filter((p) => p.type === 'siding').length, 1);
      assert.equal(out.name, before.name);
      assert.equal(out.cniVersion, before.cniVersion);
      const others = (before.plugins ?? [before]).filter((p) => p.type !== 'siding');
      assert.deepEqual(out.plugins.slice(0, -1), others);
      assert.ok(isChained(plan.file, plan.text, ENTRY));
    });
  }

  it('turns a .conf into a .conflist of the same base name and removes the .conf, which would sort first', () => {
    const plan = chainConfig('10-bridge.conf', fixtureText('cni', '10-bridge.conf'), ENTRY);
    assert.equal(plan.kind, 'write');
    if (plan.kind !== 'write') return;
    assert.equal(plan.file, '10-bridge.conflist');
    assert.equal(plan.remove, '10-bridge.conf');
  });

  it('changes nothing when siding is already chained with the same entry', () => {
    const first = chainConfig('10-calico.conflist', fixtureText('cni', '10-calico.conflist'), ENTRY);
    assert.equal(first.kind, 'write');
    if (first.kind !== 'write') return;
    assert.deepEqual(chainConfig(first.file, first.text, ENTRY), { kind: 'unchanged' });
  });

  it('replaces an entry whose socket or timeout changed, and moves it last', () => {
    const plan = chainConfig('10-calico-old-siding.conflist', fixtureText('cni', '10-calico-old-siding.conflist'), ENTRY);
    assert.equal(plan.kind, 'write');
    if (plan.kind !== 'write') return;
    const types = (JSON.parse(plan.text) as { plugins: { type: string }[] }).plugins.map((p) => p.type);
    assert.deepEqual(types, ['calico', 'portmap', 'siding']);
  });

  for (const name of ROUND_TRIPS) {
    it(`unchaining ${name} after chaining gives back the same configuration`, () => {
      const text = fixtureText('cni', name);
      const plan = chainConfig(name, text, ENTRY);
      assert.equal(plan.kind, 'write');
      if (plan.kind !== 'write') return;
      const undone = unchainConfig(plan.file, plan.text);
      golden.check(`${name}.unchained`, show(undone));
      assert.equal(undone.kind, 'write');
      if (undone.kind !== 'write') return;
      assert.deepEqual(JSON.parse(undone.text), JSON.parse(text));
    });
  }

  it('unchaining a configuration without siding changes nothing', () => {
    assert.deepEqual(unchainConfig('10-bridge.conflist', fixtureText('cni', '10-bridge.conflist')), { kind: 'unchanged' });
  });

  it('refuses what it cannot chain into, saying why, and leaves it alone', () => {
    const cases: [string, string, RegExp][] = [
      ['10-x.conflist', '{not json', /not valid JSON/],
      ['10-x.conflist', '[1,2]', /not a JSON object/],
      ['10-x.conflist', '{"name":"x","plugins":[]}', /non-empty "plugins" list/],
      ['10-x.conflist', '{"name":"x","plugins":[{"type":"siding"}]}', /no plugin but siding's/],
      ['10-x.conf', '{"name":"x"}', /needs a "type"/],
      ['10-x.conflist', `{"name":"${'x'.repeat(1 << 20)}"}`, /larger than/],
    ];
    for (const [file, text, message] of cases) {
      assert.throws(() => chainConfig(file, text, ENTRY), (e: unknown) => e instanceof CniError && message.test(e.message), file + text.slice(0, 30));
    }
  });

  it("picks the runtime's file: the first .conflist, .conf or .json by byte order, ignoring dot-files and other extensions", () => {
    assert.equal(primaryConfig(['20-b.conf', '10-a.conflist', '05-z.json']), '05-z.json');
    assert.equal(primaryConfig(['.siding-10-a.conflist.tmp', 'README', '99-last.conflist']), '99-last.conflist');
    assert.equal(primaryConfig(['10-a.conflist.bak', 'b.yaml']), undefined);
    assert.equal(primaryConfig(['Z.conf', 'a.conf']), 'Z.conf');
  });
});
