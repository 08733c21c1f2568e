// The apps, peers and DNS server of the `siding proxy` integration tests, run inside the
// tests' network namespaces as plain Node.js (no TypeScript loader, so each starts fast):
//   node proxy-actors.mjs serve '<json list of servers>'   prints "ready", then events
//   node proxy-actors.mjs client '<json operation>'         prints its result, exits 0
// Data for the transfer checks is an AES-CTR key stream: deterministic from a seed, so both
// ends can produce and hash the same bytes without keeping them.
import crypto from 'node:crypto';
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';

const [mode, json] = process.argv.slice(2);
const spec = JSON.parse(json ?? '{}');
const out = (line) => process.stdout.write(`${typeof line === 'string' ? line : JSON.stringify(line)}\n`);

/** A readable source of `bytes` bytes of the key stream for `seed`, in 64 KiB chunks. */
function keyStream(seed) {
  const key = crypto.createHash('sha256').update(String(seed)).digest().subarray(0, 16);
  const cipher = crypto.createCipheriv('aes-128-ctr', key, Buffer.alloc(16));
  const zeros = Buffer.alloc(65536);
  return (n) => cipher.update(n === zeros.length ? zeros : zeros.subarray(0, n));
}

/** sha256 of the first `bytes` bytes of the key stream for `seed`. */
function expectedHash(seed, bytes) {
  const next = keyStream(seed);
  const h = crypto.createHash('sha256');
  for (let left = bytes; left > 0; left -= 65536) h.update(next(Math.min(65536, left)));
  return h.digest('hex');
}

/** Writes `bytes` of the key stream to a socket with backpressure, then calls done. */
function sendStream(socket, seed, bytes, done) {
  const next = keyStream(seed);
  let left = bytes;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(65536, left);
      left -= n;
      if (!socket.write(next(n))) {
        socket.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

// ---------------------------------------------------------------- DNS (A records only)

/** The answer to a query: same ID and question, one A record with `address`. */
function dnsAnswer(query, address) {
  let i = 12;
  while (query[i] !== 0) i += 1 + query[i];
  const question = query.subarray(12, i + 5);
  const header = Buffer.from([query[0], query[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
  const rr = Buffer.from([0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, ...address.split('.').map(Number)]);
  return Buffer.concat([header, question, rr]);
}

function dnsQuery(name) {
  const labels = name.split('.').flatMap((l) => [l.length, ...Buffer.from(l)]);
  const id = crypto.randomInt(65536);
  return Buffer.from([id >> 8, id & 0xff, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, ...labels, 0, 0, 1, 0, 1]);
}

/** The A record of an answer made by dnsAnswer-like servers, or its RCODE. */
function dnsResult(answer) {
  const rcode = answer[3] & 0x0f;
  if (rcode !== 0) return `RCODE ${rcode}`;
  return [...answer.subarray(answer.length - 4)].join('.');
}

// ---------------------------------------------------------------- servers

function tcpServer(s, onConnection) {
  const server = net.createServer({ allowHalfOpen: true }, (c) => {
    c.on('error', (e) => out({ port: s.port, event: 'error', code: e.code }));
    onConnection(c);
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: s.host ?? '::', port: s.port }, resolve);
  });
}

const SERVERS = {
  http: (s) =>
    new Promise((resolve, reject) => {
      const server = http.createServer((req, res) => {
        req.resume();
        req.on('end', () => res.end(JSON.stringify({ who: s.name, from: req.socket.remoteAddress })));
      });
      server.once('error', reject);
      server.listen({ host: s.host ?? '::', port: s.port }, resolve);
    }),
  who: (s) => tcpServer(s, (c) => c.end(`${s.name} ${c.remoteAddress}\n`)),
  halfclose: (s) =>
    tcpServer(s, (c) => {
      let n = 0;
      c.on('data', (d) => (n += d.length));
      c.on('end', () => c.end(`got ${n} bytes after FIN\n`));
    }),
  reset: (s) => tcpServer(s, (c) => c.once('data', () => c.resetAndDestroy())),
  events: (s) =>
    tcpServer(s, (c) => {
      c.resume();
      c.on('end', () => {
        out({ port: s.port, event: 'end' });
        c.end();
      });
    }),
  sink: (s) =>
    tcpServer(s, (c) => {
      const h = crypto.createHash('sha256');
      let n = 0;
      c.on('data', (d) => {
        h.update(d);
        n += d.length;
      });
      c.on('end', () => c.end(`${n} ${h.digest('hex')}\n`));
    }),
  source: (s) =>
    tcpServer(s, (c) => {
      let line = '';
      const onData = (d) => {
        line += d.toString();
        if (!line.includes('\n')) return;
        c.off('data', onData);
        c.resume();
        const [bytes, seed, chunkDelayMs] = line.trim().split(' ').map(Number);
        if (!chunkDelayMs) {
          sendStream(c, seed, bytes, () => c.end());
          return;
        }
        // Slowly: one 64 KiB chunk per chunkDelayMs.
        const next = keyStream(seed);
        let left = bytes;
        const tick = () => {
          if (c.destroyed) return;
          const n = Math.min(65536, left);
          left -= n;
          c.write(next(n));
          if (left > 0) setTimeout(tick, chunkDelayMs);
          else c.end();
        };
        tick();
      };
      c.on('data', onData);
    }),
  hold: (s) =>
    tcpServer(s, (c) => {
      c.resume();
      c.on('end', () => c.end());
    }),
  dns: (s) =>
    Promise.all([
      new Promise((resolve, reject) => {
        const sock = dgram.createSocket(s.host.includes(':') ? 'udp6' : 'udp4');
        sock.on('message', (m, r) => sock.send(dnsAnswer(m, s.answer), r.port, r.address));
        sock.once('error', reject);
        sock.bind({ address: s.host, port: s.port }, resolve);
      }),
      tcpServer(s, (c) => {
        let buf = Buffer.alloc(0);
        c.on('data', (d) => {
          buf = Buffer.concat([buf, d]);
          if (buf.length < 2 || buf.length < 2 + buf.readUInt16BE(0)) return;
          const a = dnsAnswer(buf.subarray(2, 2 + buf.readUInt16BE(0)), s.answer);
          const len = Buffer.alloc(2);
          len.writeUInt16BE(a.length);
          c.end(Buffer.concat([len, a]));
        });
        c.on('end', () => c.end());
      }),
    ]),
};

// ---------------------------------------------------------------- clients

/** A client connection whose error ends the run with `ERR <code>`. */
function connect(o) {
  const c = net.connect({ host: o.host, port: o.port, allowHalfOpen: true });
  c.on('error', (e) => finish(`ERR ${e.code}`));
  return c;
}

function finish(line) {
  out(line);
  process.exit(0);
}

const CLIENTS = {
  http: (o) => {
    const req = http.get({ host: o.host, port: o.port, path: o.path ?? '/', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => finish(o.status ? `${res.statusCode} ${body.trim()}` : body.trim()));
    });
    req.on('error', (e) => finish(`ERR ${e.code}`));
  },
  who: (o) => {
    let data = '';
    const c = connect(o);
    c.setEncoding('utf8');
    c.on('data', (d) => (data += d));
    c.on('end', () => finish(data.trim()));
  },
  halfclose: (o) => {
    let data = '';
    const c = connect(o);
    c.setEncoding('utf8');
    c.on('connect', () => c.end('hello'));
    c.on('data', (d) => (data += d));
    c.on('end', () => finish(data.trim()));
  },
  'send-and-wait': (o) => {
    const c = connect(o);
    c.on('connect', () => c.write('x'));
    c.resume();
    c.on('end', () => finish('END'));
  },
  reset: (o) => {
    const c = connect(o);
    c.on('connect', () => {
      c.write('x');
      setTimeout(() => {
        c.resetAndDestroy();
        setTimeout(() => finish('RESET SENT'), 100);
      }, 200);
    });
  },
  upload: (o) => {
    const c = connect(o);
    let reply = '';
    c.setEncoding('utf8');
    c.on('data', (d) => (reply += d));
    c.on('connect', () => sendStream(c, o.seed, o.bytes, () => c.end()));
    c.on('end', () => {
      const [n, hash] = reply.trim().split(' ');
      finish(Number(n) === o.bytes && hash === expectedHash(o.seed, o.bytes) ? `OK ${n}` : `MISMATCH ${reply.trim()}`);
    });
  },
  download: (o) => {
    const c = connect(o);
    const h = crypto.createHash('sha256');
    let n = 0;
    c.on('connect', () => c.write(`${o.bytes} ${o.seed} ${o.chunkDelayMs ?? 0}\n`));
    c.on('data', (d) => {
      if (n === 0) out('started');
      h.update(d);
      n += d.length;
    });
    c.on('end', () => finish(n === o.bytes && h.digest('hex') === expectedHash(o.seed, o.bytes) ? `OK ${n}` : `SHORT ${n}`));
  },
  hold: async (o) => {
    const states = [];
    for (let i = 0; i < o.count; i++) {
      const state = { s: 'connecting' };
      states.push(state);
      const c = net.connect({ host: o.host, port: o.port });
      c.on('connect', () => (state.s = 'open'));
      c.on('error', (e) => (state.s = e.code));
      c.on('end', () => (state.s = 'closed'));
      c.resume();
      await new Promise((r) => setTimeout(r, 150));
    }
    setTimeout(() => finish(states.map((x) => x.s).join(',')), o.holdMs);
  },
  'dns-udp': (o) => {
    const sock = dgram.createSocket(o.server.includes(':') ? 'udp6' : 'udp4');
    sock.on('error', (e) => finish(`ERR ${e.code}`));
    sock.on('message', (m) => finish(dnsResult(m)));
    sock.send(dnsQuery(o.name), 53, o.server);
  },
  'dns-tcp': (o) => {
    const q = dnsQuery(o.name);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(q.length);
    let buf = Buffer.alloc(0);
    const c = connect({ host: o.server, port: 53 });
    c.on('connect', () => c.write(Buffer.concat([len, q])));
    c.on('data', (d) => (buf = Buffer.concat([buf, d])));
    c.on('end', () => finish(buf.length > 2 ? dnsResult(buf.subarray(2)) : 'EMPTY'));
  },
};

if (mode === 'serve') {
  Promise.all(spec.map((s) => SERVERS[s.kind](s))).then(
    () => out('ready'),
    (e) => {
      out(`failed ${e.code ?? e.message}`);
      process.exit(1);
    },
  );
} else if (mode === 'client') {
  setTimeout(() => finish('TIMEOUT'), spec.timeoutMs ?? 5000);
  CLIENTS[spec.op](spec);
} else {
  process.stderr.write('usage: proxy-actors.mjs serve|client JSON\n');
  process.exit(2);
}
