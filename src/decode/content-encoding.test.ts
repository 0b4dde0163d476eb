import { describe, expect, it } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { decodeBody, decodeLz4Frame, estimateDecodedBytes, parseContentEncoding } from './content-encoding.js';

const lz4 = createRequire(import.meta.url)('lz4') as { encode(b: Buffer, o?: object): Buffer };
const ndjson = Buffer.from(Array.from({ length: 5000 }, (_, i) => JSON.stringify({ device_id: `d${i % 50}`, seq: i })).join('\n'));

describe('decodeBody', () => {
  it('round-trips gzip and LZ4 frames (several blocks, content checksum on or off)', () => {
    expect(decodeBody(gzipSync(ndjson), 'gzip', 1 << 20).equals(ndjson)).toBe(true);
    for (const opts of [{}, { blockMaxSize: 64 * 1024 }, { streamChecksum: false }]) {
      expect(decodeLz4Frame(lz4.encode(ndjson, opts), 1 << 20).equals(ndjson)).toBe(true);
    }
  });

  it('stops a decompression bomb at the limit with 413, for both encodings', () => {
    const zeros = Buffer.alloc(64 * 1024 * 1024);
    for (const [enc, body] of [
      ['gzip', gzipSync(zeros)],
      ['lz4', lz4.encode(zeros)],
    ] as const) {
      expect(body.length).toBeLessThan(1 << 20);
      expect(() => decodeBody(body, enc, 1 << 20)).toThrow(expect.objectContaining({ code: 'BODY_TOO_LARGE', status: 413 }));
    }
  });

  it('refuses corrupt input with INVALID_ENCODING', () => {
    const frame = lz4.encode(ndjson);
    for (const bad of [frame.subarray(0, frame.length - 10), Buffer.from('not lz4 at all'), Buffer.concat([frame, Buffer.from('x')])]) {
      expect(() => decodeBody(bad, 'lz4', 1 << 20)).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
    }
    expect(() => decodeBody(Buffer.from('nope'), 'gzip', 1 << 20)).toThrow(expect.objectContaining({ code: 'INVALID_ENCODING' }));
  });

  it('estimates the decoded size from the gzip trailer or the LZ4 frame descriptor, without decoding', () => {
    expect(estimateDecodedBytes(gzipSync(ndjson), 'gzip')).toBe(ndjson.length);
    const framed = lz4.encode(ndjson); // this encoder declares no content size: 4:1 is assumed
    expect(estimateDecodedBytes(framed, 'lz4')).toBe(framed.length * 4);
    const declared = Buffer.alloc(15);
    declared.writeUInt32LE(0x184d2204, 0);
    declared[4] = 0x48; // version 01, content size present
    declared[5] = 0x70;
    declared.writeBigUInt64LE(123456n, 6);
    expect(estimateDecodedBytes(declared, 'lz4')).toBe(123456);
    expect(estimateDecodedBytes(ndjson, 'identity')).toBe(ndjson.length);
  });

  it('parses the header, refusing encodings it does not decode with 415', () => {
    expect(parseContentEncoding(' GZIP ')).toBe('gzip');
    expect(parseContentEncoding('')).toBe('identity');
    expect(() => parseContentEncoding('br')).toThrow(expect.objectContaining({ status: 415 }));
  });
});
