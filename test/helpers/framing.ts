/**
 * The two framings of record frames, so each fan-out test runs in both: `record` (the default, one
 * message per record, each with its token) and `batch` (`frames=batch`: one message per batch holding its
 * records and the token after the last). Tests read messages as records through `recordsIn`, which
 * expands batch frames; whatever else a test checks (order, exactly once, resume) then holds for both.
 */
export type Framing = 'record' | 'batch';
export const FRAMINGS: Framing[] = ['record', 'batch'];

/** `url` with `frames=batch` added for batch framing (unchanged for the default). */
export function framed(url: string, framing: Framing): string {
  if (framing === 'record') return url;
  return `${url}${url.includes('?') ? '&' : '?'}frames=batch`;
}

/** A control-message subscribe with the framing's field. */
export function subscribeMessage(framing: Framing, fields: Record<string, unknown>): string {
  return JSON.stringify({ op: 'subscribe', ...fields, ...(framing === 'batch' ? { frames: 'batch' } : {}) });
}

export interface RecordFrame {
  event?: undefined;
  topic: string;
  partition: number;
  offset: number;
  timestamp: number;
  key: string | null;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read the values they posted
  value: any;
  valueEncoding?: string;
  /** Per record: every record's. Batch: only the last record of each batch carries it (the batch's token). */
  token?: string;
}

export interface EventFrame {
  event: string;
  topic?: string;
  token?: string;
  error?: { code: string; message: string };
}

interface BatchFrame {
  event: 'batch';
  topic: string;
  records: Omit<RecordFrame, 'topic' | 'token'>[];
  token?: string;
}

/**
 * The records in a list of message texts, in order: a batch frame gives its records (each with the batch's
 * topic, the last with its token); a record frame gives itself; event frames (subscribed, error, …) are
 * left out. Throws on a batch frame without records, or a batch frame in record framing and vice versa.
 */
export function recordsIn(texts: readonly string[], framing: Framing): RecordFrame[] {
  const out: RecordFrame[] = [];
  for (const text of texts) {
    const f = JSON.parse(text) as RecordFrame | EventFrame | BatchFrame;
    if (f.event === 'batch') {
      if (framing !== 'batch') throw new Error(`a batch frame in record framing: ${text.slice(0, 200)}`);
      const b = f as BatchFrame;
      if (!Array.isArray(b.records) || b.records.length === 0) throw new Error(`a batch frame without records: ${text.slice(0, 200)}`);
      b.records.forEach((r, i) => out.push({ ...r, topic: b.topic, ...(i === b.records.length - 1 && b.token !== undefined ? { token: b.token } : {}) }));
    } else if (f.event === undefined) {
      if (framing !== 'record') throw new Error(`a record frame in batch framing: ${text.slice(0, 200)}`);
      out.push(f as RecordFrame);
    }
  }
  return out;
}

/** The event frames (subscribed, unsubscribed, error) in a list of message texts. */
export function eventsIn(texts: readonly string[]): EventFrame[] {
  return texts.map((t) => JSON.parse(t) as EventFrame).filter((f) => f.event !== undefined && f.event !== 'batch');
}

/** Polls until `records()` has at least `n` records, then waits a moment more so anything extra shows up. */
export async function waitForRecordCount<T>(records: () => T[], n: number, timeoutMs = 30_000): Promise<T[]> {
  const deadline = Date.now() + timeoutMs;
  while (records().length < n) {
    if (Date.now() > deadline) throw new Error(`got ${records().length} of ${n} records`);
    await new Promise((r) => setTimeout(r, 50));
  }
  await new Promise((r) => setTimeout(r, 300));
  return records();
}
