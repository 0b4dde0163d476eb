/**
 * The WebSocket transport: its routes, its upgrade as the admission pipeline's ready stage (admission.ts),
 * and the uWS handlers that hand a socket's events to the hub.
 *   /ws/topics/{topic}?from&key&where&group&frames  record frames with resume tokens (`frames=batch`: one
 *                                            frame per batch); more topics by control message
 *   /ws                                      no topic yet; `{"op":"subscribe",…}` / `{"op":"unsubscribe",…}`
 *   /consumer/{topic}                        seed-compatible: bare values, `{"Message":"connected"}` first
 */
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t } from 'uWebSockets.js';
import { pathParameter, type ErrorAnswers } from '../http/respond.js';
import { readSubscribeOptions, type SubscribeOptions } from '../subscription/subscribe-options.js';
import type { Admission } from './admission.js';
import type { ConnectionHost, SocketData } from './connection.js';

/** The WebSocket settings of the hub (`SLUICE_WS_*`). */
export interface WebSocketLimits {
  maxBufferedBytes: number;
  idleTimeoutSeconds: number;
}

/** A hard stop (abrupt close) far above the soft limit, which backpressure.ts enforces with a proper 4008. */
const HARD_LIMIT_MARGIN_BYTES = 64 * 1024 * 1024;

export function registerWebSocketRoutes(
  app: TemplatedApp,
  deps: { admission: Admission; answers: ErrorAnswers; host: ConnectionHost; limits: WebSocketLimits },
): void {
  const { host } = deps;
  const route = (pattern: string, frames: SocketData['route'], withTopic: boolean) =>
    app.ws<SocketData>(pattern, {
      maxPayloadLength: 16 * 1024,
      // The sweep closes a socket past the soft limit within its interval: uWS updates a socket's buffered
      // amount only as it drains published frames, so a burst may pass the soft limit before the sweep sees it.
      maxBackpressure: deps.limits.maxBufferedBytes + HARD_LIMIT_MARGIN_BYTES,
      closeOnBackpressureLimit: true,
      idleTimeout: deps.limits.idleTimeoutSeconds,
      sendPingsAutomatically: true,
      upgrade: (res, req, context) => upgrade(deps, res, req, context, frames, withTopic),
      open: (socket) => {
        const data = socket.getUserData();
        data.opened.conn = host.start(data.identity, { kind: 'ws', socket }, data.initialSub, data.initialTopic, data.initialStyle);
      },
      // uWS calls these only on a socket whose `open` ran, so `conn` is there; checked, not asserted.
      message: (socket, message) => {
        const c = socket.getUserData().opened.conn;
        if (c) host.message(c, frames, Buffer.from(message).toString('utf8'));
      },
      drain: (socket) => {
        const c = socket.getUserData().opened.conn;
        if (c) host.drained(c);
      },
      close: (socket) => {
        const c = socket.getUserData().opened.conn;
        if (c) host.closed(c);
      },
    });
  route('/ws/topics/:topic', 'record', true);
  route('/ws', 'record', false);
  route('/consumer/:topic', 'value', true);
}

function upgrade(
  deps: { admission: Admission; answers: ErrorAnswers },
  res: HttpResponse,
  req: HttpRequest,
  context: us_socket_context_t,
  frames: SocketData['route'],
  withTopic: boolean,
): void {
  const secKey = req.getHeader('sec-websocket-key');
  const protocol = req.getHeader('sec-websocket-protocol');
  const extensions = req.getHeader('sec-websocket-extensions');
  deps.admission.run<SubscribeOptions | null>(res, {
    transport: frames === 'value' ? 'seed-websocket' : 'websocket',
    facts: deps.admission.facts(res, req),
    valueFrames: frames === 'value',
    readOptions: () => {
      if (!withTopic) return null;
      const topic = pathParameter(req, 0);
      return frames === 'value' ? readSubscribeOptions(topic, () => undefined) : readSubscribeOptions(topic, (q) => req.getQuery(q));
    },
    refuse: (err) => deps.answers.send(res, err),
    proceed: ({ identity, sub, options, style }) => {
      const data: SocketData = {
        identity,
        opened: { conn: null },
        initialSub: sub,
        initialTopic: options?.topic ?? '',
        initialStyle: style,
        route: frames,
      };
      // Deliberately not inside res.cork: uWS.js 20.57's HttpResponse.cork, when the socket is upgraded inside
      // its callback, takes the new WebSocket for the HTTP response (the shrinking realloc keeps its address),
      // reads the HTTP "close after this answer" flag from freed memory past the WebSocket's end, and closes
      // about half of the sockets upgraded after an asynchronous wait: `open` ran, the client never gets a frame
      // (uWebSockets PR #1929, fixed upstream after 20.57). Uncorked, the 101 leaves in a few more writes, and
      // outside a uWS callback uWS prints one "must be made from within a corked callback" line to stderr.
      res.upgrade<SocketData>(data, secKey, protocol, extensions, context);
      // uWS calls `open` inside upgrade(); if it did not (the socket died in between), nobody took the subscription.
      // Once upgraded, the HTTP response is gone: a leaving client is the socket's close handler.
      return data.opened.conn === null ? null : () => {};
    },
  });
}
