/**
 * One live batch of a topic, serialised once and published: each record is read and encoded once — one
 * frame and one resume token per record — and each channel's selection is published once to each hub
 * holding members of that channel (uWS pub/sub then copies bytes to sockets); a batch-style channel's
 * selection goes as one frame, a view channel's through its computation (its window and alert frames).
 */
import type { Logger } from 'pino';
import {
  batchFrame,
  encodeEnvelope,
  encodeFields,
  keyText,
  readValue,
  recordFrame,
  type ValueText,
} from '../subscription/frame-encoder.js';
import type { Channel } from './channels.js';
import type { HeldRecord } from './conflation.js';
import type { Message } from './kafka-reader.js';
import type { LiveTopics } from './live-topics.js';
import { ViewLimitError } from './window-aggregator.js';

export class LiveBatchPublisher {
  constructor(
    private readonly topics: LiveTopics,
    private readonly log: Logger,
    /** Ends every subscription receiving the channel (its view passed a bound; the channel goes with them). */
    private readonly failChannel: (channel: Channel, err: ViewLimitError) => void,
  ) {}

  /**
   * Routed first (live-router.ts: each channel meets only the records its filter can select), then each
   * record read and serialised once (its fields, token, and per-record frame when a per-record channel it
   * reaches wants one), then per channel reached: its frames (the shared per-record frames, one batch frame
   * built for the channel, or its conflation's), one publish per hub holding members, and the selection
   * buffered for the channel's replays about to join. The work grows with the records and the channels
   * they reach, not with the channels of the topic.
   */
  publish(topic: string, records: Message[]): void {
    const state = this.topics.get(topic);
    if (!state) return;
    // The resume window keeps every live batch, also with no channel (the feed's idle grace), in the same
    // synchronous step as the position and the replays' buffers below (no record between them).
    state.window.append(records);
    const n = records.length;
    if (n === 0) return;
    const keys = new Array<string | null>(n);
    for (let i = 0; i < n; i++) keys[i] = keyText(records[i].key);
    // Values are read before routing only when a filter needs them; else once, below, for the frames.
    const values: ValueText[] | null = state.channels.routingNeedsValues || this.topics.viewsParse(state) ? new Array<ValueText>(n) : null;
    if (values) for (let i = 0; i < n; i++) values[i] = readValue(records[i].value);
    const valueAt = values ? (i: number) => values[i].parsed : null;
    const routed = state.channels.route(n, (i) => keys[i], valueAt);
    let envelopes = false;
    let perRecord = false;
    // Record fields apart from frames only when something needs them: a batch or conflated channel, or a replay's buffer.
    let needFields = false;
    for (const { channel: ch } of routed) {
      if (ch.style === 'value' || ch.view) continue;
      envelopes = true;
      if (ch.style === 'record' && !ch.conflation) perRecord = true;
      if (ch.style === 'batch' || ch.conflation || ch.replaying.size > 0) needFields = true;
    }
    const fields: string[] = needFields ? new Array<string>(n) : [];
    const frames: string[] = perRecord ? new Array<string>(n) : [];
    const tokens: string[] = envelopes ? new Array<string>(n) : [];
    const topicJson = JSON.stringify(topic);
    for (let i = 0; i < n; i++) {
      const m = records[i];
      if (!envelopes) {
        state.position.set(m.partition, m.offset + 1);
        continue;
      }
      const token = state.position.advance(m.partition, m.offset);
      const value = values ? values[i] : readValue(m.value);
      if (needFields) {
        const f = (fields[i] = encodeFields(m, value));
        if (perRecord) frames[i] = recordFrame(topicJson, f, token);
      } else if (perRecord) frames[i] = encodeEnvelope(m, topicJson, token, value); // no fields needed: one string per record
      tokens[i] = token;
    }
    for (const { channel: ch, selection } of routed) {
      if (ch.style === 'value') {
        const vals: Uint8Array[] = [];
        for (const m of records) if (m.value) vals.push(m.value);
        for (const hub of ch.members.keys()) hub.port.publishValues(ch.name, vals);
        continue;
      }
      if (ch.view) {
        this.viewBatch(ch, records, selection, valueAt);
        continue;
      }
      // Fields only for a batch frame, a conflation or a replay's buffer (needFields holds then).
      const selFields = !needFields ? fields : selection ? selection.map((i) => fields[i]) : fields;
      const selTokens = selection ? selection.map((i) => tokens[i]) : tokens;
      if (ch.members.size > 0) {
        if (ch.conflation) {
          const held: HeldRecord[] = new Array(selFields.length);
          const heldKeys = new Array<string | null>(selFields.length);
          for (let j = 0; j < selFields.length; j++) {
            const i = selection ? selection[j] : j;
            held[j] = { fields: selFields[j], partition: records[i].partition, offset: records[i].offset };
            heldKeys[j] = keys[i];
          }
          ch.conflation.offer(heldKeys, held);
        } else if (ch.style === 'record') {
          const selFrames = selection ? selection.map((i) => frames[i]) : frames;
          for (const hub of ch.members.keys()) hub.port.publish(ch.name, selFrames, selTokens);
        } else {
          const last = selTokens[selTokens.length - 1];
          const batch = [batchFrame(topicJson, selFields, last)];
          const batchTokens = [last];
          for (const hub of ch.members.keys()) hub.port.publish(ch.name, batch, batchTokens);
        }
      }
      if (ch.replaying.size > 0) {
        const partitions = selection ? selection.map((i) => records[i].partition) : records.map((m) => m.partition);
        const offsets = selection ? selection.map((i) => records[i].offset) : records.map((m) => m.offset);
        // A replay over its buffer bound fails (and leaves the set) while the set is walked: walk a copy.
        for (const s of [...ch.replaying]) s.bufferLive(selFields, selTokens, partitions, offsets);
      }
    }
  }

  /** A view channel's share of a live batch: its selected records through its computation, the frames published. */
  private viewBatch(ch: Channel, records: Message[], selection: number[] | null, valueAt: ((i: number) => unknown) | null): void {
    let sel = records;
    let values: unknown[] = new Array<unknown>(records.length);
    if (valueAt) for (let i = 0; i < records.length; i++) values[i] = valueAt(i);
    if (selection) {
      sel = selection.map((i) => records[i]);
      values = selection.map((i) => (valueAt ? valueAt(i) : undefined));
    }
    if (sel.length === 0) return;
    if (ch.view!.owner && ch.members.size === 0) {
      // A view with history, not joined yet: its owner computes [start, join) first and takes the records
      // from the join point on after them (buffered while it replays); records before it begins are below
      // the join point, so in its history.
      for (const s of [...ch.replaying]) s.bufferLiveRecords(sel, values);
      return;
    }
    let out: string[];
    try {
      out = this.topics.feedView(ch, sel, values);
    } catch (err) {
      if (!(err instanceof ViewLimitError)) throw err;
      // The view's state is incomplete from here on: every subscriber of it ends with the error (the channel goes with them).
      this.log.warn({ topic: ch.name.split('\n', 1)[0].slice(2), err: err.message }, 'windowed view passed a bound');
      this.failChannel(ch, err);
      return;
    }
    if (out.length > 0) for (const hub of ch.members.keys()) hub.port.publish(ch.name, out, null);
  }
}
