/**
 * What a client that can reach a webhook replica's port can do to its memory, as shapes a
 * test (and the bench) can run against one replica: many idle keep-alive connections,
 * concurrent 4 MiB bodies of small objects, and 4 MiB bodies sent slowly; plus a prober
 * that plays the API server meanwhile (reviews on a connection it opened before, and
 * probes on fresh connections); and the sequence the e2e test and the bench run
 * (runAttacks). Traffic goes to 127.0.0.1 only.
 */
import https from 'node:https';
import tls from 'node:tls';
import type { MemoryCgroup, MemoryFigures } from '../../helpers/cgroup.js';
import { loadFixture } from '../../helpers/fixtures.js';

const MiB = 1024 * 1024;
const BODY_BYTES = 4 * MiB;

interface Review {
  apiVersion: string;
  kind: string;
  request: { uid: string; object: { metadata: Record<string, unknown>; spec: { containers: Record<string, unknown>[] } } };
}

/** The fixture review (a Pod CREATE) with a fresh uid. */
export function normalReview(uid: string): string {
  const review = loadFixture<Review>('admission', 'review-v1-pod.json');
  review.request.uid = uid;
  return JSON.stringify(review);
}

/**
 * A valid Pod CREATE review of exactly `bytes` whose pod carries small objects:
 * 'emptyObjects' fills metadata.managedFields with `{}` (the most heap per byte JSON.parse
 * can be made to build); 'envEntries' fills the first container's env with
 * `{"name":"A","value":"b"}` (a pod the engine then injects).
 */
export function bigReview(shape: 'emptyObjects' | 'envEntries', uid: string, bytes = BODY_BYTES): string {
  const review = loadFixture<Review>('admission', 'review-v1-pod.json');
  review.request.uid = uid;
  const marker = '"__PAD__"';
  const unit = shape === 'emptyObjects' ? '{},' : '{"name":"A","value":"b"},';
  if (shape === 'emptyObjects') review.request.object.metadata.managedFields = '__PAD__';
  else review.request.object.spec.containers[0]!.env = '__PAD__';
  const text = JSON.stringify(review);
  const room = bytes - (text.length - marker.length) - 2;
  const units = Math.floor(room / unit.length);
  const pad = `[${unit.repeat(units).slice(0, -1)}${' '.repeat(room - units * unit.length + 1)}]`;
  const body = text.replace(marker, pad);
  if (Buffer.byteLength(body) !== bytes) throw new Error(`bigReview is ${Buffer.byteLength(body)} bytes, not ${bytes}`);
  return body;
}

export interface Answer {
  status?: number;
  error?: string;
  uid?: string;
}

/** One POST /inject; never rejects. */
export function post(port: number, body: string, agent: https.Agent | false): Promise<Answer> {
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/inject', method: 'POST', agent, rejectUnauthorized: false, headers: { 'content-type': 'application/json' } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
        res.on('end', () => {
          const a: Answer = { status: res.statusCode ?? 0 };
          const m = /"uid":"([^"]{1,64})"/.exec(Buffer.concat(chunks).toString('utf8', 0, 512));
          if (m !== null) a.uid = m[1]!;
          resolve(a);
        });
      },
    );
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    req.end(body);
  });
}

/** Counts of answers by status (or error code). */
export type Tally = Record<string, number>;

function count(t: Tally, a: Answer): void {
  const k = a.status === undefined ? (a.error ?? 'error') : String(a.status);
  t[k] = (t[k] ?? 0) + 1;
}

export interface IdleConnections {
  /** Connections that completed a request and are held open. */
  held(): number;
  /** Connections the server closed or refused. */
  dropped(): number;
  close(): void;
}

/**
 * Opens `total` TLS connections, `parallel` at a time, each sending one GET /healthz and
 * then holding the connection open, idle.
 */
export async function idleConnections(port: number, total: number, parallel: number): Promise<IdleConnections> {
  const sockets = new Set<tls.TLSSocket>();
  let dropped = 0;
  let next = 0;
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'));
      let answered = false;
      s.once('data', () => {
        answered = true;
        sockets.add(s);
        resolve();
      });
      s.on('error', () => undefined);
      s.once('close', () => {
        sockets.delete(s);
        dropped += 1;
        if (!answered) resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (next < total) {
      next += 1;
      await one();
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return {
    held: () => sockets.size,
    dropped: () => dropped,
    close: () => {
      for (const s of sockets) s.destroy();
    },
  };
}

/**
 * `parallel` clients each sending `body()` again and again, on fresh connections, until
 * `stop` resolves; a 429 is retried at once (an attacker ignores Retry-After).
 */
export async function bodyFlood(port: number, parallel: number, body: () => string, stop: Promise<void>): Promise<Tally> {
  const tally: Tally = {};
  let stopped = false;
  void stop.then(() => (stopped = true));
  const worker = async (): Promise<void> => {
    while (!stopped) count(tally, await post(port, body(), false));
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return tally;
}

/**
 * `parallel` connections that each declare a 4 MiB body and send it at `bytesPerSecond`,
 * reconnecting when answered or dropped, until `stop` resolves.
 */
export async function slowBodies(port: number, parallel: number, bytesPerSecond: number, stop: Promise<void>): Promise<Tally> {
  const tally: Tally = {};
  let stopped = false;
  void stop.then(() => (stopped = true));
  const chunk = Buffer.alloc(Math.max(1, Math.floor(bytesPerSecond / 10)), 0x20);
  const one = (): Promise<void> =>
    new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      let text = '';
      const s = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false }, () => {
        s.write(`POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${BODY_BYTES}\r\n\r\n[`);
        timer = setInterval(() => {
          if (stopped) s.destroy();
          else s.write(chunk);
        }, 100);
      });
      s.setEncoding('utf8');
      s.on('data', (d: string) => (text += d));
      s.on('error', () => undefined);
      s.once('close', () => {
        clearInterval(timer);
        const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
        const k = m?.[1] ?? (stopped ? 'stopped' : 'dropped');
        tally[k] = (tally[k] ?? 0) + 1;
        resolve();
      });
    });
  const worker = async (): Promise<void> => {
    while (!stopped) await one();
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  return tally;
}

export interface Prober {
  /** Reviews on the prober's own keep-alive connection: answers that were not 200 with the review's uid. */
  reviewFailures: Answer[];
  reviews: number;
  /** GET /healthz on a fresh connection each time. */
  healthOk: number;
  healthFailed: number;
  /** Why each failed /healthz failed. */
  healthErrors: Tally;
  stop(): Promise<void>;
}

/**
 * Plays the API server and the kubelet: a normal review every `everyMs` on a keep-alive
 * connection opened now, and a /healthz on a fresh connection every fifth time.
 */
export async function startProber(port: number, everyMs: number): Promise<Prober> {
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  const first = await post(port, normalReview('prober-first'), agent);
  if (first.status !== 200) throw new Error(`the prober's first review failed: ${JSON.stringify(first)}`);
  const p: Prober & { running: boolean } = {
    reviewFailures: [],
    reviews: 0,
    healthOk: 0,
    healthFailed: 0,
    healthErrors: {},
    running: true,
    stop: async () => {
      p.running = false;
      await loop;
      agent.destroy();
    },
  };
  const health = (): Promise<Answer> =>
    new Promise((resolve) => {
      const req = https.get({ host: '127.0.0.1', port, path: '/healthz', agent: false, rejectUnauthorized: false, timeout: 10_000 }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
      });
      req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
      req.on('error', (e: NodeJS.ErrnoException) => resolve({ error: e.code ?? e.message }));
    });
  const loop = (async () => {
    for (let i = 0; p.running; i++) {
      const uid = `prober-${i}`;
      const a = await post(port, normalReview(uid), agent);
      p.reviews += 1;
      if (a.status !== 200 || a.uid !== uid) p.reviewFailures.push({ ...a, uid });
      if (i % 5 === 0) {
        const h = await health();
        if (h.status === 200) p.healthOk += 1;
        else {
          p.healthFailed += 1;
          count(p.healthErrors, h);
        }
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return p;
}

export interface Phase {
  name: string;
  figures: MemoryFigures;
  tally?: Tally;
}

export interface AttackReport {
  phases: Phase[];
  final: MemoryFigures;
  prober: { reviews: number; failures: Answer[]; healthOk: number; healthFailed: number; healthErrors: Tally };
  /** A review on a new connection once the idle-connection burst was over. */
  freshAfterIdle: Answer;
}

export const PHASES = {
  warm: 'warm (400 reviews, 16 at a time)',
  idle: '4,000 idle keep-alive connections',
  empty: '16 concurrent 4 MiB bodies of empty objects',
  env4: '16 concurrent 4 MiB bodies of env entries',
  env: '16 concurrent 1.5 MiB bodies of env entries',
  slow: '16 concurrent 4 MiB bodies at 256 KiB/s',
  all: 'all three at once, 8 clients each',
} as const;

/**
 * The attack sequence against one replica listening on 127.0.0.1:`port` whose memory
 * `cgroup` accounts: warm-up traffic, then 4,000 idle connections (held to the end), then
 * each body attack for `phaseMs`, then all three together, with the prober running
 * throughout. Reads the cgroup's figures after each phase.
 */
export async function runAttacks(port: number, cgroup: MemoryCgroup, phaseMs: number): Promise<AttackReport> {
  const phases: Phase[] = [];
  const record = (name: string, tally?: Tally): void => {
    phases.push({ name, figures: cgroup.figures(), ...(tally === undefined ? {} : { tally }) });
  };
  const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

  const warm: Answer[] = [];
  for (let i = 0; i < 400; i += 16) {
    warm.push(...(await Promise.all(Array.from({ length: 16 }, (_, k) => post(port, normalReview(`warm-${i + k}`), false)))));
  }
  const failedWarm = warm.filter((a) => a.status !== 200);
  if (failedWarm.length > 0) throw new Error(`warm-up reviews failed before any attack: ${JSON.stringify(failedWarm.slice(0, 3))}`);
  record(PHASES.warm);

  const prober = await startProber(port, 100);
  let idle: IdleConnections | undefined;
  let freshAfterIdle: Answer;
  try {
    idle = await idleConnections(port, 4000, 64);
    record(`${PHASES.idle} (${idle.held()} held, ${idle.dropped()} closed by the replica)`);
    await sleep(2000);
    freshAfterIdle = await post(port, normalReview('fresh-after-idle'), false);

    const empty = bigReview('emptyObjects', 'big-empty');
    record(PHASES.empty, await bodyFlood(port, 16, () => empty, sleep(phaseMs)));
    const env4 = bigReview('envEntries', 'big-env-4');
    record(PHASES.env4, await bodyFlood(port, 16, () => env4, sleep(phaseMs)));
    // As large as a storable pod gets (etcd keeps at most 1.5 MiB): these parse and inject.
    const env = bigReview('envEntries', 'big-env', 1.5 * MiB);
    record(PHASES.env, await bodyFlood(port, 16, () => env, sleep(phaseMs)));
    record(PHASES.slow, await slowBodies(port, 16, 256 * 1024, sleep(phaseMs)));
    const together = await Promise.all([
      bodyFlood(port, 8, () => empty, sleep(phaseMs)),
      bodyFlood(port, 8, () => env, sleep(phaseMs)),
      slowBodies(port, 8, 256 * 1024, sleep(phaseMs)),
    ]);
    const combined: Tally = {};
    together.forEach((t, i) => {
      for (const [k, v] of Object.entries(t)) combined[`${['empty', 'env', 'slow'][i] ?? i}:${k}`] = v;
    });
    record(PHASES.all, combined);
  } finally {
    await prober.stop();
    idle?.close();
  }
  return {
    phases,
    final: cgroup.figures(),
    prober: {
      reviews: prober.reviews,
      failures: prober.reviewFailures,
      healthOk: prober.healthOk,
      healthFailed: prober.healthFailed,
      healthErrors: prober.healthErrors,
    },
    freshAfterIdle,
  };
}

/** The phases as lines for a test's or the bench's output. */
export function attackLines(report: AttackReport, limitBytes: number): string[] {
  const mib = (n: number): string => `${(n / 2 ** 20).toFixed(1)} MiB`;
  const f = report.final;
  return [
    `memory limit ${mib(limitBytes)}; peak ${mib(f.peak)} (${((f.peak / limitBytes) * 100).toFixed(0)} %), limit hits ${f.limitHits}, OOM kills ${f.oomKills}`,
    ...report.phases.map(
      (p) =>
        `  ${p.name}: usage ${mib(p.figures.usage)} (rss ${mib(p.figures.rss)}, cache ${mib(p.figures.cache)}), peak so far ${mib(p.figures.peak)}` +
        `${p.tally === undefined ? '' : ` ${JSON.stringify(p.tally)}`}`,
    ),
    `  prober: ${report.prober.reviews} reviews, ${report.prober.failures.length} failed; /healthz on new connections ${report.prober.healthOk} ok, ` +
      `${report.prober.healthFailed} failed${report.prober.healthFailed > 0 ? ` ${JSON.stringify(report.prober.healthErrors)}` : ''}`,
  ];
}
