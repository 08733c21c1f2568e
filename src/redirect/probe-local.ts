/**
 * The validation connection itself (see validate.ts): a listener on the proxy port and a
 * connection that the rules must send to it. Kept apart from validate.ts so that a run
 * without --run-validation never loads node:net and node:crypto.
 */
import { createServer, connect } from 'node:net';
import { randomBytes } from 'node:crypto';
import type { ProbeTarget } from './config.js';
import type { ProbeOutcome } from './validate.js';

/**
 * Opens a listener on loopback:listenPort, connects to the target and checks that the
 * listener answered. Runs in the current network namespace as the current user.
 */
export async function probeRedirect(
  target: ProbeTarget,
  listenPort: number,
  timeoutMs: number,
  token: string = randomBytes(12).toString('hex'),
): Promise<ProbeOutcome> {
  const server = createServer((sock) => {
    sock.on('error', () => undefined);
    sock.end(`siding-probe ${token}\n`);
  });
  const host = target.family === 'ipv4' ? '127.0.0.1' : '::1';
  const listening = await new Promise<ProbeOutcome | undefined>((resolve) => {
    server.once('error', (e: NodeJS.ErrnoException) =>
      resolve({ ok: false, what: 'listen', detail: `could not listen on ${host} port ${listenPort} (${e.code ?? e.message})` }),
    );
    server.listen({ host, port: listenPort, exclusive: true }, () => resolve(undefined));
  });
  if (listening !== undefined) return listening;
  try {
    return await new Promise<ProbeOutcome>((resolve) => {
      let data = '';
      const sock = connect({ host: target.address, port: target.port });
      const timer = setTimeout(() => {
        sock.destroy();
        resolve({ ok: false, what: 'timeout', detail: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      sock.setEncoding('utf8');
      sock.on('data', (d: string) => {
        data += d;
      });
      sock.on('end', () => {
        clearTimeout(timer);
        resolve(
          data.includes(token)
            ? { ok: true }
            : { ok: false, what: 'wrong-answer', detail: `something else answered (${JSON.stringify(data.slice(0, 60))})` },
        );
      });
      sock.on('error', (e: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        const code = e.code ?? e.message;
        const what = code === 'ECONNREFUSED' ? 'refused' : code === 'ENETUNREACH' || code === 'EHOSTUNREACH' ? 'unreachable' : 'error';
        resolve({ ok: false, what, detail: code });
      });
    });
  } finally {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
