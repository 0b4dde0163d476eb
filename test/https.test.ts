/** HTTPS and WSS through uWS SSLApp, with a self-signed certificate made at test time by openssl (helpers/test-pki.ts). */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { afterAll, beforeAll, expect, inject, it } from 'vitest';
import { randomTopic, runSluiceExpectingExit, startSluice, type SluiceProcess } from './helpers/sluice-process.js';
import { readTopic } from './helpers/kafka-read.js';
import { makeSelfSigned } from './helpers/test-pki.js';

const kafka = inject('kafkaBootstrap');
const dir = mkdtempSync(join(tmpdir(), 'sluice-tls-'));
const { pem: cert, key } = makeSelfSigned(dir, 'localhost', 'localhost', ['subjectAltName=IP:127.0.0.1,DNS:localhost']);
let sluice: SluiceProcess;

beforeAll(async () => {
  sluice = await startSluice({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_TLS_CERT_FILE: cert, SLUICE_TLS_KEY_FILE: key });
});
afterAll(async () => {
  await sluice?.stop();
});

function httpsPost(path: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: sluice.port,
        path,
        method: 'POST',
        ca: readFileSync(cert),
        headers: { 'content-type': 'application/json' },
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode!, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

it('serves ingest over HTTPS (certificate verified against its CA) and live records over WSS', async () => {
  const topic = randomTopic('tls');
  const ws = new WebSocket(`wss://127.0.0.1:${sluice.port}/ws/topics/${topic}`, { ca: readFileSync(cert) });
  const frames: string[] = [];
  await new Promise<void>((resolve, reject) => {
    ws.on('message', (d) => {
      frames.push(d.toString());
      if (frames.length === 1) resolve();
    });
    ws.once('error', reject);
  });
  const res = await httpsPost(`/topics/${topic}`, '{"secure":true}');
  expect(res.status).toBe(200);
  expect(JSON.parse(res.body).count).toBe(1);
  await new Promise((r) => setTimeout(r, 500));
  expect(JSON.parse(frames[1]).value).toEqual({ secure: true });
  expect((await readTopic(kafka, topic, 1)).map((r) => r.value)).toEqual(['{"secure":true}']);
  ws.close();
  // Plain HTTP against the TLS port is not served.
  await expect(fetch(`http://127.0.0.1:${sluice.port}/healthz`)).rejects.toThrow();
});

it('a certificate without its key, or an unreadable file, stops start-up naming the setting', async () => {
  const only = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_TLS_CERT_FILE: cert });
  expect(only.code).toBe(1);
  expect(only.output).toMatch(/SLUICE_TLS_CERT_FILE and SLUICE_TLS_KEY_FILE go together/);
  const missing = await runSluiceExpectingExit({
    KAFKA_BOOTSTRAP_SERVERS: kafka,
    SLUICE_TLS_CERT_FILE: cert,
    SLUICE_TLS_KEY_FILE: join(dir, 'nope.pem'),
  });
  expect(missing.code).toBe(1);
  expect(missing.output).toMatch(/SLUICE_TLS_KEY_FILE: cannot read/);
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'not a key');
  const wrong = await runSluiceExpectingExit({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_TLS_CERT_FILE: cert, SLUICE_TLS_KEY_FILE: garbage });
  expect(wrong.code).toBe(1);
  expect(wrong.output).toMatch(/SLUICE_TLS_CERT_FILE \/ SLUICE_TLS_KEY_FILE/);
});
