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
 * Records (history and buffered live ones) travel as fields and are framed at delivery in the subscriber's
 * style (`deliver`: per record, or one batch frame per delivery with `frames=batch`); snapshot frames, the
 * snapshot-end marker and view frames (src/subscription/frames.ts) go as they are (`deliverFrames`), one
 * message each in either style: they are not records, so `frames=batch` does not combine them.
 *
 * Two live views use the same hand-over with other output (one owner, one release: nothing else changes):
 *   - snapshot (`snapshot` set): [start, J) is reduced to the latest record per key (SnapshotTable) instead
 *     of being sent; at J the table goes out as `"snapshot":true` frames (no tokens: they are not in offset
 *     order), then one `{"event":"snapshot-end",…,"token"}` frame whose token is the position after the
 *     snapshot, then the buffered live frames as above. Every record of the span is in the snapshot (as its
 *     key's latest) or in the live stream, never both.
 *   - view (`view` set): the matched records of [start, J), then the buffered live records, go through the
 *     view's computation (a window aggregator), whose frames are sent; the buffer holds records, not frames.
 *
 * From memory (`memory` set: a resume inside the topic's resume window, resume-window.ts): the history
 * [start, J) was taken from the window in the same synchronous step that started buffering the channel's
 * live batches (so J is the window's head then, not the position at `begin`). There is no reader: the
 * records are filtered and framed as a replay's would be (same tokens, same acknowledged batches), then the
 * buffer is drained and the subscriber joins exactly as above. No Kafka consumer, no replay slot.
 *
 * `cancel()` may come at any await of `run()` (connect, watermarks, offsets for a time, a read or a delivery
 * in flight, the wait for live frames): `run()` then settles promptly and its reader is stopped in every case.
 */
import type { Logger } from 'pino';
import { SluiceError } from '../errors.js';
import type { FanoutReader, Message } from './kafka-reader.js';
import { PositionVector, encodeResumeToken } from '../subscription/resume-token.js';
import type { RecordFilter } from '../subscription/record-filter.js';
import { encodeFields, keyText, readValue, type ValueText } from '../subscription/frame-encoder.js';
import { snapshotEndFrame } from '../subscription/frames.js';
import type { SnapshotTable } from './snapshot-table.js';
import type { WindowHistory } from './resume-window.js';
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
  /** The history taken from the topic's resume window (records only: no snapshot, no view); no reader is made. */
  memory?: WindowHistory | null;
  /** Sends records (fields, with the token after each) to the subscriber, framed in its style; resolves when its thread acknowledges them (false: the socket is gone). */
  deliver: (fields: string[], tokens: string[]) => Promise<boolean>;
  /** Sends frames already built (snapshot frames and marker, view frames) as they are, one message each; resolves like `deliver`. */
  deliverFrames: (frames: string[], tokens: string[] | null) => Promise<boolean>;
  /** Synchronously: take the live position as join point, start buffering live frames here, send `subscribed` with the start token. */
  begin: (startToken: string, start: number[]) => number[];
  /** Snapshot mode: the table the history is reduced into. */
  snapshot?: SnapshotTable | null;
  /** View mode: matched records (values parsed) in, frames out; throws when the view passes a bound. */
  view?: ((records: Message[], values: unknown[]) => string[]) | null;
  /** View mode: the record values must be parsed. */
  viewNeedsValue?: boolean;
  /** The live feed's current position (for a start past the join point). */
  livePosition: () => readonly number[];
  /** Synchronously join the live channel; called with the buffer empty. */
  join: () => void;
  log: Logger;
}

export class Replay {
  private readonly buffered: { fields: string[]; tokens: string[]; partitions: number[]; offsets: number[] }[] = [];
  /** View mode: live records (and their parsed values) of the channel published while the replay runs. */
  private readonly bufferedRecords: { records: Message[]; values: unknown[] }[] = [];
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
      throw new SluiceError(
        'TOO_SLOW',
        `the replay fell more than ${this.d.maxBufferBytes} bytes behind the live stream; resume from the last token`,
      );
    }
    this.wake?.();
  }

  /** View mode: the channel's matched live records, buffered like frames (and bounded the same way). */
  bufferRecords(records: Message[], values: unknown[]): void {
    this.bufferedRecords.push({ records, values });
    for (const m of records) this.bufferedBytes += (m.value?.length ?? 0) + 64;
    if (this.bufferedBytes > this.d.maxBufferBytes) {
      this.cancel();
      throw new SluiceError(
        'TOO_SLOW',
        `the view's history fell more than ${this.d.maxBufferBytes} bytes behind the live stream; subscribe again`,
      );
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
    if (this.d.memory) return this.runFromMemory(this.d.memory);
    const reader = (this.reader = this.d.newReader(REPLAY_BATCH_MAX));
    try {
      if (this.cancelled) return;
      await reader.connect(this.d.timeoutMs);
      if (this.cancelled) return;
      const marks = await reader.watermarks(this.d.partitions, this.d.timeoutMs);
      if (this.cancelled) return;
      this.start = await this.startOffsets(reader, marks);
      if (this.cancelled) return;
      const join = this.d.begin(encodeResumeToken(this.start), this.start.slice());
      await this.readHistory(reader, join);
      if (this.d.snapshot && !this.cancelled) await this.sendSnapshot(this.d.snapshot, join);
    } catch (err) {
      if (this.cancelled) return; // the client left; a failure it caused (a stopped reader) is nobody's news
      throw err;
    } finally {
      await reader.stop();
    }
    await this.drainBuffer();
  }

  private async runFromMemory(history: WindowHistory): Promise<void> {
    if (this.cancelled) return;
    this.start = history.start.slice();
    // Sends `subscribed`; its join point is not this one: live batches are buffered from history.join on.
    this.d.begin(encodeResumeToken(this.start), this.start.slice());
    const position = new PositionVector(this.start.slice());
    const filter = this.d.filter;
    const parse = !!filter?.needsValue;
    const records = history.records;
    for (let i = 0; i < records.length; ) {
      const fields: string[] = [];
      const tokens: string[] = [];
      for (; i < records.length && fields.length < REPLAY_BATCH_MAX; i++) {
        const m = records[i];
        // Every record moves the position, selected or not: a token resumes after what was skipped too.
        const token = position.advance(m.partition, m.offset);
        const value: ValueText | undefined = parse ? readValue(m.value) : undefined;
        if (filter && !filter.matches(keyText(m.key), value?.parsed)) continue;
        fields.push(encodeFields(m, value));
        tokens.push(token);
      }
      if (this.cancelled) return;
      if (fields.length > 0 && !(await this.d.deliver(fields, tokens))) return;
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
    const { snapshot, view } = this.d;
    const parse = !!this.d.filter?.needsValue || !!snapshot || (!!view && !!this.d.viewNeedsValue);
    let failure: unknown;
    await new Promise<void>((resolve) => {
      this.endHistory = resolve;
      const finish = (p: number) => {
        open.delete(p);
        reader.pause([p]);
      };
      reader.startAssigned(
        [...open].map((p) => ({ partition: p, offset: this.start[p] })),
        async (records: Message[]) => {
          if (this.cancelled || failure !== undefined) return resolve();
          let frames: string[] = [];
          const fields: string[] = [];
          const tokens: string[] = [];
          const viewRecords: Message[] = [];
          const viewValues: unknown[] = [];
          try {
            for (const m of records) {
              const p = m.partition;
              if (!open.has(p)) continue;
              if (m.offset >= join[p]) {
                finish(p);
                continue;
              }
              // Snapshot and view frames carry no token: skip building one per record.
              const token = snapshot || view ? '' : position.advance(p, m.offset);
              const value: ValueText | undefined = parse ? readValue(m.value) : undefined;
              if (this.d.filter && !this.d.filter.matches(keyText(m.key), value?.parsed)) continue;
              if (snapshot) snapshot.put(m, value!);
              else if (view) {
                viewRecords.push(m);
                viewValues.push(value?.parsed);
              } else {
                fields.push(encodeFields(m, value));
                tokens.push(token);
              }
              if (m.offset + 1 >= join[p]) finish(p);
            }
            if (view && viewRecords.length > 0) frames = view(viewRecords, viewValues);
          } catch (err) {
            // A bound of the snapshot or view: the subscription fails with it (a throw here would only be logged by the reader).
            failure = err;
            return resolve();
          }
          if (records.length === 0) {
            // Nothing left below the join point but gaps (compaction, transaction markers): the reader's position says so.
            for (const [p, next] of reader.positions([...open])) if (next >= join[p]) finish(p);
          }
          if (frames.length > 0 && !(await this.d.deliverFrames(frames, null))) this.cancelled = true;
          if (fields.length > 0 && !this.cancelled && !(await this.d.deliver(fields, tokens))) this.cancelled = true;
          if (this.cancelled || open.size === 0) resolve();
        },
      );
    });
    this.endHistory = undefined;
    if (failure !== undefined) throw failure;
  }

  /** The snapshot's frames, in acknowledged batches, then its end marker with the position after it. */
  private async sendSnapshot(table: SnapshotTable, join: number[]): Promise<void> {
    const keys = table.keys;
    const frames = table.take();
    for (let i = 0; i < frames.length; i += REPLAY_BATCH_MAX) {
      if (this.cancelled) return;
      if (!(await this.d.deliverFrames(frames.slice(i, i + REPLAY_BATCH_MAX), null))) {
        this.cancelled = true;
        return;
      }
    }
    if (this.cancelled) return;
    const token = encodeResumeToken(join.map((j, p) => Math.max(j, this.start[p])));
    const marker = snapshotEndFrame(this.d.topic, keys, token);
    if (!(await this.d.deliverFrames([marker], [token]))) this.cancelled = true;
  }

  private async drainBuffer(): Promise<void> {
    for (;;) {
      if (this.cancelled) return;
      if (this.d.view) {
        const batch = this.bufferedRecords.splice(0);
        this.bufferedBytes = 0;
        const records: Message[] = [];
        const values: unknown[] = [];
        for (const b of batch) {
          for (let i = 0; i < b.records.length; i++) {
            if (b.records[i].offset < this.start[b.records[i].partition]) continue; // before the start (a token past the join point)
            records.push(b.records[i]);
            values.push(b.values[i]);
          }
        }
        if (records.length > 0) {
          const frames = this.d.view(records, values);
          if (frames.length > 0 && !(await this.d.deliverFrames(frames, null))) return;
          continue;
        }
      }
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
