/**
 * The programs of the proxy benchmark, each run in its own process inside a network
 * namespace (`node --import tsx bench/proxy-load.ts MODE JSON`):
 *   serve    the servers of the server pod: request/response echo, bulk sink, one byte per
 *            connection, and a holder of idle connections; prints "ready"
 *   pipe     a bare Node.js pipe: listens, and pipes every connection to one fixed address
 *   rr       request/response load: C connections, each sending SIZE bytes and waiting for
 *            SIZE back, for a duration; prints JSON (requests/s, latency percentiles)
 *   bulk     sends BYTES on one connection and waits for the count back; prints JSON
 *   conns    new connections per second: C workers connect, read one byte, close; JSON
 *   hold     opens COUNT connections and keeps them until stdin closes; prints "held N"
 *   sockopt  times getsockopt(SO_ORIGINAL_DST) on a redirected connection; prints JSON
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import { percentile } from './procs.js';
import { PORTS } from './proxy-ports.js';

const [mode, json] = process.argv.slice(2);
const o = JSON.parse(json ?? '{}') as Record<string, number | string>;
const num = (k: string): number => Number(o[k]);
const str = (k: string): string => String(o[k]);
const print = (v: unknown): void => void process.stdout.write(`${typeof v === 'string' ? v : JSON.stringify(v)}\n`);

function listen(port: number, onConnection: (c: net.Socket) => void): Promise<void> {
  const s = net.createServer({ allowHalfOpen: true, noDelay: true }, (c) => {
    c.on('error', () => undefined);
    onConnection(c);
  });
  return new Promise((resolve, reject) => {
    s.once('error', reject);
    s.listen({ port, backlog: 4096 }, () => resolve());
  });
}

async function serve(): Promise<void> {
  const size = num('size');
  const reply = Buffer.alloc(size, 1);
  await Promise.all([
    // One reply of `size` bytes for every `size` bytes received.
    listen(PORTS.rr, (c) => {
      let pending = 0;
      c.on('data', (d: Buffer) => {
        pending += d.length;
        while (pending >= size) {
          pending -= size;
          c.write(reply);
        }
      });
      c.on('end', () => c.end());
    }),
    listen(PORTS.sink, (c) => {
      let n = 0;
      c.on('data', (d: Buffer) => (n += d.length));
      c.on('end', () => c.end(`${n}\n`));
    }),
    listen(PORTS.conn, (c) => {
      c.resume();
      c.end('x');
    }),
    listen(PORTS.hold, (c) => {
      c.resume();
      c.on('end', () => c.end());
    }),
  ]);
  print('ready');
}

async function pipe(): Promise<void> {
  await listen(num('listen'), (c) => {
    const u = net.connect({ host: str('host'), port: num('port'), allowHalfOpen: true, noDelay: true });
    u.on('error', () => c.destroy());
    c.on('error', () => u.destroy());
    c.pipe(u);
    u.pipe(c);
  });
  print('ready');
}

function connect(): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: str('host'), port: num('port'), noDelay: true });
    c.once('connect', () => resolve(c));
    c.once('error', reject);
  });
}

async function rr(): Promise<void> {
  const size = num('size');
  const request = Buffer.alloc(size, 2);
  const warmupEnd = performance.now() + num('warmupMs');
  const end = warmupEnd + num('durationMs');
  const latencies: number[] = [];
  let errors = 0;
  const worker = async (): Promise<void> => {
    const c = await connect();
    await new Promise<void>((resolve) => {
      let got = 0;
      let sent = 0;
      const send = (): void => {
        sent = performance.now();
        got = 0;
        c.write(request);
      };
      c.on('data', (d: Buffer) => {
        got += d.length;
        if (got < size) return;
        const now = performance.now();
        if (sent >= warmupEnd) latencies.push(now - sent);
        if (now < end) send();
        else {
          c.end();
          resolve();
        }
      });
      c.on('error', () => {
        errors += 1;
        resolve();
      });
      send();
    });
  };
  await Promise.all(Array.from({ length: num('conns') }, worker));
  const sorted = Float64Array.from(latencies).sort();
  print({
    requests: sorted.length,
    rps: sorted.length / (num('durationMs') / 1000),
    p50_ms: percentile(sorted, 50),
    p99_ms: percentile(sorted, 99),
    errors,
  });
}

async function bulk(): Promise<void> {
  const chunk = Buffer.alloc(65536, 3);
  const total = num('bytes');
  const started = performance.now();
  const c = await connect();
  let reply = '';
  c.setEncoding('utf8');
  c.on('data', (d: string) => (reply += d));
  const done = new Promise<void>((resolve, reject) => {
    c.on('end', resolve);
    c.on('error', reject);
  });
  let left = total;
  while (left > 0) {
    const n = Math.min(left, chunk.length);
    left -= n;
    if (!c.write(n === chunk.length ? chunk : chunk.subarray(0, n))) await new Promise((r) => c.once('drain', r));
  }
  c.end();
  await done;
  const seconds = (performance.now() - started) / 1000;
  if (Number(reply.trim()) !== total) throw new Error(`the sink counted ${reply.trim()} bytes of ${total}`);
  print({ bytes: total, seconds, mb_per_s: total / 1e6 / seconds });
}

async function conns(): Promise<void> {
  const end = performance.now() + num('durationMs');
  let done = 0;
  let errors = 0;
  const worker = async (): Promise<void> => {
    while (performance.now() < end) {
      await new Promise<void>((resolve) => {
        const c = net.connect({ host: str('host'), port: num('port') });
        c.on('data', () => undefined);
        c.on('end', () => {
          done += 1;
          c.end();
          resolve();
        });
        c.on('error', () => {
          errors += 1;
          resolve();
        });
      });
    }
  };
  await Promise.all(Array.from({ length: num('conns') }, worker));
  print({ connections: done, conns_per_s: done / (num('durationMs') / 1000), errors });
}

async function hold(): Promise<void> {
  const held: net.Socket[] = [];
  for (let i = 0; i < num('count'); i++) {
    const c = await connect();
    c.on('error', () => undefined);
    c.resume();
    held.push(c);
  }
  print(`held ${held.length}`);
  process.stdin.resume();
  process.stdin.on('end', () => {
    for (const c of held) c.destroy();
  });
}

async function sockopt(): Promise<void> {
  const { loadOriginalDstReader } = await import('../src/proxy/sockopt.js');
  const reader = loadOriginalDstReader();
  const calls = num('calls');
  const server = net.createServer((s) => {
    const fd = (s as unknown as { _handle: { fd: number } })._handle.fd;
    const first = reader.read(fd, s.localAddress ?? '');
    const started = performance.now();
    for (let i = 0; i < calls; i++) reader.read(fd, s.localAddress ?? '');
    const ns = ((performance.now() - started) * 1e6) / calls;
    print({ ns_per_call: ns, calls, original: first });
    s.destroy();
    server.close();
  });
  server.listen(num('listen'), () => {
    const c = net.connect({ host: str('host'), port: num('port') });
    c.on('error', () => undefined);
  });
}

const MODES: Record<string, () => Promise<void>> = { serve, pipe, rr, bulk, conns, hold, sockopt };
const run = mode === undefined ? undefined : MODES[mode];
if (run === undefined) {
  process.stderr.write(`usage: proxy-load.ts ${Object.keys(MODES).join('|')} JSON\n`);
  process.exitCode = 2;
} else {
  run().catch((e: unknown) => {
    process.stderr.write(`${e instanceof Error ? e.stack : String(e)}\n`);
    process.exitCode = 1;
  });
}
