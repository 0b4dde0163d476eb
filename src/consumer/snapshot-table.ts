/**
 * The latest record per key over a snapshot's span (`snapshot=<duration>`), built by the subscription's
 * replay from the history it reads back, then sent as frames marked `"snapshot":true`. Owned by that replay
 * (and so by its Subscription): bounded by SLUICE_SNAPSHOT_MAX_KEYS and SLUICE_SNAPSHOT_MAX_BYTES, and
 * garbage once the replay ends, from whatever state.
 *
 * Within a partition the later offset wins; a key found in two partitions keeps the record with the larger
 * timestamp (ties: the one read later). A record without a key takes the value of its SLUICE_KEY_FIELD
 * field (as ingest does); one with neither has no identity to be "latest" of and is left out.
 */
import { SluiceError } from '../errors.js';
import type { Message } from './kafka-reader.js';
import { keyText, type ValueText } from '../subscription/frame-encoder.js';
import { snapshotRecordFrame } from '../subscription/frames.js';

export interface SnapshotLimits {
  maxKeys: number;
  maxBytes: number;
  /** SLUICE_KEY_FIELD ('' when unset). */
  keyField: string;
}

interface Entry {
  frame: string;
  timestamp: number;
  partition: number;
}

export class SnapshotTable {
  /** Key → latest record; Map order is the order of last update, oldest first. */
  private readonly latest = new Map<string, Entry>();
  private bytes = 0;

  constructor(
    private readonly topicJson: string,
    private readonly limits: SnapshotLimits,
  ) {}

  get keys(): number {
    return this.latest.size;
  }

  /** Keys the value of a record the snapshot keeps per key, or null when it has no key. */
  keyOf(m: Message, value: ValueText | undefined): string | null {
    const key = keyText(m.key);
    if (key !== null || this.limits.keyField === '') return key;
    const v = value?.parsed;
    const f = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>)[this.limits.keyField] : undefined;
    return typeof f === 'string' ? f : typeof f === 'number' || typeof f === 'boolean' ? String(f) : null;
  }

  /** Throws SNAPSHOT_TOO_LARGE at a bound. */
  put(m: Message, value: ValueText): void {
    const key = this.keyOf(m, value);
    if (key === null) return;
    const timestamp = m.timestamp ?? 0;
    const old = this.latest.get(key);
    if (old !== undefined) {
      if (old.partition !== m.partition && old.timestamp > timestamp) return;
      this.bytes -= old.frame.length;
      this.latest.delete(key);
    } else if (this.latest.size >= this.limits.maxKeys) {
      throw new SluiceError(
        'SNAPSHOT_TOO_LARGE',
        `the snapshot holds more than ${this.limits.maxKeys} keys (SLUICE_SNAPSHOT_MAX_KEYS); ask for a shorter span or narrow it with key= or where=`,
        { limit: 'SLUICE_SNAPSHOT_MAX_KEYS' },
      );
    }
    const frame = snapshotRecordFrame(m, this.topicJson, value);
    this.latest.set(key, { frame, timestamp, partition: m.partition });
    this.bytes += frame.length;
    if (this.bytes > this.limits.maxBytes) {
      throw new SluiceError(
        'SNAPSHOT_TOO_LARGE',
        `the snapshot's latest records take more than ${this.limits.maxBytes} bytes (SLUICE_SNAPSHOT_MAX_BYTES); ask for a shorter span or narrow it with key= or where=`,
        { limit: 'SLUICE_SNAPSHOT_MAX_BYTES' },
      );
    }
  }

  /** The frames, oldest update first; empties the table. */
  take(): string[] {
    const frames: string[] = [];
    for (const e of this.latest.values()) frames.push(e.frame);
    this.latest.clear();
    this.bytes = 0;
    return frames;
  }
}
