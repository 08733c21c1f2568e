import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import fc from 'fast-check';
import { parse } from 'yaml';
import { configFromValue, DEFAULT_CONFIG, loadConfigFile, parseConfig, publishedSchema } from '../../src/config/index.js';
import { ConfigError } from '../../src/errors/index.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'c.yaml');
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return [...e.problems];
  }
  assert.fail('expected a ConfigError');
}

test('an empty config is the built-in default', () => {
  assert.deepEqual(parseConfig('', 'empty.yaml'), DEFAULT_CONFIG);
  assert.deepEqual(parseConfig('{}', 'empty.json'), DEFAULT_CONFIG);
});

test("the built-in default runs siding proxy and siding init from siding's image of this version", () => {
  assert.match(DEFAULT_CONFIG.init.image, /^ghcr\.io\/siding-mesh\/siding:\d+\.\d+\.\d+$/);
  assert.equal(DEFAULT_CONFIG.proxy.image, DEFAULT_CONFIG.init.image);
  assert.deepEqual(DEFAULT_CONFIG.proxy.command, ['siding', 'proxy']);
  assert.equal(DEFAULT_CONFIG.proxy.uid, 1337);
  assert.equal(DEFAULT_CONFIG.nativeSidecar, true);
});

test('the default config shown in docs/config.md parses to exactly the built-in default', () => {
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const block = /## The built-in default\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block !== undefined, 'docs/config.md has a yaml block under "The built-in default"');
  assert.deepEqual(parseConfig(block, 'docs/config.md'), DEFAULT_CONFIG);
});

test('a partial config is merged over the default, mappings key by key', () => {
  const c = parseConfig('proxy:\n  image: example.com/envoy:v2\n  resources:\n    limits: {memory: 2Gi}\n', 'c.yaml');
  assert.equal(c.proxy.image, 'example.com/envoy:v2');
  assert.equal(c.proxy.uid, DEFAULT_CONFIG.proxy.uid);
  assert.deepEqual(c.proxy.resources.requests, DEFAULT_CONFIG.proxy.resources.requests);
  assert.deepEqual(c.proxy.resources.limits, { memory: '2Gi' }, 'a resource map given in the file replaces the default map');
  assert.deepEqual(c.redirect, DEFAULT_CONFIG.redirect);
});

test('lists in a config replace the default list', () => {
  const c = parseConfig('excludedNamespaces: [tools]\n', 'c.yaml');
  assert.deepEqual(c.excludedNamespaces, ['tools']);
});

test('JSON configs are accepted', () => {
  const c = parseConfig('{"policy": "disabled", "redirect": {"excludeOutboundPorts": [5432, "6379", "7000-7010"]}}', 'c.json');
  assert.equal(c.policy, 'disabled');
  assert.deepEqual(c.redirect.excludeOutboundPorts, [
    { from: 5432, to: 5432 },
    { from: 6379, to: 6379 },
    { from: 7000, to: 7010 },
  ]);
});

test('redirect lists accept the annotation syntax as a string', () => {
  const c = parseConfig('redirect:\n  includeOutboundIPRanges: "10.0.0.1/8, fd00::1/8"\n  includeInboundPorts: ""\n', 'c.yaml');
  assert.deepEqual(c.redirect.includeOutboundIPRanges, {
    kind: 'list',
    cidrs: [
      { family: 'ipv4', address: '10.0.0.0', prefix: 8 },
      { family: 'ipv6', address: 'fd00::', prefix: 8 },
    ],
  });
  assert.deepEqual(c.redirect.includeInboundPorts, { kind: 'list', ports: [] });
});

test('an unknown key is an error that suggests the key meant', () => {
  const p = problems('proxy:\n  imagee: x\n');
  assert.equal(p.length, 1);
  assert.match(p[0] ?? '', /^c\.yaml: proxy\.imagee: unknown key \(did you mean 'image'\?\)/);
});

test('every problem in a config is reported at once', () => {
  const p = problems(`
policy: maybe
sidingNamespace: Siding_System
excludedNamespaces: kube-system
proxy:
  uid: 0
  outboundPort: 70000
  image: "nginx; rm -rf /"
  env: [{name: POD_NAME, value: x}, {name: "1BAD"}]
  volumes: [{name: data, mountPath: /data, emptyDir: {}}]
  resources: {requests: {cpu: 2, memory: 128m}}
init:
  command: []
redirect:
  interceptionMode: TPROXY
  excludeOutboundPorts: "80;rm"
  excludeOutboundIPRanges: ["10.0.0.0/33"]
  excludeInterfaces: "eth0 eth1"
  includeOutboundPorts: "1000-2000"
neverInjectSelector: [{}]
alwaysInjectSelector: [{matchExpressions: [{key: a, operator: In}]}]
`);
  const expected = [
    'policy:',
    'sidingNamespace:',
    'excludedNamespaces: must be a list',
    'proxy.uid: must be an integer from 1',
    'proxy.outboundPort: must be an integer from 1 to 65535',
    'proxy.image:',
    'proxy.env[0]: POD_NAME is set by siding itself',
    'proxy.env[1].name:',
    'proxy.volumes[0].name:',
    'proxy.resources.requests.cpu: must be a string',
    'proxy.resources.requests.memory:',
    'init.command: needs at least the program',
    'redirect.interceptionMode: TPROXY is not supported yet',
    'redirect.excludeOutboundPorts:',
    'redirect.excludeOutboundIPRanges:',
    'redirect.excludeInterfaces:',
    'redirect.includeOutboundPorts: port ranges are not allowed here',
    'neverInjectSelector[0]: an empty selector would match every pod',
    'alwaysInjectSelector[0].matchExpressions[0]: operator In needs at least one value',
  ];
  for (const e of expected) assert.ok(p.some((x) => x.startsWith(`c.yaml: ${e}`)), `missing problem "${e}" in:\n${p.join('\n')}`);
  assert.equal(p.length, expected.length, p.join('\n'));
});

test('proxy ports that collide are refused', () => {
  const p = problems('proxy: {healthPort: 15090}\nredirect: {redirectDNS: true, dnsPort: 15001}\n');
  assert.deepEqual(p.sort(), ['c.yaml: proxy.healthPort: port 15090 is already used by proxy.metricsPort', 'c.yaml: redirect.dnsPort: port 15001 is already used by proxy.outboundPort']);
});

test('a resource request above its limit is refused', () => {
  const p = problems('proxy:\n  resources:\n    requests: {cpu: "3"}\n');
  assert.deepEqual(p, ['c.yaml: proxy.resources: cpu request 3 is above its limit 2']);
});

test('YAML syntax errors, duplicate keys and several documents are config errors', () => {
  assert.match(problems('policy: [\n')[0] ?? '', /^c\.yaml: /);
  assert.match(problems('policy: enabled\npolicy: disabled\n')[0] ?? '', /^c\.yaml: .*(unique|duplicate)/i);
  assert.match(problems('policy: enabled\n---\npolicy: disabled\n')[0] ?? '', /2 YAML documents/);
  assert.match(problems('- a\n')[0] ?? '', /must be a mapping, got a list/);
});

test('hostile keys and values are escaped in config problems', () => {
  const p = problems('"evil\\nkey": 1\npolicy: "a\\nb"\n');
  assert.ok(p.every((x) => !x.includes('\n')), p.join(' | '));
  assert.ok(p.some((x) => x.includes('evil\\nkey')));
});

test('label selectors are parsed with their expressions', () => {
  const c = parseConfig('neverInjectSelector:\n  - matchLabels: {app.kubernetes.io/name: job}\n    matchExpressions: [{key: tier, operator: NotIn, values: [web]}]\n', 'c.yaml');
  assert.deepEqual(c.neverInjectSelector, [
    { matchLabels: { 'app.kubernetes.io/name': 'job' }, matchExpressions: [{ key: 'tier', operator: 'NotIn', values: ['web'] }] },
  ]);
});

test('proxy volumes, env and command are read from the config', () => {
  const c = parseConfig(
    'proxy:\n  command: [envoy]\n  args: ["-c", /etc/siding/envoy.yaml]\n  env: [{name: LOG, value: debug}]\n  volumes:\n    - {name: siding-bootstrap, mountPath: /etc/siding, readOnly: true, configMap: {name: siding-bootstrap}}\n',
    'c.yaml',
  );
  assert.deepEqual(c.proxy.command, ['envoy']);
  assert.deepEqual(c.proxy.env, [{ name: 'LOG', value: 'debug' }]);
  assert.deepEqual(c.proxy.volumes, [{ name: 'siding-bootstrap', mountPath: '/etc/siding', readOnly: true, configMap: { name: 'siding-bootstrap' } }]);
});

test('the parsed default is frozen so no caller can change it for everyone', () => {
  assert.throws(() => {
    (DEFAULT_CONFIG.proxy as { image: string }).image = 'x';
  }, TypeError);
});

test('loadConfigFile reads a file and reports a missing one as a ConfigError', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'siding-config-'));
  const file = join(dir, 'config.yaml');
  writeFileSync(file, 'nativeSidecar: false\n');
  assert.equal((await loadConfigFile(file)).nativeSidecar, false);
  await assert.rejects(loadConfigFile(join(dir, 'missing.yaml')), (e) => e instanceof ConfigError && /cannot read/.test(e.message));
});

test('docs/config.schema.json is the schema the code validates with, as published', () => {
  const file = new URL('../../docs/config.schema.json', import.meta.url);
  if (process.env.UPDATE_GOLDEN === '1') writeFileSync(file, `${JSON.stringify(publishedSchema(), null, 2)}\n`);
  const published = JSON.parse(readFileSync(new URL('../../docs/config.schema.json', import.meta.url), 'utf8')) as unknown;
  assert.deepEqual(published, publishedSchema(), 'docs/config.schema.json is stale: run the unit tests with UPDATE_GOLDEN=1');
});

test('the published schema accepts the documented default and rejects an unknown key, in a plain JSON Schema validator', () => {
  const ajv = new Ajv({ strict: false, allErrors: true });
  const validate = ajv.compile(JSON.parse(readFileSync(new URL('../../docs/config.schema.json', import.meta.url), 'utf8')) as object);
  const doc = readFileSync(new URL('../../docs/config.md', import.meta.url), 'utf8');
  const block = /## The built-in default\n\n```yaml\n([\s\S]*?)```/.exec(doc)?.[1] ?? '';
  assert.ok(validate(parse(block)), JSON.stringify(validate.errors));
  assert.ok(validate({ proxy: { uid: 1 } }), 'a partial config is valid: keys with defaults are optional');
  assert.equal(validate({ proxy: { imagee: 'x' } }), false);
  assert.equal(validate({ proxy: { outboundPort: 70000 } }), false);
});

test('a config of any shape gives a config or a ConfigError, never another exception (property)', () => {
  const field = fc.oneof(fc.anything(), fc.constantFrom(null, [], {}, [null], 'x', 5, true, -1, '1-2,3', '10.0.0.0/8'));
  const section = (keys: string[]) => fc.oneof(field, fc.dictionary(fc.constantFrom(...keys), field, { maxKeys: 4 }));
  const config = fc.dictionary(
    fc.constantFrom('policy', 'excludedNamespaces', 'neverInjectSelector', 'nativeSidecar', 'proxy', 'init', 'redirect', 'unknown'),
    fc.oneof(
      field,
      section(['image', 'env', 'volumes', 'resources', 'uid', 'outboundPort', 'healthPort', 'command']),
      section(['excludeOutboundPorts', 'includeInboundPorts', 'includeOutboundIPRanges', 'redirectDNS', 'dnsPort']),
      fc.array(section(['matchLabels', 'matchExpressions']), { maxLength: 2 }),
    ),
    { maxKeys: 5 },
  );
  fc.assert(
    fc.property(config, (raw) => {
      try {
        configFromValue(raw, 'c.yaml');
      } catch (e) {
        assert.ok(e instanceof ConfigError, String(e));
      }
    }),
    { numRuns: 500 },
  );
});

test('two configs parsed from the defaults share no object: changing one leaves the next untouched', () => {
  const a = parseConfig('', 'a.yaml');
  a.excludedNamespaces.push('x');
  a.proxy.volumes.push({ name: 'siding-y', mountPath: '/y', readOnly: false, emptyDir: {} });
  a.proxy.resources.requests.cpu = '9';
  const b = parseConfig('', 'b.yaml');
  assert.deepEqual(b, DEFAULT_CONFIG);
});
