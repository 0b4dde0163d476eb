/**
 * Decoding a large body (decompression, UTF-8 check, JSON parse of every record) as a piscina task, off
 * the event loop that serves HTTP and the Kafka clients. Pure: no Kafka, no uWS. The body moves to the
 * pool thread as a transferred ArrayBuffer; the result comes back by structured clone.
 */
import { SluiceError } from '../errors.js';
import { decodeBody, type ContentEncoding } from './content-encoding.js';
import { decodeRecords, type BodyFormat } from './json-records.js';
import type { TopicSchemas } from './schemas.js';

export interface DecodeTask {
  body: Uint8Array;
  encoding: ContentEncoding;
  format: BodyFormat;
  keyField: string;
  maxBytes: number;
  /** Validate against the schema SLUICE_SCHEMAS_DIR (`dir`) holds for `topic`, or a Schema Registry schema. */
  schema: { kind: 'dir'; dir: string; topic: string } | { kind: 'registry'; id: number; text: string } | null;
}

/** This pool thread's schemas, loaded on the first task that needs them (the main thread checked the folder at start-up). */
let schemas: TopicSchemas | undefined;

export type DecodeTaskResult =
  | { body: Uint8Array; starts: Int32Array; ends: Int32Array; keys: (string | null)[] | null }
  | { error: { code: string; message: string; details?: Record<string, unknown> } };

export default async function decodeTask(task: DecodeTask): Promise<DecodeTaskResult> {
  try {
    const raw = Buffer.from(task.body.buffer, task.body.byteOffset, task.body.byteLength);
    // A schema reads every record's value: build them only then.
    const decoded = decodeRecords(decodeBody(raw, task.encoding, task.maxBytes), task.format, task.keyField, task.schema !== null);
    // Ajv is imported only by pool threads that validate. Imported by every pool thread, the RSS growth of
    // test/bad-input-soak.test.ts with SLUICE_TEST_INGRESS_THREADS=2 (a pool per ingress thread) was
    // 48–54 MB in three runs, over its 32 MB bound; imported lazily, 18 MB (the same as with no schemas).
    const { TopicSchemas, validateRecords } = task.schema ? await import('./schemas.js') : ({} as never);
    if (task.schema?.kind === 'dir') {
      if (schemas?.dir !== task.schema.dir) schemas = TopicSchemas.load(task.schema.dir);
      const validate = schemas.validatorFor(task.schema.topic);
      if (validate) validateRecords(validate, decoded, task.format);
    } else if (task.schema?.kind === 'registry') {
      const { compiledRegistrySchema } = await import('./schema-registry.js');
      validateRecords(compiledRegistrySchema(task.schema.id, task.schema.text), decoded, task.format);
    }
    // Returned by structured clone: copying ~200 KB costs microseconds next to parsing it.
    return { body: decoded.body, starts: decoded.starts, ends: decoded.ends, keys: decoded.keys };
  } catch (err) {
    // A zlib stream that failed stays referenced (with its 16 KiB output buffer) by the process.nextTick
    // callbacks of its destroy(), and a piscina worker waiting for tasks with Atomics.wait only runs its event
    // loop while a task awaits: without this turn every body that failed to gunzip here leaked ~15 KB (GBs a
    // minute from a client sending junk labelled gzip). Only failures pay for it; successes leave nothing pending.
    await new Promise((resolve) => setImmediate(resolve));
    const e = err instanceof SluiceError ? err : new SluiceError('INTERNAL', 'decoding failed');
    return { error: { code: e.code, message: e.message, details: e.details } };
  }
}
