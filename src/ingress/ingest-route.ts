/**
 * What one ingest route adds to the shared pipeline (ingest-request.ts): a metrics label, an optional check
 * of the decoded records, and its success answer. `POST /topics/{topic}` is defined here; the seed-compatible
 * routes are in seed-routes.ts.
 */
import type { DecodedRecords } from '../decode/json-records.js';
import type { DeliveryResult } from '../producer/produce-port.js';

/** Per-route behaviour on top of the shared ingest pipeline (not a row of the route table: see api/routes.ts). */
export interface IngestRoute {
  /** Label for metrics. */
  name: string;
  /** `POST /topics/{topic}` takes NDJSON; the seed routes take one JSON object. */
  ndjsonAllowed: boolean;
  /** Checks and possibly rewrites decoded records (seed routes); throws to refuse the request. */
  accept?(records: DecodedRecords): DecodedRecords;
  /** The success answer. */
  answer(result: DeliveryResult, durable: boolean, records: DecodedRecords): { status: number; body: string };
}

/** `{"topic","count","partitions":[{"partition","count","offsets":[lo,hi]}]}`, written out (topic names are `[a-zA-Z0-9._-]`, checked before). */
function durableAnswer(r: DeliveryResult): string {
  let parts = '';
  for (const p of r.partitions)
    parts += `${parts ? ',' : ''}{"partition":${p.partition},"count":${p.count},"offsets":[${p.offsets[0]},${p.offsets[1]}]}`;
  return `{"topic":"${r.topic}","count":${r.count},"partitions":[${parts}]}`;
}

export const topicsRoute: IngestRoute = {
  name: 'topics',
  ndjsonAllowed: true,
  answer: (r, durable) =>
    durable ? { status: 200, body: durableAnswer(r) } : { status: 202, body: `{"topic":"${r.topic}","count":${r.count}}` },
};
