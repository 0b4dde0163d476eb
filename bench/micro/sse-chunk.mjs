// CPU per frame of building the SSE text of a batch (once per channel and batch in each thread, then written
// to every SSE stream on it): the line-break scan that keeps a frame one event, against the plain
// concatenation it replaced, for 1,000 per-record frames without line breaks (nearly all frames). The
// minimum over rounds, alternating the two, each round checking both give the same bytes.
//   node bench/micro/sse-chunk.mjs [--rounds 8]
import { fileURLToPath } from 'node:url';

const { sseRecords } = await import(fileURLToPath(new URL('../../dist/fanout/sse-stream.js', import.meta.url)));
const roundsAt = process.argv.indexOf('--rounds');
const rounds = roundsAt === -1 ? 8 : Number(process.argv[roundsAt + 1]);
const plain = (frames, tokens) => {
  let out = '';
  for (let i = 0; i < frames.length; i++) out += `id: ${tokens[i]}\ndata: ${frames[i]}\n\n`;
  return out;
};
const tokens = Array.from({ length: 1000 }, (_, i) => `djE6NDMsMA${i}`);
// Frames built fresh each time, as the registry builds them (concatenated strings, not yet flat).
const frames = () =>
  tokens.map(
    (t, i) =>
      `{"topic":"telemetry","partition":${i % 4},"offset":${i},"timestamp":1764060000000,"key":"pump-${i}","value":{"device_id":"pump-${i}","temperature":${20 + (i % 10)},"note":"some text"},"token":"${t}"}`,
  );
const best = { plain: Infinity, scanned: Infinity };
for (let r = 0; r < rounds; r++) {
  for (const [name, build] of r % 2
    ? [
        ['scanned', sseRecords],
        ['plain', plain],
      ]
    : [
        ['plain', plain],
        ['scanned', sseRecords],
      ]) {
    let ns = 0;
    for (let k = 0; k < 200; k++) {
      const f = frames();
      const start = process.hrtime.bigint();
      Buffer.byteLength(build(f, tokens)); // flattens the string, as the socket write does
      ns += Number(process.hrtime.bigint() - start);
    }
    best[name] = Math.min(best[name], ns / 200 / 1000);
  }
  const f = frames();
  if (plain(f, tokens) !== sseRecords(f, tokens)) throw new Error('frames without line breaks must be written unchanged');
}
console.log(
  `SSE chunk of 1,000 frames, ns per frame (min of ${rounds}): plain ${best.plain.toFixed(0)}, with the line-break scan ${best.scanned.toFixed(0)}`,
);
