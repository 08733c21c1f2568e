#!/usr/bin/env node
/**
 * The `siding` executable. `siding init` runs on every pod start, so it gets a CommonJS
 * bundle of its own (dist/chunks/init.cjs, scripts/bundle.sh) that loads without the ES
 * module loader; every other command runs the full CLI, dist/cli.js.
 */
import { join } from 'node:path';

type InitMain = { mainInit: (argv: readonly string[]) => Promise<void> };

const argv = process.argv.slice(2);
if (argv[0] === 'init') {
  // A path, not a module name: the bundle exists only in dist/. require(), not import(): the
  // whole point is to stay out of the ES module loader.
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  void (require(join(__dirname, 'chunks', 'init.cjs')) as InitMain).mainInit(argv);
} else {
  void import('./cli.js');
}
