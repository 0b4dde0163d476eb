/**
 * One Server-Sent Events response held open by uWS. uWS never drops a write: what the socket cannot take
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
    this.write(`${id === null ? '' : `id: ${id}\n`}event: ${name}\ndata: ${data}\n\n`);
  }

  end(): void {
    if (this.closed) return;
    this.closed = true;
    this.res.cork(() => this.res.end());
  }
}

/** The SSE text of a batch of record frames, built once per channel and written to every stream on it. */
export function sseRecords(frames: readonly string[], tokens: readonly string[] | null): string {
  let out = '';
  for (let i = 0; i < frames.length; i++) out += tokens ? `id: ${tokens[i]}\ndata: ${frames[i]}\n\n` : `data: ${frames[i]}\n\n`;
  return out;
}
