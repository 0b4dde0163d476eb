/**
 * The WHATWG HTML "event stream interpretation" (html.spec.whatwg.org, server-sent events §9.2.6), as an
 * EventSource runs it: lines end at CRLF, LF or CR (a CR at the end of one chunk may be the first half of a
 * CRLF split across chunks); `data` fields append their value and LF to the data buffer; a blank line
 * dispatches the event (none when the data buffer is empty) after removing one trailing LF; `id` values
 * holding NULL are ignored, and the last event ID persists across events; an event not ended by a blank
 * line when the stream ends is dropped. The byte order mark is the decoder's job (TextDecoder strips it).
 * Tests use this, not a lenient parser, so a frame that would break a browser's EventSource breaks them.
 */
export interface ParsedEvent {
  /** The event type (`message` without an `event:` field). */
  event: string;
  data: string;
  /** The `id:` field of this event, or null (a convenience; EventSource exposes only `lastEventId`). */
  id: string | null;
  /** The last event ID buffer at dispatch, as `MessageEvent.lastEventId`. */
  lastEventId: string;
}

export class SseParser {
  private pending = '';
  /** The previous chunk ended with CR: an LF opening the next one belongs to it. */
  private afterCr = false;
  private data = '';
  private eventType = '';
  private eventId: string | null = null;
  private lastEventId = '';
  /** The `retry:` reconnection time, when the stream set one. */
  retryMs: number | null = null;

  constructor(
    private readonly onEvent: (e: ParsedEvent) => void,
    private readonly onComment: (text: string) => void = () => {},
  ) {}

  /** Feeds decoded text; calls back for each event it completes. */
  feed(text: string): void {
    let s = text;
    if (this.afterCr && s.startsWith('\n')) s = s.slice(1);
    this.afterCr = false;
    s = this.pending + s;
    let start = 0;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c !== 0x0a && c !== 0x0d) continue;
      this.line(s.slice(start, i));
      if (c === 0x0d) {
        if (i + 1 === s.length) this.afterCr = true;
        else if (s.charCodeAt(i + 1) === 0x0a) i++;
      }
      start = i + 1;
    }
    this.pending = s.slice(start);
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) return this.onComment(line.slice(1));
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.eventType = value;
    else if (field === 'data') this.data += `${value}\n`;
    else if (field === 'id') {
      if (!value.includes('\0')) {
        this.lastEventId = value;
        this.eventId = value;
      }
    } else if (field === 'retry') {
      if (/^[0-9]+$/.test(value)) this.retryMs = Number(value);
    }
    // Any other field is ignored.
  }

  private dispatch(): void {
    const id = this.eventId;
    this.eventId = null;
    if (this.data === '') {
      this.eventType = '';
      return;
    }
    const data = this.data.endsWith('\n') ? this.data.slice(0, -1) : this.data;
    const event = this.eventType === '' ? 'message' : this.eventType;
    this.data = '';
    this.eventType = '';
    this.onEvent({ event, data, id, lastEventId: this.lastEventId });
  }
}

/** Every event of a complete stream text, fed in the given pieces (to test splits anywhere). */
export function parseSse(pieces: readonly string[]): ParsedEvent[] {
  const events: ParsedEvent[] = [];
  const parser = new SseParser((e) => events.push(e));
  for (const p of pieces) parser.feed(p);
  return events;
}
