/**
 * The piscina pool that decodes large bodies off the event loop (SLUICE_DECODE_OFFLOAD_BYTES). Small
 * bodies decode inline: handing a 200-byte record to another thread costs more than parsing it.
 */
import { Piscina } from 'piscina';
import type { Logger } from 'pino';
import { SluiceError, type ErrorCode } from '../errors.js';
import type { ContentEncoding } from './content-encoding.js';
import type { BodyFormat, DecodedRecords } from './json-records.js';
import type { DecodeTask, DecodeTaskResult } from './decode-task.js';

export class DecodePool {
  private readonly pool: Piscina;

  constructor(
    threads: number,
    private readonly log: Logger,
  ) {
    this.pool = new Piscina({
      filename: new URL('./decode-task.js', import.meta.url).href,
      minThreads: 1,
      maxThreads: threads,
      name: 'default',
    });
  }

  /** `schema`: validate every record against the schema of `topic` in `dir` (loaded by each pool thread). */
  async decode(
    raw: Buffer,
    encoding: ContentEncoding,
    format: BodyFormat,
    keyField: string,
    maxBytes: number,
    schema: DecodeTask['schema'] = null,
  ): Promise<DecodedRecords> {
    // Transfer moves a whole ArrayBuffer: copy bodies that share theirs (Node's pool slab for small buffers).
    const body =
      raw.byteOffset === 0 && raw.byteLength === raw.buffer.byteLength
        ? new Uint8Array(raw.buffer, 0, raw.byteLength)
        : new Uint8Array(raw);
    const task: DecodeTask = { body, encoding, format, keyField, maxBytes, schema };
    let r: DecodeTaskResult;
    try {
      r = (await this.pool.run(task, { transferList: [body.buffer as ArrayBuffer] })) as DecodeTaskResult;
    } catch (err) {
      this.log.error({ err: (err as Error).stack }, 'decode pool task failed');
      throw new SluiceError('INTERNAL', 'decoding failed');
    }
    if ('error' in r) throw new SluiceError(r.error.code as ErrorCode, r.error.message, r.error.details);
    const buf = Buffer.from(r.body.buffer, r.body.byteOffset, r.body.byteLength);
    return { body: buf, count: r.starts.length, starts: r.starts, ends: r.ends, keys: r.keys, parsed: [] };
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
