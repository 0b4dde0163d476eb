/**
 * The seed app's routes (`/work/shared/seeds/`), kept answer for answer so its clients need no change:
 * `POST /producer/{topic}` takes one geo message {name, message_id, lat, lon} and fills in a missing
 * message id; `POST /send` takes one JSON object for SLUICE_DEFAULT_TOPIC. Both run the ingest pipeline.
 */
import { randomUUID } from 'node:crypto';
import { SluiceError } from '../errors.js';
import { validateGeoMessage } from '../decode/seed-schemas.js';
import type { IngestRoute } from './ingest-route.js';

export const seedProducerRoute: IngestRoute = {
  name: 'producer',
  ndjsonAllowed: false,
  accept(records) {
    if (records.count !== 1) throw new SluiceError('VALIDATION_FAILED', 'body must be one JSON object {name, message_id, lat, lon}');
    const msg = validateGeoMessage(records.parsed[0]);
    if (msg.message_id !== undefined) return records;
    // The seed app's model filled in a message id; do the same and send the completed object.
    const completed = { ...msg, message_id: randomUUID() };
    const body = Buffer.from(JSON.stringify(completed));
    return { ...records, body, starts: Int32Array.of(0), ends: Int32Array.of(body.length), parsed: [completed] };
  },
  answer(r, _durable, records) {
    const msg = records.parsed[0] as { name: string; message_id: string | number };
    return { status: 200, body: JSON.stringify({ name: msg.name, message_id: msg.message_id, topic: r.topic }) };
  },
};

export const seedSendRoute: IngestRoute = {
  name: 'send',
  ndjsonAllowed: false,
  accept(records) {
    const v = records.parsed[0];
    if (records.count !== 1 || v === null || typeof v !== 'object' || Array.isArray(v)) {
      throw new SluiceError('VALIDATION_FAILED', 'body must be one JSON object');
    }
    return records;
  },
  answer: () => ({ status: 200, body: '{"status":"sent"}' }),
};
