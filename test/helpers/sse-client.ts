import { Arrivals } from './arrivals.js';
import { type ParsedEvent, SseParser } from './sse-parse.js';

/**
 * A Server-Sent Events test client (fetch + the WHATWG parser of sse-parse.ts) that records every event
 * and can send Last-Event-ID.
 */
export type SseEvent = ParsedEvent;

export interface SseClient {
  events: SseEvent[];
  /** Comment lines (`: …`), e.g. heartbeats. */
  comments: string[];
  status: number;
  waitForEvents(n: number, timeoutMs?: number): Promise<SseEvent[]>;
  close(): void;
  ended: Promise<void>;
}

export async function openSse(url: string, headers: Record<string, string> = {}): Promise<SseClient> {
  const abort = new AbortController();
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers }, signal: abort.signal });
  const arrivals = new Arrivals<SseEvent>((e) => e.data, 'events');
  const events = arrivals.items;
  const comments: string[] = [];
  if (!res.ok || !res.body) {
    const body = await res.text();
    throw Object.assign(new Error(`HTTP ${res.status}: ${body}`), { status: res.status, body });
  }
  const ended = (async () => {
    const decoder = new TextDecoder();
    const parser = new SseParser(
      (e) => arrivals.push(e),
      (text) => comments.push(text.trim()),
    );
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(decoder.decode(chunk, { stream: true }));
    } catch {
      // aborted
    }
    arrivals.wake();
  })();
  return {
    events,
    comments,
    status: res.status,
    ended,
    close: () => abort.abort(),
    waitForEvents: (n, timeoutMs) => arrivals.waitFor(n, timeoutMs),
  };
}
