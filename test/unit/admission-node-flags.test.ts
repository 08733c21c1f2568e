import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
import { missingNodeFlags, WEBHOOK_NODE_FLAGS } from '../../src/admission/node-flags.js';

const read = (file: string): string => readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');

interface Container {
  name: string;
  command?: string[];
  args?: string[];
}

function webhookContainer(): Container {
  const objects = parseAllDocuments(read('manifests/install.yaml')).map((d) => d.toJS() as { kind?: string; metadata?: { name?: string } } | null);
  const dep = objects.find((o) => o?.kind === 'Deployment' && o.metadata?.name === 'siding') as
    | { spec: { template: { spec: { containers: Container[] } } } }
    | undefined;
  assert.ok(dep, 'Deployment/siding is not in manifests/install.yaml');
  const c = dep.spec.template.spec.containers.find((x) => x.name === 'webhook');
  assert.ok(c, 'Deployment/siding has no container named webhook');
  return c;
}

describe('the webhook node flags', () => {
  test('are the semi-space cap and the heap growing percent, in that order', () => {
    assert.deepEqual(WEBHOOK_NODE_FLAGS, ['--max-semi-space-size=8', '--heap-growing-percent=50']);
  });

  test("the Deployment's webhook container runs node with the flags before /app/dist/cli.js and keeps its args", () => {
    const c = webhookContainer();
    assert.deepEqual(c.command, ['node', ...WEBHOOK_NODE_FLAGS, '/app/dist/cli.js']);
    assert.equal(c.args?.[0], 'webhook');
  });

  test("the Deployment's command is the image's ENTRYPOINT with the flags added after node", () => {
    const m = /^ENTRYPOINT (\[.*\])$/m.exec(read('Dockerfile'));
    assert.ok(m?.[1], 'the Dockerfile has no exec-form ENTRYPOINT');
    const [program, ...rest] = JSON.parse(m[1]) as string[];
    assert.deepEqual(webhookContainer().command, [program, ...WEBHOOK_NODE_FLAGS, ...rest]);
  });

  test('npm start runs the built webhook with the flags', () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: Record<string, string> };
    const start = pkg.scripts.start;
    assert.ok(start, 'package.json has no start script');
    assert.ok(start.includes(`node ${WEBHOOK_NODE_FLAGS.join(' ')} dist/cli.js webhook`), start);
  });

  test('scripts/kube-testenv.sh lists the flags in one array and starts the webhook with it', () => {
    const script = read('scripts/kube-testenv.sh');
    for (const flag of WEBHOOK_NODE_FLAGS) assert.ok(script.includes(flag), `scripts/kube-testenv.sh lacks ${flag}`);
    const array = /^webhook_node_flags=\((.*)\)$/m.exec(script);
    assert.ok(array?.[1], 'scripts/kube-testenv.sh has no webhook_node_flags=(...) array');
    assert.deepEqual(array[1].split(/\s+/), WEBHOOK_NODE_FLAGS);
    assert.match(script, /start_bg "\$proc" .*"\$node_bin" "\$\{webhook_node_flags\[@\]\}" "\$repo\/dist\/cli\.js"/);
  });
});

describe('missingNodeFlags', () => {
  const [semi, growing] = WEBHOOK_NODE_FLAGS as [string, string];
  const cases: { name: string; execArgv: string[]; missing: string[] }[] = [
    { name: 'reports both flags when node ran without flags', execArgv: [], missing: [semi, growing] },
    { name: 'reports nothing when both flags are there', execArgv: [semi, growing], missing: [] },
    { name: 'ignores other flags such as a loader', execArgv: ['--import', 'tsx', growing, semi], missing: [] },
    { name: 'reports the one flag that is missing', execArgv: ['--import', 'tsx', semi], missing: [growing] },
    { name: 'reports missing flags in the order of the list', execArgv: ['--enable-source-maps'], missing: [semi, growing] },
    { name: 'counts another value of a flag as missing', execArgv: ['--max-semi-space-size=4', growing], missing: [semi] },
    { name: "counts V8's underscore spelling as missing (exact match only)", execArgv: ['--max_semi_space_size=8', growing], missing: [semi] },
  ];
  for (const c of cases) {
    test(c.name, () => {
      assert.deepEqual(missingNodeFlags(c.execArgv), c.missing);
    });
  }
});

// Keeps about 20 MB of young objects alive while allocating, which makes V8 grow the young
// generation to its limit, and prints the largest new_space size seen (both semi-spaces).
const YOUNG_GENERATION_PROBE = `
const v8 = require('node:v8');
const ring = new Array(300000);
let max = 0;
for (let i = 0; i < 2e6; i++) {
  ring[i % ring.length] = { i, a: [i] };
  if (i % 50000 === 0) {
    const s = v8.getHeapSpaceStatistics().find((x) => x.space_name === 'new_space');
    if (s && s.space_size > max) max = s.space_size;
  }
}
process.stdout.write(String(max));
`;

/** Runs the probe in a fresh node with `flags`; throws (and fails the test) if node exits non-zero. */
function youngGenerationMax(flags: readonly string[]): number {
  const env = { ...process.env };
  delete env.NODE_OPTIONS;
  const out = execFileSync(process.execPath, [...flags, '-e', YOUNG_GENERATION_PROBE], { env, encoding: 'utf8', timeout: 30_000 });
  return Number(out);
}

describe('this Node.js', () => {
  const MiB = 1024 * 1024;

  test('accepts the flags and caps the young generation at 16 MiB (2 × 8 MiB semi-spaces) with them', () => {
    const max = youngGenerationMax(WEBHOOK_NODE_FLAGS);
    assert.ok(max > 0, `no new_space size read: ${max}`);
    assert.ok(max <= 16 * MiB, `new_space grew to ${max / MiB} MiB`);
  });

  test('grows the young generation past 16 MiB under the same load without them, so the cap above is the flags\' doing', () => {
    const max = youngGenerationMax([]);
    assert.ok(max > 16 * MiB, `new_space only grew to ${max / MiB} MiB without the flags`);
  });
});
