/**
 * Body schemas of the seed apps' routes, so their clients can switch to Sluice unchanged.
 * geo-stream-kafka's `POST /producer/{topic}` takes `{name, message_id, lat, lon}` (extra fields kept).
 */
import { Ajv } from 'ajv';
import { SluiceError } from '../errors.js';

const ajv = new Ajv({ allErrors: true, allowUnionTypes: true });

export interface GeoMessage {
  name: string;
  message_id?: string | number;
  lat: number;
  lon: number;
  [extra: string]: unknown;
}

const geoMessage = ajv.compile<GeoMessage>({
  type: 'object',
  required: ['name', 'lat', 'lon'],
  properties: {
    name: { type: 'string', minLength: 1 },
    message_id: { type: ['string', 'integer'] },
    lat: { type: 'number', minimum: -90, maximum: 90 },
    lon: { type: 'number', minimum: -180, maximum: 180 },
  },
});

export function validateGeoMessage(value: unknown): GeoMessage {
  if (geoMessage(value)) return value;
  const why = (geoMessage.errors ?? []).map((e) => `${e.instancePath || 'body'} ${e.message}`).join('; ');
  throw new SluiceError('VALIDATION_FAILED', `expected {name, message_id, lat, lon}: ${why}`);
}
