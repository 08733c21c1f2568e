import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { registerInit } from '../../src/cli/init.js';
import { CHAINS, PURPOSES } from '../../src/redirect/rules.js';
import { FLAG_NAMES } from '../../src/redirect/flags.js';

const doc = readFileSync(new URL('../../docs/init.md', import.meta.url), 'utf8');

function initCommand(): Command {
  const program = new Command('siding');
  registerInit(program);
  const cmd = program.commands.find((c) => c.name() === 'init');
  assert.ok(cmd);
  return cmd;
}

describe('docs/init.md', () => {
  it('documents every flag of siding init, short and long', () => {
    for (const opt of initCommand().options) {
      assert.ok(opt.long !== undefined && doc.includes(`\`${opt.long}`), `docs/init.md does not document ${opt.long}`);
      if (opt.short !== undefined) assert.ok(doc.includes(`\`${opt.short}\``), `docs/init.md does not document ${opt.short}`);
    }
  });

  it('documents every rule comment and every chain', () => {
    for (const purpose of Object.keys(PURPOSES)) assert.ok(doc.includes(`\`siding/${purpose}\``), `siding/${purpose} is not documented`);
    for (const chain of Object.values(CHAINS)) assert.ok(doc.includes(chain), `${chain} is not documented`);
  });

  it('names flags in error messages as --help shows them', () => {
    const help = initCommand().helpInformation();
    for (const name of Object.values(FLAG_NAMES)) {
      for (const part of name.split('/')) assert.ok(help.includes(part), `${part} is not in --help`);
    }
  });
});
