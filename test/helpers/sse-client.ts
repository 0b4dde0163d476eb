import { Arrivals } from './arrivals.js';

/** A Server-Sent Events test client (fetch + a small parser) that records every event and can send Last-Event-ID. */
export interface SseEvent {
  event: string;
  id: string | null;
  data: string;
}

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
    let buffer = '';
    let current: SseEvent = { event: 'message', id: null, data: '' };
    let hasData = false;
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buffer += decoder.decode(chunk, { stream: true });
        let nl: number;
        while ((nl = buffer.indexOf('\n')) >= 0) {
          const line = buffer.slice(0, nl);
          buffer = buffer.slice(nl + 1);
          if (line === '') {
            if (hasData) arrivals.push(current);
            current = { event: 'message', id: null, data: '' };
            hasData = false;
          } else if (line.startsWith(':')) comments.push(line.slice(1).trim());
          else {
            const colon = line.indexOf(':');
            const field = colon < 0 ? line : line.slice(0, colon);
            const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
            if (field === 'data') {
              current.data = hasData ? `${current.data}\n${value}` : value;
              hasData = true;
            } else if (field === 'event') current.event = value;
            else if (field === 'id') current.id = value;
          }
        }
      }
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
