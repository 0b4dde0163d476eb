// Ceiling: how fast HTTP alone is here. A bare uWS app that reads each POST body the way Sluice does
// (copying every chunk, since uWS detaches them) and answers 200 — no JSON work, no Kafka.
//   PORT=0 node bench/servers/http-ceiling.mjs   → prints {"msg":"listening","port":N}
// Through Sluice's loader: it picks the binary for this Node ABI and, on glibc < 2.38, the compatibility copy.
import { loadUws } from '../../dist/ingress/uws-native.js';

const uws = loadUws();

const port = Number(process.env.PORT ?? 0);
const host = process.env.HOST ?? '127.0.0.1';
const app = uws.App();
app.post('/*', (res) => {
  let aborted = false;
  const chunks = [];
  res.onAborted(() => {
    aborted = true;
  });
  res.onData((chunk, isLast) => {
    chunks.push(Buffer.from(chunk.slice(0)));
    if (isLast && !aborted) {
      const body = Buffer.concat(chunks);
      res.cork(() => {
        res.writeStatus('200 OK').writeHeader('content-type', 'application/json').end(`{"bytes":${body.length}}`);
      });
    }
  });
});
app.listen(host, port, (token) => {
  if (!token) {
    console.error(`cannot listen on ${host}:${port}`);
    process.exit(1);
  }
  console.log(JSON.stringify({ msg: 'listening', port: uws.us_socket_local_port(token) }));
});
process.on('SIGTERM', () => process.exit(0));
