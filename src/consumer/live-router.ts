/**
 * The live-batch router: which records of a batch each channel of a topic selects, without testing every
 * record against every channel. A channel is indexed by what its filter requires:
 *   - `key=` (one or several keys): under each of its keys, so a record meets only the channels naming its key;
 *   - else a `field=value` predicate of `where=`: under (field path, value), so a record meets only the
 *     channels whose value its field has (one lookup per distinct indexed path, not per channel);
 *   - else a filter (only range or `!=` predicates): scanned: each record tested against the whole filter;
 *   - no filter: every record.
 * The cost per record is one key lookup, one lookup per distinct indexed path, the scanned filters, and
 * one step per channel it reaches: it does not grow with the number of distinct keys subscribed. A
 * channel meets a record at most once (it sits in exactly one place), so its selection stays in record
 * order. Index candidates whose filter has further predicates are checked with the whole filter.
 */
import type { RecordFilter } from '../subscription/record-filter.js';
import { valueIndexKey } from '../subscription/record-filter.js';
import { fieldAt } from '../subscription/view-spec.js';

export interface Routable {
  readonly filter: RecordFilter | null;
}

/** A channel's share of one batch: the indexes of the records it selects, in order; null: every record. */
export interface Routed<C> {
  channel: C;
  selection: number[] | null;
}

interface Slot<C> {
  channel: C;
  filter: RecordFilter | null;
  /** Indexed candidates need the whole filter checked (key-indexed with `where`, or value-indexed). */
  check: boolean;
  /** The batch this slot's selection belongs to: selections are reset lazily, only for channels a batch reaches. */
  batch: number;
  selection: number[];
}

interface ValueIndex<C> {
  path: readonly string[];
  byValue: Map<string, Slot<C>[]>;
  /** Slots under this path, over all values: the index goes with the last one. */
  size: number;
}

export class LiveRouter<C extends Routable> {
  private readonly slots = new Map<C, Slot<C>>();
  private readonly byKey = new Map<string, Slot<C>[]>();
  private readonly byPath = new Map<string, ValueIndex<C>>();
  private readonly scanned: Slot<C>[] = [];
  private readonly unfiltered: Slot<C>[] = [];
  private batch = 0;
  /** Channels whose filter reads the record value (`where=`). */
  private valueReaders = 0;

  get size(): number {
    return this.slots.size;
  }

  add(channel: C): void {
    if (this.slots.has(channel)) return;
    const f = channel.filter;
    const slot: Slot<C> = { channel, filter: f, check: false, batch: 0, selection: [] };
    this.slots.set(channel, slot);
    if (f?.needsValue) this.valueReaders++;
    if (f === null) this.unfiltered.push(slot);
    else if (f.keys !== null) {
      slot.check = f.needsValue;
      for (const k of f.keys) push(this.byKey, k, slot);
    } else if (f.index !== null) {
      slot.check = true;
      let idx = this.byPath.get(f.index.pathText);
      if (!idx) this.byPath.set(f.index.pathText, (idx = { path: f.index.path, byValue: new Map(), size: 0 }));
      push(idx.byValue, f.index.valueKey, slot);
      idx.size++;
    } else this.scanned.push(slot);
  }

  remove(channel: C): void {
    const slot = this.slots.get(channel);
    if (!slot) return;
    this.slots.delete(channel);
    const f = slot.filter;
    if (f?.needsValue) this.valueReaders--;
    if (f === null) drop(this.unfiltered, slot);
    else if (f.keys !== null) for (const k of f.keys) pull(this.byKey, k, slot);
    else if (f.index !== null) {
      const idx = this.byPath.get(f.index.pathText)!;
      pull(idx.byValue, f.index.valueKey, slot);
      if (--idx.size === 0) this.byPath.delete(f.index.pathText);
    } else drop(this.scanned, slot);
  }

  /** True when routing reads record values: some channel's filter has `where=`. */
  get needsValues(): boolean {
    return this.valueReaders > 0;
  }

  /**
   * The channels `n` records reach, each with its selection. `keyAt(i)` is record i's key; `valueAt(i)`
   * its parsed JSON value (null when no filter reads values). The returned list is a new array: a
   * channel removed while it is walked (a subscriber failing) does not disturb it.
   */
  route(n: number, keyAt: (i: number) => string | null, valueAt: ((i: number) => unknown) | null): Routed<C>[] {
    const out: Routed<C>[] = [];
    if (n === 0) return out;
    for (const s of this.unfiltered) out.push({ channel: s.channel, selection: null });
    if (this.byKey.size === 0 && this.byPath.size === 0 && this.scanned.length === 0) return out;
    const batch = ++this.batch;
    const reached: Slot<C>[] = [];
    const take = (s: Slot<C>, i: number) => {
      if (s.batch !== batch) {
        s.batch = batch;
        s.selection = [];
        reached.push(s);
      }
      s.selection.push(i);
    };
    for (let i = 0; i < n; i++) {
      const key = keyAt(i);
      const value = valueAt ? valueAt(i) : undefined;
      if (key !== null && this.byKey.size > 0) {
        const list = this.byKey.get(key);
        if (list) for (const s of list) if (!s.check || s.filter!.matches(key, value)) take(s, i);
      }
      for (const idx of this.byPath.values()) {
        const vk = valueIndexKey(fieldAt(value, idx.path));
        if (vk === undefined) continue;
        const list = idx.byValue.get(vk);
        if (list) for (const s of list) if (s.filter!.matches(key, value)) take(s, i);
      }
      for (const s of this.scanned) if (s.filter!.matches(key, value)) take(s, i);
    }
    for (const s of reached) {
      out.push({ channel: s.channel, selection: s.selection });
      s.selection = []; // the caller owns the array now
    }
    return out;
  }
}

function push<C>(map: Map<string, Slot<C>[]>, k: string, slot: Slot<C>): void {
  const list = map.get(k);
  if (list) list.push(slot);
  else map.set(k, [slot]);
}

function pull<C>(map: Map<string, Slot<C>[]>, k: string, slot: Slot<C>): void {
  const list = map.get(k);
  if (!list) return;
  drop(list, slot);
  if (list.length === 0) map.delete(k);
}

function drop<T>(list: T[], item: T): void {
  const i = list.indexOf(item);
  if (i >= 0) list.splice(i, 1);
}
