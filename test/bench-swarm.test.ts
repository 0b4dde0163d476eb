/**
 * The fan-out bench's subscriber swarm is what decides "lost" and "duplicated", so it must find them:
 * a scripted WebSocket server sends frames split into random small chunks (frames straddle reads; 7-bit,
 * 16-bit and 64-bit lengths; a ping), drops one record for one client and repeats another, and closes
 * the stalled client with 4008. No Kafka, no gateway: only the swarm's parsing and accounting.
 */
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createServer, type Socket } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { afterAll, expect, it } from 'vitest';
import { ROOT } from './helpers/sluice-process.js';

function frame(opcode: number, payload: Buffer): Buffer {
  const n = payload.length;
  const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.alloc(4) : Buffer.alloc(10);
  if (n >= 126 && n < 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 126;
    head.writeUInt16BE(n, 2);
  } else if (n >= 65536) {
    head[0] = 0x80 | opcode;
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(n), 2);
  }
  return Buffer.concat([head, payload]);
}
const text = (s: string) => frame(1, Buffer.from(s));
const record = (partition: number, offset: number, pad = 0) => {
  const sentAt = (performance.timeOrigin + performance.now() - 5).toFixed(3);
  return text(`{"topic":"t","partition":${partition},"offset":${offset},"timestamp":1,"key":null,"value":{"seq":${offset},"sentAt":${sentAt}${pad ? `,"pad":"${'x'.repeat(pad)}"` : ''}}}`);
};

/** Writes `data` in random chunks of 1–40 bytes, so frames and headers straddle the client's reads. */
async function dribble(sock: Socket, data: Buffer) {
  for (let i = 0; i < data.length;) {
    const n = 1 + Math.floor(Math.random() * 40);
    sock.write(data.subarray(i, i + n));
    i += n;
    if (Math.random() < 0.05) await new Promise((r) => setImmediate(r));
  }
}

const pongs: Buffer[] = [];
let accepted = 0;
const server = createServer((sock) => {
  const index = accepted++; // the swarm connects one at a time here, so this is the client's index
  let head = '';
  const onHandshake = async (chunk: Buffer) => {
    head += chunk.toString('latin1');
    if (!head.includes('\r\n\r\n')) return;
    sock.off('data', onHandshake);
    sock.on('data', (c: Buffer) => pongs.push(c));
    const key = /sec-websocket-key: (\S+)/i.exec(head)![1];
    const accept = createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
    const parts: Buffer[] = [text('{"event":"subscribed","topic":"t"}')];
    for (let o = 0; o < 100; o++) {
      // Client 2 misses partition 0, offset 10 …
      if (index !== 2 || o !== 10) parts.push(record(0, o, o === 50 ? 70_000 : o % 3 === 0 ? 200 : 0));
      if (index === 2 && o === 20) parts.push(record(0, 20)); // … and gets offset 20 twice
      if (o < 50) parts.push(record(1, o));
      if (o === 30) parts.push(frame(9, Buffer.from('hi')));
    }
    parts.push(frame(8, Buffer.concat([Buffer.from([0x0f, 0xa8]), Buffer.from('too slow')]))); // 4008
    await dribble(sock, Buffer.concat(parts));
  };
  sock.on('data', onHandshake);
  sock.on('error', () => {});
});
afterAll(() => server.close());

function ask(child: ReturnType<typeof fork>, msg: object, type: string): Promise<Record<string, unknown>> {
  return new Promise((resolve) => {
    const on = (m: { type: string }) => {
      if (m.type !== type) return;
      child.off('message', on);
      resolve(m as unknown as Record<string, unknown>);
    };
    child.on('message', on);
    child.send(msg);
  });
}

it('the subscriber swarm parses split frames, answers pings, and counts lost, duplicated and server-closed clients', async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  const child = fork(join(ROOT, 'bench', 'fanout', 'subscriber-swarm.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    // Client 0 is the stalled one (the first slowCount clients are).
    const connected = await ask(child, { cmd: 'connect', host: '127.0.0.1', port, path: '/ws/topics/t', count: 3, slowCount: 1, concurrency: 1 }, 'connected');
    expect(connected).toMatchObject({ subscribed: 3, failed: 0 });
    await expect.poll(async () => (await ask(child, { cmd: 'status', expected: 150 }, 'status')).open, { timeout: 15_000 }).toBe(0);
    await ask(child, { cmd: 'resumeSlow', quietMs: 500 }, 'slowDone');
    const report = await ask(child, { cmd: 'report', acked: { 0: [[0, 99]], 1: [[0, 49]] } }, 'report');
    expect(report).toMatchObject({
      fastClients: 2,
      slowClients: 1,
      fastFrames: 150 + 150, // client 2: one missing, one repeated
      lost: 1,
      duplicated: 1,
      unexpected: 0,
      clientsWithLoss: 1,
      badFrames: 0,
      fastClosed: { 4008: 2 },
      slowDropped: 1,
      slowCloseCodes: { 4008: 1 },
      slowCloseReasons: ['too slow'],
    });
    expect(report.maxLatencyMs as number).toBeGreaterThanOrEqual(5);
    expect((report.hist as [number, number][]).reduce((a, [, n]) => a + n, 0)).toBe(300);
    // Each fast client answered the ping with a masked pong carrying "hi" (zero mask: payload as-is).
    const all = Buffer.concat(pongs);
    expect(all.includes(Buffer.from([0x8a, 0x82, 0, 0, 0, 0, 0x68, 0x69]))).toBe(true);
    // An offset nobody acknowledged is "unexpected", not lost: the same frames against a smaller acked set.
    const again = await ask(child, { cmd: 'report', acked: { 0: [[0, 89]], 1: [[0, 49]] } }, 'report');
    expect(again).toMatchObject({ lost: 1, unexpected: 20 });
  } finally {
    child.send({ cmd: 'exit' });
  }
}, 60_000);
