// The Fastify app both peers share, so they differ only in their Kafka client.
// POST /topics/:topic with application/json (object = 1 record, array = 1 record per element)
// or application/x-ndjson (1 record per non-empty line). ?ack=none answers 202 before Kafka acknowledges.
// Env: PORT (0 = any), HOST (127.0.0.1). Prints {"msg":"listening","port":N} on stdout; SIGTERM exits 0.
import Fastify from 'fastify';

/** `send(topic, messages)` resolves once Kafka acknowledged; `disconnect()` flushes and closes. */
export async function startFastifyPeer({ send, disconnect }) {
  const port = Number(process.env.PORT ?? 0);
  const host = process.env.HOST ?? '127.0.0.1';
  const app = Fastify({ logger: false, bodyLimit: 1024 * 1024 });
  app.removeContentTypeParser('text/plain'); // JSON and NDJSON only; anything else gets 415

  app.addContentTypeParser('application/x-ndjson', { parseAs: 'string' }, (_req, body, done) => {
    const items = [];
    for (const line of body.split('\n')) {
      if (line.trim() === '') continue;
      try {
        items.push(JSON.parse(line));
      } catch {
        const err = new Error(`line ${items.length + 1} is not valid JSON`);
        err.statusCode = 400;
        return done(err);
      }
    }
    done(null, items);
  });

  // ?ack=none sends still in progress; shutdown waits for them so accepted records are not dropped.
  const inBackground = new Set();

  app.post('/topics/:topic', async (req, reply) => {
    const { topic } = req.params;
    if (req.body === undefined) return reply.code(400).send({ error: 'empty body' });
    const items = Array.isArray(req.body) ? req.body : [req.body];
    const messages = items.map((item) => ({ value: JSON.stringify(item) }));
    const count = messages.length;
    if (count === 0) return { topic, count };

    if (req.query.ack === 'none') {
      const sending = send(topic, messages)
        .catch((err) => console.error(JSON.stringify({ msg: 'background send failed', topic, count, error: err.message })))
        .finally(() => inBackground.delete(sending));
      inBackground.add(sending);
      return reply.code(202).send({ topic, count });
    }
    await send(topic, messages);
    return { topic, count };
  });

  await app.listen({ port, host });
  console.log(JSON.stringify({ msg: 'listening', port: app.server.address().port }));

  let closing = false;
  async function shutdown() {
    if (closing) return;
    closing = true;
    await app.close();
    await Promise.allSettled(inBackground);
    await disconnect();
    process.exit(0);
  }
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
}
