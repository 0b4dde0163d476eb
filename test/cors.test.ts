/** CORS for browser clients: allowed origins get the headers and a preflight; others get none, and their WebSockets are refused. */
import { expect, inject, it } from 'vitest';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import WebSocket from 'ws';

const kafka = inject('kafkaBootstrap');
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_CORS_ORIGINS: 'https://dash.example, https://ops.example' }));

it('answers the preflight and marks responses for an allowed origin, not for others', async () => {
  const topic = randomTopic();
  const pre = await fetch(`${gateway().url}/topics/${topic}`, {
    method: 'OPTIONS',
    headers: {
      origin: 'https://dash.example',
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,x-api-key,x-kafka-header-site',
    },
  });
  expect(pre.status).toBe(204);
  expect(pre.headers.get('access-control-allow-origin')).toBe('https://dash.example');
  expect(pre.headers.get('access-control-allow-methods')).toMatch(/POST/);
  expect(pre.headers.get('access-control-allow-headers')).toBe('content-type,x-api-key,x-kafka-header-site');

  const ok = await postJson(`${gateway().url}/topics/${topic}`, '{"a":1}', 'application/json', { origin: 'https://ops.example' });
  expect(ok.status).toBe(200);
  expect(ok.headers.get('access-control-allow-origin')).toBe('https://ops.example');
  const bad = await postJson(`${gateway().url}/topics/${topic}`, '{"a":', 'application/json', { origin: 'https://dash.example' });
  expect(bad.status).toBe(400);
  expect(bad.headers.get('access-control-allow-origin')).toBe('https://dash.example');

  const other = await postJson(`${gateway().url}/topics/${topic}`, '{"a":1}', 'application/json', { origin: 'https://evil.example' });
  expect(other.headers.get('access-control-allow-origin')).toBeNull();
});

it('refuses WebSocket upgrades from pages of other origins (403) and accepts allowed ones', async () => {
  const topic = randomTopic();
  const status = await new Promise<number>((resolve) => {
    const ws = new WebSocket(`${gateway().wsUrl}/ws/topics/${topic}`, { origin: 'https://evil.example' });
    ws.on('unexpected-response', (_req, res) => resolve(res.statusCode!));
    ws.on('open', () => resolve(101));
  });
  expect(status).toBe(403);
  const allowed = await new Promise<string>((resolve, reject) => {
    const ws = new WebSocket(`${gateway().wsUrl}/ws/topics/${topic}`, { origin: 'https://dash.example' });
    ws.on('message', (d) => {
      resolve(d.toString());
      ws.close();
    });
    ws.on('error', reject);
  });
  expect(JSON.parse(allowed).event).toBe('subscribed');
});
