/**
 * Resume tokens: a subscriber's position in a topic as the next offset of every partition, in an opaque
 * URL-safe string. Every record frame carries the token of the position just after it, so a client that
 * reconnects with `from=<token>` continues exactly where it stopped: no gap, no duplicate.
 *
 * Format (opaque to clients, stable for the server): base64url of `v1:<o0>,<o1>,…` (one offset per partition).
 */

const PREFIX = 'v1:';

/** Encodes next offsets per partition. Offsets must be non-negative integers. */
export function encodeResumeToken(nextOffsets: ArrayLike<number>): string {
  let text = PREFIX;
  for (let p = 0; p < nextOffsets.length; p++) text += (p === 0 ? '' : ',') + nextOffsets[p];
  return Buffer.from(text, 'latin1').toString('base64url');
}

/** The next offsets in a token, or undefined when it is not a token this server wrote. */
export function decodeResumeToken(token: string): number[] | undefined {
  if (token.length === 0 || token.length > 4096 || !/^[A-Za-z0-9_-]+$/.test(token)) return undefined;
  const text = Buffer.from(token, 'base64url').toString('latin1');
  if (!text.startsWith(PREFIX)) return undefined;
  const parts = text.slice(PREFIX.length).split(',');
  const offsets: number[] = [];
  for (const part of parts) {
    if (!/^\d{1,16}$/.test(part)) return undefined;
    offsets.push(Number(part));
  }
  return offsets.length > 0 ? offsets : undefined;
}

/**
 * Builds the token of every record of a batch cheaply: it keeps each partition's offset as text and
 * re-joins them per record (partitions are few; no per-record arrays).
 */
export class PositionVector {
  private readonly texts: string[];

  constructor(readonly next: number[]) {
    this.texts = next.map(String);
  }

  /** Marks the record (partition, offset) as delivered and returns the token of the position after it. */
  advance(partition: number, offset: number): string {
    this.next[partition] = offset + 1;
    this.texts[partition] = String(offset + 1);
    return Buffer.from(PREFIX + this.texts.join(','), 'latin1').toString('base64url');
  }

  /** Moves a partition's position without making a token (no envelope subscriber needs one). */
  set(partition: number, next: number): void {
    this.next[partition] = next;
    this.texts[partition] = String(next);
  }

  token(): string {
    return encodeResumeToken(this.next);
  }

  copy(): number[] {
    return this.next.slice();
  }
}
