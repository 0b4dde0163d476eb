/**
 * Conflation of one channel (`conflate=<interval>`): at most one frame per record key in each interval.
 * The first record of a key in an interval goes at once; later ones of that key are held, each replacing
 * the one before, and the latest is sent when the interval ends (which opens the next interval with the
 * key in it). A key with nothing held at the end of an interval leaves the table: the table holds only
 * keys active in the last two intervals. Records without a key are conflated together as one key.
 *
 * Tokens. A conflated subscriber skips records by design, so a frame's token cannot be "the position after
 * its record" (other keys' later records may have gone before it on the same partition). It is, per
 * partition: the position of the oldest record still owed (held, or later in the same send), else the
 * live position (every record seen there was sent or superseded) — but never before a record a frame
 * already carried (no record is sent twice). So resuming from the last token received gives every record
 * after the newest one sent, which is what docs/live.md documents; the one loss beyond conflation itself:
 * a held record older than a record already sent on its partition.
 *
 * The one timer is owned here: armed while some key is in the table, cleared by `close()` (the channel
 * going), so nothing outlives the channel.
 */
import { encodeResumeToken } from '../subscription/resume-token.js';

/** A record as conflation keeps it: its serialised fields and its place. */
/**
 * Keys one channel's table holds at most: past it, a record of a key not in the table is sent at once,
 * unconflated, so an unfiltered conflation over a topic with millions of keys cannot grow memory unbounded.
 */
export const MAX_CONFLATED_KEYS = 100_000;

export interface HeldRecord {
  fields: string;
  partition: number;
  offset: number;
}

export interface ConflationDeps {
  intervalMs: number;
  /** The topic's live position: the offset after the newest record seen, per partition. */
  livePosition: () => readonly number[];
  /** Sends records (in this order) with their tokens to the channel's members. */
  emit: (fields: string[], tokens: string[]) => void;
  /** MAX_CONFLATED_KEYS unless a test sets it. */
  maxKeys?: number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (t: unknown) => void;
}

export class Conflation {
  /** Keys sent in the current interval, each with its latest record held since (null: none). */
  private window = new Map<string | null, HeldRecord | null>();
  private timer: unknown = null;
  private closed = false;
  /** Per partition, the offset after the newest record a frame carried (-1: none yet). */
  private readonly sentNext: number[] = [];
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (t: unknown) => void;
  private readonly maxKeys: number;

  constructor(private readonly deps: ConflationDeps) {
    this.maxKeys = deps.maxKeys ?? MAX_CONFLATED_KEYS;
    this.setTimer =
      deps.setTimer ??
      ((fn, ms) => {
        const t = setTimeout(fn, ms);
        t.unref();
        return t;
      });
    this.clearTimer = deps.clearTimer ?? ((t) => clearTimeout(t as NodeJS.Timeout));
  }

  /** Keys in the table (a key sent in this interval, or held): for tests and metrics. */
  get keys(): number {
    return this.window.size;
  }

  get timerArmed(): boolean {
    return this.timer !== null;
  }

  /** A batch's records of this channel, in record order (`keys[i]` is record i's key). */
  offer(keys: readonly (string | null)[], records: readonly HeldRecord[]): void {
    if (this.closed || records.length === 0) return;
    // The latest record of each key in this batch, ordered by where that latest record stands.
    const latest = new Map<string | null, HeldRecord>();
    for (let i = 0; i < records.length; i++) {
      latest.delete(keys[i]);
      latest.set(keys[i], records[i]);
    }
    const now: HeldRecord[] = [];
    for (const [k, r] of latest) {
      if (this.window.has(k)) this.window.set(k, r);
      else if (this.window.size >= this.maxKeys) now.push(r);
      else {
        this.window.set(k, null);
        now.push(r);
      }
    }
    this.send(now);
    this.arm();
  }

  /** Releases the timer; idempotent. Nothing is sent afterwards. */
  close(): void {
    this.closed = true;
    if (this.timer !== null) this.clearTimer(this.timer);
    this.timer = null;
    this.window.clear();
  }

  private arm(): void {
    if (this.timer !== null || this.window.size === 0 || this.closed) return;
    this.timer = this.setTimer(() => this.tick(), this.deps.intervalMs);
  }

  private tick(): void {
    this.timer = null;
    if (this.closed) return;
    const previous = this.window;
    this.window = new Map();
    const now: HeldRecord[] = [];
    for (const [k, r] of previous) {
      if (r === null) continue; // nothing since its last frame: the key leaves the table
      this.window.set(k, null);
      now.push(r);
    }
    // Held records of different keys are sent in their order on each partition.
    now.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
    this.send(now);
    this.arm();
  }

  private send(records: HeldRecord[]): void {
    const n = records.length;
    if (n === 0) return;
    const live = this.deps.livePosition();
    const parts = Math.max(live.length, this.sentNext.length);
    // owed[p]: the oldest record on p still owed after a frame; filled backwards through this send.
    const owed = new Array<number>(parts).fill(Number.POSITIVE_INFINITY);
    for (const r of this.window.values()) if (r !== null && r.offset < owed[r.partition]) owed[r.partition] = r.offset;
    const tokens = new Array<string>(n);
    const after: number[][] = new Array(n);
    for (let j = n - 1; j >= 0; j--) {
      const base = new Array<number>(parts);
      for (let p = 0; p < parts; p++) base[p] = owed[p] === Number.POSITIVE_INFINITY ? (live[p] ?? 0) : owed[p];
      after[j] = base;
      const r = records[j];
      if (r.offset < owed[r.partition]) owed[r.partition] = r.offset;
    }
    const fields = new Array<string>(n);
    for (let j = 0; j < n; j++) {
      const r = records[j];
      if ((this.sentNext[r.partition] ?? -1) < r.offset + 1) this.sentNext[r.partition] = r.offset + 1;
      const t = after[j];
      for (let p = 0; p < parts; p++) if ((this.sentNext[p] ?? -1) > t[p]) t[p] = this.sentNext[p];
      tokens[j] = encodeResumeToken(t);
      fields[j] = r.fields;
    }
    this.deps.emit(fields, tokens);
  }
}
