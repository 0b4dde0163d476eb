/**
 * Request bodies compressed by devices that batch uploads: `Content-Encoding: gzip` or `lz4` (LZ4 frame
 * format, as the `lz4` CLI and liblz4's frame API write it). The body limit applies to the decoded size
 * and is enforced while decoding, so a decompression bomb costs at most the limit in memory: 413, not OOM.
 */
import { gunzipSync } from 'node:zlib';
import { createRequire } from 'node:module';
import { SluiceError } from '../errors.js';
import { bodyTooLarge } from './body-limit.js';

export type ContentEncoding = 'identity' | 'gzip' | 'lz4';

const require = createRequire(import.meta.url);
const lz4 = require('lz4') as { decodeBlock(input: Buffer, output: Buffer): number };

export function parseContentEncoding(header: string): ContentEncoding {
  const v = header.trim().toLowerCase();
  if (v === '' || v === 'identity') return 'identity';
  if (v === 'gzip' || v === 'x-gzip') return 'gzip';
  if (v === 'lz4') return 'lz4';
  throw new SluiceError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding "${header}" is not supported; use gzip, lz4 or none`);
}

export function decodeBody(body: Buffer, encoding: ContentEncoding, maxBytes: number): Buffer {
  if (encoding === 'identity') return body;
  if (encoding === 'gzip') {
    try {
      return gunzipSync(body, { maxOutputLength: maxBytes });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw bodyTooLarge(maxBytes, 'decoded ');
      throw new SluiceError('INVALID_ENCODING', `body is not valid gzip: ${(err as Error).message}`);
    }
  }
  return decodeLz4Frame(body, maxBytes);
}

/**
 * What a body will decode to, without decoding it: gzip's trailer holds the size (mod 2^32), an LZ4
 * frame may declare it; otherwise assume 4:1, typical for device JSON. Used to send big bodies to the
 * decode pool and keep small ones on the event loop.
 */
export function estimateDecodedBytes(body: Buffer, encoding: ContentEncoding): number {
  if (encoding === 'identity') return body.length;
  if (encoding === 'gzip' && body.length >= 18) return body.readUInt32LE(body.length - 4);
  if (encoding === 'lz4' && body.length >= 15 && body.readUInt32LE(0) === LZ4_MAGIC && (body[4] & 0x08) !== 0) {
    return Number(body.readBigUInt64LE(6));
  }
  return body.length * 4;
}

const LZ4_MAGIC = 0x184d2204;
const BLOCK_MAX_SIZES: Record<number, number> = { 4: 64 * 1024, 5: 256 * 1024, 6: 1024 * 1024, 7: 4 * 1024 * 1024 };

function corrupt(why: string): SluiceError {
  return new SluiceError('INVALID_ENCODING', `body is not a valid LZ4 frame: ${why}`);
}

/** LZ4 frame format (lz4_Frame_format.md): magic, descriptor, blocks, end mark, optional checksums. */
export function decodeLz4Frame(input: Buffer, maxBytes: number): Buffer {
  if (input.length < 7 || input.readUInt32LE(0) !== LZ4_MAGIC) throw corrupt('missing LZ4 frame magic number');
  const flg = input[4];
  const bd = input[5];
  if (flg >> 6 !== 1) throw corrupt(`unsupported frame version ${flg >> 6}`);
  const blockChecksums = (flg & 0x10) !== 0;
  const hasContentSize = (flg & 0x08) !== 0;
  const contentChecksum = (flg & 0x04) !== 0;
  const hasDictId = (flg & 0x01) !== 0;
  const blockMax = BLOCK_MAX_SIZES[(bd >> 4) & 0x7];
  if (!blockMax) throw corrupt('invalid block maximum size');
  let pos = 6;
  if (hasContentSize) {
    if (input.length < pos + 8) throw corrupt('truncated descriptor');
    const declared = Number(input.readBigUInt64LE(pos));
    if (declared > maxBytes) throw bodyTooLarge(maxBytes, 'decoded ');
    pos += 8;
  }
  if (hasDictId) throw corrupt('dictionaries are not supported');
  pos += 1; // header checksum
  const scratch = Buffer.allocUnsafe(blockMax);
  const parts: Buffer[] = [];
  let total = 0;
  while (true) {
    if (input.length < pos + 4) throw corrupt('truncated before end mark');
    const word = input.readUInt32LE(pos);
    pos += 4;
    if (word === 0) break;
    const stored = (word & 0x80000000) !== 0;
    const size = word & 0x7fffffff;
    if (size > blockMax || input.length < pos + size + (blockChecksums ? 4 : 0)) throw corrupt('truncated or oversized block');
    const block = input.subarray(pos, pos + size);
    pos += size + (blockChecksums ? 4 : 0);
    let n: number;
    let data: Buffer;
    if (stored) {
      n = size;
      data = block;
    } else {
      n = lz4.decodeBlock(block, scratch);
      if (n < 0) throw corrupt('corrupt compressed block');
      data = scratch;
    }
    if (total + n > maxBytes) throw bodyTooLarge(maxBytes, 'decoded ');
    parts.push(Buffer.from(data.subarray(0, n)));
    total += n;
  }
  if (contentChecksum) pos += 4;
  if (pos !== input.length) throw corrupt('trailing bytes after the frame');
  return parts.length === 1 ? parts[0] : Buffer.concat(parts, total);
}
