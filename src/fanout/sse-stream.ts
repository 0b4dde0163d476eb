/**
 * One Server-Sent Events response held open by uWS, and the SSE text of frames.
 *
 * An SSE `data:` field ends at every CR, LF or CRLF, and a blank line ends the event, while a frame embeds a
 * record's JSON value verbatim, raw line breaks (pretty-printed JSON) included. So a frame is written as one
 * `data:` line per line of it: a conformant parser (EventSource) joins them with LF, which gives the frame
 * back with each CR or CRLF turned into LF. JSON strings cannot hold a raw line break, so such breaks are
 * whitespace between tokens: the event's JSON parses to the same value as the frame's (byte-exact whenever
 * the value holds no CR). WebSocket frames stay byte-exact. Frames without a line break (nearly all) cost
 * one scan.
 * uWS never drops a write: what the socket cannot take
 * now is buffered in the process, so the stream counts the bytes written since the socket last said it was
 * writable; past the subscriber buffer limit the hub closes it as too slow, which bounds memory per stream.
 */
import type { HttpResponse } from 'uWebSockets.js';

export class SseStream {
  private backlogBytes = 0;
  closed = false;
  private onWritableHandlers: (() => void)[] = [];

  constructor(
    private readonly res: HttpResponse,
    allowOrigin: string | null,
    retryMs: number,
  ) {
    res.cork(() => {
      res
        .writeStatus('200 OK')
        .writeHeader('content-type', 'text/event-stream; charset=utf-8')
        .writeHeader('cache-control', 'no-cache, no-transform')
        // nginx and similar proxies buffer responses unless told not to.
        .writeHeader('x-accel-buffering', 'no');
      if (allowOrigin) res.writeHeader('access-control-allow-origin', allowOrigin).writeHeader('vary', 'Origin');
      res.write(`retry: ${retryMs}\n\n`);
    });
    res.onWritable(() => {
      this.backlogBytes = 0;
      for (const h of this.onWritableHandlers) h();
      return true;
    });
  }

  /** Bytes written that the socket has not taken yet (an upper bound). */
  get buffered(): number {
    return this.backlogBytes;
  }

  onDrain(handler: () => void): void {
    this.onWritableHandlers.push(handler);
  }

  write(chunk: string): void {
    if (this.closed) return;
    let ok = true;
    this.res.cork(() => {
      ok = this.res.write(chunk);
    });
    if (!ok) this.backlogBytes += chunk.length;
  }

  /** Sends a named event (`event:` line) with an optional id. */
  event(name: string, data: string, id: string | null = null): void {
    this.write(`${id === null ? '' : `id: ${id}\n`}event: ${name}\n${sseData(data)}\n`);
  }

  /** Sends an unnamed (`message`) event. */
  message(data: string): void {
    this.write(`${sseData(data)}\n`);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.cork(() => this.res.end());
  }
}

/** SSE's line breaks: CRLF first, so that it counts as one. */
const LINE_BREAK = /\r\n|\r|\n/;

/**
 * The `data:` lines of one event carrying `text`, each ended by LF (the caller adds the blank line). One line
 * per line of `text`: an empty line of it becomes an empty `data:` field, never the blank line that would
 * end the event early. Every line keeps its leading spaces: the parser strips only the one after `data:`.
 */
export function sseData(text: string): string {
  // Two memchr-speed scans; the split runs only for frames that hold a raw line break.
  if (text.indexOf('\n') === -1 && text.indexOf('\r') === -1) return `data: ${text}\n`;
  return `data: ${text.split(LINE_BREAK).join('\ndata: ')}\n`;
}

/** The SSE text of a batch of record frames, built once per channel and written to every stream on it. */
export function sseRecords(frames: readonly string[], tokens: readonly string[] | null): string {
  let out = '';
  for (let i = 0; i < frames.length; i++) out += tokens ? `id: ${tokens[i]}\n${sseData(frames[i])}\n` : `${sseData(frames[i])}\n`;
  return out;
}
