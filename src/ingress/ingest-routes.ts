/**
 * HTTP ingest routes: `POST /topics/{topic}` and the seed-compatible `POST /producer/{topic}` and
 * `POST /send`. Each runs the one ingest pipeline (ingest-request.ts) with its own IngestRoute.
 */
import type { TemplatedApp } from 'uWebSockets.js';
import { pathParameter } from '../http/respond.js';
import { topicsRoute } from './ingest-route.js';
import { handleIngest, type IngestDeps } from './ingest-request.js';
import { seedProducerRoute, seedSendRoute } from './seed-routes.js';

export type { IngestDeps } from './ingest-request.js';

export function registerIngestRoutes(app: TemplatedApp, deps: IngestDeps): void {
  // A synchronous throw becomes a 500 answer instead of an exception inside uWS (inline: no closure per request).
  app.post('/topics/:topic', (res, req) => {
    try {
      handleIngest(res, req, topicsRoute, pathParameter(req, 0), deps);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
  app.post('/producer/:topic', (res, req) => {
    try {
      handleIngest(res, req, seedProducerRoute, pathParameter(req, 0), deps);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
  app.post('/send', (res, req) => {
    try {
      handleIngest(res, req, seedSendRoute, deps.config.defaultTopic, deps);
    } catch (err) {
      deps.answers.uncaught(res, err);
    }
  });
}
