/**
 * `GET /topics`: the topics a credential may subscribe to, with their partition counts, for the dashboard's
 * topic picker (and any client that wants to know what it can follow). With API keys, only topics matching
 * the key's `subscribe` patterns are listed; with open access, every topic but Kafka's own (`__…`). The list
 * comes from the cluster's metadata on the main thread (`producer/topic-catalog.ts`), through the ProducePort
 * so it works the same from an ingress worker thread.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import type { ProducePort } from '../producer/produce-port.js';
import { presentedKey, type AccessControl } from '../http/credentials/api-keys.js';
import { sendJson, type ErrorAnswers } from '../http/respond.js';
import type { CorsPolicy } from '../http/cors.js';

export interface TopicListDeps {
  producer: ProducePort;
  access: AccessControl;
  answers: ErrorAnswers;
  cors: CorsPolicy;
}

export function registerTopicListRoute(app: TemplatedApp, deps: TopicListDeps): void {
  const { producer, access, answers, cors } = deps;
  app.get('/topics', (res, req) => {
    // uWS's request object is valid only until the handler returns: read everything now.
    const allowOrigin = cors.allowedOrigin(req.getHeader('origin'));
    // Headers only: a key in a URL ends up in proxy logs, and a page's fetch() can send headers.
    const key = presentedKey(
      (name) => req.getHeader(name),
      () => undefined,
    );
    try {
      access.check(key, 'subscribe', null);
    } catch (err) {
      answers.send(res, err, false, allowOrigin);
      return;
    }
    let aborted = false;
    res.onAborted(() => {
      aborted = true;
    });
    producer.listTopics().then(
      (topics) => {
        if (aborted) return;
        const visible = access.permitted(key, 'subscribe', topics);
        res.cork(() => sendJson(res, 200, JSON.stringify({ topics: visible }), false, allowOrigin));
      },
      (err: unknown) => {
        if (!aborted) res.cork(() => answers.send(res, err, false, allowOrigin));
      },
    );
  });
}
