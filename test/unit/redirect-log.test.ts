import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/redirect/log.js';

describe('the siding init log', () => {
  const now = () => new Date('2026-01-02T03:04:05.000Z');

  it('writes one JSON object per line with --log-format json', () => {
    const lines: string[] = [];
    const log = createLogger('json', (l) => lines.push(l), now);
    log.info({ backend: 'nft', rules: 18 }, 'applied the IPv4 rules');
    log.warn({ attempt: 1 }, 'the xtables lock is held');
    assert.equal(lines.length, 2);
    assert.deepEqual(JSON.parse(lines[0] ?? ''), { time: '2026-01-02T03:04:05.000Z', level: 'info', msg: 'applied the IPv4 rules', backend: 'nft', rules: 18 });
    assert.equal((JSON.parse(lines[1] ?? '') as { level: string }).level, 'warn');
    for (const l of lines) assert.ok(l.endsWith('\n') && !l.slice(0, -1).includes('\n'));
  });

  it('writes readable text with the fields after the message', () => {
    const lines: string[] = [];
    const log = createLogger('text', (l) => lines.push(l), now);
    log.info({ backend: 'legacy', reason: 'x', skipped: undefined }, 'chose the iptables backend');
    log.warn({ list: ['a', 'b'] }, 'careful');
    log.error({ exit_code: 2 }, 'iptables-restore failed');
    assert.deepEqual(lines, [
      'siding init: chose the iptables backend (backend=legacy reason=x)\n',
      'siding init: warning: careful (list=a,b)\n',
      'siding init: error: iptables-restore failed (exit_code=2)\n',
    ]);
  });
});
