/**
 * Entry point run inside another network namespace (`nsenter --net=PATH node probe.js JSON`)
 * by `siding init --netns ... --run-validation`. Prints one JSON ProbeOutcome line.
 * Its only input is the JSON argument, validated field by field.
 */
import { probeRedirect } from './probe-local.js';
import type { ProbeOutcome } from './validate.js';

function parseArg(text: string | undefined): { family: 'ipv4' | 'ipv6'; address: string; port: number; listenPort: number; timeoutMs: number } | undefined {
  if (text === undefined) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const port = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 1 && x <= 65535;
  if (o.family !== 'ipv4' && o.family !== 'ipv6') return undefined;
  if (typeof o.address !== 'string' || !/^[0-9a-fA-F.:]{2,45}$/.test(o.address)) return undefined;
  if (!port(o.port) || !port(o.listenPort)) return undefined;
  if (typeof o.timeoutMs !== 'number' || !Number.isInteger(o.timeoutMs) || o.timeoutMs < 1 || o.timeoutMs > 60000) return undefined;
  return { family: o.family, address: o.address, port: o.port, listenPort: o.listenPort, timeoutMs: o.timeoutMs };
}

const arg = parseArg(process.argv[2]);
let outcome: ProbeOutcome;
if (arg === undefined) {
  outcome = { ok: false, what: 'error', detail: 'probe.js: invalid argument' };
} else {
  outcome = await probeRedirect({ family: arg.family, address: arg.address, port: arg.port }, arg.listenPort, arg.timeoutMs);
}
process.stdout.write(JSON.stringify(outcome) + '\n');
