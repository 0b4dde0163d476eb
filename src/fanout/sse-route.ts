/**
 * The SSE transport: `GET /sse/topics/{topic}?same parameters as /ws/topics/{topic}` through the admission
 * pipeline (admission.ts); its ready stage begins the stream (sse-stream.ts). `id:` of each record event is
 * its resume token and `Last-Event-ID` resumes, so a browser's EventSource reconnects where it stopped.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { CorsPolicy } from '../http/cors.js';
import { pathParameter, type ErrorAnswers } from '../http/respond.js';
import { readSubscribeOptions, type SubscribeOptions } from '../subscription/subscribe-options.js';
import type { Admission } from './admission.js';
import type { ConnectionHost } from './connection.js';
import { SseStream } from './sse-stream.js';

/** SSE `retry:` (the browser's reconnect delay) is 1–3 s, picked per stream. */
const SSE_RETRY_MIN_MS = 1000;
const SSE_RETRY_JITTER_MS = 2000;

export function registerSseRoute(
  app: TemplatedApp,
  deps: { admission: Admission; answers: ErrorAnswers; cors: CorsPolicy; host: ConnectionHost },
): void {
  const { admission, answers, cors, host } = deps;
  app.get('/sse/topics/:topic', (res, req) => {
    const topic = pathParameter(req, 0);
    const lastEventId = req.getHeader('last-event-id');
    const facts = admission.facts(res, req);
    const allowOrigin = cors.allowedOrigin(facts.origin);
    admission.run<SubscribeOptions>(res, {
      transport: 'sse',
      facts,
      valueFrames: false,
      readOptions: () => readSubscribeOptions(topic, (q) => req.getQuery(q), lastEventId),
      refuse: (err) => answers.send(res, err, false, allowOrigin),
      proceed: ({ identity, sub, options, style }) => {
        // Jittered, so that clients of one closed instance do not all come back in the same instant.
        const stream = new SseStream(res, allowOrigin, SSE_RETRY_MIN_MS + Math.floor(Math.random() * SSE_RETRY_JITTER_MS));
        const c = host.start(identity, { kind: 'sse', stream }, sub, options.topic, style);
        stream.onDrain(() => host.drained(c));
        return () => {
          // The client left: nothing more can be written, and the connection gives back its subscription.
          stream.closed = true;
          host.closed(c);
        };
      },
    });
  });
}
