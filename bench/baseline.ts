/**
 * The baseline server, run as its own process by bench/http.ts:
 *   node --import tsx bench/baseline.ts CERT_FILE KEY_FILE
 * A bare fastify HTTPS route with the webhook's TLS setup (same certificate and key, TLS 1.2
 * minimum, same body limit): it parses the same JSON body and answers a fixed
 * AdmissionReview. What siding adds on top of it (schema validation, injection, diff,
 * base64, logging, metrics) is what siding ÷ baseline measures. Prints
 * `listening https://127.0.0.1:PORT` when ready; SIGTERM closes it.
 */
import { readFileSync } from 'node:fs';
import Fastify from 'fastify';
import { BODY_LIMIT_BYTES } from '../src/admission/app.js';

const [certFile, keyFile] = process.argv.slice(2);
if (certFile === undefined || keyFile === undefined) throw new Error('usage: baseline.ts CERT_FILE KEY_FILE');

const app = Fastify({
  logger: false,
  bodyLimit: BODY_LIMIT_BYTES,
  https: { cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8'), minVersion: 'TLSv1.2' },
});

const ANSWER = JSON.stringify({
  apiVersion: 'admission.k8s.io/v1',
  kind: 'AdmissionReview',
  response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
});

app.post('/inject', (request, reply) => {
  // The body is parsed by fastify's JSON parser before this runs; touch it so it is used.
  if (typeof request.body !== 'object' || request.body === null) return reply.code(400).send({ message: 'not an object' });
  return reply.header('content-type', 'application/json; charset=utf-8').send(ANSWER);
});

const address = await app.listen({ host: '127.0.0.1', port: 0 });
process.stdout.write(`listening ${address}\n`);
process.once('SIGTERM', () => {
  void app.close().then(() => {
    process.exitCode = 0;
  });
});
