/**
 * What a WebSocket client sends: on `/ws` and `/ws/topics/{topic}`, control messages
 * (`{"op":"subscribe",…}` opens one more subscription through the admission pipeline, `{"op":"unsubscribe",
 * "topic"}` gives one back and answers `unsubscribed`); a refused message is answered with an `error` frame
 * and the socket stays open. On the seed route `/consumer/{topic}`, any text is echoed as the seed app did.
 */
import { SluiceError, toPlainError } from '../errors.js';
import { errorFrame, seedEchoFrame, unsubscribedFrame } from '../subscription/frames.js';
import type { FrameStyle } from '../subscription/protocol.js';
import { readControlMessage } from '../subscription/subscribe-options.js';
import type { Admission } from './admission.js';
import { sendText, type Connection, type SocketData } from './connection.js';

/** The hub's subscription bookkeeping, as control messages use it. */
export interface Subscriptions {
  track(c: Connection, sub: number, topic: string, style: FrameStyle, fromUrl: boolean): void;
  unsubscribe(sub: number): void;
}

export function handleControlMessage(
  c: Connection,
  route: SocketData['route'],
  text: string,
  admission: Admission,
  subscriptions: Subscriptions,
): void {
  if (route === 'value') {
    sendText(c, seedEchoFrame(text));
    return;
  }
  let topic: string | undefined;
  try {
    const msg = readControlMessage(text);
    if (msg.op === 'subscribe') {
      const wanted = (topic = msg.options.topic);
      if (c.subs.has(wanted)) throw new SluiceError('INVALID_PARAMETER', `already subscribed to ${wanted}; unsubscribe first`);
      admission.openFromMessage(c, msg.options, (sub, style) => subscriptions.track(c, sub, wanted, style, false));
    } else {
      topic = msg.topic;
      const sub = c.subs.get(topic);
      if (sub === undefined) throw new SluiceError('INVALID_PARAMETER', `not subscribed to ${topic}`);
      subscriptions.unsubscribe(sub);
      sendText(c, unsubscribedFrame(topic));
    }
  } catch (err) {
    sendText(c, errorFrame(topic, toPlainError(err)));
  }
}
