/**
 * The config file and `siding init`'s flags get the same hostile shapes as the annotations
 * (test/helpers/hostile.ts), at their size limits: each is answered with a value or an error
 * naming the field, well within a bound generous enough for any machine (the admission
 * timeout: a config watched from a ConfigMap is parsed in the webhook process). Before list
 * items were trimmed by index, one config value of `x`, 65,000 spaces and `x` took about
 * 15 s.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stringify } from 'yaml';
import { parseConfig } from '../../src/config/index.js';
import { ConfigError, InitFlagError, MAX_REPORTED_PROBLEMS } from '../../src/errors/index.js';
import { MAX_VALUE_CHARS } from '../../src/grammar/index.js';
import type { RawInitFlags } from '../../src/redirect/flags.js';
import { parseInitFlags } from '../../src/redirect/options.js';
import { SHAPES } from '../helpers/hostile.js';

const BOUND_MS = 10_000;

/** Runs `fn`; its value or what it threw, and how long it took. */
function timed(fn: () => unknown): { ms: number; result: unknown } {
  const start = process.hrtime.bigint();
  let result: unknown;
  try {
    result = fn();
  } catch (e) {
    result = e;
  }
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, result };
}

const CONFIG_LISTS = [
  'includeInboundPorts',
  'excludeInboundPorts',
  'includeOutboundPorts',
  'excludeOutboundPorts',
  'includeOutboundIPRanges',
  'excludeOutboundIPRanges',
  'excludeInterfaces',
] as const;

describe('the config parser on hostile values', () => {
  for (const [shape, make] of Object.entries(SHAPES)) {
    it(`answers every redirect list given ${shape} at the size limit, naming the field when it refuses`, () => {
      const value = make(MAX_VALUE_CHARS);
      for (const field of CONFIG_LISTS) {
        const { ms, result } = timed(() => parseConfig(JSON.stringify({ redirect: { [field]: value } }), 'c.json'));
        assert.ok(ms < BOUND_MS, `${field}: ${ms.toFixed(0)} ms`);
        if (result instanceof ConfigError) assert.ok(result.problems.some((p) => p.includes(`redirect.${field}`)), `${field}: ${result.message.slice(0, 300)}`);
        else assert.ok(!(result instanceof Error), `${field}: ${String(result)}`);
      }
    });
  }

  it('reports at most 20 problems, then how many more, for a config with thousands of unknown keys', () => {
    const doc: Record<string, unknown> = {};
    for (let i = 0; i < 5_000; i++) doc[`polcy${i}`] = i;
    const { ms, result } = timed(() => parseConfig(stringify(doc), 'c.yaml'));
    assert.ok(ms < BOUND_MS, `${ms.toFixed(0)} ms`);
    assert.ok(result instanceof ConfigError, String(result));
    assert.equal(result.problems.length, MAX_REPORTED_PROBLEMS + 1);
    assert.match(result.problems[0] ?? '', /c\.yaml: polcy0: unknown key \(did you mean 'policy'\?\)/);
    assert.equal(result.problems[MAX_REPORTED_PROBLEMS], `... and ${5_000 - MAX_REPORTED_PROBLEMS} more`);
    assert.ok(result.message.length < 20_000, `${result.message.length} characters`);
  });
});

const INIT_FLAGS: (keyof RawInitFlags)[] = [
  'istioServiceCidr',
  'istioServiceExcludeCidr',
  'istioInboundPorts',
  'istioLocalExcludePorts',
  'istioLocalOutboundPortsExclude',
  'istioOutboundPorts',
  'istioExcludeInterfaces',
  'kubeVirtInterfaces',
  'proxyUid',
  'proxyGid',
  'envoyPort',
  'probeTimeout',
  'lockWait',
];

describe("siding init's flag parser on hostile values", () => {
  for (const [shape, make] of Object.entries(SHAPES)) {
    it(`answers every list and scalar flag given ${shape} at the size limit, naming the flag when it refuses`, () => {
      for (const length of [MAX_VALUE_CHARS, MAX_VALUE_CHARS + 1]) {
        const value = make(length);
        for (const flag of INIT_FLAGS) {
          const { ms, result } = timed(() => parseInitFlags({ [flag]: value }, { exists: () => true, readFile: () => undefined, environment: {} }));
          assert.ok(ms < BOUND_MS, `${flag}: ${ms.toFixed(0)} ms`);
          if (result instanceof InitFlagError) assert.ok(result.message.length < 2_000, `${flag}: a message of ${result.message.length} characters`);
          else assert.ok(!(result instanceof Error) && length <= MAX_VALUE_CHARS, `${flag} (${length} characters): ${String(result)}`);
        }
      }
    });
  }
});
