/**
 * A subscriber's history, read by its own consumer from its start offsets up to where the topic's live feed
 * stood when the replay began (the join point J), then handed over to the live channel with no gap and no
 * duplicate:
 *   1. From J on, every live batch of the subscriber's channel is also buffered here (bounded).
 *   2. The replay reader delivers [start, J) per partition, one batch at a time, each acknowledged by the
 *      subscriber's thread once its socket buffer has room (flow control: a replay never outruns the socket).
 *   3. The buffered live frames are delivered the same way, until the buffer is empty at an ack.
 *   4. In that same synchronous step the registry joins the subscriber to the channel: everything live from
 *      there on reaches it by publish. Main-thread code is not interrupted between 3 and 4, and messages to a
 *      thread keep their order, so no live batch falls between the last buffered frame and the join.
 * A start past J (a token from a gateway whose feed was ahead) drops the buffered frames before the start.
 *
 * `cancel()` may come at any await of `run()` (connect, watermarks, offsets for a time, a read or a delivery
 * in flight, the wait for live frames): `run()` then settles promptly and its reader is stopped in every case.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../errors.js';
import type { FanoutReader, Message } from './kafka-reader.js';
import { PositionVector, encodeResumeToken } from '../subscription/resume-token.js';
import type { RecordFilter } from '../subscription/record-filter.js';
import { encodeFields, keyText, readValue } from '../subscription/frame-encoder.js';
import type { StartFrom } from '../subscription/protocol.js';

const REPLAY_BATCH_MAX = 500;

export interface ReplayDeps {
  topic: string;
  partitions: number;
  from: Exclude<StartFrom, { kind: 'latest' }>;
  filter: RecordFilter | null;
  maxBufferBytes: number;
  timeoutMs: number;
  newReader: (batchMax: number) => FanoutReader;
  /** Sends records (fields, with the token after each) to the subscriber, framed in its style; resolves when its thread acknowledges them (false: the socket is gone). */
  deliver: (fields: string[], tokens: string[]) => Promise<boolean>;
  /** Synchronously: take the live position as join point, start buffering live frames here, send `subscribed` with the start token. */
  begin: (startToken: string) => number[];
  /** The live feed's current position (for a start past the join point). */
  livePosition: () => readonly number[];
  /** Synchronously join the live channel; called with the buffer empty. */
  join: () => void;
  log: Logger;
}

export class Replay {
  private readonly buffered: { fields: string[]; tokens: string[]; partitions: number[]; offsets: number[] }[] = [];
  private bufferedBytes = 0;
  private wake: (() => void) | undefined;
  /** Ends the history read early: set while `readHistory` waits on the reader's batches. */
  private endHistory: (() => void) | undefined;
  private cancelled = false;
  private reader: FanoutReader | undefined;
  private start: number[] = [];

  constructor(private readonly d: ReplayDeps) {}

  /**
   * Live records of the channel published while the replay runs, kept as fields (not frames): a start past
   * the join point drops some of them, and a batch-style subscriber gets what is left framed anew.
   * Throws a slow-subscriber error when over the bound.
   */
  buffer(fields: string[], tokens: string[], partitions: number[], offsets: number[]): void {
    this.buffered.push({ fields, tokens, partitions, offsets });
    for (const f of fields) this.bufferedBytes += f.length;
    if (this.bufferedBytes > this.d.maxBufferBytes) {
      this.cancel();
      throw new SluiceError('TOO_SLOW', `the replay fell more than ${this.d.maxBufferBytes} bytes behind the live stream; resume from the last token`);
    }
    this.wake?.();
  }

  cancel(): void {
    this.cancelled = true;
    this.wake?.();
    // A cancel while the reader is inside a read: its loop sees `stopped` and never calls the sink again,
    // so the history wait must be ended from here or `run()` would never settle (and its slot never return).
    this.endHistory?.();
    void this.reader?.stop();
  }

  /** Resolves once joined, or promptly once cancelled; rejects when the history cannot be read. */
  async run(): Promise<void> {
    const reader = (this.reader = this.d.newReader(REPLAY_BATCH_MAX));
    try {
      if (this.cancelled) return;
      await reader.connect(this.d.timeoutMs);
      if (this.cancelled) return;
      const marks = await reader.watermarks(this.d.partitions, this.d.timeoutMs);
      if (this.cancelled) return;
      this.start = await this.startOffsets(reader, marks);
      if (this.cancelled) return;
      const join = this.d.begin(encodeResumeToken(this.start));
      await this.readHistory(reader, join);
    } catch (err) {
      if (this.cancelled) return; // the client left; a failure it caused (a stopped reader) is nobody's news
      throw err;
    } finally {
      await reader.stop();
    }
    await this.drainBuffer();
  }

  private async startOffsets(reader: FanoutReader, marks: { low: number; high: number }[]): Promise<number[]> {
    const from = this.d.from;
    if (from.kind === 'earliest') return marks.map((m) => m.low);
    if (from.kind === 'time') {
      const found = await reader.offsetsForTimes(from.timestampMs, this.d.partitions, this.d.timeoutMs);
      return found.map((o, p) => (o >= 0 ? o : marks[p].high));
    }
    // A token: partitions it does not know (added since) start at their beginning; offsets deleted by retention start at the first kept one.
    return marks.map((m, p) => Math.min(Math.max(from.offsets[p] ?? m.low, m.low), m.high));
  }

  private async readHistory(reader: FanoutReader, join: number[]): Promise<void> {
    const position = new PositionVector(this.start.slice());
    const open = new Set<number>();
    for (let p = 0; p < this.d.partitions; p++) if (this.start[p] < join[p]) open.add(p);
    if (open.size === 0) return;
    await new Promise<void>((resolve) => {
      this.endHistory = resolve;
      const finish = (p: number) => {
        open.delete(p);
        reader.pause([p]);
      };
      reader.startAssigned([...open].map((p) => ({ partition: p, offset: this.start[p] })), async (records: Message[]) => {
        if (this.cancelled) return resolve();
        const fields: string[] = [];
        const tokens: string[] = [];
        for (const m of records) {
          const p = m.partition;
          if (!open.has(p)) continue;
          if (m.offset >= join[p]) {
            finish(p);
            continue;
          }
          const token = position.advance(p, m.offset);
          const value = this.d.filter?.needsValue ? readValue(m.value) : undefined;
          if (this.d.filter && !this.d.filter.matches(keyText(m.key), value?.parsed)) continue;
          fields.push(encodeFields(m, value));
          tokens.push(token);
          if (m.offset + 1 >= join[p]) finish(p);
        }
        if (records.length === 0) {
          // Nothing left below the join point but gaps (compaction, transaction markers): the reader's position says so.
          for (const [p, next] of reader.positions([...open])) if (next >= join[p]) finish(p);
        }
        if (fields.length > 0 && !(await this.d.deliver(fields, tokens))) this.cancelled = true;
        if (this.cancelled || open.size === 0) resolve();
      });
    });
    this.endHistory = undefined;
  }

  private async drainBuffer(): Promise<void> {
    for (;;) {
      if (this.cancelled) return;
      const batch = this.buffered.splice(0);
      this.bufferedBytes = 0;
      const fields: string[] = [];
      const tokens: string[] = [];
      for (const b of batch) {
        for (let i = 0; i < b.fields.length; i++) {
          if (b.offsets[i] < this.start[b.partitions[i]]) continue; // the client has it already (start past the join point)
          fields.push(b.fields[i]);
          tokens.push(b.tokens[i]);
        }
      }
      if (fields.length > 0) {
        if (!(await this.d.deliver(fields, tokens))) return;
        continue;
      }
      const live = this.d.livePosition();
      if (this.start.every((s, p) => (live[p] ?? 0) >= s)) {
        this.d.join();
        return;
      }
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
  }
}
