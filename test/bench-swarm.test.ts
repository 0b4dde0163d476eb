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
  return text(
    `{"topic":"t","partition":${partition},"offset":${offset},"timestamp":1,"key":null,"value":{"seq":${offset},"sentAt":${sentAt}${pad ? `,"pad":"${'x'.repeat(pad)}"` : ''}}}`,
  );
};

/** Writes `data` in random chunks of 1–40 bytes, so frames and headers straddle the client's reads. */
async function dribble(sock: Socket, data: Buffer) {
  for (let i = 0; i < data.length; ) {
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
    const accept = createHash('sha1')
      .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
      .digest('base64');
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
    const connected = await ask(
      child,
      { cmd: 'connect', host: '127.0.0.1', port, path: '/ws/topics/t', count: 3, slowCount: 1, concurrency: 1 },
      'connected',
    );
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

/** A scripted server speaking the other two framings: Sluice batch frames, and Centrifugo's JSON protocol. */
function scriptedServer(script: (sock: Socket, index: number, clientData: Buffer[]) => Promise<void>) {
  let count = 0;
  const srv = createServer((sock) => {
    const index = count++;
    let head = '';
    const clientData: Buffer[] = [];
    const onHandshake = (chunk: Buffer) => {
      head += chunk.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      sock.off('data', onHandshake);
      sock.on('data', (c: Buffer) => clientData.push(c));
      const key = /sec-websocket-key: (\S+)/i.exec(head)![1];
      const accept = createHash('sha1')
        .update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11')
        .digest('base64');
      sock.write(
        `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`,
      );
      void script(sock, index, clientData);
    };
    sock.on('data', onHandshake);
    sock.on('error', () => {});
  });
  return srv;
}

const sentAt = () => (performance.timeOrigin + performance.now() - 5).toFixed(3);

it('the swarm counts records inside batch frames and Centrifugo pushes (split on newlines), answers Centrifugo pings, and finds lost and repeated ones', async () => {
  // Sluice batch frames: client 1 misses offset 7 of partition 0 and gets offset 3 of partition 1 twice.
  const batchServer = scriptedServer(async (sock, index) => {
    const rec = (p: number, o: number) =>
      `{"partition":${p},"offset":${o},"timestamp":1,"key":null,"value":{"seq":${o},"sentAt":${sentAt()}}}`;
    const parts = [text('{"event":"subscribed","topic":"t","token":"x"}')];
    for (let b = 0; b < 10; b++) {
      const recs: string[] = [];
      for (let o = b * 5; o < b * 5 + 5; o++) {
        if (!(index === 1 && o === 7)) recs.push(rec(0, o));
        if (o < 20) recs.push(rec(1, o));
        if (index === 1 && o === 3) recs.push(rec(1, 3));
      }
      parts.push(text(`{"event":"batch","topic":"t","records":[${recs.join(',')}],"token":"tok-${b}"}`));
    }
    await dribble(sock, Buffer.concat(parts));
  });
  // Centrifugo: replies and pushes joined by newlines, a ping ({}) between; client 1 misses seq 4 and gets seq 9 twice.
  const pongsSeen: boolean[] = [];
  const cfServer = scriptedServer(async (sock, index, clientData) => {
    const deadline = Date.now() + 5000;
    while (!Buffer.concat(clientData).includes(Buffer.from('"subscribe"')) && Date.now() < deadline) {
      // The client's command frame is masked: unmask to look for it.
      const all = Buffer.concat(clientData);
      if (all.length > 6) {
        const mask = all.subarray(2 + ((all[1] & 0x7f) === 126 ? 2 : 0), 6 + ((all[1] & 0x7f) === 126 ? 2 : 0));
        const start = 6 + ((all[1] & 0x7f) === 126 ? 2 : 0);
        const body = Buffer.from(all.subarray(start).map((b, i) => b ^ mask[i % 4]));
        if (body.includes(Buffer.from('{"id":2,"subscribe":{"channel":"bench"}}'))) break;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    const push = (seq: number) => `{"push":{"channel":"bench","pub":{"data":{"seq":${seq},"sentAt":${sentAt()}},"offset":${seq + 1}}}}`;
    const parts = [text('{"id":1,"connect":{"client":"c","version":"6","ping":25,"pong":true}}\n{"id":2,"subscribe":{}}')];
    const seqs = Array.from({ length: 30 }, (_, i) => i).filter((q) => !(index === 1 && q === 4));
    if (index === 1) seqs.push(9);
    for (let i = 0; i < seqs.length; i += 4)
      parts.push(
        text(
          seqs
            .slice(i, i + 4)
            .map(push)
            .join('\n'),
        ),
      );
    const before = Buffer.concat(clientData).length;
    parts.push(text('{}'));
    await dribble(sock, Buffer.concat(parts));
    const until = Date.now() + 5000;
    while (Buffer.concat(clientData).length === before && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    pongsSeen[index] = Buffer.concat(clientData)
      .subarray(before)
      .equals(Buffer.from([0x81, 0x82, 0, 0, 0, 0, 0x7b, 0x7d]));
  });
  await new Promise<void>((r) => batchServer.listen(0, '127.0.0.1', () => r()));
  await new Promise<void>((r) => cfServer.listen(0, '127.0.0.1', () => r()));
  try {
    for (const kind of ['batch', 'centrifugo'] as const) {
      const srv = kind === 'batch' ? batchServer : cfServer;
      const port = (srv.address() as { port: number }).port;
      const child = fork(join(ROOT, 'bench', 'fanout', 'subscriber-swarm.mjs'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      try {
        const connected = await ask(
          child,
          {
            cmd: 'connect',
            host: '127.0.0.1',
            port,
            path: kind === 'batch' ? '/ws/topics/t?frames=batch' : '/connection/websocket',
            protocol: kind === 'batch' ? 'sluice' : 'centrifugo',
            channel: 'bench',
            count: 2,
            slowCount: 0,
            concurrency: 1,
          },
          'connected',
        );
        expect(connected).toMatchObject({ subscribed: 2, failed: 0 });
        const expected = kind === 'batch' ? 70 : 30;
        await expect.poll(async () => (await ask(child, { cmd: 'status', expected }, 'status')).complete, { timeout: 15_000 }).toBe(2);
        // The ping comes after the pushes: both clients have answered it before the report counts its message.
        if (kind === 'centrifugo') await expect.poll(() => pongsSeen.filter((p) => p !== undefined).length, { timeout: 15_000 }).toBe(2);
        const report = await ask(child, { cmd: 'report', acked: { 0: [[0, 49]], 1: [[0, 19]] }, ackedSeqs: [[0, 29]] }, 'report');
        expect(report).toMatchObject({
          fastClients: 2,
          fastFrames: 2 * expected,
          lost: 1,
          duplicated: 1,
          unexpected: 0,
          clientsWithLoss: 1,
          badFrames: 0,
        });
        // One WebSocket message per batch (10) or per group of pushes (8), not per record.
        expect(report.fastMessages).toBe(kind === 'batch' ? 20 : 2 * 8 + 2);
        expect((report.hist as [number, number][]).reduce((a, [, n]) => a + n, 0)).toBe(2 * expected);
      } finally {
        child.send({ cmd: 'exit' });
      }
    }
    expect(pongsSeen).toEqual([true, true]);
  } finally {
    batchServer.close();
    cfServer.close();
  }
}, 60_000);
