/**
 * A subscriber that stops reading is closed with close code 4008 once its buffer passes the limit, while
 * a subscriber that keeps up receives everything; gateway memory stays bounded meanwhile. In both framings.
 */
import { describe, expect, inject, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { postJson, randomTopic, sluiceForFile } from './helpers/sluice-process.js';
import { connect } from './helpers/websocket-client.js';
import { FRAMINGS, framed, recordsIn, waitForRecordCount } from './helpers/framing.js';

const kafka = inject('kafkaBootstrap');
const LIMIT = 256 * 1024;
const gateway = sluiceForFile(() => ({ KAFKA_BOOTSTRAP_SERVERS: kafka, SLUICE_WS_MAX_BACKPRESSURE_BYTES: String(LIMIT) }));

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

for (const framing of FRAMINGS)
  describe(`slow subscribers (${framing} frames)`, () => {
    it('are closed with 4008 and a reason, while a fast subscriber gets every record; memory stays bounded', async () => {
      const topic = randomTopic('slow');
      expect((await postJson(`${gateway().url}/topics/${topic}`, '{"warmup":true}')).status).toBe(200);
      const fast = await connect(framed(`${gateway().wsUrl}/ws/topics/${topic}`, framing));
      const slow = await connect(framed(`${gateway().wsUrl}/ws/topics/${topic}`, framing));
      await fast.waitForFrames(1);
      await slow.waitForFrames(1);
      let slowClose: { code: number; reason: string } | undefined;
      void slow.closed.then((c) => (slowClose = c));
      // Stop reading: the kernel buffers fill, then the gateway's buffer for this socket.
      (slow.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket.pause();

      const rssBefore = rssMb(gateway().proc.pid!);
      const pad = 'x'.repeat(100_000);
      const requests = 40;
      const perRequest = 9;
      const slowDropsTotal = async () =>
        Number(
          /sluice_subscribers_dropped_slow_total\{transport="websocket"\} (\d+)/.exec(
            await (await fetch(`${gateway().url}/metrics`)).text(),
          )?.[1] ?? 0,
        );
      // One gateway for both framings: count this test's closes only.
      const dropsBefore = await slowDropsTotal();
      const slowDrops = async () => (await slowDropsTotal()) - dropsBefore;
      for (let r = 0; r < requests; r++) {
        const body = Array.from({ length: perRequest }, (_, i) => JSON.stringify({ seq: r * perRequest + i, pad })).join('\n');
        expect((await postJson(`${gateway().url}/topics/${topic}`, body, 'application/x-ndjson')).status).toBe(200);
      }
      // Once it is closed, the slow client reads again (as a live one would; one that never reads is cut when uWS's close times out).
      const deadline = Date.now() + 30_000;
      while ((await slowDrops()) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      (slow.ws as unknown as { _socket: { resume(): void } })._socket.resume();
      const total = requests * perRequest;
      const frames = await waitForRecordCount(() => recordsIn(fast.frames.slice(1), framing), total, 60_000);
      const seqs = frames.map((f) => (f.value as { seq: number }).seq).sort((a, b) => a - b);
      expect(seqs).toEqual(Array.from({ length: total }, (_, i) => i));
      // ~36 MB went to the fast socket; the slow one may hold at most its limit (plus one batch) in the gateway.
      expect(rssMb(gateway().proc.pid!) - rssBefore).toBeLessThan(150);

      const closed = await slow.closed;
      expect(closed.code).toBe(4008);
      expect(closed.reason).toMatch(/^too slow/);
      expect(slowClose).toBeDefined();
      // It got a prefix of the stream in order, then the close: nothing out of order, and it can resume with its last token.
      const got = recordsIn(slow.frames.slice(1), framing).map((f) => (f.value as { seq: number }).seq);
      expect(got.length).toBeLessThan(total);
      expect(await slowDrops()).toBe(1);
      fast.ws.close();
    });
  });
